"""ecs-autopilot acceptance: the release binaries, driven as Lambda drives them, against moto.

`scripts/acceptance` builds the functions with `cargo lambda build --release` (the bootstraps a
deployment zips) and runs this. Each function runs as its own process against a local Lambda
Runtime API (below: the same HTTP protocol Lambda serves to a `provided.al2023` bootstrap, with the
invocation deadline header), and talks to moto (tests/moto_server.py, the project's test bed: it adds
the lifecycle calls moto lacks and can inject what moto cannot produce; see that file).

Each scenario prints what it checked; the script exits non-zero at the first failure. It is not
part of `scripts/test` (the release build takes minutes); the same behaviour is tested in-process
by `cargo test` (tests/moto).

`scripts/acceptance task-dispatcher` runs the task-dispatcher's scenarios only (issue 11's,
issue 19's, issue 21's and issue 25's); `scripts/acceptance task-dispatcher-volume` only issue
21's (production volume and the SQS intake, through an emulated SQS event source mapping: EventSourceMapping);
`scripts/acceptance task-dispatcher-policy` only issue 25's policy on a contended trace in real time
(dispatch_policy_acceptance, about 2 minutes; POLICY_STEP_SECONDS, POLICY_TRACE or POLICY_SEED
choose the step, the trace or the simulator's random trace of a seed);
`.venv/bin/python scripts/acceptance.py test-bed` checks the test bed's own issue-19 rules from
boto3 (no binary needed; dispatcher_v2_acceptance runs the same check first).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import REGION, Moto, create_jobs_table  # noqa: E402  (the demo's moto test-bed client)

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
# The drainer's clock is the system's here: events carry the current time, as EventBridge's do.
LIFECYCLE_TIME = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
# When this run started: log_acceptance checks only the logs written since.
RUN_STARTED = time.time()


class RuntimeApi:
    """A Lambda Runtime API for one function process: `invoke` hands it an event and waits for
    its answer, as Lambda's synchronous invoke does. `last_duration` is the last invocation's time
    from the event handed out to the answer posted, like Lambda's Duration (scripts/scale.py)."""

    def __init__(self) -> None:
        self.pending: queue.Queue = queue.Queue()
        self.answers: dict[str, queue.Queue] = {}
        self.handed_out: dict[str, float] = {}
        self.last_duration: float | None = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                request_id, body, deadline_ms = api.pending.get()
                api.handed_out[request_id] = time.monotonic()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    f"arn:aws:lambda:{REGION}:123456789012:function:acceptance",
                )
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = self.path.split("/")
                # /2018-06-01/runtime/invocation/{id}/response|error, or /runtime/init/error
                if "invocation" in parts:
                    request_id, kind = parts[-2], parts[-1]
                    if request_id in api.handed_out:
                        api.last_duration = time.monotonic() - api.handed_out.pop(request_id)
                    api.answers[request_id].put((kind, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event, timeout_s: float = 30.0, wait_s: float | None = None,
               request_id: str | None = None) -> tuple[str, dict]:
        """Returns ("response", payload) or ("error", {errorType, errorMessage}). `event` bytes are
        sent as they are (a payload that is not JSON); anything else as JSON. `timeout_s` sets the
        invocation's deadline; no answer within `wait_s` (default: the deadline and 5 s more):
        `queue.Empty`. `request_id`: the invocation's `Lambda-Runtime-Aws-Request-Id` (default a
        new one); Lambda's retries of an asynchronous invocation keep the event's request id."""
        request_id = request_id or str(uuid.uuid4())
        self.answers[request_id] = queue.Queue()
        deadline_ms = int((time.time() + timeout_s) * 1000)
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.pending.put((request_id, body, deadline_ms))
        kind, body = self.answers[request_id].get(timeout=timeout_s + 5 if wait_s is None else wait_s)
        return kind, json.loads(body or b"null")

    def stop(self) -> None:
        self.server.shutdown()


# The function's logical id in template.yaml: its requests are signed with the access key
# `fn-<LogicalId>`, and the test bed authorizes each against that function's template policy
# (tests/iam_bed.py); main() fails on any refusal.
LOGICAL_IDS = {
    "daemon-count": "DaemonCountFunction",
    "capacity-recorder": "CapacityRecorderFunction",
    "instance-drainer": "InstanceDrainerFunction",
    "task-dispatcher": "TaskDispatcherFunction",
}


class Function:
    """One release bootstrap running against its own Runtime API (`binary`: another build's
    bootstrap of that function, e.g. scripts/dispatcher-scale's "before" binary)."""

    def __init__(self, name: str, moto: Moto, env: dict, endpoint: str | None = None,
                 log_name: str | None = None, binary: Path | None = None,
                 log_prefix: str = "acceptance-") -> None:
        self.api = RuntimeApi()
        binary = binary or TARGET / "lambda" / name / "bootstrap"
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: run scripts/acceptance (it builds the release binaries)")
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "acceptance",
            "AWS_ENDPOINT_URL": endpoint or moto.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": f"fn-{LOGICAL_IDS[name]}",
            "AWS_SECRET_ACCESS_KEY": "testing",
            **env,
        }
        log_dir = ROOT / ".demo"
        log_dir.mkdir(exist_ok=True)
        # .demo/acceptance-*.log are what log_acceptance checks; other scripts pass their own prefix.
        self.log = open(log_dir / f"{log_prefix}{log_name or name}.log", "w")
        self.proc = subprocess.Popen([str(binary)], env=full_env, stdout=self.log, stderr=subprocess.STDOUT)

    def invoke(self, event, request_id: str | None = None) -> tuple[str, dict]:
        if self.proc.poll() is not None:
            raise SystemExit(f"the function exited with {self.proc.returncode}")
        return self.api.invoke(event, request_id=request_id)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.api.stop()
        self.log.close()


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    print(f"  ok  {what}")


def clients(moto: Moto) -> dict:
    kw = dict(endpoint_url=moto.endpoint, region_name=REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    return {name: boto3.client(name, **kw) for name in ("ecs", "sqs", "autoscaling")}


def register_hosts(moto: Moto, ecs, cluster: str, count: int) -> list[tuple[str, str]]:
    """(container instance ARN, EC2 id) of `count` new hosts of `cluster`."""
    out = []
    for instance_id in moto.command(
        {"op": "run_instances", "instance_type": "t3.large", "availability_zone": "us-east-1a", "count": count}
    )["instance_ids"]:
        doc = {"instanceId": instance_id, "instanceType": "t3.large", "availabilityZone": "us-east-1a",
               "region": REGION}
        ci = ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=json.dumps(doc))
        out.append((ci["containerInstance"]["containerInstanceArn"], instance_id))
    return out


def lifecycle_event(instance_id: str, token: str, hook: str = "ecs-autopilot-drain") -> dict:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "source": "aws.autoscaling", "account": "123456789012", "time": LIFECYCLE_TIME, "region": REGION,
        "resources": [], "detail": {
            "LifecycleActionToken": token, "AutoScalingGroupName": "ecs-asg", "LifecycleHookName": hook,
            "EC2InstanceId": instance_id, "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
            "NotificationMetadata": json.dumps({"cluster": "prod"}),
        },
    }


def sqs_batch(bodies: list[str]) -> dict:
    return {"Records": [
        {"messageId": f"m{i}", "receiptHandle": "r", "body": b, "attributes": {}, "messageAttributes": {},
         "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
         "awsRegion": REGION}
        for i, b in enumerate(bodies)
    ]}


def lifecycle_calls(moto: Moto, op: str) -> int:
    return sum(1 for c in moto.command({"op": "lifecycle_calls"})["calls"] if c["operation"] == op)


def host_status(ecs, arn: str) -> dict:
    return ecs.describe_container_instances(cluster="prod", containerInstances=[arn])["containerInstances"][0]


def drainer_acceptance(moto: Moto) -> None:
    """Issue 10's acceptance on the release instance-drainer."""
    print("\ninstance-drainer (release binary, Lambda Runtime API, moto)")
    c = clients(moto)
    ecs, sqs = c["ecs"], c["sqs"]
    moto.command({"op": "pin_ecs_tasks"})
    ecs.create_cluster(clusterName="prod")
    hosts = register_hosts(moto, ecs, "prod", 3)
    stranger = moto.command({"op": "run_instances", "instance_type": "t3.micro", "count": 1})["instance_ids"][0]
    td = ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    task = ecs.start_task(cluster="prod", taskDefinition=td, containerInstances=[hosts[0][0]],
                          group="service:web", startedBy="ecs-svc/1")["tasks"][0]["taskArn"]
    queue_url = sqs.create_queue(QueueName="drainer-rechecks")["QueueUrl"]
    drainer = Function("instance-drainer", moto, {"RECHECK_QUEUE_URL": queue_url})
    try:
        # 1. A hook outside the scope: no lifecycle call, ECS host or not.
        for instance, label in [(hosts[0][1], "ECS host"), (stranger, "non-ECS instance")]:
            kind, out = drainer.invoke(lifecycle_event(instance, "tok-foreign", hook="flush-logs"))
            check(kind == "response" and out["record"]["outcome"] == "not_our_hook",
                  f"hook flush-logs on an {label}: skipped ({out.get('record', {}).get('outcome')})")
        check(lifecycle_calls(moto, "CompleteLifecycleAction") == 0
              and lifecycle_calls(moto, "RecordLifecycleActionHeartbeat") == 0,
              "no CompleteLifecycleAction and no heartbeat for a foreign hook")
        check(host_status(ecs, hosts[0][0])["status"] == "ACTIVE", "the ECS host stays ACTIVE")

        # 2. Our hook on a non-ECS instance: completes once, at once.
        kind, out = drainer.invoke(lifecycle_event(stranger, "tok-stranger"))
        check(out["record"]["outcome"] == "completed" and out["record"]["reason"] == "not_ecs_host",
              "our hook on a non-ECS instance completes at once")
        check(lifecycle_calls(moto, "CompleteLifecycleAction") == 1, "exactly one CompleteLifecycleAction")

        # 3. A drain of a host with a task: 20 re-checks, every event and re-check delivered twice.
        event = lifecycle_event(hosts[0][1], "tok-drain")
        started = time.monotonic()
        kind, out = drainer.invoke(event)
        check(out["record"]["outcome"] == "recheck_scheduled",
              f"lifecycle event: DRAINING, re-check queued ({out['record']['outcome']}, {out['record'].get('reason')})")
        kind, out = drainer.invoke(event)
        check(out["record"]["outcome"] == "duplicate", "the same lifecycle event again: duplicate")
        rechecks = 0
        while True:
            queued = moto.command({"op": "take_messages", "queue": "drainer-rechecks"})["messages"]
            if not queued:
                break
            if len(queued) != 1:
                raise SystemExit(f"FAILED: {len(queued)} re-checks queued at once: two chains")
            rechecks += 1
            if rechecks == 20:
                ecs.stop_task(cluster="prod", task=task)
            for copy in ("first", "duplicate"):
                kind, out = drainer.invoke(sqs_batch([queued[0]["body"]]))
                if (kind, out) != ("response", {"batchItemFailures": []}):
                    raise SystemExit(f"FAILED: re-check {rechecks} ({copy}) answered {kind} {out}")
        took = time.monotonic() - started
        check(rechecks == 20, f"the drain took 20 re-checks ({rechecks}), {took:.1f}s in all")
        check(lifecycle_calls(moto, "CompleteLifecycleAction") == 2,
              "the drained host completed exactly once (2 completions in all, one was the stranger's)")
        check(lifecycle_calls(moto, "RecordLifecycleActionHeartbeat") == 20, "one heartbeat per re-check")
        template = (ROOT / "template.yaml").read_text()
        check("RecursiveLoop: Allow" in template, "the template allows the drainer's own re-check loop")

        # 4. A re-check whose host Describe fails (not MISSING): the message fails, no completion.
        task2 = ecs.start_task(cluster="prod", taskDefinition=td, containerInstances=[hosts[1][0]],
                               group="service:web", startedBy="ecs-svc/1")["tasks"][0]["taskArn"]
        drainer.invoke(lifecycle_event(hosts[1][1], "tok-flaky"))
        body = moto.command({"op": "take_messages", "queue": "drainer-rechecks"})["messages"][0]["body"]
        moto.command({"op": "fail_describe", "container_instance_id": hosts[1][0].split("/")[-1],
                      "reason": "INTERNAL_ERROR"})
        ecs.stop_task(cluster="prod", task=task2)
        completions = lifecycle_calls(moto, "CompleteLifecycleAction")
        kind, out = drainer.invoke(sqs_batch([body]))
        check(out == {"batchItemFailures": [{"itemIdentifier": "m0"}]},
              "DescribeContainerInstances INTERNAL_ERROR: the re-check fails alone (redelivered)")
        check(lifecycle_calls(moto, "CompleteLifecycleAction") == completions, "and completes nothing")
        moto.command({"op": "fail_describe", "container_instance_id": hosts[1][0].split("/")[-1], "reason": None})

        # 5. A spot `stop` warning, then the instance back: the host ends ACTIVE.
        arn, instance_id = hosts[2]
        warning = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "EC2 Spot Instance Interruption Warning",
                   "source": "aws.ec2", "account": "123456789012", "time": LIFECYCLE_TIME, "region": REGION,
                   "resources": [], "detail": {"instance-id": instance_id, "instance-action": "stop"}}
        kind, out = drainer.invoke(warning)
        check(out["record"]["outcome"] == "draining" and host_status(ecs, arn)["status"] == "DRAINING",
              "spot stop warning: the host is DRAINING")

        def host_event(connected: bool, version: int) -> dict:
            ci = host_status(ecs, arn)
            return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "ECS Container Instance State Change",
                    "source": "aws.ecs", "account": "123456789012", "time": LIFECYCLE_TIME, "region": REGION,
                    "resources": [arn], "detail": {
                        "clusterArn": ci.get("clusterArn", f"arn:aws:ecs:{REGION}:123456789012:cluster/prod"),
                        "containerInstanceArn": arn, "ec2InstanceId": instance_id, "status": ci["status"],
                        "agentConnected": connected, "attributes": ci.get("attributes", []), "version": version}}

        kind, out = drainer.invoke(host_event(False, 5))
        check(out["record"]["outcome"] == "marked_stopped", "the instance stops (agent disconnected): recorded")
        kind, out = drainer.invoke(host_event(True, 6))
        check(out["record"]["outcome"] == "reactivated" and host_status(ecs, arn)["status"] == "ACTIVE",
              "the instance is back (agent connected): the host is ACTIVE again")
    finally:
        drainer.stop()


def instance_event(cluster: str, arn: str, seconds_ago: int = 0) -> dict:
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "ECS Container Instance State Change",
            "source": "aws.ecs", "account": "123456789012", "time": t, "region": REGION, "resources": [arn],
            "detail": {"clusterArn": f"arn:aws:ecs:{REGION}:123456789012:cluster/{cluster}",
                       "containerInstanceArn": arn, "status": "ACTIVE", "version": 3}}


def record_of(out: dict, service: str) -> dict:
    for c in out.get("clusters", []):
        for r in c["services"]:
            if r["service"] == service:
                return r
    raise SystemExit(f"FAILED: no record for {service} in {json.dumps(out)[:600]}")


def daemon_service(ecs, cluster: str, name: str, td: str, desired: int, per_host: int | None = None) -> None:
    tags = [{"key": "ecs-autopilot:daemon", "value": "true"}]
    if per_host:
        tags.append({"key": "ecs-autopilot:tasks-per-host", "value": str(per_host)})
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=desired, tags=tags)


def task_definition(ecs, family: str, memory: int = 64) -> str:
    return ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": family, "image": "busybox", "memory": memory, "cpu": 64}],
    )["taskDefinition"]["taskDefinitionArn"]


def desired(ecs, cluster: str, service: str) -> int:
    return ecs.describe_services(cluster=cluster, services=[service])["services"][0]["desiredCount"]


def set_model(moto: Moto, kind: str, cluster: str, ident: str, fields: dict) -> None:
    moto.command({"op": "set_model", "kind": kind, "cluster": cluster, "id": ident.split("/")[-1], "fields": fields})


