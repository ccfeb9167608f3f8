"""Local AWS for ecs-autopilot's tests and demo: moto server on 127.0.0.1, on a free port.

Started by the Rust test helper (tests/support/lib.rs) and by scripts/demo. Protocol:
- On start it prints one JSON line: {"endpoint": "http://127.0.0.1:PORT", "proxy": "http://127.0.0.1:PORT2"}
  (the proxy: the fault-injecting proxy below, in front of moto).
- Then it reads JSON commands, one per line, from stdin and answers each with one JSON line:
    {"op": "run_instances", "instance_type": "t3.large", "availability_zone": "us-east-1a", "count": 2}
        -> {"instance_ids": ["i-...", ...]}   (ECS RegisterContainerInstance needs a real EC2 id in moto)
    {"op": "reset"} -> {"ok": true}            (clears every backend)
    {"op": "lifecycle_calls"} -> {"calls": [{"operation", "group", "hook", "token", "instance_id",
        "result", "accepted"}, ...]}           (CompleteLifecycleAction / RecordLifecycleActionHeartbeat,
                                                which moto lacks: added by install_lifecycle_handlers)
    {"op": "pin_ecs_tasks"} -> {"ok": true}    (tasks stay RUNNING until stopped: moto's state manager)
    {"op": "take_messages", "queue": "NAME"} -> {"messages": [{"id", "body", "delay_seconds"}]}
    {"op": "fail_describe", "container_instance_id": "ID", "reason": "INTERNAL_ERROR"} -> {"ok": true}
        (DescribeContainerInstances reports that host as a failure entry with that reason, as ECS
        does when it lists a host it cannot describe; moto has no way to produce one. A reason of
        null clears it.)
    {"op": "set_model", "kind": "container_instance" | "task_definition" | "service",
     "cluster": "NAME", "id": "SHORT ID | family:revision | service name", "fields": {...}}
        -> {"ok": true}   (sets attributes of moto's model object that its API cannot set: a host's
        capacity_provider_name, agent_connected, remaining_resources; a task definition's
        requires_attributes; a service's capacity_provider_strategy, launch_type,
        placement_constraints, placement_strategy, task_sets. Describe then returns them.)
        (removes every message from the queue, delayed ones included, as a consumer would receive them
        once their delay has passed: tests assert the delay without waiting it out)
    {"op": "set_task_status", "task_arn": ARN, "desired_status": "STOPPED", "last_status": "RUNNING"}
        -> {"ok": true}                        (changes moto's task model: moto's StopTask sets both
                                                statuses to STOPPED at once, where ECS has a stopping
                                                phase — desired STOPPED, last status not yet STOPPED)
    {"op": "add_instance_attributes", "cluster": NAME, "attributes": {"name": "value" or null}}
        -> {"hosts": N}                        (adds the attributes to every container instance of the
                                                cluster in moto's model: moto's RegisterContainerInstance
                                                ignores the capability attributes real agents register,
                                                and PutAttributes is one call per ten attributes and host)
    {"op": "dynamodb_accounting", "enable": true|false} -> the counters below, then resets them and
        switches accounting on or off; without "enable": the counters so far
        {"queries", "scanned_items", "scanned_bytes", "returned_items", "read_units", "update_items"}
        (moto's ConsumedCapacity is a constant: read units are computed here the way DynamoDB bills a
        Query — the items the key condition read on the page, before any filter, summed and rounded
        up to 4 KB, half for an eventually consistent read — from moto's own item sizes. Accounting
        re-runs each Query without its filter, so it doubles moto's work: time a run with it off)
    {"op": "lose_run_task_responses", "count": N} -> {"ok": true}
        (task-dispatcher: the next N RunTask calls act — moto starts the task — and then answer
        HTTP 500, as if the response was lost on the way back; install_run_task_wrapper)
    {"op": "run_task_calls"} -> {"calls": [{"cluster", "taskDefinition", "startedBy", "clientToken",
        "lost"}, ...]}   (every RunTask moto received, in order)
    {"op": "finish_task", "cluster": "NAME", "task": "ARN", "exit_code": N, "reason": "..."}
        -> {"ok": true}   (sets moto's task model STOPPED with every container's exitCode and the
        stoppedReason: moto's API cannot set exit codes; call StopTask first to free the room)
    {"op": "aws_calls", "reset": true|false} -> {"calls": {"ecs:RunTask": N, ...}}
        (every request moto received from an AWS SDK for Rust client — the functions under test,
        not this test bed's boto3 — per service and operation, since the last reset)
    {"op": "create_scale_group", "name": "ASG", "max": 3, "desired": 0}
        -> {"arn": "..."}   (a launch template and an Auto Scaling group in us-east-1a, MinSize 0:
        SetDesiredCapacity then launches EC2 instances in moto)
    {"op": "register_group_hosts", "group": "ASG", "cluster": "NAME"}
        -> {"hosts": [{"instance_id", "arn"}]}   (RegisterContainerInstance for each InService
        instance of the group not registered yet, with its instance identity document: moto runs
        no ECS agent, so the test bed does what the agent's registration would)
    {"op": "deregister_gone_hosts", "cluster": "NAME"} -> {"deregistered": [instance ids]}
        (DeregisterContainerInstance for container instances whose EC2 instance is no longer
        running — what ECS does when an instance terminates; moto does not)
    {"op": "proxy_calls"} -> {"calls": {"UpdateService": N, ...}}   (requests the proxy received,
        per operation, since moto started)
    {"op": "iam_report"} -> {"denied": [...], "unknown": [...], "exercised": {principal: {action: N}}}
    {"op": "iam_policy", "principal": "NAME", "statements": [...]} -> {"ok": true}
    {"op": "iam_granted"} -> {"granted": {function: [actions]}}
        (IAM enforcement of the functions' requests against their template policies: tests/iam_bed.py)
  Errors answer {"error": "..."}.
- moto's Query is narrowed to its key range before moto's own code runs (install_query_key_range):
  stock moto sorts the whole table on every request; the answers are unchanged.
- When stdin closes (the test process ended, even by a crash) the server stops and the process exits,
  so no moto outlives its test.
"""

