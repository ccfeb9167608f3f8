"""daemon-count's acceptance (issue 9 and the first daemon-count issue) on the release binary, and
one scheduled sweep over 100 clusters × 5 daemon services inside the function's 60 s timeout."""

from __future__ import annotations

import json
import time

from testbed.checks import check
from testbed.ecs import daemon_service, desired, register_hosts, set_model, task_definition
from testbed.events import LIFECYCLE_TIME, instance_event, scheduled_event
from testbed.moto import Moto, clients
from testbed.runtime_api import Function


def record_of(out: dict, service: str) -> dict:
    for c in out.get("clusters", []):
        for r in c["services"]:
            if r["service"] == service:
                return r
    raise SystemExit(f"FAILED: no record for {service} in {json.dumps(out)[:600]}")


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
        schedule = scheduled_event(at=LIFECYCLE_TIME)
        started = time.monotonic()
        kind, out = fn.api.invoke(schedule, timeout_s=60)
        took = time.monotonic() - started
        reached = len(out.get("clusters", []))
        updated = sum(1 for c in out.get("clusters", []) for r in c["services"] if r["action"] == "updated")
        check(kind == "response" and reached == clusters and not out.get("not_reached"),
              f"every cluster reached in {took:.1f}s (timeout 60 s): {reached} clusters, {updated} services updated")
    finally:
        fn.stop()
