"""The capacity table at production scale, on moto: time, peak RSS and DynamoDB read units.

For each scenario it starts moto (tests/moto_server.py), builds the cluster in moto's ECS (hosts
with the capability attributes real agents register, running tasks pinned RUNNING), creates the
capacity table with the CLI, fills it with the recorder's own first sweep (the real
`capacity-recorder` binary under the acceptance script's Lambda Runtime API), then adds the history a
batch cluster leaves behind — STOPPED tasks (kept a day), tombstones (three days) and a few
expired items DynamoDB's lazy TTL has not deleted yet — with BatchWriteItem, and measures:

- `ecs-autopilot capacity show`, `capacity can-place` without a task-group question, and
  `can-place` with one (`--group` + `distinctInstance`: it needs the tasks);
- the recorder's scheduled sweep over the same table (steady state: ECS unchanged).

Each is run twice: once timed (wall clock of the process, and its own peak RSS: `/usr/bin/time -v`
for the CLI, VmHWM of the function process for the sweep), once with moto's read accounting on
(tests/moto_server.py `dynamodb_accounting`: read units computed from the item sizes each Query
read, before its filter, rounded up to 4 KB, half for eventually consistent reads — moto's own
ConsumedCapacity is a constant). The sweep's wall time is the invocation's (event handed out by
the runtime API → response posted), like Lambda's Duration; its RSS is the function process's peak.

Timings are moto's: every moto Query sorts the whole table in Python, so a Query costs time in
proportion to the table, not to the page; read units and RSS do not depend on that.

Usage: scripts/scale [--scenario small|accept|full|all] [--bin-dir DIR] [--label NAME] [--out FILE]
  --bin-dir: where `ecs-autopilot` and `capacity-recorder` are (default: the release build in
  $CARGO_TARGET_DIR or target/, built first if missing). Run it on two builds (before / after a
  change) and compare the tables it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from acceptance import RuntimeApi  # noqa: E402  (the acceptance script's Lambda Runtime API)
from demo import Moto  # noqa: E402  (the moto test-bed client)

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "ecs-autopilot-capacity"
NOW = int(time.time())

# hosts, running tasks per host, task items of stopped / gone tasks in the table.
SCENARIOS = {
    "small": {"cluster": "small", "hosts": 20, "running_per_host": 2, "dead": 2_000},
    # The acceptance: 200 hosts and 50,000 STOPPED / tombstoned task items.
    "accept": {"cluster": "accept", "hosts": 200, "running_per_host": 2, "dead": 50_000},
    # 5,000 hosts and 100,000 task items (20,000 running + 80,000 stopped or gone).
    "full": {"cluster": "big", "hosts": 5_000, "running_per_host": 4, "dead": 80_000},
}

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


def env_for(moto: Moto) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CLUSTERS", "AWS_PROFILE", "AWS_SESSION_TOKEN")}
    env.update(
        {
            "AWS_ENDPOINT_URL": moto.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "CAPACITY_TABLE": TABLE,
        }
    )
    return env


TIME = Path("/usr/bin/time")


def vm_hwm_kb(pid: int) -> int | None:
    """The process's own peak RSS (VmHWM: its address space's high-water mark), while it runs."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_measured(cmd: list[str], env: dict) -> dict:
    """Runs `cmd` to the end: exit code, output, wall seconds and the process's own peak RSS.

    Peak RSS comes from `/usr/bin/time -v` ("Maximum resident set size"). Not from this process's
    wait4 rusage: Linux carries the forking parent's high-water mark (this Python, with boto3
    loaded) into the child's ru_maxrss across exec. Without /usr/bin/time, VmHWM is sampled every
    5 ms while the command runs (a lower bound).
    """
    timed = TIME.exists()
    argv = [str(TIME), "-v", *cmd] if timed else cmd
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        sampled = 0
        while proc.poll() is None:
            if not timed:
                sampled = max(sampled, vm_hwm_kb(proc.pid) or 0)
            time.sleep(0.005)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        rss_kb = sampled
        if timed:
            stats = stderr.rfind("\tCommand being timed:")
            for line in stderr[stats:].splitlines():
                if "Maximum resident set size" in line:
                    rss_kb = int(line.rsplit(":", 1)[1])
            stderr = stderr[:stats] if stats >= 0 else stderr
        return {
            "rc": proc.returncode,
            "stdout": out.read().decode(errors="replace"),
            "stderr": stderr,
            "wall_s": wall,
            "rss_kb": rss_kb,
        }