import json
import logging
import sys

import boto3
from moto.server import ThreadedMotoServer

import iam_bed

REGION = "us-east-1"


def main() -> None:
    # Request logs would bury test output; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    install_lifecycle_handlers()
    install_describe_failures()
    install_run_task_wrapper()
    install_query_key_range()
    install_dynamodb_accounting()
    install_call_counter()
    iam_bed.install_iam_enforcement()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    ec2 = boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    proxy = start_fault_proxy(endpoint)
    print(json.dumps({"endpoint": endpoint, "proxy": proxy}), flush=True)
    try:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                print(json.dumps(handle(json.loads(line), ec2, endpoint)), flush=True)
            except Exception as e:  # answer, never die: the test reads one line per command
                print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
    finally:
        server.stop()


def handle(cmd: dict, ec2, endpoint: str) -> dict:
    op = cmd.get("op")
    if op in ("iam_report", "iam_policy", "iam_granted"):
        return iam_bed.command(cmd)
    if op == "run_instances":
        resp = ec2.run_instances(
            ImageId="ami-12c6146b",  # one of moto's built-in AMIs
            MinCount=int(cmd.get("count", 1)),
            MaxCount=int(cmd.get("count", 1)),
            InstanceType=cmd.get("instance_type", "t3.large"),
            Placement={"AvailabilityZone": cmd.get("availability_zone", "us-east-1a")},
        )
        return {"instance_ids": [i["InstanceId"] for i in resp["Instances"]]}
    if op == "reset":
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        return {"ok": True}
    if op == "lifecycle_calls":
        return {"calls": list(LIFECYCLE_CALLS)}
    if op == "pin_ecs_tasks":
        import urllib.request

        body = json.dumps(
            {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}
        ).encode()
        urllib.request.urlopen(
            urllib.request.Request(
                f"{endpoint}/moto-api/state-manager/set-transition", data=body, method="POST"
            )
        )
        return {"ok": True}
    if op == "take_messages":
        return {"messages": take_messages(cmd["queue"])}
    if op == "faults":
        FAULTS.clear()
        FAULTS.update({k: v for k, v in cmd.items() if k != "op"})
        FAULT_STATS.clear()
        return {"ok": True}
    if op == "proxy_calls":
        return {"calls": dict(PROXY_CALLS)}
    if op == "fault_stats":
        return {"stats": dict(FAULT_STATS)}
    if op == "set_model":
        set_model(cmd["kind"], cmd.get("cluster", ""), cmd["id"], cmd["fields"])
        return {"ok": True}
    if op == "fail_describe":
        if cmd.get("reason"):
            DESCRIBE_FAILURES[cmd["container_instance_id"]] = cmd["reason"]
        else:
            DESCRIBE_FAILURES.pop(cmd["container_instance_id"], None)
        return {"ok": True}
    if op == "set_task_status":
        set_task_status(cmd["task_arn"], cmd.get("desired_status"), cmd.get("last_status"))
        return {"ok": True}
    if op == "add_instance_attributes":
        return {"hosts": add_instance_attributes(cmd["cluster"], cmd["attributes"])}
    if op == "dynamodb_accounting":
        return dynamodb_accounting(cmd.get("enable"))
    if op == "lose_run_task_responses":
        RUN_TASK_LOSSES[0] = int(cmd["count"])
        return {"ok": True}
    if op == "run_task_calls":
        return {"calls": list(RUN_TASK_CALLS)}
    if op == "aws_calls":
        calls = dict(sorted(AWS_CALLS.items()))
        if cmd.get("reset"):
            AWS_CALLS.clear()
        return {"calls": calls}
    if op == "create_scale_group":
        return create_scale_group(endpoint, cmd["name"], int(cmd.get("max", 3)), int(cmd.get("desired", 0)))
    if op == "register_group_hosts":
        return {"hosts": register_group_hosts(endpoint, cmd["group"], cmd["cluster"])}
    if op == "deregister_gone_hosts":
        return {"deregistered": deregister_gone_hosts(endpoint, cmd["cluster"])}
    if op == "finish_task":
        finish_task(cmd["cluster"], cmd["task"], int(cmd["exit_code"]), cmd.get("reason", ""))
        return {"ok": True}
    raise ValueError(f"unknown op {op!r}")