def daemon_acceptance(moto: Moto) -> None:
    """Issue 9's acceptance (and the first daemon-count issue's) on the release daemon-count."""
    print("\ndaemon-count (release binary, Lambda Runtime API, moto)")
    ecs = clients(moto)["ecs"]
    moto.command({"op": "pin_ecs_tasks"})
    fn = Function("daemon-count", moto, {})
    dry = Function("daemon-count", moto, {"DRY_RUN": "true", "CLUSTERS": "dry"})
    try:
        # The first issue's scenario: 5 hosts, 1 DRAINING; logs 0, metrics 7 → 4 and 4, web 2 untouched.
        ecs.create_cluster(clusterName="first")
        hosts = register_hosts(moto, ecs, "first", 5)
        ecs.update_container_instances_state(cluster="first", containerInstances=[hosts[4][0]], status="DRAINING")
        td = task_definition(ecs, "first-sidecar")
        daemon_service(ecs, "first", "logs", td, 0)
        daemon_service(ecs, "first", "metrics", td, 7)
        ecs.create_service(cluster="first", serviceName="web", taskDefinition=td, desiredCount=2)
        kind, out = fn.invoke(instance_event("first", hosts[0][0], seconds_ago=5))
        counts = tuple(desired(ecs, "first", s) for s in ("logs", "metrics", "web"))
        check(kind == "response" and counts == (4, 4, 2), f"5 hosts, 1 DRAINING: logs/metrics/web = {counts}")
        kind, out = fn.invoke(instance_event("first", hosts[0][0], seconds_ago=5))
        check(out.get("trigger") == "covered", "the same event again: covered, no ECS call")
        kind, out = fn.invoke({"detail-type": "ECS Container Instance State Change", "source": "aws.ecs",
                               "detail": {"status": "ACTIVE"}})
        check(kind == "error" and "clusterArn" in out.get("errorMessage", ""),
              f"malformed event: InvalidEvent naming clusterArn ({out.get('errorType')})")

        # DRY_RUN decides and writes nothing.
        ecs.create_cluster(clusterName="dry")
        dry_hosts = register_hosts(moto, ecs, "dry", 2)
        daemon_service(ecs, "dry", "logs", task_definition(ecs, "dry-logs"), 0)
        kind, out = dry.invoke(instance_event("dry", dry_hosts[0][0]))
        check(record_of(out, "logs")["action"] == "dry_run" and desired(ecs, "dry", "logs") == 0,
              "DRY_RUN: decided 2, wrote nothing")

        # 3 ACTIVE hosts, one agent disconnected, daemon at 3: an event for it changes nothing.
        ecs.create_cluster(clusterName="flap")
        flap = register_hosts(moto, ecs, "flap", 3)
        daemon_service(ecs, "flap", "logs", task_definition(ecs, "flap-logs"), 3)
        set_model(moto, "container_instance", "flap", flap[1][0], {"agent_connected": False})
        kind, out = fn.invoke(instance_event("flap", flap[1][0]))
        r = record_of(out, "logs")
        check(r["action"] == "unchanged" and r.get("disconnected_kept") == 1 and desired(ecs, "flap", "logs") == 3,
              "an agent flap: still 3, no UpdateService (disconnected host kept)")

        # Hosts in two capacity providers and one in none; the strategy names cp-a.
        ecs.create_cluster(clusterName="cp")
        cp = register_hosts(moto, ecs, "cp", 4)
        for (arn, _), provider in zip(cp, ["cp-a", "cp-a", "cp-b", None]):
            set_model(moto, "container_instance", "cp", arn, {"capacity_provider_name": provider})
        daemon_service(ecs, "cp", "logs", task_definition(ecs, "cp-logs"), 0)
        set_model(moto, "service", "cp", "logs", {"launch_type": None, "capacity_provider_strategy": [
            {"capacityProvider": "cp-a", "weight": 1, "base": 0}]})
        kind, out = fn.invoke(instance_event("cp", cp[0][0]))
        r = record_of(out, "logs")
        check(desired(ecs, "cp", "logs") == 2 and len(r["excluded"].get("out_of_scope", [])) == 2,
              "strategy cp-a: desired 2, the cp-b host and the one in no provider out_of_scope")

        # A host lacking a required attribute, a full host without the daemon: excluded; a full host
        # that runs the daemon: counted.
        ecs.create_cluster(clusterName="room")
        room = register_hosts(moto, ecs, "room", 4)
        td = task_definition(ecs, "room-logs")
        set_model(moto, "task_definition", "", td, {"requires_attributes": [{"name": "example.ssd"}]})
        for i in (0, 1, 3):
            ecs.put_attributes(cluster="room", attributes=[
                {"name": "example.ssd", "value": "true", "targetId": room[i][0].split("/")[-1],
                 "targetType": "container-instance"}])
        daemon_service(ecs, "room", "logs", td, 0)
        ecs.start_task(cluster="room", taskDefinition=td, containerInstances=[room[0][0]],
                       group="service:logs", startedBy="ecs-svc/1")
        full = [{"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 0},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": []},
                {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}]
        for i in (0, 1):
            set_model(moto, "container_instance", "room", room[i][0], {"remaining_resources": full})
        kind, out = fn.invoke(instance_event("room", room[0][0]))
        r = record_of(out, "logs")
        check(desired(ecs, "room", "logs") == 2 and len(r["excluded"].get("no_room", [])) == 1
              and len(r["excluded"].get("missing_attribute", [])) == 1,
              "no room / missing attribute excluded, the full host running the daemon counted: 2")

        # tasks-per-host 2 with distinctInstance: skipped, reported, no write.
        ecs.create_cluster(clusterName="combo")
        combo = register_hosts(moto, ecs, "combo", 2)
        daemon_service(ecs, "combo", "logs", task_definition(ecs, "combo-logs"), 1, per_host=2)
        set_model(moto, "service", "combo", "logs", {"placement_constraints": [{"type": "distinctInstance"}]})
        kind, out = fn.invoke(instance_event("combo", combo[0][0]))
        r = record_of(out, "logs")
        check(r["action"] == "skipped" and desired(ecs, "combo", "logs") == 1,
              "tasks-per-host=2 with distinctInstance: skipped, no write")

        # A daemon task left on a host that stopped matching memberOf: stopped; count = eligible hosts.
        ecs.create_cluster(clusterName="moved")
        moved = register_hosts(moto, ecs, "moved", 3)
        td = ecs.register_task_definition(
            family="moved-logs", containerDefinitions=[{"name": "l", "image": "busybox", "memory": 64}],
            placementConstraints=[{"type": "memberOf", "expression": "attribute:role == daemon"}],
        )["taskDefinition"]["taskDefinitionArn"]
        for (arn, _), role in zip(moved, ["daemon", "daemon", "batch"]):
            ecs.put_attributes(cluster="moved", attributes=[
                {"name": "role", "value": role, "targetId": arn.split("/")[-1], "targetType": "container-instance"}])
        task = ecs.start_task(cluster="moved", taskDefinition=td, containerInstances=[moved[2][0]],
                              group="service:logs", startedBy="ecs-svc/1")["tasks"][0]["taskArn"]
        daemon_service(ecs, "moved", "logs", td, 3)
        kind, out = fn.invoke(instance_event("moved", moved[0][0]))
        r = record_of(out, "logs")
        stopped = ecs.describe_tasks(cluster="moved", tasks=[task])["tasks"][0]["desiredStatus"]
        check(r.get("misplaced_tasks") == [task] and stopped == "STOPPED" and desired(ecs, "moved", "logs") == 2,
              "the task on the host that stopped matching is stopped; desired 2")

        # A burst of 100 events for one cluster: one reconcile writes, the rest are covered.
        ecs.create_cluster(clusterName="burst")
        burst = register_hosts(moto, ecs, "burst", 3)
        daemon_service(ecs, "burst", "logs", task_definition(ecs, "burst-logs"), 0)
        daemon_service(ecs, "burst", "metrics", task_definition(ecs, "burst-metrics"), 0)
        started = time.monotonic()
        updates, covered = 0, 0
        for i in range(100):
            kind, out = fn.invoke(instance_event("burst", burst[i % 3][0], seconds_ago=5))
            covered += out.get("trigger") == "covered"
            updates += sum(1 for c in out.get("clusters", []) for r in c["services"] if r["action"] == "updated")
        took = time.monotonic() - started
        check(updates == 2 and covered == 99,
              f"100 events: {updates} UpdateService (2 services changed), {covered} covered, {took:.2f}s")
    finally:
        fn.stop()
        dry.stop()


def sweep_at_scale(moto: Moto, clusters: int = 100, services: int = 5) -> None:
    """100 clusters × 5 daemon services, one scheduled sweep inside daemon-count's 60 s timeout."""
    print(f"\ndaemon-count sweep: {clusters} clusters x {services} services")
    ecs = clients(moto)["ecs"]
    moto.command({"op": "reset"})
    for c in range(clusters):
        name = f"fleet-{c:03}"
        ecs.create_cluster(clusterName=name)
        register_hosts(moto, ecs, name, 2)
        for s in range(services):
            daemon_service(ecs, name, f"svc-{s}", task_definition(ecs, f"fleet-{c:03}-{s}"), 0)
    fn = Function("daemon-count", moto, {})
    try:
        schedule = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                    "account": "123456789012", "time": LIFECYCLE_TIME, "region": REGION, "resources": [], "detail": {}}
        started = time.monotonic()
        kind, out = fn.api.invoke(schedule, timeout_s=60)
        took = time.monotonic() - started
        reached = len(out.get("clusters", []))
        updated = sum(1 for c in out.get("clusters", []) for r in c["services"] if r["action"] == "updated")
        check(kind == "response" and reached == clusters and not out.get("not_reached"),
              f"every cluster reached in {took:.1f}s (timeout 60 s): {reached} clusters, {updated} services updated")
    finally:
        fn.stop()