def invoke_once(binary: Path, env: dict, event: dict, timeout_s: float = 900, wait_s: float = 1800) -> dict:
    """One invocation of `binary` under the acceptance script's Lambda Runtime API, with the
    deadline Lambda's 15-minute maximum gives; waited for up to `wait_s` (a sweep past its deadline
    is still measured). Its wall time is the invocation's (event handed out
    → answer posted), like Lambda's Duration; its RSS is the process's own peak so far."""
    api = RuntimeApi()
    env = {
        **env,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": binary.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{binary.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "scale",
        "RUST_LOG": "warn",
    }
    with tempfile.TemporaryFile() as logs:
        proc = subprocess.Popen([str(binary)], env=env, stdout=logs, stderr=subprocess.STDOUT)
        try:
            kind, payload = api.invoke(event, timeout_s, wait_s)
            answered = True
        except queue.Empty:
            answered = False
        # Still running (it polls for the next event): its own peak RSS so far.
        rss_kb = vm_hwm_kb(proc.pid) or 0
        proc.terminate()
        proc.wait()
        api.stop()
        logs.seek(0)
        log = logs.read().decode(errors="replace")
    if not answered or api.last_duration is None:
        raise SystemExit(f"{binary.name} did not answer within {wait_s:.0f}s:\n{log[-4000:]}")
    return {
        "rc": 0 if kind == "response" else 1,
        "stdout": json.dumps(payload),
        "stderr": log,
        "wall_s": api.last_duration,
        "rss_kb": rss_kb,
    }


def scheduled_event() -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/capacity-recorder-sweep"],
        "detail": {},
    }


def build_cluster(moto: Moto, scenario: dict) -> list[str]:
    """The cluster in moto's ECS: hosts (with realistic attributes) and running tasks."""
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
        family="web",
        containerDefinitions=[{"name": "web", "image": "busybox", "memory": 64, "cpu": 64}],
    )["taskDefinition"]["taskDefinitionArn"]
    for _ in range(scenario["running_per_host"]):
        for i in range(0, len(hosts), 10):
            ecs.start_task(
                cluster=cluster,
                taskDefinition=td,
                containerInstances=hosts[i : i + 10],
                group="family:web",
                startedBy="scale",
            )
    return hosts


def dead_items(scenario: dict, hosts: list[str]):
    """Task items of stopped and gone tasks, as the recorder writes them (events and sweeps)."""
    cluster = scenario["cluster"]
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"
    rng = random.Random(14)
    for i in range(scenario["dead"]):
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{uuid.UUID(int=rng.getrandbits(128)).hex}"
        roll = i % 50
        item = {
            "pk": {"S": cluster},
            "sk": {"S": f"task#{arn}"},
            "kind": {"S": "task"},
            "cluster_arn": {"S": cluster_arn},
            "arn": {"S": arn},
            "container_instance_arn": {"S": hosts[i % len(hosts)]},
            "group": {"S": f"family:batch-{i % 40}"},
            "started_by": {"S": "batch-dispatcher"},
            "cpu": {"N": "256"},
            "memory": {"N": "512"},
            "launch_type": {"S": "EC2"},
            "updated_at": {"S": "2026-11-22T05:00:00.000Z"},
        }
        if roll < 35:  # STOPPED: kept a day
            item.update(
                {
                    "last_status": {"S": "STOPPED"},
                    "desired_status": {"S": "STOPPED"},
                    "version": {"N": "5"},
                    "expires_at": {"N": str(NOW + rng.randrange(60, 86_400))},
                }
            )
        elif roll < 49:  # tombstone of a task the sweep found gone: kept three days
            item.update(
                {
                    "last_status": {"S": "RUNNING"},
                    "desired_status": {"S": "RUNNING"},
                    "version": {"N": "3"},
                    "tombstone": {"BOOL": True},
                    "expires_at": {"N": str(NOW + rng.randrange(60, 3 * 86_400))},
                }
            )
        else:  # expired, not yet deleted by DynamoDB's TTL (which can take days)
            item.update(
                {
                    "last_status": {"S": "STOPPED"},
                    "desired_status": {"S": "STOPPED"},
                    "version": {"N": "5"},
                    "expires_at": {"N": str(NOW - rng.randrange(60, 86_400))},
                }
            )
        yield item


def fill_history(moto: Moto, scenario: dict, hosts: list[str]) -> None:
    ddb = moto.client("dynamodb")
    batch: list[dict] = []
    for item in dead_items(scenario, hosts):
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25:
            ddb.batch_write_item(RequestItems={TABLE: batch})
            batch = []
    if batch:
        ddb.batch_write_item(RequestItems={TABLE: batch})


SINGLE_RUN = False


def measure(moto: Moto, run) -> dict:
    """`run()` twice: timed with accounting off, then with moto's read accounting on (once, with
    accounting on, under --single-run: the time then includes accounting's extra moto work)."""
    if SINGLE_RUN:
        moto.command({"op": "dynamodb_accounting", "enable": True})
        timed = run()
        timed["accounting"] = moto.command({"op": "dynamodb_accounting", "enable": False})
        timed["accounted_rc"] = timed["rc"]
        return timed
    moto.command({"op": "dynamodb_accounting", "enable": False})
    timed = run()
    moto.command({"op": "dynamodb_accounting", "enable": True})
    accounted = run()
    counters = moto.command({"op": "dynamodb_accounting", "enable": False})
    timed["accounting"] = counters
    timed["accounted_rc"] = accounted["rc"]
    return timed


def check(ok: bool, what: str, result: dict) -> str:
    if ok:
        return "ok"
    sys.stderr.write(f"CHECK FAILED: {what}\nstdout: {result['stdout'][-2000:]}\nstderr: {result['stderr'][-2000:]}\n")
    return "FAILED"