# --- instance-drainer: Auto Scaling lifecycle actions and SQS inspection -------------------------

# Every CompleteLifecycleAction / RecordLifecycleActionHeartbeat call, in order.
LIFECYCLE_CALLS: list = []
# Tokens (or group/hook/instance keys) of completed actions.
_COMPLETED: set = set()


def install_lifecycle_handlers() -> None:
    """Adds the two lifecycle calls moto 5.2.5 lacks (HTTP 500) to its Auto Scaling responses.

    Like AWS: an action is active until completed; completing it, or sending a heartbeat, once it is
    completed fails with `ValidationError: No active Lifecycle Action found with instance ID ...`.
    moto never puts instances in Terminating:Wait, so every (token, instance) starts out active;
    the group and hook are recorded, not checked.
    """
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    def record(self, operation: str, completing: bool):
        call = {
            "operation": operation,
            "group": self._get_param("AutoScalingGroupName"),
            "hook": self._get_param("LifecycleHookName"),
            "token": self._get_param("LifecycleActionToken"),
            "instance_id": self._get_param("InstanceId"),
            "result": self._get_param("LifecycleActionResult"),
        }
        key = call["token"] or f'{call["group"]}/{call["hook"]}/{call["instance_id"]}'
        call["accepted"] = key not in _COMPLETED
        LIFECYCLE_CALLS.append(call)
        if not call["accepted"]:
            raise ValidationError(
                f'No active Lifecycle Action found with instance ID {call["instance_id"]}'
            )
        if completing:
            _COMPLETED.add(key)
        return EmptyResult()

    def complete_lifecycle_action(self):
        return record(self, "CompleteLifecycleAction", True)

    def record_lifecycle_action_heartbeat(self):
        return record(self, "RecordLifecycleActionHeartbeat", False)

    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat


# --- the fault-injecting proxy -------------------------------------------------------------------
#
# Between the functions and moto, on its own port (the "proxy" endpoint): per request, with the
# configured probabilities, it answers a throttling error (ECS/DynamoDB/SQS JSON: HTTP 400
# `ThrottlingException`; Auto Scaling query: `Throttling`), a 500 without forwarding, or forwards
# the request and then loses the response (moto acted; the client sees a 500); it may also delay
# answers. `{"op": "faults", "throttle": 0.3, "error500": 0, "drop": 0, "delay_ms": 0, "seed": 1,
# "only": ["UpdateService"] or null, "limit": N or null}`; `{"op": "fault_stats"}`.
FAULTS: dict = {}
FAULT_STATS: dict = {}
# Requests the proxy received, per operation (`{"op": "proxy_calls"}`): scripts/acceptance counts
# the writes a function made through it.
PROXY_CALLS: dict = {}


