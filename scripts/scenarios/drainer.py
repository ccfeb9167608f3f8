"""instance-drainer's acceptance (issue 10) on the release binary: foreign hooks, a non-ECS
instance, a drain through 20 re-checks delivered twice each, a failing re-check, a spot stop warning."""

from __future__ import annotations

import time

from testbed.checks import check
from testbed.ecs import register_hosts
from testbed.events import LIFECYCLE_TIME, envelope, lifecycle_event, sqs_batch
from testbed.moto import ACCOUNT, REGION, ROOT, Moto, clients
from testbed.runtime_api import Function


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
        warning = envelope("EC2 Spot Instance Interruption Warning", "aws.ec2", [],
                           {"instance-id": instance_id, "instance-action": "stop"}, LIFECYCLE_TIME)
        kind, out = drainer.invoke(warning)
        check(out["record"]["outcome"] == "draining" and host_status(ecs, arn)["status"] == "DRAINING",
              "spot stop warning: the host is DRAINING")

        def host_event(connected: bool, version: int) -> dict:
            ci = host_status(ecs, arn)
            return envelope("ECS Container Instance State Change", "aws.ecs", [arn], {
                "clusterArn": ci.get("clusterArn", f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"),
                "containerInstanceArn": arn, "ec2InstanceId": instance_id, "status": ci["status"],
                "agentConnected": connected, "attributes": ci.get("attributes", []), "version": version},
                LIFECYCLE_TIME)

        kind, out = drainer.invoke(host_event(False, 5))
        check(out["record"]["outcome"] == "marked_stopped", "the instance stops (agent disconnected): recorded")
        kind, out = drainer.invoke(host_event(True, 6))
        check(out["record"]["outcome"] == "reactivated" and host_status(ecs, arn)["status"] == "ACTIVE",
              "the instance is back (agent connected): the host is ACTIVE again")
    finally:
        drainer.stop()
