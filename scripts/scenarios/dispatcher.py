"""task-dispatcher's first acceptance (issue 11) on the release binary: hosts from ECS, jobs in
DynamoDB, lost RunTask answers, exit codes, retries, expiry."""

from __future__ import annotations

import json
import os
import subprocess
import time

from testbed.checks import check
from testbed.ddb import create_jobs_table
from testbed.ecs import register_hosts, task_definition
from testbed.events import LIFECYCLE_TIME, envelope, scheduled_event
from testbed.moto import ACCOUNT, REGION, Moto
from testbed.runtime_api import TARGET, Function


def dispatcher_acceptance(moto: Moto) -> None:
    """Issue 11's acceptance on the release task-dispatcher (hosts from ECS, jobs in DynamoDB).
    moto ignores RunTask's clientToken: exactly-once here rests on the dispatcher's reconcile.
    The test bed loses RunTask answers (its RunTask wrapper) and sets exit codes on moto's task
    model (`finish_task`), which moto's API cannot."""
    print("\ntask-dispatcher (release binary, Lambda Runtime API, moto)")
    moto.command({"op": "reset"})
    moto.command({"op": "pin_ecs_tasks"})
    ecs, ddb = moto.client("ecs"), moto.client("dynamodb")
    ecs.create_cluster(clusterName="jobs")
    (host, _), = register_hosts(moto, ecs, "jobs", 1)
    for family, memory in (("job", 3741), ("filler", 3741), ("huge", 16000)):
        task_definition(ecs, family, memory)
    create_jobs_table(ddb, "jobs")
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/jobs"

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
        return envelope("ECS Task State Change", "aws.ecs", [task], detail, LIFECYCLE_TIME)

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
        fn.invoke(scheduled_event(at=LIFECYCLE_TIME))
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
        fn.invoke(scheduled_event(at=LIFECYCLE_TIME))
        check(runs("huge") == 0 and job("huge")["state"] == "QUEUED", "a job bigger than every host is never started")
        w = job("waits")
        check(w["state"] == "EXPIRED" and "no host has 3741 MiB memory free" in w["reason"],
              f"a waiting job past maxWaitSeconds → EXPIRED ({w['reason']})")
    finally:
        fn.stop()