def dispatcher_acceptance(moto: Moto) -> None:
    """Issue 11's acceptance on the release task-dispatcher (hosts from ECS, jobs in DynamoDB).
    moto ignores RunTask's clientToken: exactly-once here rests on the dispatcher's reconcile.
    The test bed loses RunTask answers (its RunTask wrapper) and sets exit codes on moto's task
    model (`finish_task`), which moto's API cannot."""
    print("\ntask-dispatcher (release binary, Lambda Runtime API, moto)")
    moto.command({"op": "reset"})
    moto.command({"op": "pin_ecs_tasks"})
    kw = dict(endpoint_url=moto.endpoint, region_name=REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    ecs, ddb = boto3.client("ecs", **kw), boto3.client("dynamodb", **kw)
    ecs.create_cluster(clusterName="jobs")
    (host, _), = register_hosts(moto, ecs, "jobs", 1)
    for family, memory in (("job", 3741), ("filler", 3741), ("huge", 16000)):
        task_definition(ecs, family, memory)
    create_jobs_table(ddb, "jobs")
    cluster_arn = f"arn:aws:ecs:{REGION}:123456789012:cluster/jobs"

    def fill() -> str:
        return ecs.start_task(cluster="jobs", taskDefinition="filler", containerInstances=[host],
                              group="family:filler")["tasks"][0]["taskArn"]

    def submit(job: dict) -> tuple[str, dict]:
        return fn.invoke({"action": "submit", "job": {"cluster": "jobs", "taskDefinition": "job", **job}})

    def stopped(task: str, started_by: str | None = None, exit_code: int | None = None) -> dict:
        detail = {"clusterArn": cluster_arn, "taskArn": task, "containerInstanceArn": host,
                  "lastStatus": "STOPPED", "desiredStatus": "STOPPED", "launchType": "EC2", "version": 3}
        if started_by:
            detail["startedBy"] = started_by
        if exit_code is not None:
            detail["containers"] = [{"name": "job", "exitCode": exit_code}]
            detail["stoppedReason"] = "Essential container in task exited"
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "ECS Task State Change",
                "source": "aws.ecs", "account": "123456789012", "time": LIFECYCLE_TIME, "region": REGION,
                "resources": [task], "detail": detail}

    def job(job_id: str) -> dict:
        return json.loads(ddb.get_item(TableName="jobs", Key={"jobId": {"S": job_id}})["Item"]["job"]["S"])

    def runs(job_id: str) -> int:
        return sum(1 for c in moto.command({"op": "run_task_calls"})["calls"]
                   if f"/{job_id}/" in (c["startedBy"] or ""))

    def finish(job_id: str, exit_code: int) -> None:
        j = job(job_id)
        ecs.stop_task(cluster="jobs", task=j["taskArn"])
        moto.command({"op": "finish_task", "cluster": "jobs", "task": j["taskArn"], "exit_code": exit_code,
                      "reason": "Essential container in task exited"})
        kind, _ = fn.invoke(stopped(j["taskArn"], f"ecs-autopilot/{job_id}/{j['launches']}", exit_code))
        check(kind == "response", f"{job_id}: its STOPPED event (exit {exit_code}) handled")

    def cli_json(*args: str):
        out = subprocess.run([str(TARGET / "release" / "ecs-autopilot"), *args], capture_output=True, text=True,
                             timeout=60, env={"PATH": os.environ.get("PATH", ""), "AWS_ENDPOINT_URL": moto.endpoint,
                                              "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                                              "AWS_SECRET_ACCESS_KEY": "testing", "JOBS_TABLE": "jobs"})
        if out.returncode != 0:
            raise SystemExit(f"FAILED: ecs-autopilot {' '.join(args)}: {out.stderr}")
        return json.loads(out.stdout)

    fn = Function("task-dispatcher", moto, {"JOBS_TABLE": "jobs", "CLUSTERS": "jobs"})
    try:
        f1, f2 = fill(), fill()
        for i in range(10):
            submit({"jobId": f"low{i}", "priority": 1})
        submit({"jobId": "high", "priority": 9})
        check(runs("") == 0, "full cluster, 10 low jobs then 1 high queued: no RunTask")
        ecs.stop_task(cluster="jobs", task=f1)
        # The CLI (release build) against the same tables: what the next wake-up will do.
        explained = cli_json("jobs", "explain", "--cluster", "jobs", "--json")
        listed = cli_json("jobs", "list", "--cluster", "jobs", "--json")
        would_start = [r["job_id"] for r in explained if r["action"] == "would_start"]
        kind, _ = fn.invoke(stopped(f1))
        calls = moto.command({"op": "run_task_calls"})["calls"]
        check(would_start == ["high"] and [j["jobId"] for j in listed][:2] == ["high", "low0"]
              and len(listed) == 11 and [c["startedBy"] for c in calls] == ["ecs-autopilot/high/1"],
              "`jobs explain` and `jobs list --json` agree with what the dispatcher then does"
              " (explain: high would start; list: queue order; the wake-up started high)")
        check(kind == "response" and len(calls) == 1 and calls[0]["startedBy"] == "ecs-autopilot/high/1",
              "a task stops and frees room for one: exactly one RunTask, the high-priority job's")

        kind, out = submit({"jobId": "high", "priority": 9})
        check(kind == "response" and out["submitted"]["duplicate"], "the same submission twice: one job")
        fn.invoke(stopped(f1))
        check(len(moto.command({"op": "run_task_calls"})["calls"]) == 1, "the same wake-up event twice: no second task")

        submit({"jobId": "lost", "priority": 20, "maxAttempts": 2})
        ecs.stop_task(cluster="jobs", task=f2)
        moto.command({"op": "lose_run_task_responses", "count": 1})
        kind, out = fn.invoke(stopped(f2))
        check(kind == "error" and out.get("errorType") == "DispatchFailed",
              "RunTask acts but its answer is lost: the invocation fails")
        kind, _ = fn.invoke(stopped(f2))
        listed = ecs.list_tasks(cluster="jobs", startedBy="ecs-autopilot/lost/1")["taskArns"]
        check(kind == "response" and runs("lost") == 1 and len(listed) == 1 and job("lost")["state"] == "RUNNING",
              "the event retried: still exactly one task for the job (found by startedBy)")

        for i in range(10):
            fn.invoke({"action": "cancel", "jobId": f"low{i}"})
        finish("high", 0)
        check(job("high")["state"] == "SUCCEEDED", "exit code 0 → SUCCEEDED")
        finish("lost", 1)
        j = job("lost")
        check(j["state"] == "QUEUED" and j["attempts"] == 1, "exit code 1, attempt 1 of 2 → QUEUED for a retry")
        time.sleep(max(0, j["notBefore"] - time.time()) + 1)  # wait out the 30 s backoff
        fn.invoke({"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                   "account": "123456789012", "time": LIFECYCLE_TIME, "region": REGION, "resources": [], "detail": {}})
        check(job("lost")["state"] == "RUNNING" and runs("lost") == 2, "after the backoff the sweep runs it again")
        finish("lost", 1)
        j = job("lost")
        check(j["state"] == "FAILED" and j["exitCodes"] == ["job=1"] and "exit codes job=1" in j["reason"],
              f"second exit 1 → FAILED with the exit code ({j['reason']})")

        before = ddb.scan(TableName="jobs")["Count"]
        bad = [
            "{not json",
            {"action": "submit", "job": {"cluster": "jobs"}},
            {"action": "submit", "job": {"cluster": "jobs", "taskDefinition": "job", "priority": -1}},
            {"action": "submit", "job": {"cluster": "nowhere", "taskDefinition": "job"}},
        ]
        answers = [fn.invoke(b) for b in bad]
        check(all(k == "error" and o.get("errorType") == "InvalidJob" for k, o in answers)
              and ddb.scan(TableName="jobs")["Count"] == before,
              "malformed submissions (not JSON, no task definition, negative priority, unknown cluster): "
              "InvalidJob, nothing written")

        fill(), fill()
        submit({"jobId": "huge", "taskDefinition": "huge", "priority": 30})
        submit({"jobId": "waits", "priority": 1, "maxWaitSeconds": 1})
        time.sleep(2)  # past maxWaitSeconds
        fn.invoke({"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                   "account": "123456789012", "time": LIFECYCLE_TIME, "region": REGION, "resources": [], "detail": {}})
        check(runs("huge") == 0 and job("huge")["state"] == "QUEUED", "a job bigger than every host is never started")
        w = job("waits")
        check(w["state"] == "EXPIRED" and "no host has 3741 MiB memory free" in w["reason"],
              f"a waiting job past maxWaitSeconds → EXPIRED ({w['reason']})")
    finally:
        fn.stop()


def scale_from_zero_acceptance(moto: Moto) -> None:
    """Issue 12's acceptance on the release task-dispatcher: an owned Auto Scaling group from zero
    and back, MaxSize, and a periodic job's overlap. moto runs no ECS agent: the test bed registers
    the group's new EC2 instance as a container instance (`register_group_hosts`) and deregisters
    it once terminated (`deregister_gone_hosts`), as the agent and ECS would. IDLE_SECONDS is the
    default 300: instead of waiting, the test bed backdates the stored idle clock (the jobs table's
    `scale-group#NAME` item), the durable state the dispatcher reads."""
    print("\ntask-dispatcher owned group (release binary, Lambda Runtime API, moto)")
    moto.command({"op": "reset"})
    moto.command({"op": "pin_ecs_tasks"})
    kw = dict(endpoint_url=moto.endpoint, region_name=REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    ecs, ddb, asg = (boto3.client(n, **kw) for n in ("ecs", "dynamodb", "autoscaling"))
    create_jobs_table(ddb, "jobs")
    task_definition(ecs, "sync", 3000)
    groups = {"nightly": ("nightly-hosts", 3), "wide": ("wide-hosts", 3), "narrow": ("narrow-hosts", 1)}
    fns = {}
    for cluster, (group, max_size) in groups.items():
        ecs.create_cluster(clusterName=cluster)
        moto.command({"op": "create_scale_group", "name": group, "max": max_size})
        fns[cluster] = Function("task-dispatcher", moto, {
            "JOBS_TABLE": "jobs", "CLUSTERS": cluster, "SCALE_GROUP": group,
            "SCALE_GROUP_HOST_CPU": "4096", "SCALE_GROUP_HOST_MEMORY": "7482"})
    fn = fns["nightly"]

    def desired(group: str) -> int:
        return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0][
            "DesiredCapacity"]

    def calls(op: str) -> int:
        return moto.command({"op": "aws_calls"})["calls"].get(f"autoscaling:{op}", 0)

    def sweep(f: Function = fn) -> dict:
        kind, out = f.invoke({"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                              "source": "aws.events", "account": "123456789012", "time": LIFECYCLE_TIME,
                              "region": REGION, "resources": [], "detail": {}})
        if kind != "response":
            raise SystemExit(f"FAILED: sweep answered {kind} {out}")
        return out["wakes"][0]

    def job(job_id: str) -> dict:
        return json.loads(ddb.get_item(TableName="jobs", Key={"jobId": {"S": job_id}})["Item"]["job"]["S"])

    def submit(f: Function, job_id: str, **extra) -> dict:
        kind, out = f.invoke({"action": "submit", "job": {"jobId": job_id, "cluster": f_cluster[id(f)],
                                                          "taskDefinition": "sync", **extra}})
        if kind != "response":
            raise SystemExit(f"FAILED: submit answered {kind} {out}")
        return out

    f_cluster = {id(f): c for c, f in fns.items()}

    def register(cluster: str, group: str) -> list:
        hosts = moto.command({"op": "register_group_hosts", "group": group, "cluster": cluster})["hosts"]
        for h in hosts:
            kind, _ = fns[cluster].invoke(instance_event(cluster, h["arn"]))
            check(kind == "response", f"{h['instance_id']} registers in {cluster}: its event wakes the dispatcher")
        return hosts

    def backdate_idle_clock(group: str, seconds: int) -> None:
        item = ddb.get_item(TableName="jobs", Key={"jobId": {"S": f"scale-group#{group}"}})["Item"]
        body = json.loads(item["control"]["S"])
        body["idleSince"] = {i: t - seconds for i, t in body["idleSince"].items()}
        item["control"] = {"S": json.dumps(body)}
        ddb.put_item(TableName="jobs", Item=item)

    def finish(cluster: str, job_id: str, exit_code: int) -> None:
        j = job(job_id)
        ecs.stop_task(cluster=cluster, task=j["taskArn"])
        moto.command({"op": "finish_task", "cluster": cluster, "task": j["taskArn"], "exit_code": exit_code,
                      "reason": "Essential container in task exited"})
        detail = {"clusterArn": f"arn:aws:ecs:{REGION}:123456789012:cluster/{cluster}", "taskArn": j["taskArn"],
                  "containerInstanceArn": j["containerInstanceArn"], "lastStatus": "STOPPED",
                  "desiredStatus": "STOPPED", "launchType": "EC2", "version": 3,
                  "startedBy": f"ecs-autopilot/{job_id}/{j['launches']}",
                  "containers": [{"name": "sync", "exitCode": exit_code}],
                  "stoppedReason": "Essential container in task exited"}
        kind, _ = fns[cluster].invoke({"version": "0", "id": str(uuid.uuid4()), "detail-type": "ECS Task State Change",
                                       "source": "aws.ecs", "account": "123456789012", "time": LIFECYCLE_TIME,
                                       "region": REGION, "resources": [j["taskArn"]], "detail": detail})
        check(kind == "response", f"{job_id}: its STOPPED event (exit {exit_code}) handled")

    try:
        moto.command({"op": "aws_calls", "reset": True})
        # 1. Empty cluster, group at 0 (max 3), one job → desired 1; more wake-ups → no second raise.
        out = submit(fn, "n1")
        check(desired("nightly-hosts") == 1 and out["wakes"][0]["scale"].get("raised_to") == 1,
              "empty cluster, group at 0 (max 3), one queued job: desired capacity 1 (not 2)")
        for _ in range(3):
            w = sweep()
        check(desired("nightly-hosts") == 1 and calls("SetDesiredCapacity") == 1 and w["scale"]["coming"] == 1,
              "three more wake-ups before the host registers: no second raise (1 SetDesiredCapacity, 1 coming)")

        # 2. The host registers → the job starts on it; busy → never removed; exit 0 → SUCCEEDED.
        (host,) = register("nightly", "nightly-hosts")
        j = job("n1")
        check(j["state"] == "RUNNING" and j["containerInstanceArn"] == host["arn"],
              f"the job starts on the new host ({host['instance_id']})")
        sweep()
        try:
            backdate_idle_clock("nightly-hosts", 10_000)
        except KeyError:
            pass  # no idle clock at all: the host was busy from the start
        w = sweep()
        check(calls("TerminateInstanceInAutoScalingGroup") == 0 and desired("nightly-hosts") == 1
              and host["instance_id"] in w["scale"].get("busy", []),
              "a host still running a job is never removed (even with its idle clock backdated)")
        finish("nightly", "n1", 0)
        check(job("n1")["state"] == "SUCCEEDED", "exit code 0 → SUCCEEDED")
        w = sweep()
        check(calls("TerminateInstanceInAutoScalingGroup") == 0 and host["instance_id"] in w["scale"]["idle_since"],
              "nothing queued: the host's idle clock starts, the host stays (IDLE_SECONDS 300 not over)")
        backdate_idle_clock("nightly-hosts", 300)
        w = sweep()
        check(w["scale"].get("terminated") == [host["instance_id"]] and desired("nightly-hosts") == 0,
              "idle for IDLE_SECONDS: TerminateInstanceInAutoScalingGroup with decrement, the group is at 0")
        moto.command({"op": "deregister_gone_hosts", "cluster": "nightly"})
        sweep()
        sweep()
        check(calls("TerminateInstanceInAutoScalingGroup") == 1 and calls("SetDesiredCapacity") == 1
              and desired("nightly-hosts") == 0, "more wake-ups: no second termination, the group stays at 0")

        # 3. Three jobs that need two hosts → desired 2; at MaxSize the job waits, saying so.
        for i in range(3):
            submit(fns["wide"], f"w{i}")
        check(desired("wide-hosts") == 2, "three 3000 MiB jobs, 7482 MiB hosts: desired 2")
        wide = register("wide", "wide-hosts")
        placed = {h["arn"]: [i for i in range(3) if job(f"w{i}").get("containerInstanceArn") == h["arn"]]
                  for h in wide}
        check(sorted(len(v) for v in placed.values()) == [1, 2] and all(job(f"w{i}")["state"] == "RUNNING"
                                                                         for i in range(3)),
              "both hosts register: the three jobs run, two on one host, one on the other")
        alone_host = next(a for a, v in placed.items() if len(v) == 1)
        busy_host = next(a for a, v in placed.items() if len(v) == 2)
        finish("wide", f"w{placed[alone_host][0]}", 0)
        sweep(fns["wide"])
        backdate_idle_clock("wide-hosts", 300)
        w = sweep(fns["wide"])
        ids = {h["arn"]: h["instance_id"] for h in wide}
        check(w["scale"].get("terminated") == [ids[alone_host]] and ids[busy_host] in w["scale"].get("busy", [])
              and desired("wide-hosts") == 1,
              "after IDLE_SECONDS: only the idle host is removed; the host still running two jobs stays")
        for i in range(3):
            submit(fns["narrow"], f"m{i}")
        w = sweep(fns["narrow"])
        rec = next(r for r in w["jobs"] if r["job_id"] == "m2")
        check(desired("narrow-hosts") == 1 and rec["action"] == "waiting" and "at MaxSize 1" in rec["reason"],
              f"group at MaxSize 1: the third job waits ({rec['reason']})")

        # 4. A schedule fires twice while its first run is running → one run, the other SKIPPED.
        tick = lambda t: {"scheduleName": "nightly-sync", "scheduledTime": t}  # noqa: E731
        first = submit(fn, None, **tick("2026-12-02T00:00:00Z"))["submitted"]["job"]
        check(first["jobId"] == "nightly-sync-20261202T0000Z", f"the tick names its job ({first['jobId']})")
        dup = submit(fn, None, **tick("2026-12-02T00:00:00Z"))["submitted"]
        check(dup["duplicate"], "the same tick delivered again (a Scheduler retry): a duplicate")
        register("nightly", "nightly-hosts")
        check(job(first["jobId"])["state"] == "RUNNING", "the first run runs on a new host")
        second = submit(fn, None, **tick("2026-12-03T00:00:00Z"))["submitted"]
        runs = sum(1 for c in moto.command({"op": "run_task_calls"})["calls"]
                   if "/nightly-sync-" in (c["startedBy"] or ""))
        check(second["job"]["state"] == "SKIPPED" and runs == 1
              and job(second["job"]["jobId"])["state"] == "SKIPPED",
              f"the next tick while it runs: one run, the other recorded SKIPPED ({second['skipped'][:60]}...)")
        counted = moto.command({"op": "aws_calls"})["calls"]
        print(f"  --  AWS calls by the release binaries over the whole scenario: {sum(counted.values())} "
              f"({json.dumps(counted)})")
    finally:
        for f in fns.values():
            f.stop()
# --- issue 19: the task-dispatcher v2 scenarios, and the test-bed rules they rest on ------------


def bed_self_check(moto: Moto) -> None:
    """The test bed's issue-19 rules (tests/moto_server.py: install_run_task_rules, install_task_views,
    finish_task_containers, install_group_termination, install_dynamodb_item_size) checked from boto3
    on a reset moto, so that a failing v2 scenario is the dispatcher's and not the bed's. No binary."""
    import botocore.config
    from botocore.exceptions import ClientError

    print("\ntest bed: what ECS, Auto Scaling and DynamoDB refuse or do where moto does not")
    moto.command({"op": "reset"})
    moto.command({"op": "pin_ecs_tasks"})
    kw = dict(endpoint_url=moto.endpoint, region_name=REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    ecs = boto3.client("ecs", config=botocore.config.Config(retries={"max_attempts": 0}), **kw)
    asg, ddb = boto3.client("autoscaling", **kw), boto3.client("dynamodb", **kw)

    def error(call, **params) -> dict:
        try:
            call(**params)
        except ClientError as e:
            return {**e.response["Error"], "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                    "resourceIds": e.response.get("resourceIds")}
        return {}

    def calls(token: str) -> list:
        return [c for c in moto.command({"op": "run_task_calls"})["calls"] if c.get("clientToken") == token]

    ecs.create_cluster(clusterName="bed")
    hosts = register_hosts(moto, ecs, "bed", 2)
    ecs.register_task_definition(family="bed-app", containerDefinitions=[
        {"name": "app", "image": "busybox", "memory": 256, "essential": True},
        {"name": "sidecar", "image": "busybox", "memory": 64, "essential": False}])
    pin = [{"type": "memberOf", "expression": f"ec2InstanceId == {hosts[1][1]}"}]
    run = dict(cluster="bed", taskDefinition="bed-app", startedBy="ecs-autopilot/bed/1", placementConstraints=pin)
    first = ecs.run_task(clientToken="bed/1", **run)["tasks"]
    again = ecs.run_task(clientToken="bed/1", **run)["tasks"]
    listed = ecs.list_tasks(cluster="bed")["taskArns"]
    check(len(first) == 1 and [t["taskArn"] for t in again] == [first[0]["taskArn"]] and len(listed) == 1
          and first[0]["containerInstanceArn"] == hosts[1][0]
          and [c["outcome"] for c in calls("bed/1")] == ["started", "replayed"],
          "RunTask: the same clientToken and request → the original task, nothing started; the pin is honoured")
    unpinned = {k: v for k, v in run.items() if k != "placementConstraints"}
    e = error(ecs.run_task, clientToken="bed/1", **unpinned)
    check(e.get("Code") == "ConflictException" and e["status"] == 400 and e["resourceIds"] == [first[0]["taskArn"]]
          and calls("bed/1")[-1]["differ"] == ["placementConstraints"],
          "the same token without the pin → HTTP 400 ConflictException naming the task in resourceIds")
    ecs.create_cluster(clusterName="bed-other")
    register_hosts(moto, ecs, "bed-other", 1)
    elsewhere = ecs.run_task(clientToken="bed/1", **{**unpinned, "cluster": "bed-other"})["tasks"]
    check(len(elsewhere) == 1 and elsewhere[0]["taskArn"] != first[0]["taskArn"],
          "the same token in another cluster is another request (tokens are scoped to the cluster)")
    moto.command({"op": "refuse_run_task", "task_definition": "bed-app", "reason": "ATTRIBUTE"})
    refused = ecs.run_task(clientToken="bed/2", **unpinned)
    moto.command({"op": "refuse_run_task", "task_definition": "bed-app", "reason": None})
    replay = ecs.run_task(clientToken="bed/2", **unpinned)
    check(refused["tasks"] == [] and {f["reason"] for f in refused["failures"]} == {"ATTRIBUTE"}
          and replay["tasks"] == [] and replay["failures"] == refused["failures"],
          "refuse_run_task: HTTP 200, no task, failures[] ATTRIBUTE; the same token replays that answer")
    nowhere = ecs.run_task(clientToken="bed/3", **{**run, "placementConstraints": [
        {"type": "memberOf", "expression": "ec2InstanceId == i-00000000000000000"}]})
    check(nowhere["tasks"] == [] and {f["reason"] for f in nowhere["failures"]}
          == {"MemberOf placement constraint unsatisfied"}, "a pin naming no host of the cluster: not placed")

    moto.command({"op": "lose_run_task_responses", "count": 1})
    lost = error(ecs.run_task, clientToken="bed/4", **{**run, "startedBy": "ecs-autopilot/bed/4"})
    retried = ecs.run_task(clientToken="bed/4", **{**run, "startedBy": "ecs-autopilot/bed/4"})["tasks"]
    check(lost.get("status") == 500 and len(retried) == 1 and [c["lost"] for c in calls("bed/4")] == [True, False]
          and calls("bed/4")[0]["tasks"] == [retried[0]["taskArn"]],
          "a lost RunTask answer: the retry with the same token returns the task moto started")

    task = first[0]["taskArn"]
    moto.command({"op": "finish_task", "cluster": "bed", "task": task, "containers": {"app": 0, "sidecar": 137},
                  "stop_code": "EssentialContainerExited", "reason": "Essential container in task exited"})
    d = ecs.describe_tasks(cluster="bed", tasks=[task])["tasks"][0]
    check(d.get("stopCode") == "EssentialContainerExited" and d["lastStatus"] == "STOPPED"
          and {c["name"]: c.get("exitCode") for c in d["containers"]} == {"app": 0, "sidecar": 137},
          "finish_task with containers: DescribeTasks reports stopCode and each container's exit code")
    other = retried[0]["taskArn"]
    moto.command({"op": "finish_task", "cluster": "bed", "task": other, "containers": {},
                  "stop_code": "TerminationNotice", "reason": "host terminated"})
    d = ecs.describe_tasks(cluster="bed", tasks=[other])["tasks"][0]
    check(d.get("stopCode") == "TerminationNotice" and all("exitCode" not in c for c in d["containers"]),
          "a container without an exit code has none in DescribeTasks")

    e = error(ecs.list_tasks, cluster="bed", startedBy="ecs-autopilot/bed/1", desiredStatus="STOPPED")
    check(e.get("Code") == "InvalidParameterException",
          "ListTasks: startedBy with desiredStatus → InvalidParameterException (startedBy must be the only filter)")
    moto.command({"op": "hide_tasks_from_list", "count": 1})
    hidden = ecs.list_tasks(cluster="bed", startedBy="ecs-autopilot/bed/1")["taskArns"]
    shown = ecs.list_tasks(cluster="bed", startedBy="ecs-autopilot/bed/1")["taskArns"]
    check(hidden == [] and shown == [task], "hide_tasks_from_list 1: the next ListTasks by startedBy is empty, then not")
    moto.command({"op": "forget_task", "cluster": "bed", "task": task})
    d = ecs.describe_tasks(cluster="bed", tasks=[task])
    check(d["tasks"] == [] and d["failures"] == [{"arn": task, "reason": "MISSING"}]
          and task not in ecs.list_tasks(cluster="bed", desiredStatus="STOPPED")["taskArns"],
          "forget_task: no longer listed; DescribeTasks answers a MISSING failure")
    e = error(ecs.describe_tasks, cluster="bed", tasks=[f"t{i}" for i in range(101)])
    check(e.get("Code") == "InvalidParameterException", "DescribeTasks of 101 tasks → InvalidParameterException")

    def group(name: str) -> dict:
        return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]

    moto.command({"op": "create_scale_group", "name": "bed-kept", "max": 3, "desired": 2})
    moto.command({"op": "create_scale_group", "name": "bed-rebalanced", "max": 3, "desired": 3,
                  "suspend_az_rebalance": False})
    moto.command({"op": "create_scale_group", "name": "bed-hooked", "max": 3, "desired": 2,
                  "terminating_hook": "drain"})
    check([p["ProcessName"] for p in group("bed-kept")["SuspendedProcesses"]] == ["AZRebalance"]
          and group("bed-rebalanced")["SuspendedProcesses"] == [],
          "create_scale_group suspends AZRebalance by default; DescribeAutoScalingGroups reports it")
    victim = group("bed-kept")["Instances"][0]["InstanceId"]
    asg.terminate_instance_in_auto_scaling_group(InstanceId=victim, ShouldDecrementDesiredCapacity=True)
    g = group("bed-kept")
    check(g["DesiredCapacity"] == 1 and victim not in [i["InstanceId"] for i in g["Instances"]]
          and moto.command({"op": "rebalance_terminations"})["terminations"] == [],
          "AZRebalance suspended, no hook: the instance goes, nothing else is terminated")
    before = [i["InstanceId"] for i in group("bed-rebalanced")["Instances"]]
    asg.terminate_instance_in_auto_scaling_group(InstanceId=before[0], ShouldDecrementDesiredCapacity=True)
    (rebalanced,) = moto.command({"op": "rebalance_terminations"})["terminations"]
    after = [i["InstanceId"] for i in group("bed-rebalanced")["Instances"]]
    check(rebalanced["requested"] == before[0] and rebalanced["terminated"] in before[1:]
          and rebalanced["terminated"] not in after and len(after) == 2,
          "AZRebalance not suspended: a decrementing terminate also terminates another instance (recorded)")
    hooked = group("bed-hooked")["Instances"][0]["InstanceId"]
    asg.terminate_instance_in_auto_scaling_group(InstanceId=hooked, ShouldDecrementDesiredCapacity=True)
    state = {i["InstanceId"]: i["LifecycleState"] for i in group("bed-hooked")["Instances"]}
    check(state.get(hooked) == "Terminating:Wait" and group("bed-hooked")["DesiredCapacity"] == 1,
          "a group with a terminating hook keeps the instance in Terminating:Wait")
    asg.complete_lifecycle_action(LifecycleHookName="drain", AutoScalingGroupName="bed-hooked",
                                  LifecycleActionResult="CONTINUE", InstanceId=hooked)
    check(hooked not in [i["InstanceId"] for i in group("bed-hooked")["Instances"]],
          "CompleteLifecycleAction ends the wait: the instance leaves the group")
    left = group("bed-hooked")["Instances"][0]["InstanceId"]
    moto.command({"op": "set_group_instance_state", "group": "bed-hooked", "instance": left,
                  "state": "Terminating:Wait"})
    check(group("bed-hooked")["Instances"][0]["LifecycleState"] == "Terminating:Wait",
          "set_group_instance_state: DescribeAutoScalingGroups reports the state set")

    create_jobs_table(ddb, "bed-jobs")
    ddb.put_item(TableName="bed-jobs", Item={"jobId": {"S": "small"}, "job": {"S": "x" * 1000},
                                             "revision": {"N": "12345"}, "m": {"M": {"k": {"S": "v"}}}})
    size = moto.command({"op": "item_size", "table": "bed-jobs", "key": {"jobId": "small"}})["bytes"]
    # jobId+small 10, job+1000 1003, revision + 5 digits (3+1) 12, m + map (3 + 1 + k + v) 7
    check(size == 1032, f"item_size by DynamoDB's rule: {size} bytes")
    limit = 400 * 1024
    at_limit = "x" * (limit - len("jobId") - len("edge") - len("job"))
    ddb.put_item(TableName="bed-jobs", Item={"jobId": {"S": "edge"}, "job": {"S": at_limit}})
    e = error(ddb.put_item, TableName="bed-jobs", Item={"jobId": {"S": "edge"}, "job": {"S": at_limit + "y"}})
    check(e.get("Code") == "ValidationException" and "Item size has exceeded the maximum allowed size" in e["Message"],
          "an item of exactly 400 KB (409,600 bytes) is stored; one byte more → ValidationException")
    ddb.put_item(TableName="bed-jobs", Item={"jobId": {"S": "grow"}, "job": {"S": "x" * 300_000}})
    ddb.update_item(TableName="bed-jobs", Key={"jobId": {"S": "grow"}}, UpdateExpression="SET job = :j",
                    ExpressionAttributeValues={":j": {"S": "y" * 300_001}})
    e = error(ddb.update_item, TableName="bed-jobs", Key={"jobId": {"S": "grow"}}, UpdateExpression="SET job = :j",
              ExpressionAttributeValues={":j": {"S": "y" * limit}})
    check(e.get("Code") == "ValidationException",
          "UpdateItem: a 300 KB attribute can be replaced (moto alone refuses), a 400 KB one cannot")
    moto.command({"op": "reset"})


class DispatcherBed:
    """What the v2 scenarios share: one jobs table, the clients, one task-dispatcher per cluster
    (CLUSTERS names only that cluster, so its sweeps touch nothing else), and readers of the
    dispatcher's durable state (the jobs table, as job_store.rs writes it: the job's JSON in `job`)."""

    TABLE = "jobs"

    def __init__(self, moto: Moto) -> None:
        kw = dict(endpoint_url=moto.endpoint, region_name=REGION, aws_access_key_id="testing",
                  aws_secret_access_key="testing")
        self.moto = moto
        self.ecs, self.ddb, self.asg, self.ec2 = (boto3.client(n, **kw) for n in ("ecs", "dynamodb", "autoscaling", "ec2"))
        self.functions: list[Function] = []

    def cluster(self, name: str, hosts: int) -> list[tuple[str, str]]:
        self.ecs.create_cluster(clusterName=name)
        return register_hosts(self.moto, self.ecs, name, hosts) if hosts else []

    def function(self, cluster: str, **env: str) -> Function:
        fn = Function("task-dispatcher", self.moto, {"JOBS_TABLE": self.TABLE, "CLUSTERS": cluster, **env},
                      log_name=f"task-dispatcher-{cluster}")  # .demo/acceptance-task-dispatcher-CLUSTER.log
        fn.cluster = cluster  # type: ignore[attr-defined]
        self.functions.append(fn)
        return fn

    def stop(self) -> None:
        for fn in self.functions:
            fn.stop()
        self.functions.clear()

    @staticmethod
    def envelope(detail_type: str, source: str, resources: list, detail: dict) -> dict:
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
                "account": "123456789012", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": REGION, "resources": resources, "detail": detail}

    def submit(self, fn: Function, job: dict, request_id: str | None = None) -> tuple[str, dict]:
        return fn.invoke({"action": "submit", "job": {"cluster": fn.cluster, **job}},  # type: ignore[attr-defined]
                         request_id=request_id)

    def sweep(self, fn: Function) -> tuple[str, dict]:
        return fn.invoke(self.envelope("Scheduled Event", "aws.events", [], {}))

    def host_event(self, fn: Function, container_instance_arn: str) -> tuple[str, dict]:
        return fn.invoke(instance_event(fn.cluster, container_instance_arn))  # type: ignore[attr-defined]

    def item(self, job_id: str) -> dict | None:
        return self.ddb.get_item(TableName=self.TABLE, Key={"jobId": {"S": job_id}}, ConsistentRead=True).get("Item")

    def job(self, job_id: str) -> dict:
        item = self.item(job_id)
        if item is None:
            raise SystemExit(f"FAILED: no job {job_id} in the jobs table")
        return json.loads(item["job"]["S"])

    def cluster_jobs(self, cluster: str) -> list[dict]:
        items, start = [], None
        while True:
            page = self.ddb.scan(TableName=self.TABLE, **({"ExclusiveStartKey": start} if start else {}))
            items += page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return [json.loads(i["job"]["S"]) for i in items if "job" in i and i.get("cluster", {}).get("S") == cluster]

    def item_size(self, job_id: str) -> int:
        return self.moto.command({"op": "item_size", "table": self.TABLE, "key": {"jobId": job_id}})["bytes"]

    def runs(self, job_id: str) -> list[dict]:
        """The RunTask calls the bed recorded for a job: its startedBy `ecs-autopilot/JOBID/N` or its
        clientToken `JOBID/N` (a conflicting call may carry another startedBy)."""
        return [c for c in self.moto.command({"op": "run_task_calls"})["calls"]
                if f"/{job_id}/" in (c.get("startedBy") or "") or (c.get("clientToken") or "").startswith(f"{job_id}/")]

    def tasks_started_by(self, cluster: str, prefix: str) -> list[dict]:
        """Every task of the cluster (running or stopped) whose startedBy starts with `prefix`,
        read by ListTasks without startedBy (not subject to hide_tasks_from_list) and DescribeTasks."""
        arns = set()
        for status in ("RUNNING", "STOPPED"):
            arns.update(self.ecs.list_tasks(cluster=cluster, desiredStatus=status)["taskArns"])
        arns = sorted(arns)
        tasks = []
        for i in range(0, len(arns), 100):
            tasks += self.ecs.describe_tasks(cluster=cluster, tasks=arns[i:i + 100])["tasks"]
        return [t for t in tasks if (t.get("startedBy") or "").startswith(prefix)]

    def stopped_event(self, cluster: str, task_arn: str) -> dict:
        """The task's STOPPED event as ECS sends it: the Task object (here from DescribeTasks, after
        the bed set its exit codes and stopCode) as the event's detail."""
        t = self.ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
        detail = {k: t[k] for k in ("clusterArn", "taskArn", "containerInstanceArn", "taskDefinitionArn", "group",
                                    "startedBy", "launchType", "lastStatus", "desiredStatus", "stoppedReason",
                                    "stopCode", "cpu", "memory") if t.get(k) not in (None, "")}
        detail["version"] = int(t.get("version") or 0) + 5
        detail["containers"] = [{k: c[k] for k in ("containerArn", "name", "lastStatus", "exitCode", "reason")
                                 if k in c} for c in t.get("containers", [])]
        return self.envelope("ECS Task State Change", "aws.ecs", [task_arn], detail)

    def finish(self, fn: Function, job_id: str, containers: dict, stop_code: str, reason: str) -> tuple[str, dict]:
        """The job's task stops with these exit codes (null: none) and stopCode, and its STOPPED
        event reaches the dispatcher."""
        task = self.job(job_id)["taskArn"]
        cluster = fn.cluster  # type: ignore[attr-defined]
        self.moto.command({"op": "finish_task", "cluster": cluster, "task": task, "containers": containers,
                           "stop_code": stop_code, "reason": reason})
        return fn.invoke(self.stopped_event(cluster, task))

    def task_definition(self, family: str, memory: int, **extra) -> None:
        self.ecs.register_task_definition(family=family, containerDefinitions=[
            {"name": family, "image": "busybox", "memory": memory, "cpu": 64}], **extra)

    def desired(self, group: str) -> int:
        return self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0][
            "DesiredCapacity"]

    def autoscaling_calls(self, op: str) -> int:
        return self.moto.command({"op": "aws_calls"})["calls"].get(f"autoscaling:{op}", 0)


def dispatcher_v2_acceptance(moto: Moto) -> None:
    """Issue 19's acceptance on the release task-dispatcher, driven as Lambda drives it (Runtime
    API, request ids), on moto with the test bed's issue-19 rules (checked first by
    bed_self_check): RunTask honours clientToken and host pins and refuses on demand, ListTasks
    takes startedBy alone and can lag, DescribeTasks reports forgotten tasks MISSING, tasks stop
    with per-container exit codes and a stopCode, group instances wait in Terminating:Wait,
    DynamoDB refuses items past 400 KB. Each scenario has its own cluster and dispatcher."""
    bed_self_check(moto)
    print("\ntask-dispatcher v2 (issue 19; release binary, Lambda Runtime API, moto)")
    moto.command({"op": "reset"})
    moto.command({"op": "pin_ecs_tasks"})
    bed = DispatcherBed(moto)
    create_jobs_table(bed.ddb, DispatcherBed.TABLE)
    bed.task_definition("v2-work", 256)
    try:
        v2_essential_containers(bed)
        v2_refusals(bed)
        v2_lost_answer(bed)
        v2_infrastructure_stops(bed)
        v2_forgotten_task(bed)
        v2_terminating_host(bed)
        v2_never_fits(bed)
        v2_same_request(bed)
        counted = moto.command({"op": "aws_calls"})["calls"]
        print(f"  --  AWS calls by the release binaries in scenarios g and h: "
              f"{sum(counted.values())} ({json.dumps(counted)})")
    finally:
        bed.stop()


def v2_essential_containers(bed: DispatcherBed) -> None:
    print(" a. a run is judged by its essential containers (app essential, sidecar not)")
    bed.cluster("v2-sidecar", 1)
    bed.ecs.register_task_definition(family="v2-app", containerDefinitions=[
        {"name": "app", "image": "busybox", "memory": 256, "cpu": 64, "essential": True},
        {"name": "sidecar", "image": "amazon/aws-xray-daemon", "memory": 64, "cpu": 32, "essential": False}])
    fn = bed.function("v2-sidecar")
    exited = "Essential container in task exited"
    bed.submit(fn, {"jobId": "v2-a1", "taskDefinition": "v2-app", "maxAttempts": 2, "priority": 5})
    check(bed.job("v2-a1")["state"] == "RUNNING", "v2-a1 (maxAttempts 2) runs")
    kind, out = bed.finish(fn, "v2-a1", {"app": 0, "sidecar": 137}, "EssentialContainerExited", exited)
    bed.sweep(fn)
    j = bed.job("v2-a1")
    check(kind == "response" and j["state"] == "SUCCEEDED" and len(bed.runs("v2-a1")) == 1,
          f"stopCode EssentialContainerExited, app 0, sidecar 137 (SIGKILLed by ECS) → {j['state']}, "
          f"{len(bed.runs('v2-a1'))} RunTask")
    bed.submit(fn, {"jobId": "v2-a2", "taskDefinition": "v2-app", "maxAttempts": 2, "priority": 5})
    check(bed.job("v2-a2")["state"] == "RUNNING", "v2-a2 (maxAttempts 2) runs")
    kind, out = bed.finish(fn, "v2-a2", {"app": 1, "sidecar": 0}, "EssentialContainerExited", exited)
    j = bed.job("v2-a2")
    check(kind == "response" and j["state"] == "QUEUED" and j["attempts"] == 1 and bool(j.get("reason")),
          f"app 1, sidecar 0 → QUEUED for a retry, attempts {j['attempts']} ({j.get('reason')}; "
          f"exit codes {j.get('exitCodes')})")


def v2_refusals(bed: DispatcherBed) -> None:
    print(" b. RunTask refusals back off and never block the queue; item sizes stay bounded")
    (host, _), = bed.cluster("v2-refuse", 1)
    bed.task_definition("v2-picky", 256)
    bed.moto.command({"op": "refuse_run_task", "task_definition": "v2-picky", "reason": "ATTRIBUTE"})
    fn = bed.function("v2-refuse")
    bed.submit(fn, {"jobId": "v2-r", "taskDefinition": "v2-picky", "priority": 10})
    bed.submit(fn, {"jobId": "v2-l", "taskDefinition": "v2-work", "priority": 1})
    answers = []
    for i in range(20):
        answers.append((bed.host_event(fn, host) if i % 2 == 0 else bed.sweep(fn))[0])
    r, runs = bed.job("v2-r"), bed.runs("v2-r")
    check(answers.count("response") == 20 and len(runs) <= 3 and all(c["outcome"] == "refused" for c in runs),
          f"RunTask refuses v2-r (ATTRIBUTE) over 20 wake-ups: {len(runs)} RunTask calls for it "
          f"(≤ 3), every wake-up answered; v2-r {r['state']} ({r.get('reason')})")
    size = bed.item_size("v2-r")
    check(size < 16 * 1024, f"v2-r's item stays small: {size} bytes (< 16 KB), {len(r.get('history', []))} "
                            "history entries")
    check(bed.job("v2-l")["state"] == "RUNNING", "the lower job v2-l that fits started meanwhile")

    # A queued job whose item is near DynamoDB's 400 KB limit (an unbounded history written before
    # the fix), higher in priority than a small job, and refused by RunTask: its next write cannot
    # fit, the small job must still start. The item is the dispatcher's own shape: a job it wrote
    # (refused, then removed) with the history grown.
    bed.cluster("v2-big", 1)
    fn = bed.function("v2-big")
    bed.submit(fn, {"jobId": "v2-template", "taskDefinition": "v2-picky", "priority": 50})
    template = bed.item("v2-template")
    if template is None:
        raise SystemExit("FAILED: the dispatcher stored no job v2-template (the planted item's template)")
    bed.ddb.delete_item(TableName=DispatcherBed.TABLE, Key={"jobId": {"S": "v2-template"}})
    body = json.loads(template["job"]["S"])
    now = int(time.time())
    for gone in ("taskArn", "containerInstanceArn", "notBefore", "exitCodes"):
        body.pop(gone, None)
    entry = dict((body.get("history") or [{}])[-1] or {})
    entry.update({"from": "QUEUED", "to": "QUEUED"})
    entry.setdefault("reason", "")
    body.update({"jobId": "v2-huge", "state": "QUEUED", "attempts": 0, "launches": 0, "priority": 50,
                 "submittedAt": now - 86400, "queuedAt": now - 86400, "updatedAt": now - 60})
    limit = 400 * 1024
    one = len(json.dumps({**entry, "at": now, "reason": "RunTask: ATTRIBUTE (old, unbounded history)"}))
    body["history"] = [{**entry, "at": now - 86400 + i, "reason": "RunTask: ATTRIBUTE (old, unbounded history)"}
                       for i in range((limit - 4096) // (one + 2))]
    item = {**template, "jobId": {"S": "v2-huge"}, "state": {"S": "QUEUED"}}
    item["job"] = {"S": json.dumps(body)}
    bed.ddb.put_item(TableName=DispatcherBed.TABLE, Item=item)
    # Pad the last entry so the item is 40 bytes short of the limit: one more history entry
    # (or any growth past 40 bytes) does not fit.
    body["history"][-1]["reason"] += "." * (limit - 40 - bed.item_size("v2-huge"))
    item["job"] = {"S": json.dumps(body)}
    bed.ddb.put_item(TableName=DispatcherBed.TABLE, Item=item)
    planted = bed.item_size("v2-huge")
    extra = sorted(set(template) - {"jobId", "cluster", "state", "revision", "job"})
    check(limit - 100 < planted <= limit - 40,
          f"planted v2-huge (priority 50, refused family): {planted} bytes, {len(body['history'])} history "
          f"entries{' (template attributes also copied: ' + ', '.join(extra) + ')' if extra else ''}")
    kind, out = bed.submit(fn, {"jobId": "v2-s", "taskDefinition": "v2-work", "priority": 1})
    sweep_kind, _ = bed.sweep(fn)
    huge = bed.job("v2-huge")
    check(bed.job("v2-s")["state"] == "RUNNING" and sweep_kind == "response",
          f"the small job v2-s still starts (submit answered {kind}, the next sweep {sweep_kind}); "
          f"v2-huge {huge['state']}, {bed.item_size('v2-huge')} bytes, {len(huge.get('history', []))} history entries"
          f" ({(huge.get('reason') or '')[:80]})")
    bed.moto.command({"op": "refuse_run_task", "task_definition": "v2-picky", "reason": None})


def v2_lost_answer(bed: DispatcherBed) -> None:
    print(" c. a lost RunTask answer, and ListTasks that does not show the task yet")
    (host, instance_id), = bed.cluster("v2-lost", 1)
    fn = bed.function("v2-lost")
    bed.moto.command({"op": "lose_run_task_responses", "count": 1})
    bed.moto.command({"op": "hide_tasks_from_list", "count": 1})
    kind, out = bed.submit(fn, {"jobId": "v2-c1", "taskDefinition": "v2-work", "priority": 3, "maxAttempts": 2})
    answers = [kind] + [bed.sweep(fn)[0] for _ in range(3)]
    bed.moto.command({"op": "hide_tasks_from_list", "count": 0})
    tasks = bed.tasks_started_by("v2-lost", "ecs-autopilot/v2-c1/")
    j, calls = bed.job("v2-c1"), bed.runs("v2-c1")
    check(bool(calls) and calls[0]["lost"], f"the first RunTask acted and its answer was lost (answers: {answers})")
    check(len(tasks) == 1 and j["state"] == "RUNNING" and j.get("taskArn") == tasks[0]["taskArn"],
          f"after the next wake-ups: {len(tasks)} task with v2-c1's startedBy, job {j['state']} on it")
    pin = f"ec2InstanceId=={instance_id}"

    def pinned(c: dict) -> bool:
        return any(p.get("type") == "memberOf" and p.get("expression", "").replace(" ", "") == pin
                   for p in c.get("placementConstraints") or [])

    same = (len({c["clientToken"] for c in calls}) == 1 and all(pinned(c) for c in calls)
            and len({json.dumps(c.get("placementConstraints"), sort_keys=True) for c in calls}) == 1)
    adopted = any(c["outcome"] == "conflict" for c in calls) and j.get("taskArn") == tasks[0]["taskArn"]
    check(same or adopted, f"every retry is the same request (token {sorted({c['clientToken'] for c in calls})}, "
                           f"pin {pin}) or the task was adopted from ConflictException: "
                           f"{[(c['outcome'], c['clientToken']) for c in calls]}")


def v2_infrastructure_stops(bed: DispatcherBed) -> None:
    print(" d. stops that are not the job's fault use no attempt")
    for stop_code, cluster, reason in (
            ("TerminationNotice", "v2-term", "Host EC2 instance terminated"),
            ("SpotInterruption", "v2-spot", "Your Spot Task was interrupted.")):
        (host, instance_id), = bed.cluster(cluster, 1)
        fn = bed.function(cluster)
        job_id = f"{cluster}-1"
        bed.submit(fn, {"jobId": job_id, "taskDefinition": "v2-work", "priority": 1, "maxAttempts": 1})
        j = bed.job(job_id)
        check(j["state"] == "RUNNING", f"{job_id} (maxAttempts 1) runs, attempts before the run {j['attempts']}")
        # The host goes away under the task: the task stops with no exit code, the host leaves ECS.
        bed.moto.command({"op": "finish_task", "cluster": cluster, "task": j["taskArn"], "containers": {},
                          "stop_code": stop_code, "reason": reason})
        event = bed.stopped_event(cluster, j["taskArn"])
        bed.ecs.deregister_container_instance(cluster=cluster, containerInstance=host, force=True)
        bed.ec2.terminate_instances(InstanceIds=[instance_id])
        kind, _ = fn.invoke(event)
        bed.sweep(fn)
        j = bed.job(job_id)
        check(kind == "response" and j["state"] == "QUEUED" and j["attempts"] == 0,
              f"stopCode {stop_code}, no exit codes → {j['state']}, attempts {j['attempts']} ({j.get('reason')})")


def v2_forgotten_task(bed: DispatcherBed) -> None:
    print(" e. a RUNNING job whose task ECS no longer knows")
    bed.cluster("v2-forget", 1)
    fn = bed.function("v2-forget")

    def tick(at: str) -> tuple[str, str]:
        kind, out = bed.submit(fn, {"scheduleName": "nightly-x", "scheduledTime": at, "taskDefinition": "v2-work",
                                    "maxAttempts": 1})
        if kind != "response":
            raise SystemExit(f"FAILED: the tick {at} answered {kind} {out}")
        derived = "nightly-x-" + at.replace("-", "").replace(":", "")[:13] + "Z"
        return ((out.get("submitted") or {}).get("job") or {}).get("jobId") or derived, kind

    first, _ = tick("2026-12-10T00:00:00Z")
    j = bed.job(first)
    check(j["state"] == "RUNNING", f"the schedule's run {first} runs")
    bed.moto.command({"op": "forget_task", "cluster": "v2-forget", "task": j["taskArn"]})
    sweeps = 0
    while sweeps < 2 and bed.job(first)["state"] == "RUNNING":
        bed.sweep(fn)
        sweeps += 1
    j = bed.job(first)
    check(j["state"] == "FAILED" and "outcome unknown" in (j.get("reason") or ""),
          f"its task gone (DescribeTasks MISSING, STOPPED event lost): {j['state']} after {sweeps} sweeps "
          f"({j.get('reason')})")
    second, _ = tick("2026-12-11T00:00:00Z")
    j2 = bed.job(second)
    check(second != first and j2["state"] in ("QUEUED", "STARTING", "RUNNING"),
          f"the schedule's next tick runs: {second} {j2['state']} (not SKIPPED)")


def v2_terminating_host(bed: DispatcherBed) -> None:
    print(" f. an owned-group instance in Terminating:Wait is never a RunTask pin")
    cluster, group = "v2-owned", "v2-owned-hosts"
    bed.ecs.create_cluster(clusterName=cluster)
    bed.moto.command({"op": "create_scale_group", "name": group, "max": 3, "desired": 2})
    hosts = bed.moto.command({"op": "register_group_hosts", "group": group, "cluster": cluster})["hosts"]
    check(len(hosts) == 2, "two group hosts registered")
    waiting, serving = hosts
    bed.moto.command({"op": "set_group_instance_state", "group": group, "instance": waiting["instance_id"],
                      "state": "Terminating:Wait"})
    bed.task_definition("v2-3000", 3000)
    fn = bed.function(cluster, SCALE_GROUP=group, SCALE_GROUP_HOST_CPU="4096", SCALE_GROUP_HOST_MEMORY="7482")
    for i in range(4):
        bed.submit(fn, {"jobId": f"v2-f{i}", "taskDefinition": "v2-3000", "priority": i + 1})
        bed.host_event(fn, serving["arn"])
    for h in bed.moto.command({"op": "register_group_hosts", "group": group, "cluster": cluster})["hosts"]:
        bed.host_event(fn, h["arn"])  # a host the dispatcher raised, if it did
    bed.sweep(fn)
    calls = [c for c in bed.moto.command({"op": "run_task_calls"})["calls"]
             if (c.get("cluster") or "").split("/")[-1] == cluster]
    naming = [c for c in calls if waiting["instance_id"] in json.dumps(c.get("placementConstraints"))]
    on_waiting = bed.ecs.list_tasks(cluster=cluster, containerInstance=waiting["arn"])["taskArns"]
    running = [i for i in range(4) if bed.job(f"v2-f{i}")["state"] == "RUNNING"]
    check(running and not naming and not on_waiting,
          f"{len(calls)} RunTask calls over 4 submissions, {len(naming)} pinning {waiting['instance_id']} "
          f"(Terminating:Wait), {len(on_waiting)} tasks on it; {len(running)} jobs running")


def v2_never_fits(bed: DispatcherBed) -> None:
    print(" g. scale from zero: a job between the configured and the registered host size")
    cluster, group = "v2-fit", "v2-fit-hosts"
    bed.ecs.create_cluster(clusterName=cluster)
    bed.moto.command({"op": "create_scale_group", "name": group, "max": 3})
    bed.task_definition("v2-8000", 8000)
    fn = bed.function(cluster, SCALE_GROUP=group, SCALE_GROUP_HOST_CPU="4096", SCALE_GROUP_HOST_MEMORY="8192")
    bed.moto.command({"op": "aws_calls", "reset": True})
    bed.submit(fn, {"jobId": "v2-g1", "taskDefinition": "v2-8000", "priority": 1})
    check(bed.desired(group) == 1 and bed.autoscaling_calls("SetDesiredCapacity") == 1,
          "a job of 8000 MiB, virtual hosts of 8192 MiB (config): the group is raised to 1")
    (host,) = bed.moto.command({"op": "register_group_hosts", "group": group, "cluster": cluster})["hosts"]
    bed.host_event(fn, host["arn"])
    j = bed.job("v2-g1")
    check(j["state"] == "QUEUED", f"the host registers 7482 MiB: the job does not fit it ({j.get('reason')})")
    bed.sweep(fn)
    item = bed.ddb.get_item(TableName=DispatcherBed.TABLE, Key={"jobId": {"S": f"scale-group#{group}"}},
                            ConsistentRead=True).get("Item")
    clock = json.loads(item["control"]["S"]) if item else {}
    if host["instance_id"] not in (clock.get("idleSince") or {}):
        raise SystemExit(f"FAILED: no idle clock for {host['instance_id']} in scale-group#{group}: {clock}")
    clock["idleSince"] = {i: t - 10_000 for i, t in clock["idleSince"].items()}
    item["control"] = {"S": json.dumps(clock)}
    bed.ddb.put_item(TableName=DispatcherBed.TABLE, Item=item)
    bed.sweep(fn)
    check(bed.autoscaling_calls("TerminateInstanceInAutoScalingGroup") == 1 and bed.desired(group) == 0,
          "the host idles past IDLE_SECONDS (clock backdated): terminated, the group is at 0")
    bed.moto.command({"op": "deregister_gone_hosts", "cluster": cluster})
    answers = [bed.sweep(fn) for _ in range(5)]
    j = bed.job("v2-g1")
    raises = bed.autoscaling_calls("SetDesiredCapacity")
    # Why it waits is the wake-up's decision for it (its record; `jobs explain` shows the same),
    # not a write to the job: a waiting job's item changes only when its state does.
    record = next((r for w in (answers[-1][1] or {}).get("wakes", []) for r in w.get("jobs", [])
                   if r.get("job_id") == "v2-g1"), {})
    says = "never fit" in (record.get("reason") or "").lower()
    check([a[0] for a in answers].count("response") == 5 and raises <= 1
          and (j["state"] == "EXPIRED" or says),
          f"five more sweeps: {raises} SetDesiredCapacity in all (no boot loop); v2-g1 {j['state']} "
          f"({record.get('reason')})")


def v2_same_request(bed: DispatcherBed) -> None:
    print(" h. one submission without jobId, delivered twice with the same request id")
    bed.cluster("v2-dup", 1)
    fn = bed.function("v2-dup")
    submission = {"taskDefinition": "v2-work", "priority": 1}
    answers = [bed.submit(fn, submission, request_id="v2-h-request-1")[0] for _ in range(2)]
    jobs = bed.cluster_jobs("v2-dup")
    check(answers == ["response", "response"] and len(jobs) == 1,
          f"the same request id twice (Lambda's retry): {len(jobs)} job ({[j['jobId'] for j in jobs]})")
    bed.submit(fn, submission, request_id="v2-h-request-2")
    check(len(bed.cluster_jobs("v2-dup")) == 2, "another request id: another job")


# --- issue 21: the task-dispatcher at production volume, fed by its SQS queue ---------------------

# What template.yaml's queue event source is assumed to be when it does not declare one yet.
QUEUE_DEFAULTS = {"batch_size": 1000, "window_s": 5, "concurrency": 2, "report_failures": True,
                  "timeout_s": 60, "visibility_timeout": 360, "max_receive_count": 5}


def dispatcher_queue_settings() -> dict:
    """The task-dispatcher's SQS event source mapping and its queue as template.yaml declares them:
    `TaskDispatcherFunction.Properties.Events.Queue` (Type SQS: BatchSize,
    MaximumBatchingWindowInSeconds, FunctionResponseTypes, ScalingConfig.MaximumConcurrency), the
    function's Timeout, `TaskDispatcherQueue`'s VisibilityTimeout and RedrivePolicy
    maxReceiveCount. A template without the queue event: QUEUE_DEFAULTS, with a note."""
    sys.path.insert(0, str(ROOT / "tests"))
    from iam_bed import _Loader  # noqa: E402  (template.yaml with CloudFormation's short tags)

    t = _Loader.load((ROOT / "template.yaml").read_text())
    resources = t.get("Resources", {})
    fn = resources.get("TaskDispatcherFunction", {}).get("Properties", {})
    event = (fn.get("Events") or {}).get("Queue") or {}
    if event.get("Type") != "SQS":
        print(f"  note: template.yaml has no SQS event `Queue` on TaskDispatcherFunction: assumed BatchSize "
              f"{QUEUE_DEFAULTS['batch_size']}, window {QUEUE_DEFAULTS['window_s']} s, MaximumConcurrency "
              f"{QUEUE_DEFAULTS['concurrency']}")
        return dict(QUEUE_DEFAULTS)
    p = event.get("Properties", {})
    queue = resources.get("TaskDispatcherQueue", {}).get("Properties", {})
    redrive = queue.get("RedrivePolicy") or {}
    return {
        # Lambda's defaults for an SQS event source: 10 messages, no window, no concurrency cap
        # (the cap here: the template's reserved concurrency, else SQS's minimum, 2).
        "batch_size": int(p.get("BatchSize", 10)),
        "window_s": float(p.get("MaximumBatchingWindowInSeconds", 0)),
        "concurrency": int((p.get("ScalingConfig") or {}).get("MaximumConcurrency")
                           or fn.get("ReservedConcurrentExecutions") or 2),
        "report_failures": "ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
        "timeout_s": float(fn.get("Timeout", 3)),
        "visibility_timeout": int(queue.get("VisibilityTimeout", 30)),
        "max_receive_count": int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
    }


class EventSourceMapping:
    """Lambda's SQS event source mapping in front of the release task-dispatcher, on a real (moto)
    queue pair: `<cluster>-dispatcher-queue` (the template's TaskDispatcherQueue: its visibility
    timeout, and its redrive policy to the failure queue) and `<cluster>-dispatcher-failures`
    (TaskDispatcherFailures, the function's DEAD_LETTER_QUEUE_URL).

    Emulated, from `settings` (dispatcher_queue_settings, read from template.yaml):
    - MaximumConcurrency pollers, each owning its own task-dispatcher process (one of Lambda's
      concurrent execution environments: one batch at a time each), all with the same env
      (CLUSTERS=<cluster>, JOBS_TABLE, DEAD_LETTER_QUEUE_URL).
    - A poller long-polls ReceiveMessage (at most 10 messages a call, attributes All) and closes its
      batch when it holds BatchSize messages or MaximumBatchingWindowInSeconds have passed since its
      first message; then it invokes its function synchronously (deadline: the function's Timeout)
      with the SQS event as Lambda shapes it: Records of messageId, receiptHandle, body, attributes
      (ApproximateReceiveCount, SentTimestamp, ...), messageAttributes {}, md5OfBody, eventSource
      `aws:sqs`, eventSourceARN, awsRegion.
    - With ReportBatchItemFailures it deletes the messages not listed in the response's
      batchItemFailures; an itemIdentifier that is empty or not in the batch makes the whole batch
      a failure, as Lambda treats an invalid partial response. Without it: all deleted on success.
      A function error (or no answer by the deadline): nothing deleted — the messages come back
      after the visibility timeout and the queue's redrive policy counts their receives.
    - `redeliver_once(message_id)`: that message is not deleted after its first successful
      delivery and is made visible again at once (ChangeMessageVisibility 0), as when a poller's
      DeleteMessage is lost: SQS delivers it again with the same messageId (receive count 2).

    Not emulated: Lambda's 6 MB invocation payload cut (a batch closes on count and window only);
    poller scaling (Lambda starts with a few pollers and adds them with the backlog up to
    MaximumConcurrency; here exactly that many poll from the start); throttling and the backoff
    after function errors; message attributes (none are sent). The window is checked between
    long polls of at most 1 s, so a batch can close up to ~1 s after its window. ReceiveMessage
    calls are serialized: moto can hand one message to two concurrent receivers, which SQS does
    not within the visibility timeout.
    """

    def __init__(self, bed: DispatcherBed, cluster: str, settings: dict, start: bool = True) -> None:
        self.bed, self.cluster, self.settings = bed, cluster, settings
        self.sqs = bed.moto.client("sqs")
        self.failures_url = self.sqs.create_queue(QueueName=f"{cluster}-dispatcher-failures")["QueueUrl"]
        failures_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.failures_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"VisibilityTimeout": str(settings["visibility_timeout"])}
        if settings.get("max_receive_count"):
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": failures_arn,
                                                      "maxReceiveCount": settings["max_receive_count"]})
        self.url = self.sqs.create_queue(QueueName=f"{cluster}-dispatcher-queue", Attributes=attributes)["QueueUrl"]
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.functions = []
        for i in range(settings["concurrency"]):
            fn = Function("task-dispatcher", bed.moto, {"JOBS_TABLE": bed.TABLE, "CLUSTERS": cluster,
                                                        "DEAD_LETTER_QUEUE_URL": self.failures_url},
                          log_name=f"task-dispatcher-{cluster}-poller{i}")
            fn.cluster = cluster  # type: ignore[attr-defined]
            self.functions.append(fn)
        self.invocations: list[dict] = []  # one per batch: poller, message ids, answer, deletes
        self._redeliver: set[str] = set()
        self._busy = [False] * len(self.functions)
        self._cond = threading.Condition()
        self._receive = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        if start:
            self.start()

    def start(self) -> None:
        for i in range(len(self.functions)):
            t = threading.Thread(target=self._poll, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)

    def redeliver_once(self, message_id: str) -> None:
        self._redeliver.add(message_id)

    def send(self, bodies: list[str]) -> list[str]:
        """SendMessageBatch, 10 at a time: the message ids, in order."""
        ids = []
        for i in range(0, len(bodies), 10):
            entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])]
            answer = self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            if answer.get("Failed"):
                raise SystemExit(f"FAILED: SendMessageBatch: {answer['Failed']}")
            ids += [s["MessageId"] for s in sorted(answer["Successful"], key=lambda s: int(s["Id"]))]
        return ids

    def _poll(self, i: int) -> None:
        sqs, fn = self.bed.moto.client("sqs"), self.functions[i]
        batch_size, window = self.settings["batch_size"], self.settings["window_s"]
        while not self._stopping.is_set():
            batch: list[dict] = []
            first = None
            while len(batch) < batch_size and not self._stopping.is_set():
                if first is not None and time.monotonic() - first >= window:
                    break
                with self._receive:
                    got = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=min(10, batch_size - len(batch)),
                                              WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])
                if got and first is None:
                    first = time.monotonic()
                    with self._cond:
                        self._busy[i] = True
                batch += got
            if batch:
                self._deliver(i, sqs, fn, batch)
            with self._cond:
                self._busy[i] = False
                self._cond.notify_all()

    def _record(self, m: dict) -> dict:
        return {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": dict(m.get("Attributes") or {}), "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": self.arn,
                "awsRegion": REGION}

    def _deliver(self, i: int, sqs, fn: Function, batch: list[dict]) -> None:
        ids = [m["MessageId"] for m in batch]
        started = time.monotonic()
        if fn.proc.poll() is not None:
            kind, payload = "error", {"errorType": "Exited", "errorMessage": f"exit {fn.proc.returncode}"}
        else:
            try:
                kind, payload = fn.api.invoke({"Records": [self._record(m) for m in batch]},
                                              timeout_s=self.settings["timeout_s"])
            except queue.Empty:
                kind, payload = "error", {"errorType": "Timeout", "errorMessage": "no answer by the deadline"}
        failed: set[str] = set()
        whole = kind != "response"
        if kind == "response" and self.settings["report_failures"] and isinstance(payload, dict):
            for f in payload.get("batchItemFailures") or []:
                ident = f.get("itemIdentifier") if isinstance(f, dict) else None
                if not ident or ident not in ids:
                    whole = True
                failed.add(str(ident))
        keep = [m for m in batch if whole or m["MessageId"] in failed]
        done = [m for m in batch if m not in keep]
        redelivered = [m for m in done if m["MessageId"] in self._redeliver]
        for m in redelivered:
            self._redeliver.discard(m["MessageId"])
            sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        done = [m for m in done if m not in redelivered]
        for k in range(0, len(done), 10):
            entries = [{"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(done[k:k + 10])]
            answer = sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
            if answer.get("Failed"):
                print(f"  !!  DeleteMessageBatch failed: {answer['Failed']}")
        with self._cond:
            self.invocations.append({
                "poller": i, "message_ids": ids, "kind": kind, "payload": payload, "failed": sorted(failed),
                "whole_batch_failed": whole, "deleted": len(done), "redelivered": [m["MessageId"] for m in redelivered],
                "receive_counts": {m["MessageId"]: int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 0))
                                   for m in batch},
                "seconds": time.monotonic() - started})
            self._cond.notify_all()

    def queue_counts(self) -> tuple[int, int, int]:
        a = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
                int(a.get("ApproximateNumberOfMessagesDelayed", 0)))

    def drain(self, deadline_s: float = 120.0) -> None:
        """Waits until the queue holds no message (visible, in flight or delayed) and no poller
        holds a batch; fails past the deadline."""
        end = time.monotonic() + deadline_s
        counts = None
        while time.monotonic() <= end:
            with self._cond:
                if any(self._busy):
                    self._cond.wait(timeout=0.5)  # woken when a poller's batch is done
                    continue
            counts = self.queue_counts()
            with self._cond:
                if counts == (0, 0, 0) and not any(self._busy):
                    return
                self._cond.wait(timeout=0.2)  # woken by a poller, or look at the queue again
        raise SystemExit(f"FAILED: {self.cluster}: the queue did not drain within {deadline_s:.0f}s "
                         f"(visible, in flight, delayed: {counts}; pollers busy: {self._busy})")

    def dead_letters(self) -> list[dict]:
        """Every message of the failure queue (received and deleted): body JSON where it parses."""
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.failures_url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return out
            for m in got:
                try:
                    out.append(json.loads(m["Body"]))
                except ValueError:
                    out.append({"raw": m["Body"]})
                self.sqs.delete_message(QueueUrl=self.failures_url, ReceiptHandle=m["ReceiptHandle"])

    def wakes(self) -> list[dict]:
        """The wake-ups the function reported, over every batch answered."""
        return [w for inv in self.invocations if inv["kind"] == "response" and isinstance(inv["payload"], dict)
                for w in inv["payload"].get("wakes") or []]

    def stop(self) -> None:
        self._stopping.set()
        for t in self._threads:
            t.join(timeout=self.settings["timeout_s"] + 10)
        for fn in self.functions:
            fn.stop()


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