def start_fault_proxy(target: str) -> str:
    import http.client
    import random
    import threading
    import time as _time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    host = urlparse(target)
    lock = threading.Lock()
    state = {"rng": random.Random(1), "seed": None}

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            target_header = self.headers.get("X-Amz-Target") or ""
            query = target_header == ""
            operation = target_header.split(".")[-1] if target_header else (
                parse_qs(body.decode(errors="replace")).get("Action", [""])[0])
            with lock:
                PROXY_CALLS[operation] = PROXY_CALLS.get(operation, 0) + 1
            fault = self.pick(operation)
            if FAULTS.get("delay_ms"):
                _time.sleep(FAULTS["delay_ms"] / 1000)
            if fault == "throttle":
                code = "Throttling" if query else "ThrottlingException"
                if query:
                    self.answer(400, f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                                     "<Message>Rate exceeded</Message></Error></ErrorResponse>".encode(), "text/xml")
                else:
                    self.answer(400, json.dumps({"__type": code, "message": "Rate exceeded"}).encode(),
                                "application/x-amz-json-1.1")
                return
            if fault == "error500":
                self.answer(500, b'{"__type": "InternalFailure", "message": "injected"}', "application/json")
                return
            conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            conn.request("POST", self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            content_type = resp.getheader("Content-Type") or "application/json"
            status = resp.status
            conn.close()
            if fault == "drop":
                # moto acted; the answer is lost on the way back.
                self.answer(500, b'{"__type": "InternalFailure", "message": "response lost"}', "application/json")
                return
            self.answer(status, data, content_type)

        do_GET = do_POST

        def pick(self, operation: str):
            with lock:
                if state["seed"] != FAULTS.get("seed", 1):
                    state["seed"] = FAULTS.get("seed", 1)
                    state["rng"] = random.Random(state["seed"])
                only = FAULTS.get("only")
                if only is not None and operation not in only:
                    return None
                limit = FAULTS.get("limit")
                injected = sum(FAULT_STATS.values())
                if limit is not None and injected >= limit:
                    return None
                r = state["rng"].random()
                edge = 0.0
                for kind in ("throttle", "error500", "drop"):
                    edge += float(FAULTS.get(kind, 0) or 0)
                    if r < edge:
                        FAULT_STATS[kind] = FAULT_STATS.get(kind, 0) + 1
                        return kind
                return None

        def answer(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def set_model(kind: str, cluster: str, ident: str, fields: dict) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[DEFAULT_ACCOUNT_ID][REGION]
    if kind == "container_instance":
        obj = backend.container_instances[cluster][ident.split("/")[-1]]
    elif kind == "task_definition":
        family, revision = ident.split("/")[-1].split(":")
        obj = backend.task_definitions[family][int(revision)]
    elif kind == "service":
        obj = backend.services[f"{cluster}:{ident}"]
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    # moto's responses serialize a model's attributes by the API's member names (snake_case), so
    # an attribute set here is returned by DescribeX even where moto's own code never sets it.
    for name, value in fields.items():
        setattr(obj, name, value)


# Container instance id -> the failure reason DescribeContainerInstances reports for it.
DESCRIBE_FAILURES: dict = {}


def install_describe_failures() -> None:
    """Wraps moto's DescribeContainerInstances so a host can come back as a failure entry with a
    reason other than MISSING (ECS does this for a host it listed but could not describe)."""
    from moto.ecs.models import ContainerInstanceFailure, EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.describe_container_instances

    def describe_container_instances(self, cluster_str, ids):
        instances, failures = original(self, cluster_str, ids)
        kept = []
        for ci in instances:
            short_id = ci.container_instance_arn.split("/")[-1]
            reason = DESCRIBE_FAILURES.get(short_id)
            if reason:
                failures.append(
                    ContainerInstanceFailure(reason, short_id, self.account_id, self.region_name)
                )
            else:
                kept.append(ci)
        return kept, failures

    EC2ContainerServiceBackend.describe_container_instances = describe_container_instances

    # DeleteAttributes: AWS says to give a custom attribute's name and target, not its value
    # ("don't specify the value"); moto 5.2.5 deletes only when the given value equals the stored
    # one, so a value-less delete would do nothing. Make it delete by name, as AWS does.
    original_delete = EC2ContainerServiceBackend._delete_attribute

    def delete_attribute(self, cluster_name, name, value=None, target_id=None, target_type=None):
        if value is None and target_id is not None and target_type is None:
            instance = self.container_instances[cluster_name].get(target_id.rsplit("/", 1)[-1])
            if instance is not None and name in instance.attributes:
                del instance.attributes[name]
                return
        return original_delete(self, cluster_name, name, value, target_id, target_type)

    EC2ContainerServiceBackend._delete_attribute = delete_attribute


def take_messages(queue_name: str) -> list:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].get_queue(queue_name)
    out = []
    for m in queue._messages:
        delay_ms = max(0, m.delayed_until - (m.sent_timestamp or 0)) if m.delayed_until else 0
        out.append({"id": m.id, "body": m.body, "delay_seconds": round(delay_ms / 1000)})
    queue._messages = []
    return out


# --- capacity-recorder: task phases moto skips, and DynamoDB read accounting ------------------------


def set_task_status(task_arn: str, desired_status, last_status) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[DEFAULT_ACCOUNT_ID][REGION]
    for tasks in backend.tasks.values():
        task = tasks.get(task_arn)
        if task is not None:
            if desired_status:
                task.desired_status = desired_status
            if last_status:
                task.last_status = last_status
            return
    raise ValueError(f"no task {task_arn}")


def add_instance_attributes(cluster: str, attributes: dict) -> int:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ecs.models import ecs_backends

    instances = ecs_backends[DEFAULT_ACCOUNT_ID][REGION].container_instances.get(cluster, {})
    for instance in instances.values():
        instance.attributes.update(attributes)
    return len(instances)


def install_query_key_range() -> None:
    """Makes a moto Query cost what its key range holds, as a DynamoDB Query does, not the table.

    moto 5.2.5's Table.query sorts every item of the table and sizes every item of the partition
    on each request, so one page of a 200-host range costs seconds in a partition of 50,000 task
    items. Here the partition is narrowed to the items the key condition selects before moto's
    own code runs, on a shallow copy of the table: moto's loop sees the same items in the same
    order, so Items, Count, ScannedCount, LastEvaluatedKey and the 1 MB / Limit rules are
    unchanged (the test suite runs on this bed). Index queries and the legacy KeyConditions form
    are left to moto as they are.
    """
    import copy
    import functools
    import inspect

    from moto.dynamodb.models.table import Table

    original_query = Table.query
    signature = inspect.signature(original_query)

    @functools.wraps(original_query)  # keeps the signature for install_dynamodb_accounting
    def query(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        a = bound.arguments
        table, hash_key = a["self"], a.get("hash_key")
        if (
            a.get("index_name")
            or not table.range_key_attr
            or hash_key is None
            or a.get("filter_kwargs")
            or len(a.get("range_key_conditions") or []) > 1
        ):
            return original_query(*args, **kwargs)
        partition = table.items.get(hash_key, {})
        if a.get("range_comparison"):
            comparison, values = a["range_comparison"], a.get("range_objs") or []
            if comparison == "BEGINS_WITH" and len(values) == 1 and values[0].type == "S":
                # moto's own begins_with on a string key, without its per-key dispatch (10x
                # faster over a 50,000-item partition; the same items).
                prefix = values[0].value
                partition = {k: v for k, v in partition.items()
                             if k.type == "S" and k.value.startswith(prefix)}
            else:
                partition = {k: v for k, v in partition.items() if k.compare(comparison, values)}
        narrowed = copy.copy(table)
        narrowed.items = {hash_key: partition}
        a["self"] = narrowed
        return original_query(*bound.args, **bound.kwargs)

    Table.query = query


_ACCOUNTING_FIELDS = ("queries", "scanned_items", "scanned_bytes", "returned_items", "read_units", "update_items")
ACCOUNTING: dict = {"enabled": False, **{k: 0 for k in _ACCOUNTING_FIELDS}}


def dynamodb_accounting(enable) -> dict:
    counters = {k: ACCOUNTING[k] for k in _ACCOUNTING_FIELDS}
    if enable is not None:
        for k in _ACCOUNTING_FIELDS:
            ACCOUNTING[k] = 0
        ACCOUNTING["enabled"] = bool(enable)
    return counters


def install_dynamodb_accounting() -> None:
    """Counts what each DynamoDB Query reads (see the module docs), and UpdateItem requests."""
    import inspect
    import math

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    signature = inspect.signature(original_query)

    def query(self, *args, **kwargs):
        if not ACCOUNTING["enabled"]:
            return original_query(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        unfiltered = dict(bound.arguments)
        unfiltered["projection_expressions"] = None
        unfiltered["filter_expression"] = None
        extra = unfiltered.pop("filter_kwargs", {})
        evaluated, _, _ = original_query(**unfiltered, **extra)
        size = sum(item.size() for item in evaluated)
        factor = 1.0 if bound.arguments.get("consistent_read") else 0.5
        result = original_query(self, *args, **kwargs)
        ACCOUNTING["queries"] += 1
        ACCOUNTING["scanned_items"] += len(evaluated)
        ACCOUNTING["scanned_bytes"] += size
        ACCOUNTING["returned_items"] += len(result[0])
        ACCOUNTING["read_units"] += max(1, math.ceil(size / 4096)) * factor
        return result

    Table.query = query

    original_update = DynamoDBBackend.update_item

    def update_item(self, *args, **kwargs):
        if ACCOUNTING["enabled"]:
            ACCOUNTING["update_items"] += 1
        return original_update(self, *args, **kwargs)

    DynamoDBBackend.update_item = update_item


# --- task-dispatcher: RunTask with lost answers, task exit codes ------------------------------

RUN_TASK_CALLS: list = []
RUN_TASK_LOSSES: list = [0]


def install_run_task_wrapper() -> None:
    """Records every RunTask, and lets a test lose its answer: moto's handler runs (the task
    starts, its room is taken), then the response is replaced by an HTTP 500."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    original = EC2ContainerServiceResponse.run_task

    def run_task(self):
        result = original(self)
        lost = RUN_TASK_LOSSES[0] > 0
        RUN_TASK_CALLS.append(
            {
                "cluster": self._get_param("cluster"),
                "taskDefinition": self._get_param("taskDefinition"),
                "startedBy": self._get_param("startedBy"),
                "clientToken": self._get_param("clientToken"),
                "lost": lost,
            }
        )
        if lost:
            RUN_TASK_LOSSES[0] -= 1
            raise RuntimeError("test bed: RunTask acted, its answer is lost")
        return result

    EC2ContainerServiceResponse.run_task = run_task


def finish_task(cluster: str, task_arn: str, exit_code: int, reason: str) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[DEFAULT_ACCOUNT_ID][REGION]
    task = backend.tasks[cluster][task_arn]
    for c in task.containers:
        c.exitCode = exit_code
        c.last_status = "STOPPED"
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_reason = reason


# --- task-dispatcher's owned group: the ASG, its hosts' registration, AWS call counts ----------

AWS_CALLS: dict = {}


def install_call_counter() -> None:
    """Counts requests from AWS SDK for Rust clients (the functions), per service:operation."""
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action

    def call_action(self):
        try:
            agent = self.headers.get("User-Agent") or self.headers.get("user-agent") or ""
            if "aws-sdk-rust" in agent:
                key = f"{self.service_name}:{self._get_action()}"
                AWS_CALLS[key] = AWS_CALLS.get(key, 0) + 1
        except Exception:  # counting must never break a call
            pass
        return original(self)

    BaseResponse.call_action = call_action


def _client(endpoint: str, name: str):
    return boto3.client(name, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def create_scale_group(endpoint: str, name: str, max_size: int, desired: int) -> dict:
    ec2, asg = _client(endpoint, "ec2"), _client(endpoint, "autoscaling")
    ec2.create_launch_template(LaunchTemplateName=f"{name}-lt", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.large"})
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": f"{name}-lt", "Version": "$Latest"},
        MinSize=0, MaxSize=max_size, DesiredCapacity=desired, AvailabilityZones=["us-east-1a"])
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {"arn": g["AutoScalingGroupARN"]}


def register_group_hosts(endpoint: str, group: str, cluster: str) -> list:
    asg, ecs = _client(endpoint, "autoscaling"), _client(endpoint, "ecs")
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    known = set()
    if arns:
        for ci in ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"]:
            known.add(ci["ec2InstanceId"])
    out = []
    for i in g["Instances"]:
        if i["LifecycleState"] != "InService" or i["InstanceId"] in known:
            continue
        doc = {"instanceId": i["InstanceId"], "instanceType": "t3.large", "availabilityZone": "us-east-1a",
               "region": REGION}
        ci = ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=json.dumps(doc))
        out.append({"instance_id": i["InstanceId"], "arn": ci["containerInstance"]["containerInstanceArn"]})
    return out


def deregister_gone_hosts(endpoint: str, cluster: str) -> list:
    ec2, ecs = _client(endpoint, "ec2"), _client(endpoint, "ecs")
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    if not arns:
        return []
    gone = []
    for ci in ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"]:
        r = ec2.describe_instances(InstanceIds=[ci["ec2InstanceId"]])["Reservations"]
        state = r[0]["Instances"][0]["State"]["Name"] if r else "terminated"
        if state not in ("pending", "running"):
            ecs.deregister_container_instance(cluster=cluster, containerInstance=ci["containerInstanceArn"],
                                              force=True)
            gone.append(ci["ec2InstanceId"])
    return gone


if __name__ == "__main__":
    main()
