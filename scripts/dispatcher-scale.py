"""task-dispatcher's wake-up at production volume: items read, read units, wake-up time, decide
time and peak RSS, with a deep history of terminal jobs (issue 21's closing figures).

On moto. For each binary (`--bin-dir`, repeatable: before / after a change) it starts moto
(tests/moto_server.py), builds cluster `scale` in moto's ECS (`--hosts` hosts, 500 by default, each
then filled by a filler task so that no job fits: every wake-up decides the whole queue and starts
nothing, so the timed and the counted run see the same table), creates the jobs table the binary
expects, and has the binary itself write the items: a job submitted, run and ended with exit 0
(SUCCEEDED, its TTL 14 days ahead) and, once the hosts are full, a job that waits (QUEUED). Those
two items are cloned (scripts/testbed/ddb.py `clone_job_item`: new job ids, every other attribute as
the binary wrote it) into `--terminal` SUCCEEDED jobs and N QUEUED jobs for each N of `--queued`
(the queue grows from one N to the next), loaded into moto's model by the test bed's bulk op
(`dynamodb_put_items`). So the same script measures a binary from before issue 21 as well.

For each N it measures one wake-up: an `ECS Container Instance State Change` of the cluster by
direct invoke (what is measured is the wake-up's cost, not the queue's batching), under the
test bed's Lambda Runtime API (scripts/testbed), a fresh function process per run. Each is run twice, as
scripts/scale does: once timed with the test bed's read accounting off, once counted with it on.

- items read, read units: the test bed's accounting (`dynamodb_accounting`: the items each Query's
  key condition read, before any filter, and read units from their sizes, rounded up to 4 KB, half
  for an eventually consistent read) over the counted run's Queries (only the jobs table: no
  CAPACITY_TABLE, hosts come from ECS);
- wake-up ms: the timed run's invocation (event handed out → answer posted, like Lambda's
  Duration). On moto this is mostly moto's time: its Query of a global secondary index walks the
  whole table for each page;
- decide ms: the wake report's `decide_ms` (the answer's, else the summary log line's); "-" for a
  binary that does not report it;
- peak RSS MB: the function process's own high-water mark (VmHWM) after the timed run, as
  scripts/scale measures the recorder's sweep.

Each row is checked: the wake-up answered, saw N QUEUED jobs and started none.

Jobs table: today's (scripts/testbed/ddb.py `create_jobs_table`: `by-cluster` and the sparse
`by-cluster-live` the wake-up Queries), or for a binary from before issue 21 (58e012c^) that
time's: the `by-cluster` index only, which its wake-up Queried. `--layout auto` (default) asks the
binary: a job it stores QUEUED in a probe cluster carries the live index's keys or not. Requests
are signed with the bed's `testing` key: the IAM bed does not check them (an old binary's Query of
`by-cluster` is outside today's grants; scripts/acceptance checks the current one's).

Usage:
  scripts/dispatcher-scale [--bin-dir DIR [--label NAME]]... [--queued 100,1000,10000]
                           [--terminal 100000] [--hosts 500] [--layout auto|live|by-cluster]
                           [--single-run] [--out FILE]
  --bin-dir: where task-dispatcher's bootstrap is: DIR/task-dispatcher/bootstrap (a cargo-lambda
  target's `lambda/` directory) or DIR/bootstrap; default $CARGO_TARGET_DIR/lambda (or
  target/lambda). Nothing is built: run `scripts/acceptance` (or cargo lambda build --release -p
  task-dispatcher) first. Give it twice (before, after) for the comparison table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import testbed.measure as measuring
from testbed.ddb import clone_job_item, create_jobs_table, put_items
from testbed.dispatcher import DispatcherBed, succeeded_job_item
from testbed.events import instance_event
from testbed.measure import env_for, invoke_once, measure
from testbed.moto import ROOT, Moto
from testbed.runtime_api import Function

CLUSTER = "scale"
TABLE = DispatcherBed.TABLE
JOB_FAMILY = "scale-job"


def create_jobs_table_by_cluster(ddb, name: str) -> None:
    """The jobs table before issue 21 (scripts/demo.py `create_jobs_table` at 58e012c^; today's is
    scripts/testbed/ddb.py's): the `by-cluster` index only."""
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"},
                              {"AttributeName": "cluster", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-cluster",
                                 "KeySchema": [{"AttributeName": "cluster", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )


def bootstrap_of(bin_dir: Path) -> Path:
    for candidate in (bin_dir / "task-dispatcher" / "bootstrap", bin_dir / "bootstrap", bin_dir):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"no task-dispatcher bootstrap in {bin_dir}: build it first (scripts/acceptance, or "
                     "cargo lambda build --release -p task-dispatcher)")


def function_env() -> dict:
    """What the function processes get besides the Runtime API's variables."""
    return {"JOBS_TABLE": TABLE, "CLUSTERS": CLUSTER, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}


def probe_layout(moto: Moto, binary: Path) -> str:
    """`live` if the binary writes the live index's keys on a QUEUED job, else `by-cluster`. The
    probe writes to today's table (both indexes), in a cluster of its own with no host; the table
    is deleted afterwards."""
    ecs, ddb = moto.client("ecs"), moto.client("dynamodb")
    ecs.create_cluster(clusterName="layout-probe")
    ecs.register_task_definition(family="layout-probe", containerDefinitions=[
        {"name": "layout-probe", "image": "busybox", "memory": 256, "cpu": 64}])
    create_jobs_table(ddb, TABLE)
    fn = Function("task-dispatcher", moto, {**function_env(), "CLUSTERS": "layout-probe"}, binary=binary,
                  log_name="dispatcher-scale-probe", log_prefix="scale-")
    try:
        kind, out = fn.invoke({"action": "submit", "job": {"jobId": "layout-probe", "cluster": "layout-probe",
                                                           "taskDefinition": "layout-probe"}})
    finally:
        fn.stop()
    item = ddb.get_item(TableName=TABLE, Key={"jobId": {"S": "layout-probe"}}).get("Item")
    ddb.delete_table(TableName=TABLE)
    if kind != "response" or item is None:
        raise SystemExit(f"layout probe: the binary did not store the probe job ({kind}: {json.dumps(out)[:400]})")
    return "live" if "live_cluster" in item else "by-cluster"


def fill_hosts(bed: DispatcherBed, hosts: list[str], leave_mib: int) -> None:
    """A filler task on every host, taking all but `leave_mib` of its remaining memory (StartTask,
    10 hosts a call; one filler family per distinct remaining memory)."""
    by_remaining: dict[int, list[str]] = {}
    for i in range(0, len(hosts), 100):
        for ci in bed.ecs.describe_container_instances(cluster=CLUSTER, containerInstances=hosts[i:i + 100])[
                "containerInstances"]:
            mem = next(int(r["integerValue"]) for r in ci["remainingResources"] if r["name"] == "MEMORY")
            by_remaining.setdefault(mem, []).append(ci["containerInstanceArn"])
    for mem, arns in by_remaining.items():
        family = f"scale-filler-{mem}"
        bed.ecs.register_task_definition(family=family, containerDefinitions=[
            {"name": family, "image": "busybox", "memory": mem - leave_mib, "cpu": 64}])
        for i in range(0, len(arns), 10):
            bed.ecs.start_task(cluster=CLUSTER, taskDefinition=family, containerInstances=arns[i:i + 10],
                               group="family:scale-filler")


def decide_ms_of(payload: dict, log: str):
    """The wake report's decide_ms: in the answer, else on a log line; None when not reported."""
    for w in (payload or {}).get("wakes") or []:
        if "decide_ms" in w:
            return w["decide_ms"]
    for line in reversed(log.splitlines()):
        if "decide_ms" in line:
            try:
                v = json.loads(line)
            except ValueError:
                continue
            found = v.get("decide_ms", (v.get("fields") or {}).get("decide_ms"))
            if found is not None:
                return found
    return None


def measure_wake(moto: Moto, binary: Path, env: dict, host: str) -> dict:
    def run() -> dict:
        r = invoke_once(binary, env, instance_event(CLUSTER, host))
        try:
            payload = json.loads(r["stdout"])
        except ValueError:
            payload = {}
        wakes = [w for w in (payload or {}).get("wakes") or [] if w.get("cluster", "").split("/")[-1] == CLUSTER]
        r["wake"] = wakes[0] if wakes else {}
        r["decide_ms"] = decide_ms_of(payload, r["stderr"])
        return r

    return measure(moto, run)


def run_binary(bin_dir: Path, label: str, args) -> list[dict]:
    binary = bootstrap_of(bin_dir)
    moto = Moto()
    rows: list[dict] = []
    try:
        moto.command({"op": "pin_ecs_tasks"})
        layout = args.layout if args.layout != "auto" else probe_layout(moto, binary)
        bed = DispatcherBed(moto)
        (create_jobs_table if layout == "live" else create_jobs_table_by_cluster)(bed.ddb, TABLE)
        t0 = time.monotonic()
        hosts = [arn for arn, _ in bed.cluster(CLUSTER, args.hosts)]
        bed.task_definition(JOB_FAMILY, 256)
        digest = hashlib.sha256(binary.read_bytes()).hexdigest()[:12]
        modified = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(binary.stat().st_mtime))
        print(f"[{label}] {binary} (sha256 {digest}…, built {modified}): jobs table layout {layout}; "
              f"ECS: {len(hosts)} hosts "
              f"({time.monotonic() - t0:.0f} s)", flush=True)
        fn = Function("task-dispatcher", moto, function_env(), binary=binary, log_name=f"dispatcher-scale-{label}", log_prefix="scale-")
        fn.cluster = CLUSTER  # type: ignore[attr-defined]
        try:
            done = succeeded_job_item(bed, fn, "scale-template-done", JOB_FAMILY)
            fill_hosts(bed, hosts, 100)  # < 256 MiB left anywhere: no job fits
            kind, out = bed.submit(fn, {"jobId": "scale-template-queued", "taskDefinition": JOB_FAMILY, "priority": 1})
            if kind != "response" or bed.job("scale-template-queued")["state"] != "QUEUED":
                raise SystemExit(f"the template QUEUED job: {kind} {json.dumps(out)[:400]}")
            queued = bed.item("scale-template-queued")
        finally:
            fn.stop()
        t0 = time.monotonic()
        terminal = 1 + put_items(moto, TABLE, (clone_job_item(done, f"scale-done-{i:06d}")
                                               for i in range(1, args.terminal)))
        print(f"[{label}] + {terminal} SUCCEEDED jobs ({time.monotonic() - t0:.0f} s)", flush=True)
        env = {**{k: v for k, v in env_for(moto.endpoint).items() if k != "CAPACITY_TABLE"}, **function_env()}
        have = 1
        for n in sorted(args.queued):
            have += put_items(moto, TABLE, (clone_job_item(queued, f"scale-q-{i:06d}") for i in range(have, n)))
            t0 = time.monotonic()
            r = measure_wake(moto, binary, env, hosts[0])
            acc, wake = r.get("accounting", {}), r["wake"]
            ok = r["rc"] == 0 and r.get("accounted_rc", 0) == 0 and wake.get("queue_depth") == n \
                and wake.get("started") == 0
            if not ok:
                sys.stderr.write(f"CHECK FAILED ({label}, {n} queued): rc {r['rc']}, wake "
                                 f"{json.dumps({k: v for k, v in wake.items() if k != 'jobs'})[:600]}\n"
                                 f"answer: {r['stdout'][:1000]}\nlog: {r['stderr'][-2000:]}\n")
            rows.append({
                "queued": n, "terminal": terminal, "hosts": len(hosts), "binary": label, "layout": layout,
                "sha256": digest,
                "queries": acc.get("queries"), "items_read": acc.get("scanned_items"),
                "read_units": acc.get("read_units"), "wake_ms": round(r["wall_s"] * 1000),
                "decide_ms": r["decide_ms"], "peak_rss_mb": round(r["rss_kb"] / 1024, 1),
                "jobs_read": wake.get("jobs_read"), "queue_depth": wake.get("queue_depth"),
                "started": wake.get("started"), "check": "ok" if ok else "FAILED",
                "timing": "single run, accounting on" if measuring.SINGLE_RUN else "",
            })
            print(f"[{label}] {n} queued: {json.dumps(rows[-1])} ({time.monotonic() - t0:.0f} s)", flush=True)
    finally:
        moto.stop()
    return rows


HEAD = [("queued", "queued"), ("terminal", "terminal"), ("binary", "binary"), ("items_read", "items read"),
        ("read_units", "read units"), ("wake_ms", "wake-up ms"), ("decide_ms", "decide ms"),
        ("peak_rss_mb", "peak RSS MB")]


def print_table(rows: list[dict]) -> None:
    print("| " + " | ".join(title for _, title in HEAD) + " |")
    print("|" + "---|" * len(HEAD))
    order = {b: i for i, b in enumerate(dict.fromkeys(r["binary"] for r in rows))}
    for r in sorted(rows, key=lambda r: (r["queued"], order[r["binary"]])):
        print("| " + " | ".join("-" if r.get(k) is None else f"{r[k]:,}" if isinstance(r[k], int) else str(r[k])
                                for k, _ in HEAD) + " |")


def default_bin_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "lambda"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", type=Path, action="append",
                        help="where task-dispatcher/bootstrap is (repeatable; default: the release build)")
    parser.add_argument("--label", action="append", help="the binary's name in the table, one per --bin-dir")
    parser.add_argument("--queued", default="100,1000,10000", help="QUEUED jobs per measurement (comma-separated)")
    parser.add_argument("--terminal", type=int, default=100_000, help="SUCCEEDED jobs (TTL ahead) in the cluster")
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--layout", choices=["auto", "live", "by-cluster"], default="auto",
                        help="the jobs table's indexes (auto: ask the binary)")
    parser.add_argument("--single-run", action="store_true",
                        help="measure each wake-up once, with read accounting on (its time then includes "
                        "accounting's second pass over each Query's items)")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    args.queued = [int(n.replace("_", "")) for n in args.queued.split(",") if n.strip()]
    if any(n < 1 for n in args.queued) or args.terminal < 1 or args.hosts < 1:
        raise SystemExit("--queued, --terminal and --hosts must be ≥ 1")
    measuring.SINGLE_RUN = args.single_run
    bin_dirs = args.bin_dir or [default_bin_dir()]
    labels = args.label or []
    if len(labels) > len(bin_dirs):
        raise SystemExit("more --label than --bin-dir")
    labels += [str(d) for d in bin_dirs[len(labels):]]
    rows: list[dict] = []
    for bin_dir, label in zip(bin_dirs, labels):
        rows += run_binary(bin_dir, label, args)
    print()
    print_table(rows)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    if any(r["check"] != "ok" for r in rows):
        raise SystemExit("some checks failed (see above)")


if __name__ == "__main__":
    main()