def host_memory(ecs, cluster: str, arn: str) -> tuple[int, int]:
    """(registered, remaining) memory of a container instance, MiB."""
    ci = ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"][0]

    def mem(resources: list) -> int:
        return next(int(r["integerValue"]) for r in resources if r["name"] == "MEMORY")

    return mem(ci["registeredResources"]), mem(ci["remainingResources"])


def fill_host(bed: DispatcherBed, cluster: str, arn: str, leave_mib: int, family: str) -> str:
    """A filler task (StartTask on the host) taking all but `leave_mib` of its remaining memory."""
    _, remaining = host_memory(bed.ecs, cluster, arn)
    bed.ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": family, "image": "busybox", "memory": remaining - leave_mib, "cpu": 64}])
    return bed.ecs.start_task(cluster=cluster, taskDefinition=family, containerInstances=[arn],
                              group=f"family:{family}")["tasks"][0]["taskArn"]


def succeeded_job_item(bed: DispatcherBed, fn: Function, job_id: str, family: str) -> dict:
    """A SUCCEEDED job's item as the binary writes it: submitted, run, its task ended with exit 0."""
    kind, out = bed.submit(fn, {"jobId": job_id, "taskDefinition": family, "priority": 1})
    check(kind == "response" and bed.job(job_id)["state"] == "RUNNING", f"the template job {job_id} runs")
    kind, _ = bed.finish(fn, job_id, {family: 0}, "EssentialContainerExited", "Essential container in task exited")
    item = bed.item(job_id) or {}
    ttl = int((item.get("expires_at") or {}).get("N", 0))
    check(kind == "response" and bed.job(job_id)["state"] == "SUCCEEDED" and ttl > time.time(),
          f"{job_id} ends with exit 0: SUCCEEDED, its item expires in {(ttl - time.time()) / 86400:.1f} days "
          f"({len(json.dumps(item))} bytes of DynamoDB JSON)")
    return item


