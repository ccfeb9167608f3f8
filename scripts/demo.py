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
6. stops everything it started.

Run it with `scripts/demo` (which bootstraps .venv first).

`scripts/demo --serve` does steps 1 and 2 only, prints the environment to point the functions (or
`cargo lambda watch`) at that moto, and keeps moto running until Ctrl-C: the README's "run it
locally" steps use it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "demo"
TABLE = "ecs-autopilot-capacity"


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


class Moto:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "moto_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.endpoint = json.loads(self.proc.stdout.readline())["endpoint"]

    def command(self, cmd: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise SystemExit(f"moto: {answer['error']}")
        return answer

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def build_cluster(moto: Moto, ecs) -> None:
    ecs.create_cluster(clusterName=CLUSTER)
    hosts = []
    for itype, az, count in [("t3.large", "us-east-1a", 2), ("t3.large", "us-east-1b", 1), ("m5.large", "us-east-1b", 1)]:
        for instance_id in moto.command(
            {"op": "run_instances", "instance_type": itype, "availability_zone": az, "count": count}
        )["instance_ids"]:
            doc = {"instanceId": instance_id, "instanceType": itype, "availabilityZone": az, "region": REGION}
            ci = ecs.register_container_instance(cluster=CLUSTER, instanceIdentityDocument=json.dumps(doc))
            hosts.append((ci["containerInstance"]["containerInstanceArn"], instance_id, itype, az))
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


def main() -> None:
    moto = Moto()
    watch = None
    try:
        print(f"moto server: {moto.endpoint}")
        env = demo_env(moto.endpoint)
        ecs = boto3.client(
            "ecs", endpoint_url=moto.endpoint, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
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
    finally:
        if watch is not None:
            stop_watch(watch)
        moto.stop()


if __name__ == "__main__":
    main()
