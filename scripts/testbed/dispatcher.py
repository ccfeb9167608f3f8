"""The task-dispatcher test bed the v2, volume and policy scenarios (and scripts/dispatcher-scale)
share: `DispatcherBed` (one jobs table, one dispatcher per cluster, readers of the dispatcher's
durable state) and the set-ups built on it."""

from __future__ import annotations

import json
import time

from testbed.checks import check
from testbed.ddb import create_jobs_table
from testbed.ecs import register_hosts
from testbed.events import envelope, instance_event, scheduled_event
from testbed.moto import Moto
from testbed.runtime_api import Function


class DispatcherBed:
    """What the v2 scenarios share: one jobs table, the clients, one task-dispatcher per cluster
    (CLUSTERS names only that cluster, so its sweeps touch nothing else), and readers of the
    dispatcher's durable state (the jobs table, as job_store.rs writes it: the job's JSON in `job`)."""

    TABLE = "jobs"

    def __init__(self, moto: Moto) -> None:
        self.moto = moto
        self.ecs, self.ddb, self.asg, self.ec2 = (moto.client(n) for n in ("ecs", "dynamodb", "autoscaling", "ec2"))
        self.functions: list[Function] = []

    @classmethod
    def fresh(cls, moto: Moto) -> "DispatcherBed":
        """A bed on a reset moto (tasks pinned RUNNING until stopped) with an empty jobs table."""
        moto.command({"op": "reset"})
        moto.command({"op": "pin_ecs_tasks"})
        bed = cls(moto)
        create_jobs_table(bed.ddb, cls.TABLE)
        return bed

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

    def submit(self, fn: Function, job: dict, request_id: str | None = None) -> tuple[str, dict]:
        return fn.invoke({"action": "submit", "job": {"cluster": fn.cluster, **job}},  # type: ignore[attr-defined]
                         request_id=request_id)

    def sweep(self, fn: Function) -> tuple[str, dict]:
        return fn.invoke(scheduled_event())

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
        return envelope("ECS Task State Change", "aws.ecs", [task_arn], detail)

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