def count_items(ddb, table: str) -> int:
    n, start = 0, None
    while True:
        page = ddb.scan(TableName=table, Select="COUNT", **({"ExclusiveStartKey": start} if start else {}))
        n += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return n


def dispatcher_volume_acceptance(moto: Moto) -> None:
    """Issue 21's acceptance on the release task-dispatcher: production volume (terminal history,
    bursts of events, hundreds of RUNNING jobs) and the SQS intake, fed through the event source
    mapping template.yaml declares (EventSourceMapping: real moto queues, pollers with their own
    function processes). Each scenario has its own cluster, dispatcher (CLUSTERS=<cluster>) and
    queue pair; DynamoDB reads are the test bed's accounting, AWS calls its per-operation counts."""
    print("\ntask-dispatcher at volume (issue 21; release binary, SQS event source mapping, moto)")
    moto.command({"op": "reset"})
    moto.command({"op": "pin_ecs_tasks"})
    bed = DispatcherBed(moto)
    create_jobs_table(bed.ddb, DispatcherBed.TABLE)
    bed.task_definition("vol-work", 256)
    settings = dispatcher_queue_settings()
    print(f"  --  event source mapping: BatchSize {settings['batch_size']}, window {settings['window_s']:g} s, "
          f"MaximumConcurrency {settings['concurrency']}, ReportBatchItemFailures "
          f"{settings['report_failures']}, Timeout {settings['timeout_s']:g} s, queue VisibilityTimeout "
          f"{settings['visibility_timeout']} s, maxReceiveCount {settings['max_receive_count']}")
    started = time.monotonic()
    try:
        batch_fn = vol_terminal_history(bed, settings)
        vol_event_burst(bed, settings)
        vol_running_sweep(bed, settings)
        vol_queue_intake(bed, settings)
        vol_strict_submission(bed, batch_fn)
        print(f"  --  volume scenarios: {time.monotonic() - started:.0f} s")
    finally:
        bed.stop()


