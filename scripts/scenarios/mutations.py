"""Issue 13: thousands of mutated inputs through each release binary: no crash, every one answered,
no write for an invalid one."""

from __future__ import annotations

import json
import os
import time

from testbed.checks import WRITES, check
from testbed.ddb import create_jobs_table
from testbed.ecs import daemon_service, register_hosts, task_definition
from testbed.events import sqs_batch
from testbed.moto import ROOT, Moto, clients
from testbed.runtime_api import Function


# Answers that say "this input is invalid" (a structured error a retry cannot fix), besides the
# runtime's own answer to a payload that is not JSON.
INVALID = {"InvalidEvent", "InvalidJob"}


def mutate(rng, seed):
    """One mutated input from `seed` (an event or submission): bytes that are not JSON, or JSON
    with keys dropped, values replaced by other types, ARNs of other clusters/accounts, detail
    types renamed, or the whole shape nested or emptied."""
    import copy

    kind = rng.random()
    text = json.dumps(seed)
    if kind < 0.15:
        cut = rng.randrange(1, max(2, len(text)))
        return rng.choice([text[:cut].encode(), text.encode()[::-1], bytes(rng.randrange(256) for _ in range(32)),
                           b"", b"{", b"\xff\xfe{}"])
    event = copy.deepcopy(seed)

    def paths(v, prefix=()):
        if isinstance(v, dict):
            for k, x in v.items():
                yield prefix + (k,)
                yield from paths(x, prefix + (k,))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                yield prefix + (i,)
                yield from paths(x, prefix + (i,))

    junk = [None, -1, 0, 2**63, -2**63, 1.5, "", "x" * 5000, [], {}, True, "arn:aws:ecs:us-east-1:999999999999:cluster/other",
            "arn:aws:ecs:eu-west-1:123456789012:cluster/demo", "ECS Task State Change", "1970-01-01T00:00:00Z",
            "not-a-date", "\u0000", "💥"]
    for _ in range(rng.randrange(1, 4)):
        all_paths = list(paths(event))
        if not all_paths:
            break
        path = rng.choice(all_paths)
        parent = event
        for k in path[:-1]:
            parent = parent[k]
        last = path[-1]
        op = rng.random()
        if op < 0.35 and isinstance(parent, dict):
            del parent[last]
        elif op < 0.5 and isinstance(parent[last], str):
            parent[last] = parent[last][: rng.randrange(len(parent[last]) + 1)] + rng.choice(["", "/x", ":1", "Ω"])
        else:
            parent[last] = rng.choice(junk)
    if rng.random() < 0.05:
        event = rng.choice([[event], {"detail": event}, None, 7, "text"])
    return event


def mutation_acceptance(moto: Moto, per_function: int = int(os.environ.get("MUTANTS", "2000"))) -> None:
    """Issue 13: thousands of mutated inputs through each release binary (Lambda Runtime API) → no
    crash, every one answered, no write for an invalid one. The functions talk to moto through the
    test bed's proxy, which counts every request by operation (faults off)."""
    import random

    print(f"\nmutated inputs ({per_function} per function, release binaries, Lambda Runtime API)")
    moto.command({"op": "reset"})
    c = clients(moto)
    ecs = c["ecs"]
    ddb = moto.client("dynamodb")
    # Cluster `demo` as the sample events name it, with a daemon service, so valid mutants act.
    ecs.create_cluster(clusterName="demo")
    register_hosts(moto, ecs, "demo", 2)
    daemon_service(ecs, "demo", "logs", task_definition(ecs, "web"), 0)
    # The capacity table as template.yaml declares it (autopilot_core::ports::capacity_store::schema),
    # its sparse `live` index included.
    ddb.create_table(TableName="capacity", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"},
                                           {"AttributeName": "live_sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                     GlobalSecondaryIndexes=[{"IndexName": "live",
                                              "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                            {"AttributeName": "live_sk", "KeyType": "RANGE"}],
                                              "Projection": {"ProjectionType": "ALL"}}])
    create_jobs_table(ddb, "jobs")
    queue_url = c["sqs"].create_queue(QueueName="mutants")["QueueUrl"]

    def sample(name: str) -> dict:
        return json.loads((ROOT / "events" / name).read_text())

    ecs_events = [sample(n) for n in ("instance-registered.json", "instance-draining.json", "instance-deregistered.json",
                                      "instance-agent-disconnected.json", "task-started.json", "task-stopped.json",
                                      "unknown-detail-type.json", "scheduled-reconcile.json")]
    drainer_events = [sample(n) for n in ("drainer-terminate-lifecycle-action.json",
                                          "drainer-spot-interruption-warning.json")]
    drainer_events.append(sqs_batch([json.dumps(sample("drainer-recheck-message.json")), json.dumps(drainer_events[0])]))
    submissions = [
        {"action": "submit", "job": {"cluster": "demo", "taskDefinition": "web", "priority": 3, "jobId": "m1",
                                     "maxWaitSeconds": 60, "maxAttempts": 2}},
        {"action": "cancel", "jobId": "m1"},
    ]
    functions = [
        ("daemon-count", {}, ecs_events),
        ("capacity-recorder", {"CAPACITY_TABLE": "capacity"}, ecs_events),
        ("instance-drainer", {"RECHECK_QUEUE_URL": queue_url}, drainer_events),
        ("task-dispatcher", {"JOBS_TABLE": "jobs", "CLUSTERS": "demo"}, submissions + ecs_events[4:6]),
    ]
    rng = random.Random(13)
    for name, env, seeds in functions:
        fn = Function(name, moto, env, endpoint=moto.proxy)
        counts = {"response": 0, "invalid": 0, "other error": 0}
        others: dict[str, int] = {}  # error types a retry could fix (a mutant naming something absent)
        started = time.monotonic()
        try:
            for i in range(per_function):
                before = moto.command({"op": "proxy_calls"})["calls"]
                kind, out = fn.invoke(mutate(rng, rng.choice(seeds)))
                after = moto.command({"op": "proxy_calls"})["calls"]
                writes = {op: n - before.get(op, 0) for op, n in after.items() if op in WRITES and n != before.get(op, 0)}
                error_type = (out or {}).get("errorType", "") if isinstance(out, dict) else ""
                # The runtime's answer to a payload it cannot deserialize (not JSON at all).
                invalid = kind == "error" and (error_type in INVALID or "serde_json" in error_type
                                               or "Deserial" in error_type)
                counts["response" if kind == "response" else "invalid" if invalid else "other error"] += 1
                if kind == "error" and not invalid:
                    others[error_type] = others.get(error_type, 0) + 1
                if fn.proc.poll() is not None:
                    raise SystemExit(f"FAILED: {name} exited ({fn.proc.returncode}) on input {i}")
                if invalid and writes:
                    raise SystemExit(f"FAILED: {name}: an invalid input wrote {writes}: {out}")
        finally:
            fn.stop()
        elapsed = time.monotonic() - started
        check(sum(counts.values()) == per_function,
              f"{name}: {per_function} mutated inputs, every one answered, no crash, no write for an invalid one "
              f"({counts['response']} handled, {counts['invalid']} invalid, {counts['other error']} other errors {others or ''}; "
              f"{per_function / elapsed:.0f} inputs/s)")
