"""ecs-autopilot demo: capacity that exists only while a nightly job needs it (issue 12).

The seed's story end to end on moto, with the release task-dispatcher driven through a local
Lambda Runtime API (scripts/testbed: `Function`): an Auto Scaling group at 0, a nightly
schedule fires, the group goes to 1, the host registers, the job runs and exits 0, the idle host is
removed, the group is back at 0. Printed as a timeline, with the cost of the window against an
always-on instance, and the wake-ups and AWS calls the dispatcher made.

What the test bed does that AWS would (moto has no ECS agent and no Scheduler):
- the Scheduler's invocation is sent as the `submit` payload the template's NightlySchedule sends;
- the group's new EC2 instance is registered as a container instance (what its ECS agent does),
  and deregistered once terminated (what ECS does);
- the job's exit code is set on moto's task model;
- IDLE_SECONDS (300) is not waited out: the stored idle clock is backdated by 300 s.
The durations of the real window (boot and registration, the job's run) are the seed's and stated
below; on moto every step takes milliseconds.

    scripts/demo-nightly [--price 0.0832] [--boot-seconds 90] [--job-seconds 300]
"""

from __future__ import annotations

import argparse
import json

from testbed.ddb import create_jobs_table
from testbed.ecs import task_definition
from testbed.events import ecs_event, instance_event, scheduled_event
from testbed.moto import ACCOUNT, REGION, Moto
from testbed.runtime_api import Function

