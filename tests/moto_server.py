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
    {"op": "finish_task", "cluster", "task", "containers": {"app": 0, "sidecar": 137, "x": null},
     "stop_code": "EssentialContainerExited", "reason": "..."} -> {"ok": true}
        (one container per container definition with its own exit code — null: none, as for a
        container that never ran — and the task's stopCode; stops the task first if it runs:
        finish_task_containers)
    {"op": "refuse_run_task", "task_definition": FAMILY, "reason": "ATTRIBUTE" | null} -> {"ok": true}
        (RunTask of that family answers 200 with no task and a failure entry per host, as ECS does
        when it cannot place; null clears. RunTask also honours clientToken — same request: the
        original answer, different: ConflictException with resourceIds — and names the resource
        a task lacks when moto places none: install_run_task_rules. run_task_calls entries carry
        placementConstraints, placementStrategy, launchType, capacityProviderStrategy, count and
        "outcome": started | replayed | conflict | refused. A memberOf `ec2InstanceId == i-...` pin
        is honoured: the task goes to that host or fails "MemberOf placement constraint unsatisfied")
    {"op": "hide_tasks_from_list", "count": N} -> {"ok": true}
        (the next N ListTasks calls filtered by startedBy answer no ARNs: ECS is eventually
        consistent. ListTasks refuses startedBy combined with another filter, DescribeTasks answers
        MISSING failures for unknown tasks: install_task_views)
    {"op": "forget_task", "cluster": NAME, "task": ARN} -> {"ok": true}
        (the task is gone from moto, as ECS forgets stopped tasks after about an hour)
    {"op": "set_group_instance_state", "group": ASG, "instance": ID, "state": "Terminating:Wait"}
        -> {"ok": true}   (the LifecycleState DescribeAutoScalingGroups reports)
    {"op": "rebalance_terminations"} -> {"terminations": [{"group", "requested", "terminated",
        "launched"}]}   (what the bed's AZ rebalancing did after decrementing terminates in groups
        whose AZRebalance is not suspended; a group with a terminating lifecycle hook keeps a
        terminated instance in Terminating:Wait until CompleteLifecycleAction:
        install_group_termination)
    {"op": "item_size", "table": T, "key": {"jobId": ID}} -> {"bytes": N}
        (the item's size by DynamoDB's rule; writes past 400 KB = 409,600 bytes by that rule fail
        with ValidationException: install_dynamodb_item_size)
    {"op": "aws_calls", "reset": true|false} -> {"calls": {"ecs:RunTask": N, ...}}
        (every request moto received from an AWS SDK for Rust client — the functions under test,
        not this test bed's boto3 — per service and operation, since the last reset)
    {"op": "create_scale_group", "name": "ASG", "max": 3, "desired": 0}
        -> {"arn": "..."}   (a launch template and an Auto Scaling group in us-east-1a, MinSize 0:
        SetDesiredCapacity then launches EC2 instances in moto. "suspend_az_rebalance": true by
        default, like template.yaml's example group; "terminating_hook": NAME adds a hook)
    {"op": "register_group_hosts", "group": "ASG", "cluster": "NAME"}
        -> {"hosts": [{"instance_id", "arn"}]}   (RegisterContainerInstance for each InService
        instance of the group not registered yet, with its instance identity document: moto runs
        no ECS agent, so the test bed does what the agent's registration would)
    {"op": "deregister_gone_hosts", "cluster": "NAME"} -> {"deregistered": [instance ids]}
        (DeregisterContainerInstance for container instances whose EC2 instance is no longer
        running — what ECS does when an instance terminates; moto does not)
    {"op": "proxy_calls"} -> {"calls": {"UpdateService": N, ...}}   (requests the proxy received,
        per operation, since moto started)
    {"op": "dynamodb_put_items", "table": T, "items": [{"pk": {"S": ...}, ...}, ...]} -> {"items": N}
        (bulk load for scripts/scale: puts each item, DynamoDB JSON, into moto's table model
        directly, unconditionally — what a BatchWriteItem PutRequest stores — without moto's HTTP
        API: 500,000 items load in seconds, not the minutes 20,000 BatchWriteItem requests take.
        The items are then read through the API as any other. Not counted by dynamodb_accounting
        nor aws_calls; no key-size or item-size validation beyond moto's own put_item)
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
import threading
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
    install_issue19_rules()
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
        reset_issue19_state()
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
    if op == "dynamodb_put_items":
        return {"items": dynamodb_put_items(cmd["table"], cmd["items"])}
    if op == "aws_calls":
        calls = dict(sorted(AWS_CALLS.items()))
        if cmd.get("reset"):
            AWS_CALLS.clear()
        return {"calls": calls}
    if op == "create_scale_group":
        created = create_scale_group(endpoint, cmd["name"], int(cmd.get("max", 3)), int(cmd.get("desired", 0)))
        scale_group_options(endpoint, cmd["name"], cmd)
        return created
    if op == "register_group_hosts":
        return {"hosts": register_group_hosts(endpoint, cmd["group"], cmd["cluster"])}
    if op == "deregister_gone_hosts":
        return {"deregistered": deregister_gone_hosts(endpoint, cmd["cluster"])}
    if op == "finish_task":
        if "containers" in cmd or "stop_code" in cmd:
            finish_task_containers(cmd["cluster"], cmd["task"], cmd.get("containers") or {},
                                   cmd.get("stop_code"), cmd.get("reason", ""))
        else:
            finish_task(cmd["cluster"], cmd["task"], int(cmd["exit_code"]), cmd.get("reason", ""))
        return {"ok": True}
    if op == "refuse_run_task":
        refuse_run_task(cmd["task_definition"], cmd.get("reason"))
        return {"ok": True}
    if op == "hide_tasks_from_list":
        LIST_TASKS_HIDDEN[0] = int(cmd["count"])
        return {"ok": True}
    if op == "forget_task":
        forget_task(cmd["cluster"], cmd["task"])
        return {"ok": True}
    if op == "set_group_instance_state":
        set_group_instance_state(cmd["group"], cmd["instance"], cmd["state"])
        return {"ok": True}
    if op == "rebalance_terminations":
        return {"terminations": list(REBALANCE_TERMINATIONS)}
    if op == "item_size":
        return {"bytes": item_size(cmd["table"], cmd["key"])}
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
        index_name = a.get("index_name")
        if index_name and table.range_key_attr and hash_key is not None:
            narrowed = _index_partition(table, index_name, hash_key)
            if narrowed is not None:
                a["self"] = narrowed
                return original_query(*bound.args, **bound.kwargs)
        if (
            index_name
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


def _index_partition(table, index_name: str, hash_key):
    """A global secondary index whose partition key is the table's own (the capacity table's
    sparse `live` index): moto's Query of it walks and sorts every item of the table. The table is
    narrowed to the items of that partition that carry every index key attribute — the items the
    index holds ("DynamoDB writes a corresponding index entry only if the index key value is
    present in the item", Sparse indexes) — so moto's own code sees the same items in the same
    order, and a Query costs what the index holds. None for any other index (left to moto)."""
    import copy

    index = next((i for i in table.global_indexes or [] if i.name == index_name), None)
    if index is None:
        return None
    keys = [k["AttributeName"] for k in index.schema]
    hash_attr = next(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
    if hash_attr != table.hash_key_attr:
        return None
    partition = {k: v for k, v in table.items.get(hash_key, {}).items()
                 if all(name in v.attrs for name in keys)}
    narrowed = copy.copy(table)
    narrowed.items = {hash_key: partition}
    return narrowed


_CONSUMED = threading.local()
_ACCOUNTING_FIELDS = ("queries", "scanned_items", "scanned_bytes", "returned_items", "read_units", "update_items")
ACCOUNTING: dict = {"enabled": False, **{k: 0 for k in _ACCOUNTING_FIELDS}}


def dynamodb_accounting(enable) -> dict:
    counters = {k: ACCOUNTING[k] for k in _ACCOUNTING_FIELDS}
    if enable is not None:
        for k in _ACCOUNTING_FIELDS:
            ACCOUNTING[k] = 0
        ACCOUNTING["enabled"] = bool(enable)
    return counters


def dynamodb_put_items(table_name: str, items: list) -> int:
    """Writes `items` (DynamoDB JSON) into moto's model of `table_name` directly, as BatchWriteItem
    would store them (scripts/scale's bulk load of dead items; see the module docs)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(table_name)
    for item in items:
        table.put_item(item)
    return len(items)


def install_dynamodb_accounting() -> None:
    """Counts what each DynamoDB Query reads (see the module docs), and UpdateItem requests."""
    import inspect
    import math

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    signature = inspect.signature(original_query)

    def query(self, *args, **kwargs):
        wants_units = getattr(_CONSUMED, "wanted", False)
        if not ACCOUNTING["enabled"] and not wants_units:
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
        units = max(1, math.ceil(size / 4096)) * factor
        if wants_units:
            _CONSUMED.units = units
        if not ACCOUNTING["enabled"]:
            return result
        ACCOUNTING["queries"] += 1
        ACCOUNTING["scanned_items"] += len(evaluated)
        ACCOUNTING["scanned_bytes"] += size
        ACCOUNTING["returned_items"] += len(result[0])
        ACCOUNTING["read_units"] += units
        return result

    Table.query = query

    # ConsumedCapacity as DynamoDB reports it (moto's is a constant 1.0 whatever was read): a
    # Query asking for it (ReturnConsumedCapacity TOTAL or INDEXES) gets the read units computed
    # above — the items its key condition read, before the filter, summed and rounded up to 4 KB,
    # half for an eventually consistent read (a GSI Query always is).
    from moto.dynamodb.responses import DynamoHandler

    original_handler_query = DynamoHandler.query

    def handler_query(self):
        wanted = self.body.get("ReturnConsumedCapacity", "NONE") in ("TOTAL", "INDEXES")
        _CONSUMED.wanted, _CONSUMED.units = wanted, None
        try:
            result = original_handler_query(self)
        finally:
            _CONSUMED.wanted = False
        body = getattr(result, "result", None)
        if wanted and _CONSUMED.units is not None and isinstance(body, dict) and "ConsumedCapacity" in body:
            body["ConsumedCapacity"]["CapacityUnits"] = _CONSUMED.units
            index = self.body.get("IndexName")
            if index and self.body.get("ReturnConsumedCapacity") == "INDEXES":
                body["ConsumedCapacity"].pop("LocalSecondaryIndexes", None)
                body["ConsumedCapacity"]["Table"] = {"CapacityUnits": 0.0}
                body["ConsumedCapacity"]["GlobalSecondaryIndexes"] = {index: {"CapacityUnits": _CONSUMED.units}}
        return result

    DynamoHandler.query = handler_query

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


# --- issue 19: what ECS, Auto Scaling and DynamoDB do where moto 5.2.5 does not ----------------
#
# Each rule below cites the AWS documentation it follows. They are installed after the wrappers
# above (install_issue19_rules, called from main) and keep their state in module globals that
# `{"op": "reset"}` does not clear (like RUN_TASK_CALLS): a scenario uses fresh clusters.

import threading as _threading
import time as _time_mod

# (cluster name, clientToken) -> {"params", "tasks": [ARN], "failures": [...], "at": epoch seconds}
RUN_TASK_TOKENS: dict = {}
# Task-definition family -> the failure reason RunTask answers for it (`refuse_run_task`).
RUN_TASK_REFUSALS: dict = {}
# ListTasks calls filtered by startedBy that still answer no ARNs (`hide_tasks_from_list`).
LIST_TASKS_HIDDEN: list = [0]
# What the bed's AZ rebalancing terminated (`rebalance_terminations`).
REBALANCE_TERMINATIONS: list = []
_RUN_TASK_LOCK = _threading.Lock()
# ECS RunTask: "The client token ... TTL is 24 hours" (ECS API Reference, "Ensuring idempotency").
CLIENT_TOKEN_TTL_SECONDS = 24 * 3600
# DynamoDB: "The maximum item size in DynamoDB is 400 KB" and "DynamoDB denotes 1 KB = 1024
# bytes" (Developer Guide, "Constraints in Amazon DynamoDB").
DYNAMODB_MAX_ITEM_BYTES = 400 * 1024
# ListTasks filters that may not be combined with startedBy.
_LIST_TASKS_FILTERS = ("containerInstance", "family", "serviceName", "desiredStatus", "launchType")


def reset_issue19_state() -> None:
    """`reset` forgets tokens, refusals, hidden lists and rebalancing records with moto's state
    (RUN_TASK_CALLS stays, as before)."""
    RUN_TASK_TOKENS.clear()
    RUN_TASK_REFUSALS.clear()
    LIST_TASKS_HIDDEN[0] = 0
    REBALANCE_TERMINATIONS.clear()


def install_issue19_rules() -> None:
    install_run_task_rules()
    install_task_views()
    install_group_termination()
    install_dynamodb_item_size()


def _ecs_backend():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ecs.models import ecs_backends

    return ecs_backends[DEFAULT_ACCOUNT_ID][REGION]


def _asg_backend():
    from moto.autoscaling.models import autoscaling_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    return autoscaling_backends[DEFAULT_ACCOUNT_ID][REGION]


def _cluster_name(cluster: str | None) -> str:
    return (cluster or "default").split("/")[-1]


def install_run_task_rules() -> None:
    """RunTask as ECS answers it, around install_run_task_wrapper (which moto's handler runs in).

    moto 5.2.5 ignores `clientToken`, never answers a `failures[]` entry and cannot be told to
    refuse a task. ECS:
    - clientToken: "If you retry a request that completed successfully using the same client
      token and the same request parameters, the original request's result is returned. If you
      retry ... with the same client token, but one or more of the parameters have changed (except
      Region or Availability Zone), the retry fails with a ConflictException"; tokens are scoped
      to the cluster ("Idempotency type: Cluster"), up to 64 ASCII characters, TTL 24 hours (ECS
      API Reference, "Ensuring idempotency"). ConflictException: "The provided clientToken is
      already in use with a different RunTask request. The resourceIds are the existing task ARNs
      which are already associated with the clientToken" (ECS API Reference, ConflictException).
      The bed compares every request parameter but the token and the cluster (taskDefinition,
      count, launchType, capacityProviderStrategy, placementConstraints, placementStrategy,
      overrides, group, startedBy, tags, networkConfiguration, enableECSManagedTags,
      propagateTags, referenceId, ...). A replay returns the original tasks (their current state)
      and starts nothing. An answer with `failures[]` and no task is a completed request too: the
      bed replays it as it was (inferred from the same page: the original result is returned), so
      a caller must use a new token for a new attempt.
    - A RunTask that cannot place answers HTTP 200 with `failures[]` ("RESOURCE:MEMORY", ...,
      ATTRIBUTE: ecs-notes "Running tasks when capacity is short"; ECS Developer Guide "API
      failure reasons"). `refuse_run_task` makes RunTask refuse a family with a reason of the
      test's choice, one failure entry per ACTIVE host; when moto places fewer tasks than
      `count` (no room), the bed adds the failure entries moto omits (RESOURCE:CPU / MEMORY /
      PORTS per host that lacks them).
    - Host pins: a `memberOf` constraint `ec2InstanceId == i-...` (or `in [...]`) places the task on
      that host or nowhere (moto places on any host with room): see _instance_pins.
    - The lost-answer fault (`lose_run_task_responses`) still acts first: the token is recorded
      with the tasks moto started, so the retry with the same request is a replay.
    Each call is recorded in RUN_TASK_CALLS with placementConstraints, placementStrategy,
    launchType, capacityProviderStrategy and its outcome: "started" (moto ran the request,
    tasks or not), "replayed", "conflict" or "refused".
    """
    from moto.ecs.exceptions import ECSException, InvalidParameterException
    from moto.ecs.responses import EC2ContainerServiceResponse

    class ConflictException(ECSException):
        code = "ConflictException"

        def __init__(self, message: str, resource_ids: list) -> None:
            super().__init__(message)
            # serialized as the error shape's `resourceIds` member (ECS service model)
            self.resource_ids = resource_ids

    inner = EC2ContainerServiceResponse.run_task  # install_run_task_wrapper's (records, loses)

    def run_task(self):
        from moto.core.responses import ActionResult

        body = json.loads(self.body or "{}") if isinstance(self.body, (str, bytes)) else {}
        cluster = _cluster_name(body.get("cluster"))
        token = body.get("clientToken")
        params = {k: v for k, v in body.items() if k not in ("clientToken", "cluster")}
        extra = {k: body.get(k) for k in ("placementConstraints", "placementStrategy", "launchType",
                                          "capacityProviderStrategy", "count")}
        backend = _ecs_backend()

        def record(outcome: str, lost: bool = False, **more) -> None:
            RUN_TASK_CALLS.append({"cluster": body.get("cluster"), "taskDefinition": body.get("taskDefinition"),
                                   "startedBy": body.get("startedBy"), "clientToken": token, "lost": lost,
                                   **extra, "outcome": outcome, **more})

        with _RUN_TASK_LOCK:
            if token is not None and not (1 <= len(token) <= 64 and all(33 <= ord(ch) <= 126 for ch in token)):
                record("invalid")
                raise InvalidParameterException(
                    "clientToken: up to 64 ASCII characters in the range 33-126 are allowed")
            key = (cluster, token)
            seen = RUN_TASK_TOKENS.get(key) if token else None
            if seen and _time_mod.time() - seen["at"] > CLIENT_TOKEN_TTL_SECONDS:
                RUN_TASK_TOKENS.pop(key, None)
                seen = None
            if seen is not None:
                if seen["params"] != params:
                    differ = sorted(k for k in set(params) | set(seen["params"])
                                    if params.get(k) != seen["params"].get(k))
                    record("conflict", differ=differ)
                    raise ConflictException(
                        f"The clientToken {token} is already in use with a different RunTask request "
                        f"(parameters that differ: {', '.join(differ)})", list(seen["tasks"]))
                tasks = [t for arn in seen["tasks"] for t in [backend.tasks.get(cluster, {}).get(arn)] if t]
                record("replayed")
                return ActionResult({"tasks": tasks, "failures": list(seen["failures"])})

            family = str(body.get("taskDefinition") or "").split("/")[-1].split(":")[0]
            if family in RUN_TASK_REFUSALS:
                failures = [{"arn": ci.container_instance_arn, "reason": RUN_TASK_REFUSALS[family]}
                            for ci in backend.container_instances.get(cluster, {}).values()
                            if ci.status == "ACTIVE"]
                if not failures:
                    failures = [{"arn": f"arn:aws:ecs:{REGION}:123456789012:cluster/{cluster}",
                                 "reason": RUN_TASK_REFUSALS[family]}]
                if token:
                    RUN_TASK_TOKENS[key] = {"params": params, "tasks": [], "failures": failures,
                                            "at": _time_mod.time()}
                record("refused", reasons=sorted({f["reason"] for f in failures}))
                return ActionResult({"tasks": [], "failures": failures})

            hosts = backend.container_instances.get(cluster)
            allowed, unevaluated = _instance_pins(body.get("placementConstraints") or [])
            eligible = hosts
            if hosts is not None and allowed is not None:
                eligible = {k: ci for k, ci in hosts.items() if ci.ec2_instance_id in allowed}
                if not any(ci.status == "ACTIVE" for ci in eligible.values()):
                    failures = _placement_failures(backend, cluster, body.get("taskDefinition"), eligible)
                    if token:
                        RUN_TASK_TOKENS[key] = {"params": params, "tasks": [], "failures": failures,
                                                "at": _time_mod.time()}
                    record("refused", reasons=sorted({f["reason"] for f in failures}), unevaluated=unevaluated)
                    return ActionResult({"tasks": [], "failures": failures})
            before = set(backend.tasks.get(cluster, {}))
            at = len(RUN_TASK_CALLS)
            lost_error = None
            try:
                if eligible is not hosts:  # moto places on the pinned hosts only
                    backend.container_instances[cluster] = eligible
                result = inner(self)
            except RuntimeError as e:  # the lost-answer fault: moto acted
                lost_error, result = e, None
            finally:
                if hosts is not None:
                    backend.container_instances[cluster] = hosts
            started = [arn for arn in backend.tasks.get(cluster, {}) if arn not in before]
            failures = []
            wanted = int(body.get("count") or 1)
            if len(started) < wanted:
                failures = _placement_failures(backend, cluster, body.get("taskDefinition"), eligible)
            if token:
                RUN_TASK_TOKENS[key] = {"params": params, "tasks": started, "failures": failures,
                                        "at": _time_mod.time()}
            if at < len(RUN_TASK_CALLS):  # the inner wrapper's record of this call
                RUN_TASK_CALLS[at].update({**extra, "outcome": "started" if started else "refused",
                                           "tasks": started, "unevaluated": unevaluated,
                                           "reasons": sorted({f["reason"] for f in failures})})
            if lost_error is not None:
                raise lost_error
            if failures:
                tasks = [backend.tasks[cluster][arn] for arn in started]
                return ActionResult({"tasks": tasks, "failures": failures})
            return result

    EC2ContainerServiceResponse.run_task = run_task


def _instance_pins(constraints: list):
    """The EC2 instance ids RunTask's `memberOf` constraints allow (None: no such pin), and the
    expressions the bed does not evaluate. moto ignores placement constraints; ECS places a task
    only on instances that satisfy them ("memberOf: Place tasks on container instances that
    satisfy an expression", ECS Developer Guide, "Amazon ECS task placement constraints"; the
    cluster query language: `ec2InstanceId == i-...`, `ec2InstanceId in [...]`). Only those two
    forms are evaluated here, the dispatcher's host pin among them; any other expression (attributes,
    `and`/`or`) is recorded in the call's "unevaluated" and not enforced."""
    import re

    allowed, unevaluated = None, []
    for c in constraints:
        if str(c.get("type", "")).lower() != "memberof":
            continue
        expression = str(c.get("expression", "")).strip()
        one = re.fullmatch(r"ec2InstanceId\s*==\s*['\"]?(i-[0-9A-Za-z-]+)['\"]?", expression)
        many = re.fullmatch(r"ec2InstanceId\s+in\s*[\[(](.*)[\])]", expression)
        if one:
            ids = {one.group(1)}
        elif many:
            ids = {x.strip().strip("'\"") for x in many.group(1).split(",") if x.strip()}
        else:
            unevaluated.append(expression)
            continue
        allowed = ids if allowed is None else allowed & ids
    return allowed, unevaluated


def _placement_failures(backend, cluster: str, task_definition, eligible=None) -> list:
    """The failure entries ECS reports when a task fits no host: per ACTIVE host, the first
    resource it lacks (CPU, MEMORY, PORTS), as RunTask's `failures[]` names them; a host outside
    the request's pin: "MemberOf placement constraint unsatisfied" (ECS Developer Guide, "API
    failure reasons")."""
    try:
        td = backend.describe_task_definition(task_definition)
    except Exception:
        return []
    need = backend._calculate_task_resource_requirements(td)
    out = []
    for ci in backend.container_instances.get(cluster, {}).values():
        if ci.status != "ACTIVE":
            continue
        if eligible is not None and ci.container_instance_arn not in {
                e.container_instance_arn for e in eligible.values()}:
            out.append({"arn": ci.container_instance_arn, "reason": "MemberOf placement constraint unsatisfied"})
            continue
        free = {r["name"]: r for r in ci.remaining_resources}
        reason = None
        if need["CPU"] > free.get("CPU", {}).get("integerValue", 0):
            reason = "RESOURCE:CPU"
        elif need["MEMORY"] > free.get("MEMORY", {}).get("integerValue", 0):
            reason = "RESOURCE:MEMORY"
        elif set(map(str, need["PORTS"])) & set(free.get("PORTS", {}).get("stringSetValue", []) or []):
            reason = "RESOURCE:PORTS"
        out.append({"arn": ci.container_instance_arn, "reason": reason or "RESOURCE:MEMORY"})
    return out


def refuse_run_task(family: str, reason) -> None:
    if reason:
        RUN_TASK_REFUSALS[family] = reason
    else:
        RUN_TASK_REFUSALS.pop(family, None)


def install_task_views() -> None:
    """ListTasks and DescribeTasks as ECS answers them.

    - ListTasks `startedBy`: "When you specify startedBy as the filter, it must be the only
      filter that you use" (ECS API Reference, ListTasks). moto combines them silently; the bed
      answers InvalidParameterException when startedBy comes with containerInstance, family,
      serviceName, desiredStatus or launchType. (AWS's exact message is not documented.) It lists
      the named cluster's tasks only (moto matches the cluster name as a substring).
    - `hide_tasks_from_list`: the next N ListTasks calls filtered by startedBy answer no ARNs, as
      an eventually consistent ListTasks may just after RunTask.
    - DescribeTasks: ECS reports an unknown task as a failure entry with reason MISSING (ECS
      Developer Guide, "API failure reasons": DescribeTasks MISSING, "The specified task wasn't
      found"), only finds tasks of the cluster named, and takes at most 100 tasks (ECS API
      Reference, DescribeTasks: "tasks ... Up to 100"); moto 5.2.5 drops unknown ARNs silently,
      searches every cluster and has no limit. Stopped tasks are listed "for at least one hour"
      (ListTasks), then gone: `forget_task` removes one from moto, and DescribeTasks then reports it
      MISSING.
    """
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.responses import EC2ContainerServiceResponse

    def list_tasks(self):
        started_by = self._get_param("startedBy")
        if started_by:
            combined = [f for f in _LIST_TASKS_FILTERS if self._get_param(f)]
            if combined:
                raise InvalidParameterException(
                    "When you specify startedBy as the filter, it must be the only filter that you use "
                    f"(also given: {', '.join(combined)})")
            with _RUN_TASK_LOCK:
                hide = LIST_TASKS_HIDDEN[0] > 0
                if hide:
                    LIST_TASKS_HIDDEN[0] -= 1
            if hide:
                return ActionResult({"taskArns": []})
        cluster = _cluster_name(self._get_param("cluster", "default"))
        tasks = self.ecs_backend.list_tasks(cluster, self._get_param("containerInstance"), self._get_param("family"),
                                            started_by, self._get_param("serviceName"),
                                            self._get_param("desiredStatus"))
        # moto matches the cluster as a substring of the task's cluster ARN (cluster `bed` lists
        # the tasks of `bed-other` too); ECS lists the named cluster's tasks only.
        return ActionResult({"taskArns": [t.task_arn for t in tasks if t.cluster_name == cluster]})

    def describe_tasks(self):
        from moto.ecs.responses import DESCRIBE_TASKS_TAGS

        cluster = _cluster_name(self._get_param("cluster", "default"))
        wanted = self._get_param("tasks", []) or []
        if not wanted:
            raise InvalidParameterException("Tasks cannot be empty.")
        if len(wanted) > 100:
            raise InvalidParameterException("Tasks cannot have more than 100 elements")
        backend = self.ecs_backend
        backend._get_cluster(cluster)  # ClusterNotFoundException as before
        by_id = {arn.split("/")[-1]: t for arn, t in backend.tasks.get(cluster, {}).items()}
        tasks, failures = [], []
        for ref in wanted:
            task = by_id.get(ref.split("/")[-1])
            if task is None:
                failures.append({"arn": ref, "reason": "MISSING"})
            elif task not in tasks:
                task.advance()
                tasks.append(task)
        if "TAGS" in (self._get_param("include", []) or []):
            self._include_in_response(DESCRIBE_TASKS_TAGS)
        else:
            self._exclude_from_response(DESCRIBE_TASKS_TAGS)
        return ActionResult({"tasks": tasks, "failures": failures})

    EC2ContainerServiceResponse.list_tasks = list_tasks
    EC2ContainerServiceResponse.describe_tasks = describe_tasks


def forget_task(cluster: str, task_arn: str) -> None:
    """Removes a task from moto as ECS forgets a stopped task after its hour: a task still
    running is stopped first (its host's room freed), as it would have been long ago."""
    backend = _ecs_backend()
    name = _cluster_name(cluster)
    tasks = backend.tasks.get(name, {})
    arn = next((a for a in tasks if a.split("/")[-1] == task_arn.split("/")[-1]), None)
    if arn is None:
        raise ValueError(f"no task {task_arn} in {name}")
    if tasks[arn].desired_status != "STOPPED":
        backend.stop_task(name, arn, "forgotten by the test bed")
    del tasks[arn]


def finish_task_containers(cluster: str, task_arn: str, containers: dict, stop_code, reason) -> None:
    """`finish_task` with per-container exit codes and a stopCode (moto 5.2.5 models one
    container per task — the task definition's first — and has no stopCode).

    ECS: when an essential container exits, ECS stops the others and the task's stopCode is
    EssentialContainerExited; a container ECS stopped reports 137/143, one that never ran (or whose
    host is gone) no exit code (ECS API Reference, Task.stopCode / TaskStopCode; Container.exitCode;
    ecs-notes "task-dispatcher"). Each container of the task definition gets a container here,
    with the exit code given for its name (null or absent: no exit code). A task not stopped yet
    is stopped first (StopTask frees its host's room).
    """
    from moto.ecs.models import Container

    backend = _ecs_backend()
    name = _cluster_name(cluster)
    task = backend.tasks[name][task_arn]
    td = backend.describe_task_definition(task.task_definition_arn)
    names = [c.get("name") for c in td.container_definitions]
    unknown = sorted(set(containers) - set(names))
    if unknown:
        raise ValueError(f"containers {unknown} are not in {td.arn} ({names})")
    if task.desired_status != "STOPPED":
        backend.stop_task(name, task_arn, reason or "")
    built = []
    for definition in td.container_definitions:
        c = Container(td)
        c.name = definition.get("name")
        c.image = definition.get("image")
        c.cpu = definition.get("cpu", 0)
        c.memory = definition.get("memory")
        c.task_arn = task.task_arn
        c.last_status = "STOPPED"
        code = containers.get(c.name)
        c.exitCode = None if code is None else int(code)
        built.append(c)
    task.containers = built
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_reason = reason or ""
    task.stop_code = stop_code  # DescribeTasks' `stopCode` (moto serializes the snake_case attribute)


# --- Auto Scaling: Terminating:Wait, AZ rebalancing -----------------------------------------------


def _group_instance(group: str, instance_id: str):
    g = _asg_backend().autoscaling_groups[group]
    for state in g.instance_states:
        if state.instance.id == instance_id:
            return g, state
    raise ValueError(f"{instance_id} is not in group {group}")


def set_group_instance_state(group: str, instance_id: str, state: str) -> None:
    """Sets the LifecycleState DescribeAutoScalingGroups reports for a group instance (moto never
    leaves InService but for Standby). Auto Scaling's states: Pending, Pending:Wait, InService,
    Terminating, Terminating:Wait, Terminating:Proceed, Standby, ... (Auto Scaling User Guide,
    "Amazon EC2 Auto Scaling instance lifecycle")."""
    _, s = _group_instance(group, instance_id)
    s.lifecycle_state = state


def install_group_termination() -> None:
    """TerminateInstanceInAutoScalingGroup and CompleteLifecycleAction as Auto Scaling does them.

    - A group with an `autoscaling:EC2_INSTANCE_TERMINATING` lifecycle hook keeps the instance in
      `Terminating:Wait` until the action completes ("The lifecycle hook puts the instance into a
      wait state (Terminating:Wait)... The instance remains in a wait state until you either
      complete the lifecycle action, or the timeout period ends": Auto Scaling User Guide, "How
      lifecycle hooks work"). moto 5.2.5 detaches and terminates the instance at once. Here the
      instance stays in the group (desired capacity decremented if asked); CompleteLifecycleAction
      (the lifecycle handler above, which accepts it) then terminates it and removes it. The hook
      timeout is not modelled.
    - "If you decrement the desired capacity, your Auto Scaling group can become unbalanced between
      Availability Zones. Amazon EC2 Auto Scaling tries to rebalance the group, and rebalancing
      might terminate instances in other zones" (API Reference, TerminateInstanceInAutoScalingGroup);
      AZRebalance launches first, then terminates (User Guide, "Rebalancing activities"); a
      suspended AZRebalance process stops it (SuspendProcesses). moto does no rebalancing. Here a
      decrementing terminate in a group whose AZRebalance is not suspended terminates one more
      InService instance of the group (the first other one, through the hook as above) and launches
      its replacement: the worst case, whatever the zones (the bed's groups live in one zone).
      `{"op": "rebalance_terminations"}` lists what it did. moto stores SuspendProcesses and
      DescribeAutoScalingGroups returns SuspendedProcesses (checked by the self-check).
    """
    from moto.autoscaling.models import AutoScalingBackend, TerminateInstanceActivity
    from moto.autoscaling.responses import AutoScalingResponse

    original_terminate = AutoScalingBackend.terminate_instance

    def has_terminating_hook(backend, group: str) -> bool:
        return any(h.auto_scaling_group_name == group
                   and h.lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING"
                   for h in backend.lifecycle_hooks.values())

    def take_out(backend, group, state, decrement: bool) -> None:
        """One instance leaves service: through the hook's wait, or at once (moto's own way)."""
        if has_terminating_hook(backend, group.name):
            state.lifecycle_state = "Terminating:Wait"
            if decrement:
                group.desired_capacity = group.desired_capacity - 1
        else:
            original_terminate(backend, state.instance.id, decrement)

    def terminate_instance(self, instance_id: str, should_decrement: bool):
        state = next((s for g in self.autoscaling_groups.values() for s in g.instance_states
                      if s.instance.id == instance_id), None)
        if state is None:
            return original_terminate(self, instance_id, should_decrement)
        instance = state.instance
        group = instance.autoscaling_group
        original_size = group.desired_capacity
        take_out(self, group, state, should_decrement)
        activity = TerminateInstanceActivity(instance, original_size)
        suspended = {p["ProcessName"] for p in group.suspended_processes}
        if should_decrement and "AZRebalance" not in suspended:
            other = next((s for s in group.instance_states
                          if s.lifecycle_state == "InService" and s.instance.id != instance_id), None)
            if other is not None:
                before = {s.instance.id for s in group.instance_states}
                # Rebalancing launches first (desired capacity kept), then terminates.
                take_out(self, group, other, False)
                group.set_desired_capacity(group.desired_capacity)
                launched = [s.instance.id for s in group.instance_states if s.instance.id not in before]
                REBALANCE_TERMINATIONS.append({"group": group.name, "requested": instance_id,
                                               "terminated": other.instance.id, "launched": launched})
        return activity

    AutoScalingBackend.terminate_instance = terminate_instance

    accept = AutoScalingResponse.complete_lifecycle_action  # install_lifecycle_handlers'

    def complete_lifecycle_action(self):
        result = accept(self)  # raises when the action is not active
        group, instance_id = self._get_param("AutoScalingGroupName"), self._get_param("InstanceId")
        backend = self.autoscaling_backend
        g = backend.autoscaling_groups.get(group)
        state = next((s for s in (g.instance_states if g else []) if s.instance.id == instance_id), None)
        if state is not None and state.lifecycle_state == "Terminating:Wait":
            # CONTINUE or ABANDON: either way a terminating instance is terminated.
            g.instance_states = [s for s in g.instance_states if s is not state]
            backend.ec2_backend.terminate_instances([instance_id])
        return result

    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action


def scale_group_options(endpoint: str, name: str, cmd: dict) -> None:
    """create_scale_group's options: `suspend_az_rebalance` (default true, like template.yaml's
    example group) suspends the AZRebalance process; `terminating_hook` (a name) adds an
    autoscaling:EC2_INSTANCE_TERMINATING lifecycle hook."""
    asg = _client(endpoint, "autoscaling")
    if cmd.get("suspend_az_rebalance", True):
        asg.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["AZRebalance"])
    if cmd.get("terminating_hook"):
        asg.put_lifecycle_hook(LifecycleHookName=cmd["terminating_hook"], AutoScalingGroupName=name,
                               LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
                               HeartbeatTimeout=300, DefaultResult="CONTINUE")


# --- DynamoDB: the 400 KB item limit, measured as DynamoDB measures it -----------------------------


def dynamodb_value_size(v) -> int:
    """Size of one attribute value by DynamoDB's rules (Developer Guide, "DynamoDB item sizes and
    formats"): strings and binaries their UTF-8 / raw bytes; numbers about 1 byte per two
    significant digits + 1; null and Boolean 1; a List or Map 3 bytes + 1 per element + its
    elements (a Map's element also its name); sets the sum of their members."""
    from decimal import Decimal

    from moto.dynamodb.models.dynamo_type import DynamoType

    t, value = v.type, v.value
    if t == "S":
        return len(value.encode())
    if t == "B":
        import base64

        return len(value) if isinstance(value, bytes) else len(base64.b64decode(value))
    if t == "N":
        digits = Decimal(value).normalize().as_tuple().digits
        significant = len(str(int("".join(map(str, digits)) or "0")))
        return (significant + 1) // 2 + 1
    if t in ("BOOL", "NULL"):
        return 1
    if t == "L":
        return 3 + sum(1 + dynamodb_value_size(x if isinstance(x, DynamoType) else DynamoType(x)) for x in value)
    if t == "M":
        return 3 + sum(1 + len(k.encode()) + dynamodb_value_size(x if isinstance(x, DynamoType) else DynamoType(x))
                       for k, x in value.items())
    if t in ("SS", "NS", "BS"):
        return sum(dynamodb_value_size(DynamoType({t[0]: x})) for x in value)
    raise ValueError(f"unknown DynamoDB type {t}")


def dynamodb_item_size(attrs: dict) -> int:
    """An item's size: "the sum of the lengths of its attribute names and values"."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    return sum(len(k.encode()) + (dynamodb_value_size(v) if isinstance(v, DynamoType) else len(str(v).encode()))
               for k, v in attrs.items())


def install_dynamodb_item_size() -> None:
    """DynamoDB's item limit, 400 KB = 409,600 bytes by DynamoDB's size rules: a PutItem or
    UpdateItem past it fails with ValidationException "Item size has exceeded the maximum allowed
    size" (UpdateItem: "Item size to update has exceeded the maximum allowed size"), which no retry
    fixes. moto 5.2.5 refuses with those messages but at 405,000 bytes of its own measure (no
    List/Map overhead, numbers as text) and, on an UpdateItem, counts the old value of the
    attribute being replaced as well as the new one (an item over ~200 KB cannot be updated at
    all). Here the check is DynamoDB's: the item as it would be after the write."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    def __setitem__(self, key, value) -> None:
        after = {k: v for k, v in self.items() if k != key}
        after[key] = value
        if dynamodb_item_size(after) > DYNAMODB_MAX_ITEM_BYTES:
            raise ItemSizeTooLarge
        dict.__setitem__(self, key, value)

    LimitedSizeDict.__setitem__ = __setitem__


def item_size(table: str, key: dict) -> int:
    """The stored item's size in bytes by DynamoDB's rule (`key`: {"jobId": "ID"}, strings)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    t = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(table)
    hash_value = DynamoType({"S": str(key[t.hash_key_attr])})
    range_value = DynamoType({"S": str(key[t.range_key_attr])}) if t.range_key_attr else None
    item = t.get_item(hash_value, range_value)
    if item is None:
        raise ValueError(f"no item {key} in {table}")
    return dynamodb_item_size(item.attrs)


if __name__ == "__main__":
    main()
