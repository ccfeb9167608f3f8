"""Scale from zero (issue 12) on the release task-dispatcher: Auto Scaling groups raised for queued
jobs and returned to zero once idle."""

from __future__ import annotations

import json

from testbed.checks import check
from testbed.ddb import create_jobs_table
from testbed.ecs import task_definition
from testbed.events import LIFECYCLE_TIME, envelope, instance_event, scheduled_event
from testbed.moto import ACCOUNT, REGION, Moto
from testbed.runtime_api import Function


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
    ecs, ddb, asg = (moto.client(n) for n in ("ecs", "dynamodb", "autoscaling"))
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
        kind, out = f.invoke(scheduled_event(at=LIFECYCLE_TIME))
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
        detail = {"clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}", "taskArn": j["taskArn"],
                  "containerInstanceArn": j["containerInstanceArn"], "lastStatus": "STOPPED",
                  "desiredStatus": "STOPPED", "launchType": "EC2", "version": 3,
                  "startedBy": f"ecs-autopilot/{job_id}/{j['launches']}",
                  "containers": [{"name": "sync", "exitCode": exit_code}],
                  "stoppedReason": "Essential container in task exited"}
        kind, _ = fns[cluster].invoke(envelope("ECS Task State Change", "aws.ecs", [j["taskArn"]], detail,
                                                    LIFECYCLE_TIME))
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