def run_scenario(name: str, bin_dir: Path, label: str) -> list[dict]:
    scenario = SCENARIOS[name]
    cluster = scenario["cluster"]
    cli = str(bin_dir / "ecs-autopilot")
    recorder = bin_dir / "capacity-recorder"
    moto = Moto()
    rows: list[dict] = []
    try:
        env = env_for(moto)
        t0 = time.monotonic()
        hosts = build_cluster(moto, scenario)
        running = scenario["hosts"] * scenario["running_per_host"]
        print(f"[{name}] ECS: {len(hosts)} hosts, {running} running tasks ({time.monotonic() - t0:.0f}s)", flush=True)
        created = run_measured([cli, "capacity", "create-table", "--table", TABLE], env)
        if created["rc"] != 0:
            raise SystemExit(f"create-table failed: {created['stderr']}")

        def sweep() -> dict:
            return invoke_once(recorder, env, scheduled_event())

        first = sweep()
        rows.append(row(name, label, scenario, "sweep, empty table (first run)", first, first_sweep_check(first, scenario)))
        t0 = time.monotonic()
        fill_history(moto, scenario, hosts)
        print(f"[{name}] table: + {scenario['dead']} stopped/gone task items ({time.monotonic() - t0:.0f}s)", flush=True)

        def cli_run(*args: str):
            return lambda: run_measured([cli, "capacity", *args, "--cluster", cluster, "--json"], env)

        r = measure(moto, cli_run("show"))
        ok = r["rc"] == 0 and json.loads(r["stdout"] or "{}").get("totals", {}).get("hosts") == len(hosts)
        rows.append(row(name, label, scenario, "capacity show", r, check(ok, "show lists every host", r)))

        r = measure(moto, cli_run("can-place", "--memory", "512", "--cpu", "256", "--count", "3"))
        answer = json.loads(r["stdout"] or "{}")
        ok = r["rc"] == 0 and answer.get("fits") is True and len(answer.get("instances", [])) == 3
        rows.append(row(name, label, scenario, "can-place (no task group)", r, check(ok, "3 tasks fit", r)))

        r = measure(
            moto,
            cli_run("can-place", "--memory", "512", "--group", "family:web", "--constraint", "distinctInstance"),
        )
        answer = json.loads(r["stdout"] or "{}")
        # Every host runs a family:web task: distinctInstance leaves none.
        ok = r["rc"] == 1 and answer.get("fits") is False
        rows.append(row(name, label, scenario, "can-place (--group + distinctInstance)", r, check(ok, "no distinct host", r)))

        r = measure(moto, sweep)
        rows.append(row(name, label, scenario, "sweep, steady state", r, first_sweep_check(r, scenario)))
    finally:
        moto.stop()
    return rows


def first_sweep_check(r: dict, scenario: dict) -> str:
    try:
        response = json.loads(r["stdout"])
        s = response["sweeps"][0]
        ok = r["rc"] == 0 and s.get("error") is None and s["hosts"] == scenario["hosts"]
        ok = ok and s["tasks"] == scenario["hosts"] * scenario["running_per_host"]
    except (ValueError, KeyError, IndexError, TypeError):
        ok = False
    return check(ok, "the sweep covers every host and running task", r)


def row(name: str, label: str, scenario: dict, op: str, r: dict, status: str) -> dict:
    acc = r.get("accounting", {})
    return {
        "scenario": name,
        "label": label,
        "hosts": scenario["hosts"],
        "task_items": scenario["hosts"] * scenario["running_per_host"] + scenario["dead"],
        "operation": op,
        "wall_s": round(r["wall_s"], 2),
        "peak_rss_mb": round(r["rss_kb"] / 1024, 1),
        "read_units": acc.get("read_units"),
        "queries": acc.get("queries"),
        "items_read": acc.get("scanned_items"),
        "items_returned": acc.get("returned_items"),
        "update_items": acc.get("update_items"),
        "check": status,
        "timing": "single run, accounting on" if SINGLE_RUN and "accounting" in r else "",
    }


def print_table(rows: list[dict]) -> None:
    head = ["scenario", "label", "hosts", "task_items", "operation", "wall_s", "peak_rss_mb", "read_units",
            "queries", "items_read", "items_returned", "update_items", "check", "timing"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join("-" if r[h] is None else str(r[h]) for h in head) + " |")


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
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="accept")
    parser.add_argument("--bin-dir", type=Path)
    parser.add_argument("--label", default="")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--single-run",
        action="store_true",
        help="run each measurement once, with read accounting on (half the time; wall times then "
        "include accounting's second pass over each Query's items in moto)",
    )
    args = parser.parse_args()
    global SINGLE_RUN
    SINGLE_RUN = args.single_run
    bin_dir = args.bin_dir or default_bin_dir()
    names = ["accept", "full"] if args.scenario == "all" else [args.scenario]
    rows: list[dict] = []
    for name in names:
        rows.extend(run_scenario(name, bin_dir, args.label))
    print()
    print_table(rows)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    if any(r["check"] != "ok" for r in rows):
        raise SystemExit("some checks failed (see above)")


if __name__ == "__main__":
    main()
