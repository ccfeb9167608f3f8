"""The capacity table at production scale: items read, read units, Queries, time and peak RSS.

On moto (default). For each scenario it starts moto (tests/moto_server.py), builds the cluster in
moto's ECS (hosts with the capability attributes real agents register, running tasks pinned
RUNNING, spread over task groups), creates the capacity table with the CLI under test, fills it
with the recorder's own first sweep (the real `capacity-recorder` binary under the test bed's
Lambda Runtime API, scripts/testbed), then adds the history a batch cluster leaves behind — STOPPED tasks
(kept a day), tombstones of tasks and of deregistered hosts (three days) and a few expired items
DynamoDB's lazy TTL has not deleted yet — shaped as the binary under test writes them (issue 22's
layout, detected by the table's `live` index: fence-only items outside the index; before it: full
items in the one key range), loaded into moto's model by the test bed's bulk op
(`dynamodb_put_items`). Then it measures:

- `ecs-autopilot capacity show`, `capacity can-place` without a task-group question, and
  `can-place --group G` with `distinctInstance` (it needs G's tasks);
- the recorder's scheduled sweep over the same table (steady state: ECS unchanged);
- (moto) a cluster ECS does not have, known from events for three hosts: after one sweep,
  `capacity show` must say it is gone (issue 22; informational on binaries before it).

Each is run twice: once timed (wall clock of the process, its own peak RSS: `/usr/bin/time -v`
for the CLI, VmHWM of the function process for the sweep), once with the test bed's read
accounting on (`dynamodb_accounting`: the items each Query's key condition read, before its
filter, and read units computed from their sizes, rounded up to 4 KB, half for eventually
consistent reads). Beside the bed's accounting, each row carries what the binary itself got from
DynamoDB's `ConsumedCapacity` and `ScannedCount` (the CLI's `--read-stats` line, the sweep
report's `pages` / `items_read` / `read_units`; "-" for binaries without them). On moto those come
from the bed too (moto's own ConsumedCapacity is a constant); on AWS they are DynamoDB's.

`items_read` is checked against issue 22's bound: at most 1.2 x the live items the question needs
(live hosts; + live tasks of G for `--group`; + every live task for the sweep). The sweep's bed
counts include the registry Query every invocation makes.

On AWS (`--aws`, never in CI): measures against a real account with the caller's credentials
(the usual AWS_* variables / profile / region). It refuses to run without `--table` and
`--cluster`. Without `--create-table` it is read-only: it runs the three CLI questions (DynamoDB
Query only) against an existing capacity table and reports DynamoDB's own ConsumedCapacity; it
writes nothing and does not run the sweep (which writes). With `--create-table` it creates the
table itself (refusing if a table of that name exists), tags it `ecs-autopilot:scale-run=<id>`,
fills it with the recorder's sweep of `--cluster` (ECS is only read: List/Describe), adds `--dead`
dead task and `--dead-hosts` dead host items to it (BatchWriteItem; on-demand writes cost about
$1.25 per million), measures the questions and the sweep, and deletes the table at the end — only
after checking the tag says this run created it (`--keep-table` keeps it). Nothing else is
created, changed or deleted.

Timings on moto are moto's: its Query is Python over the key range (the bed narrows it); read
units, items read and RSS do not depend on that.

Usage:
  scripts/scale [--scenario small|accept|full|all] [--dead N] [--dead-hosts N] [--bin-dir DIR]
                [--label NAME] [--out FILE] [--single-run]
  scripts/scale --aws --table T --cluster C [--group G] [--create-table [--dead N]
                [--dead-hosts N] [--keep-table]] [--bin-dir DIR] [--out FILE]
  --bin-dir: where `ecs-autopilot` and `capacity-recorder` are (default: the release build in
  $CARGO_TARGET_DIR or target/, built first if missing). Run it on two builds (before / after a
  change) and compare the tables it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import testbed.measure as measuring
from testbed.ddb import CAPACITY_TABLE as TABLE
from testbed.ddb import put_items
from testbed.events import scheduled_event
from testbed.measure import env_for, invoke_once, measure, run_measured
from testbed.moto import ACCOUNT, REGION, ROOT, Moto

NOW = int(time.time())

# hosts, running tasks per host, task items of stopped / gone tasks in the table.
SCENARIOS = {
    "small": {"cluster": "small", "hosts": 20, "running_per_host": 2, "groups": 4, "dead": 2_000, "dead_hosts": 200},
    # Issue 22's acceptance: 200 hosts, 400 running tasks in 20 groups, 50,000 STOPPED /
    # tombstoned task items and 2,000 dead host items (`--dead 500000` for the larger run).
    "accept": {"cluster": "accept", "hosts": 200, "running_per_host": 2, "groups": 20, "dead": 50_000,
               "dead_hosts": 2_000},
    # 5,000 hosts and 100,000 task items (20,000 running + 80,000 stopped or gone).
    "full": {"cluster": "big", "hosts": 5_000, "running_per_host": 4, "groups": 20, "dead": 80_000, "dead_hosts": 0},
}
GHOST = "ghost-ci"  # a cluster ECS does not have, known from events only


def group_name(g: int) -> str:
    return f"family:app-{g:02d}"


# What a real ECS agent registers (moto registers 4 attributes; real hosts carry dozens).
CAPABILITIES = {
    **{f"com.amazonaws.ecs.capability.docker-remote-api.1.{v}": None for v in range(17, 45)},
    **{
        f"com.amazonaws.ecs.capability.logging-driver.{d}": None
        for d in ["awslogs", "fluentd", "gelf", "json-file", "journald", "none", "splunk", "syslog"]
    },
    "com.amazonaws.ecs.capability.ecr-auth": None,
    "com.amazonaws.ecs.capability.task-iam-role": None,
    "com.amazonaws.ecs.capability.task-iam-role-network-host": None,
    "com.amazonaws.ecs.capability.privileged-container": None,
    "ecs.capability.execution-role-awslogs": None,
    "ecs.capability.execution-role-ecr-pull": None,
    "ecs.capability.task-eni": None,
    "ecs.capability.container-health-check": None,
    "ecs.capability.secrets.asm.environment-variables": None,
    "ecs.capability.efsAuth": None,
    "ecs.vpc-id": "vpc-0a1b2c3d4e5f67890",
    "ecs.subnet-id": "subnet-0123456789abcdef0",
    "ecs.cpu-architecture": "x86_64",
    "ecs.os-family": "LINUX",
}


def build_cluster(moto: Moto, scenario: dict) -> tuple[list[str], dict[str, list[str]]]:
    """The cluster in moto's ECS: hosts (with realistic attributes) and running tasks, spread over
    `groups` task groups of equal size (each group's tasks on distinct hosts). Returns the hosts and
    the hosts each group runs on."""
    ecs = moto.client("ecs")
    cluster = scenario["cluster"]
    ecs.create_cluster(clusterName=cluster)
    hosts: list[str] = []
    remaining = scenario["hosts"]
    while remaining:
        n = min(remaining, 500)
        ids = moto.command(
            {"op": "run_instances", "instance_type": "t3.large", "availability_zone": "us-east-1a", "count": n}
        )["instance_ids"]
        for i, instance_id in enumerate(ids):
            az = f"us-east-1{'abc'[(len(hosts) + i) % 3]}"
            doc = {"instanceId": instance_id, "instanceType": "t3.large", "availabilityZone": az, "region": REGION}
            ci = ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=json.dumps(doc))
            hosts.append(ci["containerInstance"]["containerInstanceArn"])
        remaining -= n
    moto.command({"op": "add_instance_attributes", "cluster": cluster, "attributes": CAPABILITIES})
    moto.command({"op": "pin_ecs_tasks"})
    td = ecs.register_task_definition(
        family="app",
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64, "cpu": 64}],
    )["taskDefinition"]["taskDefinitionArn"]
    groups = scenario["groups"]
    per_group = max(1, scenario["hosts"] * scenario["running_per_host"] // groups)
    placed: dict[str, list[str]] = {group_name(g): [] for g in range(groups)}
    k = 0  # tasks started so far
    for _ in range(scenario["running_per_host"]):
        for i in range(0, len(hosts), 10):
            chunk = hosts[i : i + 10]
            j = 0
            while j < len(chunk):  # one StartTask per run of hosts in one group
                g = min(k // per_group, groups - 1)
                take = len(chunk) - j if g == groups - 1 else min(len(chunk) - j, per_group - k % per_group)
                ecs.start_task(
                    cluster=cluster,
                    taskDefinition=td,
                    containerInstances=chunk[j : j + take],
                    group=group_name(g),
                    startedBy="scale",
                )
                placed[group_name(g)].extend(chunk[j : j + take])
                k, j = k + take, j + take
    return hosts, placed


def table_layout(ddb, table: str) -> str:
    """`live-index` (issue 22: dead items are fences outside the sparse `live` index) or
    `key-range` (before it: live and dead items share one key range, full items)."""
    indexes = ddb.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
    return "live-index" if any(i["IndexName"] == "live" for i in indexes) else "key-range"


def _arn(kind: str, cluster: str, rng: random.Random, region: str, account: str) -> str:
    return f"arn:aws:ecs:{region}:{account}:{kind}/{cluster}/{uuid.UUID(int=rng.getrandbits(128)).hex}"


def dead_task_items(cluster: str, cluster_arn: str, count: int, hosts: list[str], layout: str, groups: int,
                    region: str = REGION, account: str = ACCOUNT):
    """Task items of stopped and gone tasks, as the recorder under test writes them: 70% STOPPED
    (kept a day), 28% tombstones of tasks a sweep found gone (three days), 2% expired but not yet
    deleted by DynamoDB's TTL (which can take days). Issue 22's layout keeps only the fence
    (identity, version, status, tombstone, expiry); before it, the whole item. The groups are the
    live tasks' groups: a layout that read a group's dead tasks would pay for them."""
    rng = random.Random(14)
    for i in range(count):
        arn = _arn("task", cluster, rng, region, account)
        roll = i % 50
        if roll < 35:  # STOPPED: kept a day
            last, version, expires, tombstone = "STOPPED", 5, NOW + rng.randrange(60, 86_400), False
        elif roll < 49:  # tombstone of a task the sweep found gone: kept three days
            last, version, expires, tombstone = "RUNNING", 3, NOW + rng.randrange(60, 3 * 86_400), True
        else:  # expired, not yet deleted by TTL
            last, version, expires, tombstone = "STOPPED", 5, NOW - rng.randrange(60, 86_400), False
        item = {
            "pk": {"S": cluster},
            "sk": {"S": f"task#{arn}"},
            "kind": {"S": "task"},
            "cluster_arn": {"S": cluster_arn},
            "arn": {"S": arn},
            "last_status": {"S": last},
            "version": {"N": str(version)},
            "expires_at": {"N": str(expires)},
        }
        if layout == "live-index":  # a fence: every dead task is a tombstone (fence_of)
            item["tombstone"] = {"BOOL": True}
        else:
            item.update(
                {
                    "container_instance_arn": {"S": hosts[i % len(hosts)]},
                    "group": {"S": group_name(i % groups)},
                    "started_by": {"S": "batch-dispatcher"},
                    "desired_status": {"S": "STOPPED" if last == "STOPPED" else "RUNNING"},
                    "cpu": {"N": "256"},
                    "memory": {"N": "512"},
                    "launch_type": {"S": "EC2"},
                    "updated_at": {"S": "2026-11-22T05:00:00.000Z"},
                }
            )
            if tombstone:
                item["tombstone"] = {"BOOL": True}
        yield item


def dead_host_items(cluster: str, cluster_arn: str, count: int, layout: str, live_host: dict | None,
                    region: str = REGION, account: str = ACCOUNT):
    """Tombstones of deregistered hosts (kept three days). Issue 22's layout: the fence only
    (226 bytes for a real host). Before it: the host's whole item (attribute map and resources),
    copied from a live host item the recorder wrote."""
    rng = random.Random(22)
    for _ in range(count):
        arn = _arn("container-instance", cluster, rng, region, account)
        expires = {"N": str(NOW + rng.randrange(60, 3 * 86_400))}
        if layout == "live-index" or live_host is None:
            item = {"pk": {"S": cluster}, "kind": {"S": "instance"}, "cluster_arn": {"S": cluster_arn}}
        else:
            item = {k: v for k, v in live_host.items() if k != "live_sk"}
            item["ec2_instance_id"] = {"S": f"i-{rng.getrandbits(68):017x}"}
        item.update(
            {
                "sk": {"S": f"instance#{arn}"},
                "arn": {"S": arn},
                "status": {"S": "INACTIVE"},
                "version": {"N": "7"},
                "tombstone": {"BOOL": True},
                "expires_at": expires,
            }
        )
        yield item


def a_live_host_item(ddb, table: str, cluster: str) -> dict | None:
    page = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :c AND begins_with(sk, :p)",
        ExpressionAttributeValues={":c": {"S": cluster}, ":p": {"S": "instance#"}},
        Limit=1,
    )
    return (page.get("Items") or [None])[0]


def load_with_batch_writes(ddb, table: str, items) -> int:
    """BatchWriteItem, 25 at a time, unprocessed items retried with backoff (AWS)."""
    n, batch = 0, []

    def flush(batch: list) -> None:
        requests = {table: [{"PutRequest": {"Item": i}} for i in batch]}
        delay = 0.05
        while requests:
            left = ddb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
            requests = left
            if left:
                time.sleep(delay)  # DynamoDB's advice for unprocessed items: back off, retry
                delay = min(delay * 2, 5)

    for item in items:
        batch.append(item)
        if len(batch) == 25:
            flush(batch)
            n, batch = n + 25, []
    if batch:
        flush(batch)
        n += len(batch)
    return n


def read_stats_of(stderr: str) -> dict | None:
    """The CLI's `--read-stats` line: Queries, items read (ScannedCount), read units
    (ConsumedCapacity)."""
    for line in reversed(stderr.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                stats = json.loads(line)
            except ValueError:
                continue
            if isinstance(stats, dict) and "read_units" in stats and "items_read" in stats:
                return {"queries": stats.get("queries"), "items_read": stats["items_read"],
                        "read_units": stats["read_units"]}
    return None


def sweep_report(r: dict, cluster: str) -> dict | None:
    try:
        for s in json.loads(r["stdout"])["sweeps"]:
            if s["cluster"].rsplit("/", 1)[-1] == cluster:
                return s
    except (ValueError, KeyError, TypeError):
        return None
    return None


def sweep_stats(r: dict, cluster: str) -> dict | None:
    """The sweep report's own reads (DynamoDB's ScannedCount and ConsumedCapacity)."""
    s = sweep_report(r, cluster)
    if s is None or "read_units" not in s:
        return None
    return {"queries": s.get("pages"), "items_read": s.get("items_read"), "read_units": s.get("read_units")}


def supports_read_stats(cli: str) -> bool:
    out = subprocess.run([cli, "capacity", "show", "--help"], capture_output=True, text=True)
    return "--read-stats" in out.stdout



def check(ok: bool, what: str, result: dict) -> str:
    if ok:
        return "ok"
    sys.stderr.write(f"CHECK FAILED: {what}\nstdout: {result['stdout'][-2000:]}\nstderr: {result['stderr'][-2000:]}\n")
    return "FAILED"


class Questions:
    """The CLI's capacity questions and the recorder's sweep, measured one way or the other."""

    def __init__(self, cli: str, recorder: Path, env: dict, cluster: str, moto: Moto | None) -> None:
        self.cli_path, self.recorder, self.env, self.cluster, self.moto = cli, recorder, env, cluster, moto
        self.read_stats = supports_read_stats(cli)

    def cli(self, *args: str) -> dict:
        def run() -> dict:
            cmd = [self.cli_path, "capacity", *args, "--cluster", self.cluster, "--json"]
            r = run_measured(cmd + (["--read-stats"] if self.read_stats else []), self.env)
            r["ddb"] = read_stats_of(r["stderr"])
            return r

        return measure(self.moto, run)

    def sweep(self) -> dict:
        def run() -> dict:
            r = invoke_once(self.recorder, self.env, scheduled_event("capacity-recorder-sweep"))
            r["ddb"] = sweep_stats(r, self.cluster)
            return r

        return measure(self.moto, run)


def ask_everything(q: Questions, rows: list, base: dict, group: str | None, live: dict,
                   expect: dict | None) -> None:
    """show, can-place without and with a task group, the steady-state sweep. `live`: the live
    items each question needs (issue 22's bound); `expect` (moto): the known answers to check."""
    r = q.cli("show")
    answer = _json(r["stdout"])
    ok = r["rc"] == 0 and (expect is None or answer.get("totals", {}).get("hosts") == expect["hosts"])
    rows.append(row(base, "capacity show", r, live["hosts"], check(ok, "show lists every live host", r)))

    r = q.cli("can-place", "--memory", "512", "--cpu", "256", "--count", "3")
    answer = _json(r["stdout"])
    ok = r["rc"] in (0, 1) if expect is None else (r["rc"] == 0 and answer.get("fits") is True)
    rows.append(row(base, "can-place (no task group)", r, live["hosts"], check(ok, "3 tasks fit", r)))

    if group is not None:
        r = q.cli("can-place", "--memory", "512", "--group", group, "--constraint", "distinctInstance")
        answer = _json(r["stdout"])
        if expect is None:
            ok = r["rc"] in (0, 1)
        else:
            chosen = [_instance_arn(i) for i in answer.get("instances", [])]
            # G runs on 20 of the hosts: distinctInstance places on one of the others.
            ok = r["rc"] == 0 and answer.get("fits") is True and bool(chosen)
            ok = ok and not set(chosen) & set(expect["group_hosts"])
        rows.append(row(base, f"can-place --group {group} distinctInstance", r, live["hosts"] + live["group"],
                        check(ok, "fits on a host G does not run on", r)))

    if q.recorder is not None:
        r = q.sweep()
        s = sweep_report(r, q.cluster)
        ok = r["rc"] == 0 and s is not None and s.get("error") is None
        if expect is not None and ok:
            ok = s["hosts"] == expect["hosts"] and s["tasks"] == expect["tasks"]
        rows.append(row(base, "recorder sweep, steady state", r, live["hosts"] + live["tasks"],
                        check(ok, "the sweep covers every live host and task", r)))


def _json(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _instance_arn(i) -> str:
    if isinstance(i, dict):
        for k in ("arn", "id", "container_instance_arn", "containerInstanceArn"):
            if k in i:
                return str(i[k])
    return str(i)


def ghost_instance_event(cluster: str, host: str, version: int) -> dict:
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"
    ci = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{cluster}/{host}"
    resources = lambda mem: [  # noqa: E731
        {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": mem},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
    ]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Container Instance State Change",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [ci],
        "detail": {
            "agentConnected": True,
            "clusterArn": cluster_arn,
            "containerInstanceArn": ci,
            "ec2InstanceId": f"i-0{host[-16:]}",
            "status": "ACTIVE",
            "version": version,
            "attributes": [{"name": "ecs.instance-type", "value": "t3.large"}],
            "registeredResources": resources(7680),
            "remainingResources": resources(7000),
            "runningTasksCount": 0,
        },
    }


def ghost_cluster(q: Questions, rows: list, base: dict, layout: str) -> None:
    """Issue 22: events for three hosts of a cluster ECS does not have, one full sweep, then
    `capacity show` on it must say it is gone (exit 253, a configuration error; 2 before issue 24),
    no live host."""
    for h in range(3):
        r = invoke_once(q.recorder, q.env, ghost_instance_event(GHOST, f"{h:032x}", 2))
        if r["rc"] != 0:
            raise SystemExit(f"ghost event refused: {r['stdout']}")
    sweep = invoke_once(q.recorder, q.env, scheduled_event("capacity-recorder-sweep"))
    report = sweep_report(sweep, GHOST) or {}
    show = run_measured([q.cli_path, "capacity", "show", "--cluster", GHOST, "--json"], q.env)
    gone = show["rc"] in (2, 253) and "is gone" in show["stderr"]
    outcome = f"gone (exit {show['rc']})" if gone else f"exit {show['rc']}: {_json(show['stdout']).get('totals', show['stderr'][-200:])}"
    r = {**show, "ddb": None}
    status = "ok" if gone else ("n/a (before issue 22)" if layout == "key-range" else check(False, "ghost gone", show))
    rows.append({**row(base, f"ghost cluster: 3 host events, 1 sweep, show → {outcome}; sweep: "
                             f"{report.get('skipped') or report.get('error') or 'not reported'}", r, None, status)})


def run_scenario(name: str, bin_dir: Path, label: str, dead: int | None, dead_hosts: int | None) -> list[dict]:
    scenario = dict(SCENARIOS[name])
    if dead is not None:
        scenario["dead"] = dead
    if dead_hosts is not None:
        scenario["dead_hosts"] = dead_hosts
    cluster = scenario["cluster"]
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"
    cli = str(bin_dir / "ecs-autopilot")
    recorder = bin_dir / "capacity-recorder"
    moto = Moto()
    rows: list[dict] = []
    try:
        env = env_for(moto.endpoint)
        t0 = time.monotonic()
        hosts, placed = build_cluster(moto, scenario)
        running = scenario["hosts"] * scenario["running_per_host"]
        print(f"[{name}] ECS: {len(hosts)} hosts, {running} running tasks in {scenario['groups']} groups "
              f"({time.monotonic() - t0:.0f}s)", flush=True)
        created = run_measured([cli, "capacity", "create-table", "--table", TABLE], env)
        if created["rc"] != 0:
            raise SystemExit(f"create-table failed: {created['stderr']}")
        ddb = moto.client("dynamodb")
        layout = table_layout(ddb, TABLE)
        q = Questions(cli, recorder, env, cluster, moto)
        base = {"scenario": name, "label": label, "layout": layout, "hosts": len(hosts), "live_tasks": running,
                "dead_tasks": scenario["dead"], "dead_hosts": scenario["dead_hosts"]}
        first = invoke_once(recorder, env, scheduled_event("capacity-recorder-sweep"))
        s = sweep_report(first, cluster) or {}
        ok = first["rc"] == 0 and s.get("hosts") == len(hosts) and s.get("tasks") == running
        first["ddb"] = sweep_stats(first, cluster)
        rows.append(row({**base, "dead_tasks": 0, "dead_hosts": 0}, "sweep, empty table (first run)", first,
                        None, check(ok, "the first sweep records every host and running task", first)))
        t0 = time.monotonic()
        live_host = a_live_host_item(ddb, TABLE, cluster)
        n = put_items(moto, TABLE, dead_task_items(cluster, cluster_arn, scenario["dead"], hosts, layout,
                                               scenario["groups"]))
        n += put_items(moto, TABLE, dead_host_items(cluster, cluster_arn, scenario["dead_hosts"], layout, live_host))
        print(f"[{name}] table ({layout}): + {scenario['dead']} dead task items, + {scenario['dead_hosts']} dead "
              f"host items ({n} loaded, {time.monotonic() - t0:.0f}s)", flush=True)
        group = group_name(0)
        live = {"hosts": len(hosts), "tasks": running, "group": len(placed[group])}
        expect = {"hosts": len(hosts), "tasks": running, "group_hosts": placed[group]}
        ask_everything(q, rows, base, group, live, expect)
        ghost_cluster(q, rows, base, layout)
    finally:
        moto.stop()
    return rows


def run_on_aws(args, bin_dir: Path) -> list[dict]:
    """`--aws`: see the module docs. Refuses without an explicit table and cluster; writes only
    to a table it created itself (`--create-table`), and deletes only that table."""
    import boto3
    import botocore.exceptions

    if not args.table or not args.cluster:
        raise SystemExit("--aws needs --table and --cluster: it measures only what it is told to "
                         "(and with --create-table writes only to a table it creates)")
    if args.scenario_given:
        raise SystemExit("--aws measures the named cluster: --scenario is for moto")
    session = boto3.Session()
    region = session.region_name or os.environ.get("AWS_REGION")
    if not region:
        raise SystemExit("--aws: no region (set AWS_REGION or a profile's region)")
    ecs, ddb = session.client("ecs", region_name=region), session.client("dynamodb", region_name=region)
    clusters = ecs.describe_clusters(clusters=[args.cluster])["clusters"]
    if not clusters or clusters[0]["status"] != "ACTIVE":
        raise SystemExit(f"--aws: cluster {args.cluster} is not an ACTIVE ECS cluster in {region}")
    cluster = clusters[0]["clusterName"]
    cluster_arn = clusters[0]["clusterArn"]
    account = cluster_arn.split(":")[4]
    env = {k: v for k, v in os.environ.items() if k != "CLUSTERS"}
    env.update({"AWS_REGION": region, "CAPACITY_TABLE": args.table, "CLUSTERS": cluster})
    cli = str(bin_dir / "ecs-autopilot")
    recorder = bin_dir / "capacity-recorder"
    run_id = f"scale-{uuid.uuid4().hex[:12]}"
    created = False
    rows: list[dict] = []
    try:
        if args.create_table:
            try:
                ddb.describe_table(TableName=args.table)
                raise SystemExit(f"--aws --create-table: table {args.table} exists; this script writes only "
                                 "to a table it creates (name a new one, or drop --create-table to measure "
                                 "the existing one read-only)")
            except ddb.exceptions.ResourceNotFoundException:
                pass
            r = run_measured([cli, "capacity", "create-table", "--table", args.table], env)
            if r["rc"] != 0:
                raise SystemExit(f"create-table failed: {r['stderr']}")
            created = True
            ddb.get_waiter("table_exists").wait(TableName=args.table)
            arn = ddb.describe_table(TableName=args.table)["Table"]["TableArn"]
            ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "ecs-autopilot:scale-run", "Value": run_id}])
            print(f"[aws] created {args.table} (tag ecs-autopilot:scale-run={run_id})", flush=True)
            first = invoke_once(recorder, env, scheduled_event("capacity-recorder-sweep"))
            s = sweep_report(first, cluster) or {}
            if first["rc"] != 0 or s.get("error"):
                raise SystemExit(f"the first sweep failed: {first['stdout'][-2000:]}")
            layout = table_layout(ddb, args.table)
            hosts = [f"arn:aws:ecs:{region}:{account}:container-instance/{cluster}/0"]
            live_host = a_live_host_item(ddb, args.table, cluster)
            t0 = time.monotonic()
            n = load_with_batch_writes(ddb, args.table, dead_task_items(
                cluster, cluster_arn, args.dead or 0, hosts, layout, 20, region, account))
            n += load_with_batch_writes(ddb, args.table, dead_host_items(
                cluster, cluster_arn, args.dead_hosts or 0, layout, live_host, region, account))
            print(f"[aws] + {n} dead items ({time.monotonic() - t0:.0f}s)", flush=True)
            live = {"hosts": s.get("hosts", 0), "tasks": s.get("tasks", 0)}
        else:
            layout = table_layout(ddb, args.table)
            live = {"hosts": 0, "tasks": 0}
            print(f"[aws] read-only: {args.table} is only queried; the sweep (which writes) is not run", flush=True)
        q = Questions(cli, recorder if created else None, env, cluster, None)
        if not q.read_stats:
            raise SystemExit("--aws needs a CLI with --read-stats (issue 22): nothing else reports reads on AWS")
        # Live counts for the bound (setup reads, not measured): COUNT Queries of the live index.
        live = live_counts(ddb, args.table, cluster, args.group) if layout == "live-index" else live
        base = {"scenario": "aws", "label": args.label, "layout": layout, "hosts": live["hosts"],
                "live_tasks": live["tasks"] if created else None, "dead_tasks": args.dead if created else None,
                "dead_hosts": args.dead_hosts if created else None}
        ask_everything(q, rows, base, args.group, live, None)
    finally:
        if created and not args.keep_table:
            try:
                arn = ddb.describe_table(TableName=args.table)["Table"]["TableArn"]
                tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])}
                if tags.get("ecs-autopilot:scale-run") == run_id:
                    ddb.delete_table(TableName=args.table)
                    print(f"[aws] deleted {args.table} (created by this run)", flush=True)
                else:
                    print(f"[aws] NOT deleting {args.table}: its tag does not name this run", flush=True)
            except botocore.exceptions.ClientError as e:
                print(f"[aws] could not delete {args.table}: {e}", flush=True)
    return rows


