"""ecs-autopilot demo: daemon-count acting on a cluster in a local AWS (moto), end to end.

1. starts moto server on 127.0.0.1 (a free port);
2. builds cluster `demo`: 4 hosts (one DRAINING), two daemon services (tagged
   ecs-autopilot:daemon=true; `metrics` runs 2 per host) and one normal service;
3. runs the real function under `cargo lambda watch` (the Lambda runtime API, locally) with
   AWS_ENDPOINT_URL pointing at moto, and invokes it with events/instance-registered.json;
4. prints the services' desired counts before and after, invokes again to show that a repeated
   event writes nothing;
5. creates the capacity table, invokes capacity-recorder with the scheduled sweep event (it reads
   every host and task from ECS into the table), then asks the `ecs-autopilot` CLI what fits;
6. task-dispatcher, the priority-inversion case: a full host in cluster `batch`, ten low-priority
   jobs queued, then one high-priority job; a task stops and frees room for one job. A FIFO
   queue (or an SQS retry loop) would start the oldest low job; the dispatcher starts the high
   one, and exactly one;
7. stops everything it started.

Run it with `scripts/demo` (which bootstraps .venv first).

`scripts/demo --serve` does steps 1 and 2 only, prints the environment to point the functions (or
`cargo lambda watch`) at that moto, and keeps moto running until Ctrl-C: the "run it locally"
steps of docs/daemon-count.md use it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from testbed.ddb import CAPACITY_TABLE as TABLE
from testbed.ddb import JOBS_TABLE, create_jobs_table
from testbed.ecs import register_hosts
from testbed.events import ecs_event
from testbed.moto import ACCOUNT, REGION, ROOT, Moto

CLUSTER = "demo"
BATCH = "batch"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 600) -> None:
    """Polls until `port` accepts connections (or the process died / the deadline passed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def build_cluster(moto: Moto, ecs) -> None:
    ecs.create_cluster(clusterName=CLUSTER)
    hosts = []
    for itype, az, count in [("t3.large", "us-east-1a", 2), ("t3.large", "us-east-1b", 1), ("m5.large", "us-east-1b", 1)]:
        for arn, instance_id in register_hosts(moto, ecs, CLUSTER, count, itype, az):
            hosts.append((arn, instance_id, itype, az))
    ecs.update_container_instances_state(cluster=CLUSTER, containerInstances=[hosts[-1][0]], status="DRAINING")
    print("Hosts in cluster 'demo':")
    for arn, instance_id, itype, az in hosts:
        status = "DRAINING" if arn == hosts[-1][0] else "ACTIVE"
        print(f"  {instance_id}  {itype:9} {az}  {status}")

    td = ecs.register_task_definition(
        family="sidecar",
        containerDefinitions=[{"name": "sidecar", "image": "busybox", "memory": 64, "cpu": 64}],
    )["taskDefinition"]["taskDefinitionArn"]
    daemon = [{"key": "ecs-autopilot:daemon", "value": "true"}]
    ecs.create_service(cluster=CLUSTER, serviceName="logs", taskDefinition=td, desiredCount=0, tags=daemon)
    ecs.create_service(
        cluster=CLUSTER,
        serviceName="metrics",
        taskDefinition=td,
        desiredCount=1,
        tags=daemon + [{"key": "ecs-autopilot:tasks-per-host", "value": "2"}],
    )
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=td, desiredCount=2)


def desired_counts(ecs) -> dict[str, int]:
    services = ecs.describe_services(cluster=CLUSTER, services=["logs", "metrics", "web"])["services"]
    return {s["serviceName"]: s["desiredCount"] for s in services}


def invoke_event(port: int, event: dict, function: str) -> dict:
    """Invokes `function` with `event` (written to .demo/, as `cargo lambda invoke` reads a file)."""
    path = ROOT / ".demo" / f"event-{function}.json"
    path.write_text(json.dumps(event, default=lambda o: o.isoformat()))
    return invoke(port, str(path), function)