def vol_terminal_history(bed: DispatcherBed, settings: dict) -> Function:
    print(" a. 20,000 SUCCEEDED jobs + 10 QUEUED in `batch`: one container-instance event through the queue")
    cluster = "batch"
    (host, _), = bed.cluster(cluster, 1)
    bed.task_definition("report", 256)
    bed.task_definition("report-huge", 16000)  # bigger than any host: never fits, reserves nothing
    fn = bed.function(cluster)
    template = succeeded_job_item(bed, fn, "vol-a-template", "report")
    t0 = time.monotonic()
    loaded = put_items(bed.moto, DispatcherBed.TABLE,
                       (clone_job_item(template, f"vol-a-done-{i:05d}") for i in range(20_000)))
    check(loaded == 20_000, f"20,000 SUCCEEDED clones of it loaded ({time.monotonic() - t0:.0f} s)")
    filler = fill_host(bed, cluster, host, 100, "vol-a-filler")  # < 256 MiB left: nothing fits
    priorities = [3, 9, 1, 7, 5, 10, 2, 8, 4, 6]
    for n, p in enumerate(priorities):
        family = "report-huge" if p == 10 else "report"
        kind, out = bed.submit(fn, {"jobId": f"vol-a-q{p:02d}", "taskDefinition": family, "priority": p})
        if kind != "response":
            raise SystemExit(f"FAILED: submit vol-a-q{p:02d}: {out}")
    queued = [bed.job(f"vol-a-q{p:02d}")["state"] for p in priorities]
    check(queued == ["QUEUED"] * 10, "10 jobs submitted while the host is full (priorities 1-10; the priority-10 "
                                     "one needs 16,000 MiB, more than any host): all QUEUED")
    # Room for exactly one 256-MiB job: the filler is replaced by one leaving 400 MiB.
    bed.ecs.stop_task(cluster=cluster, task=filler)
    fill_host(bed, cluster, host, 400, "vol-a-filler2")
    esm = EventSourceMapping(bed, cluster, settings)
    try:
        before = len(bed.moto.command({"op": "run_task_calls"})["calls"])
        bed.moto.command({"op": "dynamodb_accounting", "enable": True})
        bed.moto.command({"op": "aws_calls", "reset": True})
        esm.send([json.dumps(instance_event(cluster, host))])
        esm.drain()
        acc = bed.moto.command({"op": "dynamodb_accounting", "enable": False})
        calls = bed.moto.command({"op": "aws_calls"})["calls"]
        runs = bed.moto.command({"op": "run_task_calls"})["calls"][before:]
        wakes = esm.wakes()
    finally:
        esm.stop()
    print(f"  --  the wake-up: {acc['queries']} Queries, {acc['scanned_items']} items read "
          f"({acc['scanned_bytes']} bytes), {acc['returned_items']} returned, {acc['read_units']} read units; "
          f"AWS calls {json.dumps(calls)}")
    check(len(wakes) == 1 and acc["scanned_items"] <= 50,
          f"one wake-up of `batch` read {acc['scanned_items']} job items (≤ 50) of 20,011 in its cluster")
    started = [r["job_id"] for w in wakes for r in w.get("jobs", []) if r.get("action") == "started"]
    check(len(runs) == 1 and (runs[0].get("startedBy") or "").startswith("ecs-autopilot/vol-a-q09/")
          and bed.job("vol-a-q09")["state"] == "RUNNING" and started == ["vol-a-q09"],
          f"exactly one RunTask, for the highest-priority job that fits (vol-a-q09): "
          f"{[r.get('startedBy') for r in runs]}; the wake-up started {started}")
    return fn


def vol_event_burst(bed: DispatcherBed, settings: dict) -> None:
    print(" b. 200 container-instance events of one cluster within 10 s")
    cluster = "vol-burst"
    hosts = bed.cluster(cluster, 2)
    fn = bed.function(cluster)
    for i in range(3):
        bed.submit(fn, {"jobId": f"vol-b-{i}", "taskDefinition": "vol-work", "priority": 1})
    esm = EventSourceMapping(bed, cluster, settings)
    try:
        bed.moto.command({"op": "dynamodb_accounting", "enable": True})
        bed.moto.command({"op": "aws_calls", "reset": True})
        t0 = time.monotonic()
        for k in range(20):  # 10 events every 0.45 s (pacing, not synchronisation)
            esm.send([json.dumps(instance_event(cluster, hosts[(k * 10 + j) % 2][0])) for j in range(10)])
            if k < 19:
                time.sleep(max(0.0, t0 + 0.45 * (k + 1) - time.monotonic()))
        sent_in = time.monotonic() - t0
        esm.drain()
        acc = bed.moto.command({"op": "dynamodb_accounting", "enable": False})
        calls = bed.moto.command({"op": "aws_calls"})["calls"]
        wakes = [w for w in esm.wakes() if w.get("cluster") == cluster]
        batches = [len(inv["message_ids"]) for inv in esm.invocations]
    finally:
        esm.stop()
    listed = calls.get("ecs:ListContainerInstances", 0)
    print(f"  --  200 events sent in {sent_in:.1f} s; {len(batches)} batches of {batches} messages; "
          f"{len(wakes)} wake-ups reported; jobs-table Queries {acc['queries']} ({acc['scanned_items']} items, "
          f"{acc['read_units']} read units); ECS calls "
          f"{json.dumps({k: v for k, v in calls.items() if k.startswith('ecs:')})}")
    check(sent_in <= 10 and len(wakes) <= 5 and acc["queries"] == len(wakes) and listed == len(wakes),
          f"200 events in {sent_in:.1f} s: {len(wakes)} wake-ups (≤ 5) read the jobs and hosts "
          f"(jobs-table Queries {acc['queries']}, ListContainerInstances {listed})")