def live_counts(ddb, table: str, cluster: str, group: str | None) -> dict:
    """Live hosts, live tasks and live tasks of `group`, counted on the live index (Select COUNT)."""

    def count(condition: str, values: dict) -> int:
        n, start = 0, None
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            page = ddb.query(TableName=table, IndexName="live", Select="COUNT", KeyConditionExpression=condition,
                             ExpressionAttributeValues={":c": {"S": cluster}, **values}, **kwargs)
            n += page["Count"]
            start = page.get("LastEvaluatedKey")
            if not start:
                return n

    prefix = "pk = :c AND begins_with(live_sk, :p)"
    return {
        "hosts": count(prefix, {":p": {"S": "instance#"}}),
        "tasks": count(prefix, {":p": {"S": "task#"}}),
        "group": count("pk = :c AND live_sk = :g", {":g": {"S": f"task#{group}"}}) if group else 0,
    }


def row(base: dict, op: str, r: dict, live_needed: int | None, status: str) -> dict:
    acc = r.get("accounting", {})
    ddb = r.get("ddb") or {}
    items = acc.get("scanned_items")
    bound = None if live_needed is None else int(1.2 * live_needed)
    within = None if items is None or bound is None else ("yes" if items <= bound else "NO")
    if within is None and bound is not None and ddb.get("items_read") is not None:
        within = "yes" if ddb["items_read"] <= bound else "NO"
    return {
        **base,
        "operation": op,
        "wall_s": round(r["wall_s"], 2),
        "peak_rss_mb": round(r["rss_kb"] / 1024, 1),
        "queries": acc.get("queries"),
        "items_read": items,
        "read_units": acc.get("read_units"),
        "ddb_queries": ddb.get("queries"),
        "ddb_items_read": ddb.get("items_read"),
        "ddb_read_units": None if ddb.get("read_units") is None else round(ddb["read_units"], 1),
        "bound_1.2x_live": bound,
        "within": within,
        "check": status,
        "timing": "single run, accounting on" if measuring.SINGLE_RUN and "accounting" in r else "",
    }


