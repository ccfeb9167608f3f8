"""Events as AWS delivers them to the functions: EventBridge envelopes (ECS, Auto Scaling,
scheduled) and Lambda's SQS batch."""

from __future__ import annotations

import json
import time
import uuid

from testbed.moto import ACCOUNT, REGION

# The drainer's clock is the system's here: events carry the current time, as EventBridge's do.
LIFECYCLE_TIME = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def envelope(detail_type: str, source: str, resources: list, detail: dict, at: str | None = None) -> dict:
    """An EventBridge envelope around `detail` (ECS puts the Task / ContainerInstance object there),
    sent now (or `at`)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
            "account": ACCOUNT, "time": at or now(), "region": REGION, "resources": resources, "detail": detail}


def ecs_event(detail_type: str, resource: str, detail: dict) -> dict:
    """An ECS event about `resource` (a task or container instance ARN)."""
    return envelope(detail_type, "aws.ecs", [resource], detail)


def scheduled_event(rule: str | None = None, at: str | None = None) -> dict:
    """EventBridge Scheduler's / a schedule rule's event (`rule`: the rule's name in `resources`)."""
    resources = [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"] if rule else []
    return envelope("Scheduled Event", "aws.events", resources, {}, at)


def lifecycle_event(instance_id: str, token: str, hook: str = "ecs-autopilot-drain") -> dict:
    """Auto Scaling's terminate lifecycle action for `instance_id` of group `ecs-asg` (cluster
    `prod` in its notification metadata)."""
    return envelope("EC2 Instance-terminate Lifecycle Action", "aws.autoscaling", [], {
        "LifecycleActionToken": token, "AutoScalingGroupName": "ecs-asg", "LifecycleHookName": hook,
        "EC2InstanceId": instance_id, "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
        "NotificationMetadata": json.dumps({"cluster": "prod"}),
    }, LIFECYCLE_TIME)


def sqs_batch(bodies: list[str]) -> dict:
    """Lambda's SQS event of one message per body (message ids m0, m1, ...)."""
    return {"Records": [
        {"messageId": f"m{i}", "receiptHandle": "r", "body": b, "attributes": {}, "messageAttributes": {},
         "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
         "awsRegion": REGION}
        for i, b in enumerate(bodies)
    ]}


def instance_event(cluster: str, arn: str, seconds_ago: int = 0) -> dict:
    """A Container Instance State Change of an ACTIVE host (version 3), sent `seconds_ago`."""
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))
    return envelope("ECS Container Instance State Change", "aws.ecs", [arn], {
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}",
        "containerInstanceArn": arn, "status": "ACTIVE", "version": 3}, at)
