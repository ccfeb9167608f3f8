"""DynamoDB on moto: the jobs table as template.yaml creates it, the test bed's bulk load
(`put_items`, also scripts/scale's), job items cloned from one the binary wrote, and a count."""

from __future__ import annotations

import json

from testbed.moto import Moto

# The tables' names in the demo and scripts/scale (the functions read theirs from CAPACITY_TABLE / JOBS_TABLE).
CAPACITY_TABLE = "ecs-autopilot-capacity"
JOBS_TABLE = "ecs-autopilot-jobs"


def create_jobs_table(ddb, name: str) -> None:
    """The jobs table as template.yaml creates it (autopilot_core::ports::job_store::schema)."""
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"},
                              {"AttributeName": "cluster", "AttributeType": "S"},
                              {"AttributeName": "live_cluster", "AttributeType": "S"},
                              {"AttributeName": "queue_key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-cluster",
                                 "KeySchema": [{"AttributeName": "cluster", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}},
                                # Sparse: only live jobs carry its keys (the wake-up's Query).
                                {"IndexName": "by-cluster-live",
                                 "KeySchema": [{"AttributeName": "live_cluster", "KeyType": "HASH"},
                                               {"AttributeName": "queue_key", "KeyType": "RANGE"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )


def put_items(moto: Moto, table: str, items) -> int:
    """The test bed's bulk load (`dynamodb_put_items`), 5,000 items a command."""
    n, chunk = 0, []
    for item in items:
        chunk.append(item)
        if len(chunk) == 5_000:
            n += moto.command({"op": "dynamodb_put_items", "table": table, "items": chunk})["items"]
            chunk = []
    if chunk:
        n += moto.command({"op": "dynamodb_put_items", "table": table, "items": chunk})["items"]
    return n


def clone_job_item(item: dict, job_id: str) -> dict:
    """A job item the binary wrote, as another job: the `jobId` key and the JSON body's jobId
    changed (and the live index's sort key `queue_key`, which ends with the id, where the binary
    wrote one); every other attribute as the binary wrote it."""
    old = item["jobId"]["S"]
    out = dict(item)
    out["jobId"] = {"S": job_id}
    body = json.loads(item["job"]["S"])
    body["jobId"] = job_id
    out["job"] = {"S": json.dumps(body, separators=(",", ":"), ensure_ascii=False)}
    key = (item.get("queue_key") or {}).get("S")
    if key and key.endswith("#" + old):
        out["queue_key"] = {"S": key[: -len(old)] + job_id}
    return out


def count_items(ddb, table: str) -> int:
    n, start = 0, None
    while True:
        page = ddb.scan(TableName=table, Select="COUNT", **({"ExclusiveStartKey": start} if start else {}))
        n += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return n