def vol_running_sweep(bed: DispatcherBed, settings: dict) -> None:
    print(" c. 300 RUNNING jobs: one sweep")
    cluster = "vol-sweep"
    bed.cluster(cluster, 12)
    fn = bed.function(cluster)
    esm = EventSourceMapping(bed, cluster, settings)
    try:
        esm.send([json.dumps({"action": "submit", "job": {"jobId": f"vol-c-{i:03d}", "cluster": cluster,
                                                          "taskDefinition": "vol-work", "priority": 1}})
                  for i in range(300)])
        esm.drain()
        sweeps, depth = 0, None
        while depth != 0 and sweeps < 30:  # a wake-up starts at most 20
            kind, out = bed.sweep(fn)
            sweeps += 1
            depth = sum(w.get("queue_depth", 0) for w in out.get("wakes", [])) if kind == "response" else None
        jobs = bed.cluster_jobs(cluster)
        running = sum(1 for j in jobs if j["state"] == "RUNNING")
        check(len(jobs) == 300 and running == 300,
              f"300 submissions through the queue ({len(esm.invocations)} batches), then {sweeps} sweeps: "
              f"{running} of {len(jobs)} jobs RUNNING")
        bed.moto.command({"op": "aws_calls", "reset": True})
        esm.send([json.dumps(bed.envelope("Scheduled Event", "aws.events", [], {}))])
        esm.drain()
        calls = bed.moto.command({"op": "aws_calls"})["calls"]
        answer = esm.invocations[-1]
    finally:
        esm.stop()
    ecs = {k.split(":", 1)[1]: v for k, v in calls.items() if k.startswith("ecs:")}
    reconcile = ecs.get("DescribeTasks", 0) + ecs.get("ListTasks", 0)
    print(f"  --  the sweep's ECS calls by operation: {json.dumps(ecs)}; all calls {json.dumps(calls)}")
    check(answer["kind"] == "response" and reconcile <= 5 and ecs.get("DescribeTasks", 0) == 3
          and ecs.get("ListTasks", 0) == 0,
          f"one sweep (a Scheduled Event through the queue) reconciles 300 RUNNING jobs with {reconcile} ECS calls "
          f"(DescribeTasks {ecs.get('DescribeTasks', 0)}, 100 ARNs each; ListTasks {ecs.get('ListTasks', 0)})")


def vol_queue_intake(bed: DispatcherBed, settings: dict) -> None:
    print(" d. 25 SQS messages: 3 invalid, 2 duplicates, one redelivered")
    cluster = "vol-intake"
    bed.cluster(cluster, 2)
    esm = EventSourceMapping(bed, cluster, settings, start=False)

    def submit(**job) -> str:
        return json.dumps({"action": "submit", "job": {"cluster": cluster, "taskDefinition": "vol-work", **job}})

    valid = [submit(jobId=f"vol-d-{i:02d}", priority=1) for i in range(15)]
    valid += [submit(priority=2 + i) for i in range(5)]  # no jobId: named from the message id
    duplicates = [submit(jobId="vol-d-03", priority=1), submit(jobId="vol-d-07", priority=1)]
    invalid = ["{not json", submit(prority=5),
               json.dumps({"action": "submit", "job": {"cluster": cluster, "priority": 1}})]
    try:
        ids = esm.send(valid + duplicates + invalid)
        invalid_ids = ids[-3:]
        redelivered = ids[17]  # a submission without jobId: only its message id names its job
        esm.redeliver_once(redelivered)
        esm.start()
        esm.drain()
        letters = esm.dead_letters()
        visible, in_flight, delayed = esm.queue_counts()
    finally:
        esm.stop()
    jobs = bed.cluster_jobs(cluster)
    runs = {j["jobId"]: len(bed.runs(j["jobId"])) for j in jobs}
    cluster_runs = [c for c in bed.moto.command({"op": "run_task_calls"})["calls"]
                    if (c.get("cluster") or "").split("/")[-1] == cluster]
    deliveries: dict[str, int] = {}
    for inv in esm.invocations:
        for m in inv["message_ids"]:
            deliveries[m] = deliveries.get(m, 0) + 1
    failures = {f for inv in esm.invocations for f in inv["failed"]}
    reported = {i["message_id"]: i["reason"] for inv in esm.invocations if isinstance(inv["payload"], dict)
                for i in inv["payload"].get("invalid") or []}
    print(f"  --  {len(esm.invocations)} batches of {[len(i['message_ids']) for i in esm.invocations]} messages; "
          f"batchItemFailures {sorted(failures)}; invalid reported {json.dumps(reported)[:400]}")
    check(len(jobs) == 20 and all(n == 1 for n in runs.values()) and len(cluster_runs) == 20
          and all(j["state"] == "RUNNING" for j in jobs),
          f"{len(jobs)} jobs, each started once ({len(cluster_runs)} RunTask for the cluster; "
          f"runs per job {sorted(set(runs.values()))})")
    counts = [inv["receive_counts"].get(redelivered) for inv in esm.invocations if redelivered in inv["message_ids"]]
    check(deliveries.get(redelivered) == 2 and all(n == 1 for m, n in deliveries.items() if m != redelivered)
          and len(deliveries) == 25,
          f"one submission without jobId delivered twice (same messageId, receive counts {counts}; its delete "
          f"lost): still one job for it; every other message delivered once")
    by_id = {letter.get("messageId"): letter for letter in letters}
    reasons = [by_id.get(m, {}).get("reason") or "" for m in invalid_ids]
    check(len(letters) == 3 and set(by_id) == set(invalid_ids)
          and "JSON" in reasons[0] and "prority" in reasons[1] and "taskDefinition" in reasons[2],
          f"the 3 invalid messages are in the dead-letter queue with their reason: {reasons}")
    check(not failures & set(invalid_ids) and set(reported) == set(invalid_ids),
          "the invalid messages are answered as invalid, not in batchItemFailures (never retried)")
    check((visible, in_flight, delayed) == (0, 0, 0) and not failures,
          f"the queue is empty afterwards (visible {visible}, in flight {in_flight}, delayed {delayed}); "
          f"no batchItemFailures")


def vol_strict_submission(bed: DispatcherBed, fn: Function) -> None:
    print(" e. a submission with an unknown key, by direct invoke")
    before = count_items(bed.ddb, DispatcherBed.TABLE)
    bed.moto.command({"op": "aws_calls", "reset": True})
    kind, out = fn.invoke({"action": "submit", "job": {"cluster": "batch", "taskDefinition": "report", "prority": 5}})
    calls = bed.moto.command({"op": "aws_calls"})["calls"]
    after = count_items(bed.ddb, DispatcherBed.TABLE)
    writes = {k: v for k, v in calls.items() if k.split(":", 1)[1] in WRITES}
    check(kind == "error" and out.get("errorType") == "InvalidJob" and "job.prority" in (out.get("errorMessage") or "")
          and before == after and not writes,
          f"refused ({out.get('errorType')}: {(out.get('errorMessage') or '')[:160]}); items {before} → {after}; "
          f"calls {json.dumps(calls)}")


