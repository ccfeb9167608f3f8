"""task-dispatcher v2 (issue 19) on the release binary: essential containers, refusals, lost
answers, infrastructure stops, forgotten tasks, terminating hosts, jobs that never fit, the same
request twice. Each scenario has its own cluster and dispatcher."""

from __future__ import annotations

import json
import time

from scenarios.bed_self_check import bed_self_check
from testbed.checks import check
from testbed.dispatcher import DispatcherBed
from testbed.moto import Moto


def dispatcher_v2_acceptance(moto: Moto) -> None:
    """Issue 19's acceptance on the release task-dispatcher, driven as Lambda drives it (Runtime
    API, request ids), on moto with the test bed's issue-19 rules (checked first by
    bed_self_check): RunTask honours clientToken and host pins and refuses on demand, ListTasks
    takes startedBy alone and can lag, DescribeTasks reports forgotten tasks MISSING, tasks stop
    with per-container exit codes and a stopCode, group instances wait in Terminating:Wait,
    DynamoDB refuses items past 400 KB. Each scenario has its own cluster and dispatcher."""
    bed_self_check(moto)
    print("\ntask-dispatcher v2 (issue 19; release binary, Lambda Runtime API, moto)")
    bed = DispatcherBed.fresh(moto)
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