CLUSTER = "nightly"
GROUP = "nightly-hosts"
SCHEDULE = "nightly-sync"
TICK = "2026-12-01T23:00:00Z"  # 00:00 Europe/Paris, the template's example schedule
IDLE_SECONDS = 300


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--price", type=float, default=0.0832,
                    help="on-demand price per instance-hour (default: t3.large, us-east-1 Linux list price)")
    ap.add_argument("--boot-seconds", type=int, default=90,
                    help="launch to ECS registration, on AWS (assumed; moto: instant)")
    ap.add_argument("--job-seconds", type=int, default=300, help="the job's run (the seed's five-minute script)")
    args = ap.parse_args()

    moto = Moto()
    ecs, ddb, asg = (moto.client(n) for n in ("ecs", "dynamodb", "autoscaling"))
    fn = None
    timeline: list[tuple[int, str]] = []  # (story seconds after the tick, what happened)
    wakeups = 0

    def at(t: int, what: str) -> None:
        timeline.append((t, what))
        print(f"  {fmt(t)}  {what}")

    def invoke(event: dict) -> dict:
        nonlocal wakeups
        wakeups += 1
        kind, out = fn.invoke(event)
        if kind != "response":
            raise SystemExit(f"task-dispatcher answered {kind}: {out}")
        return out

    def sweep() -> dict:
        return invoke(scheduled_event())["wakes"][0]

    def group() -> dict:
        return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]

    def job(job_id: str) -> dict:
        return json.loads(ddb.get_item(TableName="jobs", Key={"jobId": {"S": job_id}})["Item"]["job"]["S"])

    try:
        moto.command({"op": "pin_ecs_tasks"})
        create_jobs_table(ddb, "jobs")
        ecs.create_cluster(clusterName=CLUSTER)
        task_definition(ecs, SCHEDULE, 512)
        moto.command({"op": "create_scale_group", "name": GROUP, "max": 1})
        fn = Function("task-dispatcher", moto, {
            "JOBS_TABLE": "jobs", "CLUSTERS": CLUSTER, "SCALE_GROUP": GROUP,
            "SCALE_GROUP_HOST_CPU": "4096", "SCALE_GROUP_HOST_MEMORY": "7482",
            "IDLE_SECONDS": str(IDLE_SECONDS)})
        moto.command({"op": "aws_calls", "reset": True})
        g = group()
        print(f"Auto Scaling group {GROUP}: desired {g['DesiredCapacity']} (min {g['MinSize']}, max {g['MaxSize']}),"
              f" cluster '{CLUSTER}' has no host.\n")
        print("Timeline (story time after the 00:00 Europe/Paris tick; on moto each step took milliseconds)")

        # 00:00 the schedule fires.
        out = invoke({"action": "submit", "job": {"cluster": CLUSTER, "taskDefinition": SCHEDULE,
                                                  "scheduleName": SCHEDULE, "scheduledTime": TICK,
                                                  "overlap": "skip", "maxAttempts": 2}})
        job_id = out["submitted"]["job"]["jobId"]
        scale = out["wakes"][0]["scale"]
        at(0, f"Scheduler fires {SCHEDULE}: job {job_id} QUEUED; no host → "
              f"SetDesiredCapacity {scale['desired']} → {scale.get('raised_to')}")
        g = group()
        instance_id = g["Instances"][0]["InstanceId"]
        at(1, f"the group launches {instance_id} ({g['Instances'][0]['LifecycleState']}), not registered yet")
        w = sweep()
        at(60, f"sweep: {w['scale']['coming']} host on its way → no second raise (desired {group()['DesiredCapacity']})")
        invoke({"action": "submit", "job": {"cluster": CLUSTER, "taskDefinition": SCHEDULE,
                                            "scheduleName": SCHEDULE, "scheduledTime": TICK}})
        at(61, "the Scheduler retries the same tick: a duplicate, nothing written")

        # The host registers (its ECS agent; the test bed here).
        (host,) = moto.command({"op": "register_group_hosts", "group": GROUP, "cluster": CLUSTER})["hosts"]
        invoke(instance_event(CLUSTER, host["arn"]))
        j = job(job_id)
        t_run = args.boot_seconds
        at(t_run, f"{instance_id} registers (ECS event) → RunTask on it: job {j['state']}")

        # The job exits 0.
        t_end = t_run + args.job_seconds
        ecs.stop_task(cluster=CLUSTER, task=j["taskArn"])
        moto.command({"op": "finish_task", "cluster": CLUSTER, "task": j["taskArn"], "exit_code": 0,
                      "reason": "Essential container in task exited"})
        detail = {"clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}", "taskArn": j["taskArn"],
                  "containerInstanceArn": host["arn"], "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
                  "launchType": "EC2", "version": 3, "startedBy": f"ecs-autopilot/{job_id}/{j['launches']}",
                  "containers": [{"name": SCHEDULE, "exitCode": 0}],
                  "stoppedReason": "Essential container in task exited"}
        out = invoke(ecs_event("ECS Task State Change", j["taskArn"], detail))
        idle = out["wakes"][0]["scale"].get("idle_since", {})
        at(t_end, f"the job exits 0 → {job(job_id)['state']}; {instance_id} idle "
                  f"(clock started: {instance_id in idle})")

        # IDLE_SECONDS pass (backdated) → the host goes, with decrement.
        w = sweep()
        at(t_end + 60, f"sweep: idle {60} s < IDLE_SECONDS {IDLE_SECONDS}: kept "
                       f"(terminated: {w['scale'].get('terminated', [])})")
        key = {"jobId": {"S": f"scale-group#{GROUP}"}}
        item = ddb.get_item(TableName="jobs", Key=key)["Item"]
        body = json.loads(item["control"]["S"])
        body["idleSince"] = {i: t - IDLE_SECONDS for i, t in body["idleSince"].items()}
        item["control"] = {"S": json.dumps(body)}
        ddb.put_item(TableName="jobs", Item=item)
        w = sweep()
        t_gone = t_end + IDLE_SECONDS
        at(t_gone, f"sweep: idle {IDLE_SECONDS} s → TerminateInstanceInAutoScalingGroup {w['scale'].get('terminated')}"
                   f" (decrement; the drainer's hook would drain it) → desired {group()['DesiredCapacity']}")
        moto.command({"op": "deregister_gone_hosts", "cluster": CLUSTER})
        w = sweep()
        at(t_gone + 60, f"sweep: no host, nothing queued: reads only, no Auto Scaling write (group desired {group()['DesiredCapacity']})")

        calls = moto.command({"op": "aws_calls"})["calls"]
        window_h = t_gone / 3600
        always_h = 24.0
        print(f"\nCost of the window ({args.price:.4f} $/instance-hour, per-second billing):")
        print(f"  host from launch to termination: {fmt(t_gone)} = boot {args.boot_seconds} s + job "
              f"{args.job_seconds} s + IDLE_SECONDS {IDLE_SECONDS} s = {window_h:.3f} instance-hours "
              f"→ ${window_h * args.price:.4f} a night, ${window_h * args.price * 30:.2f} a month")
        print(f"  always-on instance: {always_h:.0f} instance-hours → ${always_h * args.price:.2f} a day, "
              f"${always_h * args.price * 30:.2f} a month ({always_h / window_h:.0f}x the window)")
        print(f"  the seed's fixed 00:00–00:15 window: 0.250 instance-hours → ${0.25 * args.price:.4f} a night, "
              "and it kills a run longer than 15 minutes")
        print(f"\nOver the demo window: {wakeups} invocations of task-dispatcher, "
              f"{sum(calls.values())} AWS calls:")
        for name, n in calls.items():
            print(f"  {n:4}  {name}")
    finally:
        if fn is not None:
            fn.stop()
        moto.stop()


def fmt(seconds: int) -> str:
    return f"+{seconds // 60:02}:{seconds % 60:02}"


if __name__ == "__main__":
    main()