HEAD = ["scenario", "label", "layout", "hosts", "live_tasks", "dead_tasks", "dead_hosts", "operation", "wall_s",
        "peak_rss_mb", "queries", "items_read", "read_units", "ddb_queries", "ddb_items_read", "ddb_read_units",
        "bound_1.2x_live", "within", "check", "timing"]


def print_table(rows: list[dict]) -> None:
    print("bed: the test bed's accounting (dynamodb_accounting); ddb_: what the binary got from DynamoDB "
          "(ScannedCount, ConsumedCapacity)")
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "---|" * len(HEAD))
    for r in rows:
        print("| " + " | ".join("-" if r.get(h) is None else str(r[h]) for h in HEAD) + " |")


def default_bin_dir() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    bin_dir = target / "release"
    if not (bin_dir / "ecs-autopilot").exists() or not (bin_dir / "capacity-recorder").exists():
        print("building release binaries (cargo build --release -p ecs-autopilot -p capacity-recorder)", flush=True)
        subprocess.run(
            ["cargo", "build", "--release", "--locked", "-p", "ecs-autopilot", "-p", "capacity-recorder"],
            cwd=ROOT,
            check=True,
        )
    return bin_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--dead", type=int, help="dead task items (moto: overrides the scenario's; --aws: "
                        "added to the table it creates, default 0)")
    parser.add_argument("--dead-hosts", type=int, help="dead host items (as --dead)")
    parser.add_argument("--bin-dir", type=Path)
    parser.add_argument("--label", default="")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--single-run",
        action="store_true",
        help="run each measurement once, with read accounting on (half the time; wall times then "
        "include accounting's second pass over each Query's items in moto)",
    )
    aws = parser.add_argument_group("a real account (--aws; never in CI)")
    aws.add_argument("--aws", action="store_true", help="measure on AWS with the caller's credentials")
    aws.add_argument("--table", help="the capacity table (required with --aws)")
    aws.add_argument("--cluster", help="the ECS cluster (required with --aws)")
    aws.add_argument("--group", help="the task group of the distinctInstance question (without it: not asked)")
    aws.add_argument("--create-table", action="store_true",
                     help="create --table (refused if it exists), fill it by a sweep, add --dead items, "
                     "measure the sweep too, delete it at the end")
    aws.add_argument("--keep-table", action="store_true", help="with --create-table: do not delete it")
    args = parser.parse_args()
    measuring.SINGLE_RUN = args.single_run
    args.scenario_given = args.scenario is not None
    if not args.aws and (args.table or args.cluster or args.create_table or args.keep_table or args.group):
        raise SystemExit("--table, --cluster, --group, --create-table and --keep-table are for --aws")
    if args.aws and not (args.table and args.cluster):
        raise SystemExit("--aws needs --table and --cluster: it measures only what it is told to "
                         "(and with --create-table writes only to a table it creates)")
    bin_dir = args.bin_dir or default_bin_dir()
    rows: list[dict] = []
    if args.aws:
        rows = run_on_aws(args, bin_dir)
    else:
        scenario = args.scenario or "accept"
        names = ["accept", "full"] if scenario == "all" else [scenario]
        for name in names:
            rows.extend(run_scenario(name, bin_dir, args.label, args.dead, args.dead_hosts))
    print()
    print_table(rows)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    if any(r["check"] == "FAILED" for r in rows):
        raise SystemExit("some checks failed (see above)")


if __name__ == "__main__":
    main()