def invoke(port: int, event_file: str, function: str = "daemon-count") -> dict:
    out = subprocess.run(
        ["cargo", "lambda", "invoke", function, "--data-file", event_file, "-A", "127.0.0.1", "-P", str(port)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise SystemExit(f"cargo lambda invoke failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout)


def print_decisions(response: dict) -> None:
    for cluster in response.get("clusters", []):
        for r in cluster["services"]:
            excluded = ", ".join(f"{k}: {' '.join(v)}" for k, v in r.get("excluded", {}).items()) or "none"
            print(
                f"  {r['service']:8} {r['action']:9} {r.get('previous_desired')} -> {r.get('new_desired')}"
                f"  eligible={r.get('eligible')}  excluded=({excluded})"
                + (f"  reason: {r['reason']}" if r.get("reason") else "")
            )


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    """Runs the ecs-autopilot CLI (built by cargo) and echoes what a user would see."""
    print(f"\n$ ecs-autopilot {' '.join(args)}")
    out = subprocess.run(
        ["cargo", "run", "--quiet", "-p", "ecs-autopilot", "--", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    sys.stdout.write(out.stdout)
    sys.stdout.write(out.stderr)
    print(f"(exit {out.returncode})")
    return out


# The functions' own settings: a user's shell may have them set for a real deployment; the demo's
# expected counts assume the defaults.
FUNCTION_SETTINGS = ("DAEMON_SERVICES", "CLUSTERS", "DRY_RUN", "AWS_PROFILE", "AWS_SESSION_TOKEN")


def demo_env(endpoint: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in FUNCTION_SETTINGS}
    env.update({
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CAPACITY_TABLE": TABLE,
        "JOBS_TABLE": JOBS_TABLE,
    })
    return env


def serve(moto: Moto, ecs) -> None:
    """`--serve`: cluster `demo` in a moto that stays up until Ctrl-C."""
    build_cluster(moto, ecs)
    print("\nmoto is running with cluster 'demo'. In another terminal:\n")
    print(f"  export AWS_ENDPOINT_URL={moto.endpoint} AWS_REGION={REGION} "
          f"AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing CAPACITY_TABLE={TABLE}")
    print("  export PATH=$PWD/.venv/bin:$PATH")
    print("  cargo lambda watch -A 127.0.0.1 &")
    print("  cargo lambda invoke daemon-count --data-file events/instance-registered.json -A 127.0.0.1")
    print("\nCtrl-C stops moto.", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except KeyboardInterrupt:
        pass


def stop_watch(watch: subprocess.Popen) -> None:
    """Stops `cargo lambda watch` and the function processes it started (its process group)."""
    if watch.poll() is not None:
        return
    try:
        os.killpg(watch.pid, signal.SIGTERM)
        watch.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(watch.pid, signal.SIGKILL)
        watch.wait(timeout=10)
    except ProcessLookupError:
        pass


def dispatcher_demo(moto: Moto, ecs, env: dict, port: int) -> None:
    """Step 6: the inversion case, with hosts read from the capacity table (one Query per wake-up).

    EventBridge sends a task's STOPPED event to both functions (template.yaml's rules); ECS also
    sends the host's Container Instance State Change with its new remaining resources, which the
    recorder writes. moto keeps no `version` on tasks or hosts, so the demo numbers its events
    (ECS's events carry the object's version, raised on every change)."""
    print("\n--- task-dispatcher: ten low-priority jobs queued, then one high-priority job ---")
    moto.command({"op": "pin_ecs_tasks"})  # moto's tasks stay RUNNING until stopped
    ddb = moto.client("dynamodb")
    create_jobs_table(ddb, JOBS_TABLE)
    ecs.create_cluster(clusterName=BATCH)
    ((host, instance_id),) = register_hosts(moto, ecs, BATCH, 1)
    for family in ("nightly-report", "filler"):  # each takes half of the host's 7,482 MiB
        ecs.register_task_definition(
            family=family, containerDefinitions=[{"name": family, "image": "busybox", "memory": 3741, "cpu": 64}]
        )
    fillers = [
        ecs.start_task(cluster=BATCH, taskDefinition="filler", containerInstances=[host])["tasks"][0]["taskArn"]
        for _ in range(2)
    ]
    print(f"Cluster 'batch': 1 host ({instance_id}, t3.large), full: two 'filler' tasks of 3,741 MiB each")
    sweep = invoke(port, "events/scheduled-reconcile.json", "capacity-recorder")
    for s in sweep.get("sweeps", []):
        if s["cluster"].endswith(f"/{BATCH}"):
            print(f"capacity-recorder swept {BATCH}: {s['hosts']} host, {s['tasks']} tasks")

    def submit(job_id: str, priority: int) -> None:
        out = invoke_event(port, {"action": "submit", "job": {
            "jobId": job_id, "cluster": BATCH, "taskDefinition": "nightly-report", "priority": priority}},
            "task-dispatcher")
        if out.get("submitted", {}).get("job", {}).get("jobId", job_id) != job_id:
            raise SystemExit(f"unexpected submit answer {out}")

    print("\nSubmitting low-0 .. low-9 (priority 1), then urgent (priority 9), each a task-dispatcher invocation")
    for i in range(10):
        submit(f"low-{i}", 1)
    submit("urgent", 9)
    if moto.command({"op": "run_task_calls"})["calls"]:
        raise SystemExit("a job started on a full host")
    cli(env, "jobs", "explain", "--cluster", BATCH)

    print("\nOne filler task stops: room for exactly one job")
    ecs.stop_task(cluster=BATCH, task=fillers[0], reason="done")
    (task,) = ecs.describe_tasks(cluster=BATCH, tasks=[fillers[0]])["tasks"]
    (instance,) = ecs.describe_container_instances(cluster=BATCH, containerInstances=[host])["containerInstances"]
    task_event = ecs_event("ECS Task State Change", fillers[0], {**task, "lastStatus": "STOPPED", "version": 2})
    # The event's detail is the ContainerInstance object plus the cluster's ARN.
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{BATCH}"
    host_event = ecs_event("ECS Container Instance State Change", host,
                           {**instance, "clusterArn": cluster_arn, "version": 2})
    invoke_event(port, task_event, "capacity-recorder")
    invoke_event(port, host_event, "capacity-recorder")
    print("capacity-recorder: the task's STOPPED event and the host's new remaining resources recorded")
    def print_wake(answer: dict) -> None:
        for w in answer.get("wakes", []):
            print(f"  queue depth {w['queue_depth']}, head job {w.get('head_job')} "
                  f"(waited {w.get('head_wait_seconds')} s), started {w['started']}")
            for j in w.get("jobs", [])[:3]:
                why = j.get("reason") or j.get("task_arn") or ""
                blocked = f" (behind {j['blocked_by']})" if j.get("blocked_by") else ""
                print(f"    {j['job_id']:8} {j['action']:8} {why[:90]}{blocked}")
            if len(w.get("jobs", [])) > 3:
                print(f"    ... {len(w['jobs']) - 3} more waiting")

    print("task-dispatcher woke on the same STOPPED event (its decision record):")
    print_wake(invoke_event(port, task_event, "task-dispatcher"))
    print("...and on its duplicate delivery (the table does not show urgent's task yet; its room"
          " stays taken):")
    print_wake(invoke_event(port, task_event, "task-dispatcher"))

    calls = moto.command({"op": "run_task_calls"})["calls"]
    print("\nRunTask calls moto received:")
    for c in calls:
        print(f"  taskDefinition={c['taskDefinition']}  startedBy={c['startedBy']}")
    print("A FIFO queue or an SQS retry loop would have started low-0 (the oldest message).")
    cli(env, "jobs", "list", "--cluster", BATCH)
    if len(calls) != 1 or not (calls[0]["startedBy"] or "").startswith("ecs-autopilot/urgent/"):
        raise SystemExit(f"wanted exactly one RunTask, urgent's; got {calls}")
    print("\nOK: the freed slot went to the high-priority job, exactly once; the ten low jobs wait their turn.")


def main() -> None:
    moto = Moto()
    watch = None
    try:
        print(f"moto server: {moto.endpoint}")
        env = demo_env(moto.endpoint)
        ecs = moto.client("ecs")
        if "--serve" in sys.argv[1:]:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            serve(moto, ecs)
            return
        build_cluster(moto, ecs)
        before = desired_counts(ecs)

        port = free_port()
        log_dir = ROOT / ".demo"
        log_dir.mkdir(exist_ok=True)
        watch_log = log_dir / "cargo-lambda-watch.log"
        print(f"\nStarting the function: cargo lambda watch -A 127.0.0.1 -P {port} (builds the functions;"
              f" output in {watch_log.relative_to(ROOT)})")
        with open(watch_log, "w") as log:
            watch = subprocess.Popen(
                ["cargo", "lambda", "watch", "-A", "127.0.0.1", "-P", str(port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop_watch ends the functions too
            )
        try:
            wait_for_port(port, watch, "cargo lambda watch")
        except SystemExit:
            sys.stderr.write(watch_log.read_text()[-4000:])
            raise

        print("\nInvoke 1: events/instance-registered.json")
        first = invoke(port, "events/instance-registered.json")
        print_decisions(first)
        after = desired_counts(ecs)

        print("\nInvoke 2: the same event again (duplicate delivery)")
        second = invoke(port, "events/instance-registered.json")
        print_decisions(second)

        print("\nDesired counts (3 eligible hosts: the 4th is DRAINING)")
        print(f"  {'service':8} {'before':>6} {'after':>6}")
        for name in ["logs", "metrics", "web"]:
            print(f"  {name:8} {before[name]:>6} {after[name]:>6}")
        expected = {"logs": 3, "metrics": 6, "web": 2}
        if after != expected:
            raise SystemExit(f"unexpected counts {after}, wanted {expected}")
        if any(r["action"] == "updated" for c in second["clusters"] for r in c["services"]):
            raise SystemExit("the repeated event wrote again")
        print("\nOK: daemon services follow the eligible hosts; the normal service is untouched;"
              " the duplicate event wrote nothing.")

        print("\n--- capacity-recorder and the capacity table ---")
        if cli(env, "capacity", "create-table").returncode != 0:
            raise SystemExit("could not create the capacity table")
        print("\nInvoke capacity-recorder: events/scheduled-reconcile.json (the sweep)")
        sweep = invoke(port, "events/scheduled-reconcile.json", "capacity-recorder")
        for s in sweep.get("sweeps", []):
            print(f"  swept {s['cluster']}: {s['hosts']} hosts, {s['tasks']} tasks, {s['written']} items written")
        cli(env, "capacity", "show", "--cluster", CLUSTER)
        fits = cli(env, "capacity", "can-place", "--cluster", CLUSTER, "--memory", "7000", "--count", "3")
        too_many = cli(env, "capacity", "can-place", "--cluster", CLUSTER, "--memory", "7000", "--count", "4")
        t3 = cli(env, "capacity", "can-place", "--cluster", CLUSTER, "--memory", "512", "--count", "2",
                 "--constraint", "memberOf:attribute:ecs.availability-zone == us-east-1a",
                 "--constraint", "distinctInstance")
        if (fits.returncode, too_many.returncode, t3.returncode) != (0, 1, 0):
            raise SystemExit("unexpected can-place answers")
        print("\nOK: 3 schedulable hosts (the DRAINING one is never offered); answers come from the table,"
              " host by host.")

        dispatcher_demo(moto, ecs, env, port)
    finally:
        if watch is not None:
            stop_watch(watch)
        moto.stop()


if __name__ == "__main__":
    main()