# Calls that change something in AWS: an invalid input must cause none of them.
WRITES = {
    "UpdateService", "StopTask", "RunTask", "StartTask", "UpdateContainerInstancesState", "PutAttributes",
    "DeleteAttributes", "UpdateTaskSet", "CompleteLifecycleAction", "RecordLifecycleActionHeartbeat",
    "SendMessage", "SendMessageBatch", "DeleteMessage", "PutItem", "UpdateItem", "DeleteItem",
    "BatchWriteItem", "TransactWriteItems", "SetDesiredCapacity", "TerminateInstanceInAutoScalingGroup",
    "SetInstanceProtection",
}
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
    kw = dict(endpoint_url=moto.endpoint, region_name=REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    ddb = boto3.client("dynamodb", **kw)
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


def iam_acceptance(moto: Moto) -> None:
    """Every call the functions made was allowed by their template policies (tests/iam_bed.py)."""
    print("\nIAM: every call against the function's template policy")
    report = moto.command({"op": "iam_report"})
    for principal, actions in sorted(report["exercised"].items()):
        print(f"  {principal}: {sum(actions.values())} calls allowed, {len(actions)} actions")
    check(report["unknown"] == [], f"no call outside tests/iam_table.py: {report['unknown'][:5]}")
    check(report["denied"] == [], f"no AccessDenied: {report['denied'][:5]}")


def log_acceptance() -> None:
    """Every line the release bootstraps wrote is one JSON object with an RFC 3339 timestamp and a
    level Lambda's log-level filtering reads; every invocation's `aws usage` line names its
    request id (the functions' logs of this run, .demo/acceptance-*.log written since it started)."""
    print("\nlogs: JSON lines with timestamp, level and request id")
    levels = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
    logs = [p for p in sorted((ROOT / ".demo").glob("acceptance-*.log")) if p.stat().st_mtime >= RUN_STARTED]
    for path in logs:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        bad, usage, with_id = [], 0, 0
        for line in lines:
            try:
                v = json.loads(line)
            except ValueError:
                bad.append(line)
                continue
            if not (isinstance(v.get("timestamp"), str) and "T" in v["timestamp"] and v.get("level") in levels):
                bad.append(line)
            if v.get("message") == "aws usage":
                usage += 1
                with_id += bool(v.get("requestId"))
        check(not bad, f"{path.name}: {len(lines)} lines, all JSON with timestamp and level {bad[:2]}")
        check(usage == with_id, f"{path.name}: {usage} aws usage lines, each with its requestId")


# Issue 25's first acceptance line through the release task-dispatcher: a contended trace
# (docs/traces/contended.json: 120 jobs in three classes, 14 host-sized, bursts, runs of 1–8
# steps, 4 hosts of 4096 CPU / 7482 MiB, run times known) replayed on moto in real time, one trace
# step = POLICY_STEP_SECONDS (default 2) real seconds, against greedy priority and FIFO over the
# same trace.
POLICY_TRACE = ROOT / "docs" / "traces" / "contended.json"
POLICY_PRIORITY = {"high": 3, "medium": 2, "low": 1}
POLICY_CLUSTER = "policy"


def policy_random_trace(seed: int) -> dict:
    """The simulator's `random_trace(seed)` (simulate.rs: SplitMix64, 120 jobs, 4 hosts of 4096 CPU
    / 7482 MiB, bursts of 1–16 jobs 1–6 steps apart, runs of 1–8 steps, 10 % host-sized), jobs
    without families (this acceptance gives each size its own task definition): seed 1 is
    docs/traces/contended.json."""
    mask = (1 << 64) - 1
    state = [seed & mask]

    def draw(lo: int, hi: int) -> int:
        state[0] = (state[0] + 0x9E3779B97F4A7C15) & mask
        z = state[0]
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return lo + (z ^ (z >> 31)) % (hi - lo + 1)

    jobs: list[dict] = []
    step = 0
    while len(jobs) < 120:
        for _ in range(draw(1, 16)):
            if len(jobs) == 120:
                break
            p = draw(0, 9)
            priority = "high" if p <= 1 else "medium" if p <= 4 else "low"
            size = draw(0, 19)
            if size <= 11:
                cpu, memory = draw(1, 4) * 256, draw(2, 8) * 256
            elif size <= 17:
                cpu, memory = draw(4, 8) * 256, draw(8, 14) * 256
            else:
                cpu, memory = draw(12, 16) * 256, draw(20, 29) * 256
            jobs.append({"id": f"j{len(jobs):03d}", "arrival": step, "priority": priority, "cpu": cpu,
                         "memory": memory, "run": draw(1, 8)})
        step += draw(1, 6)
    return {"description": f"policy_random_trace({seed})", "hosts": {"count": 4, "cpu": 4096, "memory": 7482},
            "estimates": "known", "jobs": jobs}


def policy_fits(room: list[int], job: dict) -> bool:
    return room[0] >= job["cpu"] and room[1] >= job["memory"]


def policy_first_fit(free: list[list[int]], job: dict) -> int | None:
    return next((h for h, room in enumerate(free) if policy_fits(room, job)), None)


def policy_rank(job: dict) -> tuple:
    """The dispatcher's queue order: priority (higher first), then submission, then job id."""
    return (-POLICY_PRIORITY[job["priority"]], job["arrival"], job["id"])


def policy_baseline(trace: dict, fifo: bool, order: list | None = None) -> list[tuple[int, int]]:
    """Each job's (start step, host) under greedy priority (queue order, every job on its first fit) or
    FIFO (arrival order, first fit, until the first that fits nowhere): the simulator's Greedy and
    Fifo (crates/autopilot-core/src/dispatch/simulate.rs) re-implemented over the same clock — at
    each step ended runs free their room, then arrivals join, then the scheduler starts jobs.
    `order` gets (step, job, host) in the order the scheduler started them."""
    jobs, hosts = trace["jobs"], trace["hosts"]
    free = [[hosts["cpu"], hosts["memory"]] for _ in range(hosts["count"])]
    arrivals = sorted(range(len(jobs)), key=lambda i: (jobs[i]["arrival"], i))
    running: list[tuple[int, int, int]] = []  # (end step, host, job)
    waiting: list[int] = []
    started: list[tuple[int, int] | None] = [None] * len(jobs)
    step, nxt = 0, 0
    while True:
        for end, h, i in [r for r in running if r[0] <= step]:
            free[h][0] += jobs[i]["cpu"]
            free[h][1] += jobs[i]["memory"]
        running = [r for r in running if r[0] > step]
        while nxt < len(arrivals) and jobs[arrivals[nxt]]["arrival"] <= step:
            waiting.append(arrivals[nxt])
            nxt += 1
        if not waiting and nxt == len(arrivals):
            return [s for s in started if s is not None]
        for i in (waiting if fifo else sorted(waiting, key=lambda i: policy_rank(jobs[i]))):
            h = policy_first_fit(free, jobs[i])
            if h is None:
                if fifo:
                    break
                continue
            free[h][0] -= jobs[i]["cpu"]
            free[h][1] -= jobs[i]["memory"]
            running.append((step + jobs[i]["run"], h, i))
            started[i] = (step, h)
            if order is not None:
                order.append((step, i, h))
        waiting = [i for i in waiting if started[i] is None]
        step += 1


def policy_figures(trace: dict, starts: list[int]) -> dict:
    """Mean wait per class (high, medium, low), longest wait, longest wait of a large job (more
    than half a host's CPU or memory), makespan: the simulator's figures, in steps."""
    jobs, hosts = trace["jobs"], trace["hosts"]
    waits = [s - j["arrival"] for s, j in zip(starts, jobs)]
    mean = {}
    for c in POLICY_PRIORITY:
        w = [x for x, j in zip(waits, jobs) if j["priority"] == c]
        mean[c] = sum(w) / len(w) if w else None
    large = [x for x, j in zip(waits, jobs) if j["cpu"] * 2 > hosts["cpu"] or j["memory"] * 2 > hosts["memory"]]
    return {"mean": mean, "longest": max(waits), "longest_large": max(large) if large else None,
            "makespan": max(s + j["run"] for s, j in zip(starts, jobs))}


def policy_inversions(trace: dict, step_starts: dict, declared) -> tuple[int, int, list[str]]:
    """(inversions, undeclared, what each one was), counted as the simulator counts them, from
    this run's own bookkeeping of what runs where: a start (in RunTask order within the wake-up)
    while a job of a higher class that first-fits some host at that moment (given the starts
    before it in the wake-up) is left waiting; undeclared when `declared(step, job)` names no
    holder for some such job. Also refuses a start into room that is not there by this
    bookkeeping."""
    jobs, hosts = trace["jobs"], trace["hosts"]
    free = [[hosts["cpu"], hosts["memory"]] for _ in range(hosts["count"])]
    running: list[tuple[int, int, int]] = []
    started: set[int] = set()
    inversions, undeclared, notes = 0, 0, []
    for step in range(max(step_starts, default=0) + 1):
        for end, h, i in [r for r in running if r[0] <= step]:
            free[h][0] += jobs[i]["cpu"]
            free[h][1] += jobs[i]["memory"]
        running = [r for r in running if r[0] > step]
        now = {i for i, _ in step_starts.get(step, [])}
        left = [i for i, j in enumerate(jobs) if j["arrival"] <= step and i not in started and i not in now]
        for i, h in step_starts.get(step, []):
            j = jobs[i]
            if not policy_fits(free[h], j):
                raise SystemExit(f"FAILED: step {step}: {j['id']} started on host {h} without room: {free[h]}")
            higher = [w for w in left if POLICY_PRIORITY[jobs[w]["priority"]] > POLICY_PRIORITY[j["priority"]]
                      and policy_first_fit(free, jobs[w]) is not None]
            if higher:
                inversions += 1
                held = {jobs[w]["id"]: declared(step, w) for w in higher}
                bare = [w for w, holder in held.items() if holder is None]
                undeclared += bool(bare)
                what = ", ".join(w if holder is None else f"{w} (held for {holder})" for w, holder in held.items())
                notes.append(f"{'undeclared' if bare else 'declared'}: step {step}: {j['id']} ({j['priority']}) "
                             f"started while {what} fit")
            free[h][0] -= j["cpu"]
            free[h][1] -= j["memory"]
            running.append((step + j["run"], h, i))
        started |= now
    return inversions, undeclared, notes


def policy_waits(f: dict) -> str:
    return " · ".join("–" if f["mean"][c] is None else f"{f['mean'][c]:.2f}" for c in POLICY_PRIORITY)


def dispatch_policy_acceptance(moto: Moto) -> None:
    """Issue 25's first acceptance line on the release task-dispatcher: a contended trace
    (POLICY_TRACE, default docs/traces/contended.json) replayed on moto, one step =
    POLICY_STEP_SECONDS real seconds (default 2; the binary reads the real clock), each job
    submitting `expectedSeconds` = its run × the step (run times known; a job's `expected`, when
    the trace gives one, instead).

    Each step, in the simulator's order: the tasks whose run ended are stopped in moto
    (finish_task, exit 0: the room is free before the function hears of it); then ONE SQS batch —
    their STOPPED events (as ECS sends them), the step's submissions (`{"action": "submit"}`,
    priority 3/2/1), or a `wake` message when there are neither — is handed to the function
    synchronously, at the step's boundary (the function's clock is whole seconds: the boundary
    is a whole second and the batch arrives within it, so `now` = start step × the step). One
    batch per step is production's path (template.yaml: everything reaches the dispatcher
    through its queue, one wake-up per cluster per batch) and the simulator's clock: direct
    submits would wake the cluster once per job, before the rest of the step's burst is queued.

    Each job's start step is the step whose batch made its RunTask call (the bed's
    run_task_calls, host from the call's memberOf pin), checked against the job item's STARTING
    transition time. Inversions are counted as the simulator counts them (policy_inversions);
    a waiting job is declared held when its latest decision line up to that wake-up
    (.demo/acceptance-task-dispatcher-policy.log: lines are logged when a job's action or reason
    changes) is `waiting` with a `blocked_by` ranked above it or that arrived before it. Greedy
    priority and FIFO are policy_baseline over the same trace. Pacing waits for each step's
    wall-clock boundary; every invocation is synchronous and answered before the next."""
    path = Path(os.environ.get("POLICY_TRACE", str(POLICY_TRACE)))
    step_s = int(os.environ.get("POLICY_STEP_SECONDS", "2"))
    if os.environ.get("POLICY_SEED"):  # the simulator's random trace of that seed instead
        trace = policy_random_trace(int(os.environ["POLICY_SEED"]))
        path = Path(f"random trace of seed {os.environ['POLICY_SEED']}")
    else:
        trace = json.loads(path.read_text())
    jobs, hosts = trace["jobs"], trace["hosts"]
    n = len(jobs)
    print(f"\ntask-dispatcher policy (issue 25; release binary, Lambda Runtime API, moto): {path.name}, "
          f"{n} jobs, {hosts['count']} hosts × {hosts['cpu']} CPU / {hosts['memory']} MiB, 1 step = {step_s} s")
    if trace.get("estimates", "known") != "known" or trace.get("runTimesKnown") is False:
        raise SystemExit("FAILED: the policy acceptance replays run times known to the jobs (estimates: known)")
    began = time.monotonic()
    moto.command({"op": "reset"})
    moto.command({"op": "pin_ecs_tasks"})
    bed = DispatcherBed(moto)
    create_jobs_table(bed.ddb, DispatcherBed.TABLE)
    cluster = POLICY_CLUSTER
    registered = bed.cluster(cluster, hosts["count"])
    host_of = {ec2: h for h, (_, ec2) in enumerate(registered)}
    # moto registers every host at 4096 CPU / 7482 MiB; another size is set on its model.
    for arn, _ in registered:
        ci = bed.ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"][0]
        size = {r["name"]: r.get("integerValue") for r in ci["registeredResources"]}
        if (size.get("CPU"), size.get("MEMORY")) != (hosts["cpu"], hosts["memory"]):
            def sized(resources: list) -> list:
                want = {"CPU": hosts["cpu"], "MEMORY": hosts["memory"]}
                return [{**r, "integerValue": want.get(r["name"], r.get("integerValue"))} for r in resources]
            set_model(moto, "container_instance", cluster, arn, {
                "registered_resources": sized(ci["registeredResources"]),
                "remaining_resources": sized(ci["remainingResources"])})
    # One task definition per size: one container with the job's CPU and memory (what moto and
    # ECS reserve on the host for a task without task-level size).
    family_of = {}
    for j in jobs:
        family = f"policy-{j['cpu']}-{j['memory']}"
        if family not in family_of.values():
            bed.ecs.register_task_definition(family=family, containerDefinitions=[
                {"name": family, "image": "busybox", "cpu": j["cpu"], "memory": j["memory"]}])
        family_of[j["id"]] = family
    index = {j["id"]: i for i, j in enumerate(jobs)}
    arriving: dict[int, list[int]] = {}
    for i, j in enumerate(jobs):
        arriving.setdefault(j["arrival"], []).append(i)
    greedy = [s for s, _ in policy_baseline(trace, fifo=False)]
    give_up = max(j["arrival"] for j in jobs) + 2 * sum(j["run"] for j in jobs) + n

    fn = bed.function(cluster)
    log_path = ROOT / ".demo" / f"acceptance-task-dispatcher-{cluster}.log"
    try:
        start_step: list[int | None] = [None] * n
        step_starts: dict[int, list[tuple[int, int]]] = {}
        running: dict[int, int] = {}  # job -> end step
        request_step: dict[str, int] = {}
        # The bed's RunTask record outlives `reset`: earlier scenarios' calls are not this replay's.
        late, durations, bad_calls = [], [], []
        calls_seen = len(moto.command({"op": "run_task_calls"})["calls"])
        t0 = int(time.time()) + 2
        step = 0
        while any(s is None for s in start_step):
            if step > give_up:
                raise SystemExit(f"FAILED: step {step}: {sum(s is None for s in start_step)} jobs never started")
            bodies = []
            for i in sorted(i for i, end in running.items() if end <= step):
                task = bed.job(jobs[i]["id"])["taskArn"]
                moto.command({"op": "finish_task", "cluster": cluster, "task": task,
                              "containers": {family_of[jobs[i]["id"]]: 0},
                              "stop_code": "EssentialContainerExited", "reason": "Essential container in task exited"})
                bodies.append(json.dumps(bed.stopped_event(cluster, task)))
                del running[i]
            for i in arriving.get(step, []):
                j = jobs[i]
                bodies.append(json.dumps({"action": "submit", "job": {
                    "jobId": j["id"], "cluster": cluster, "taskDefinition": family_of[j["id"]],
                    "priority": POLICY_PRIORITY[j["priority"]],
                    # The trace's `expected` (a wrong estimate) where it gives one, else the run.
                    "expectedSeconds": j.get("expected", j["run"]) * step_s}}))
            if not bodies:
                bodies.append(json.dumps({"action": "wake", "cluster": cluster}))
            boundary = t0 + step * step_s
            while time.time() < boundary + 0.01:  # pacing: the step's wall-clock boundary
                time.sleep(boundary + 0.01 - time.time())
            if time.time() >= boundary + 0.8:  # the function's `now` may already be a second late
                late.append(step)
            rid = f"policy-step-{step:03d}-{uuid.uuid4()}"
            request_step[rid] = step
            kind, out = fn.invoke(sqs_batch(bodies), request_id=rid)
            durations.append(fn.api.last_duration or 0.0)
            if kind != "response" or out.get("batchItemFailures") or out.get("invalid") or out.get("error"):
                raise SystemExit(f"FAILED: step {step}: the batch was not handled: {kind} {json.dumps(out)[:800]}")
            calls = moto.command({"op": "run_task_calls"})["calls"]
            for c in calls[calls_seen:]:
                parts = (c.get("startedBy") or "").split("/")
                i = index.get(parts[1]) if len(parts) == 3 else None
                pins = [p.get("expression", "") for p in c.get("placementConstraints") or []]
                pinned = [e.split("==")[-1].strip() for e in pins if "ec2InstanceId" in e]
                if i is None or c.get("outcome") != "started" or len(pinned) != 1 or pinned[0] not in host_of:
                    bad_calls.append((step, c))
                    continue
                if start_step[i] is None:
                    start_step[i] = step
                    step_starts.setdefault(step, []).append((i, host_of[pinned[0]]))
                    running[i] = step + jobs[i]["run"]
            calls_seen = len(calls)
            step += 1
        # Every job started: the rest of the runs end at once (no decision is left to make).
        bodies = []
        for i in sorted(running):
            task = bed.job(jobs[i]["id"])["taskArn"]
            moto.command({"op": "finish_task", "cluster": cluster, "task": task,
                          "containers": {family_of[jobs[i]["id"]]: 0},
                          "stop_code": "EssentialContainerExited", "reason": "Essential container in task exited"})
            bodies.append(json.dumps(bed.stopped_event(cluster, task)))
        if bodies:
            kind, out = fn.invoke(sqs_batch(bodies))
            check(kind == "response" and not out.get("batchItemFailures"),
                  f"the last {len(bodies)} runs' STOPPED events handled")
        replay_s = time.monotonic() - began

        # Decision lines, by the wake-up (step) whose request logged them.
        lines_of: dict[int, list[tuple[int, dict]]] = {}
        for line in log_path.read_text().splitlines():
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if v.get("message") == "task-dispatcher decision" and v.get("requestId") in request_step:
                i = index.get(v.get("job_id"))
                if i is not None:
                    lines_of.setdefault(i, []).append((request_step[v["requestId"]], v))

        def declared(at: int, w: int) -> str | None:
            """The holder w's current decision line (its latest up to wake-up `at`) declares
            holding it back, when that holder ranks above w or arrived before it."""
            current = [v for s, v in lines_of.get(w, []) if s <= at]
            if not current or current[-1].get("action") != "waiting":
                return None
            holder = index.get(current[-1].get("blocked_by") or "")
            if holder is not None and (policy_rank(jobs[holder]) < policy_rank(jobs[w])
                                       or jobs[holder]["arrival"] < jobs[w]["arrival"]):
                return jobs[holder]["id"]
            return None

        starts = [s for s in start_step if s is not None]
        inversions, undeclared, notes = policy_inversions(trace, step_starts, declared)
        mine, g = policy_figures(trace, starts), policy_figures(trace, greedy)
        fifo = policy_figures(trace, [s for s, _ in policy_baseline(trace, fifo=True)])
        # The baselines declare nothing: every inversion of theirs is undeclared.
        baseline_inv = []
        for is_fifo in (False, True):
            order: list[tuple[int, int, int]] = []
            policy_baseline(trace, fifo=is_fifo, order=order)
            by_step: dict[int, list[tuple[int, int]]] = {}
            for s, i, h in order:
                by_step.setdefault(s, []).append((i, h))
            baseline_inv.append(policy_inversions(trace, by_step, lambda s, w: None)[0])
        print("  | scheduler | inversions (undeclared) | mean wait, steps (high · medium · low) "
              "| longest wait of a large job | longest wait | makespan |")
        print(f"  | task-dispatcher (release binary on moto) | {inversions} ({undeclared}) | {policy_waits(mine)} "
              f"| {mine['longest_large']} | {mine['longest']} | {mine['makespan']} |")
        for name, f, inv in (("greedy priority (policy_baseline)", g, baseline_inv[0]),
                             ("FIFO (policy_baseline)", fifo, baseline_inv[1])):
            print(f"  | {name} | {inv} ({inv}) | {policy_waits(f)} | {f['longest_large']} | {f['longest']} "
                  f"| {f['makespan']} |")
        holds = sum(1 for ls in lines_of.values() for _, v in ls if v.get("reserves"))
        blocked = sum(1 for ls in lines_of.values() for _, v in ls if v.get("blocked_by"))
        print(f"  --  {step} wake-ups (one SQS batch per step), invocation {max(durations):.2f} s at most "
              f"(mean {sum(durations) / len(durations):.2f} s); decision lines: {holds} declaring a hold, "
              f"{blocked} naming blocked_by; replay {replay_s:.0f} s")
        for note in notes[:20]:
            print(f"  --  inversion, {note}")

        # Exactly once: one RunTask per job (started), one task per job in ECS, every job SUCCEEDED
        # after its one launch.
        calls = [c for c in moto.command({"op": "run_task_calls"})["calls"] if c.get("cluster") == cluster]
        per_job: dict[str, int] = {}
        for c in calls:
            parts = (c.get("startedBy") or "").split("/")
            if len(parts) == 3:
                per_job[parts[1]] = per_job.get(parts[1], 0) + 1
        tasks: dict[str, int] = {}
        for t in bed.tasks_started_by(cluster, "ecs-autopilot/"):
            jid = t["startedBy"].split("/")[1]
            tasks[jid] = tasks.get(jid, 0) + 1
        final = {j["id"]: bed.job(j["id"]) for j in jobs}
        at_boundary = [j["id"] for i, j in enumerate(jobs)
                       if next((t["at"] for t in final[j["id"]]["history"] if t["to"] == "STARTING"), None)
                       != t0 + start_step[i] * step_s]
        counts = sorted(set(per_job.values()))
        print(f"  --  RunTask calls per job: {counts} ({len(calls)} calls, {len(per_job)} jobs); "
              f"ECS tasks per job: {sorted(set(tasks.values()))}")
        check(not bad_calls, f"every RunTask call names a trace job, started, pinned to a host {bad_calls[:2]}")
        check(not late, f"every step's batch reached the function within its second (late steps: {late[:10]})")
        check(not at_boundary, "each job's STARTING time is its start step's boundary (the clock scaled exactly) "
              f"{at_boundary[:5]}")
        check(len(per_job) == n and counts == [1] and len(tasks) == n and set(tasks.values()) == {1}
              and all(final[j["id"]]["state"] == "SUCCEEDED" and final[j["id"]]["launches"] == 1 for j in jobs),
              f"every job started exactly once: {n} jobs, one RunTask and one task each, each SUCCEEDED after launch 1")
        check(undeclared == 0, f"no undeclared priority inversion ({inversions} inversions, {undeclared} undeclared)")
        check(mine["mean"]["high"] <= g["mean"]["high"] + 0.5,
              f"high-priority mean wait {mine['mean']['high']:.2f} steps within half a step of greedy "
              f"priority's {g['mean']['high']:.2f}")
        check(mine["longest"] <= 1.5 * fifo["longest"],
              f"longest wait {mine['longest']} steps at most 1.5 × FIFO's {fifo['longest']} "
              f"(= {1.5 * fifo['longest']:g})")
        print(f"  --  policy acceptance took {time.monotonic() - began:.0f} s")
    finally:
        bed.stop()


def main() -> None:
    moto = Moto()
    try:
        print(f"moto server: {moto.endpoint}")
        if sys.argv[1:] == ["task-dispatcher"]:  # only this function's scenarios
            dispatcher_acceptance(moto)
            dispatcher_v2_acceptance(moto)
            dispatcher_volume_acceptance(moto)
            dispatch_policy_acceptance(moto)
            iam_acceptance(moto)
            print("\nall acceptance checks passed")
            return
        if sys.argv[1:] == ["task-dispatcher-volume"]:  # issue 21's volume and queue scenarios only
            dispatcher_volume_acceptance(moto)
            iam_acceptance(moto)
            print("\nall acceptance checks passed")
            return
        if sys.argv[1:] == ["task-dispatcher-policy"]:  # issue 25's policy on a contended trace only
            dispatch_policy_acceptance(moto)
            iam_acceptance(moto)
            log_acceptance()
            print("\nall acceptance checks passed")
            return
        if sys.argv[1:] == ["test-bed"]:  # the test bed's own rules, no binary needed
            bed_self_check(moto)
            print("\nall acceptance checks passed")
            return
        if sys.argv[1:] == ["mutations"]:
            mutation_acceptance(moto)
            iam_acceptance(moto)
            print("\nall acceptance checks passed")
            return
        drainer_acceptance(moto)
        daemon_acceptance(moto)
        sweep_at_scale(moto)
        dispatcher_acceptance(moto)
        scale_from_zero_acceptance(moto)
        dispatcher_v2_acceptance(moto)
        dispatcher_volume_acceptance(moto)
        dispatch_policy_acceptance(moto)  # about 2 minutes: the trace replayed in real time
        mutation_acceptance(moto)
        iam_acceptance(moto)
        log_acceptance()
        print("\nall acceptance checks passed")
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
