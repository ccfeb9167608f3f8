"""ECS set-up on moto: hosts (EC2 instances registered as container instances), task
definitions, daemon services, and the test bed's direct edits of moto's model."""

from __future__ import annotations

import json

from testbed.moto import REGION, Moto


def register_hosts(moto: Moto, ecs, cluster: str, count: int, instance_type: str = "t3.large",
                   zone: str = "us-east-1a") -> list[tuple[str, str]]:
    """(container instance ARN, EC2 id) of `count` new hosts of `cluster`."""
    out = []
    for instance_id in moto.command(
        {"op": "run_instances", "instance_type": instance_type, "availability_zone": zone, "count": count}
    )["instance_ids"]:
        doc = {"instanceId": instance_id, "instanceType": instance_type, "availabilityZone": zone,
               "region": REGION}
        ci = ecs.register_container_instance(cluster=cluster, instanceIdentityDocument=json.dumps(doc))
        out.append((ci["containerInstance"]["containerInstanceArn"], instance_id))
    return out


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
