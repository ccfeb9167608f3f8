"""The test bed's own issue-19 rules, checked from boto3 (no binary): what ECS, Auto Scaling and
DynamoDB refuse or do where moto does not. `scripts/acceptance.py test-bed` runs it alone;
dispatcher_v2 runs it first."""

from __future__ import annotations

from testbed.checks import check
from testbed.ddb import create_jobs_table
from testbed.ecs import register_hosts
from testbed.moto import Moto


def bed_self_check(moto: Moto) -> None:
    """The test bed's issue-19 rules (tests/moto_server.py: install_run_task_rules, install_task_views,
    finish_task_containers, install_group_termination, install_dynamodb_item_size) checked from boto3
    on a reset moto, so that a failing v2 scenario is the dispatcher's and not the bed's. No binary."""
    import botocore.config
    from botocore.exceptions import ClientError

    print("\ntest bed: what ECS, Auto Scaling and DynamoDB refuse or do where moto does not")
    moto.command({"op": "reset"})
    moto.command({"op": "pin_ecs_tasks"})
    ecs = moto.client("ecs", config=botocore.config.Config(retries={"max_attempts": 0}))
    asg, ddb = moto.client("autoscaling"), moto.client("dynamodb")

    def error(call, **params) -> dict:
        try:
            call(**params)
        except ClientError as e:
            return {**e.response["Error"], "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                    "resourceIds": e.response.get("resourceIds")}
        return {}

    def calls(token: str) -> list:
        return [c for c in moto.command({"op": "run_task_calls"})["calls"] if c.get("clientToken") == token]

    ecs.create_cluster(clusterName="bed")
    hosts = register_hosts(moto, ecs, "bed", 2)
    ecs.register_task_definition(family="bed-app", containerDefinitions=[
        {"name": "app", "image": "busybox", "memory": 256, "essential": True},
        {"name": "sidecar", "image": "busybox", "memory": 64, "essential": False}])
    pin = [{"type": "memberOf", "expression": f"ec2InstanceId == {hosts[1][1]}"}]
    run = dict(cluster="bed", taskDefinition="bed-app", startedBy="ecs-autopilot/bed/1", placementConstraints=pin)
    first = ecs.run_task(clientToken="bed/1", **run)["tasks"]
    again = ecs.run_task(clientToken="bed/1", **run)["tasks"]
    listed = ecs.list_tasks(cluster="bed")["taskArns"]
    check(len(first) == 1 and [t["taskArn"] for t in again] == [first[0]["taskArn"]] and len(listed) == 1
          and first[0]["containerInstanceArn"] == hosts[1][0]
          and [c["outcome"] for c in calls("bed/1")] == ["started", "replayed"],
          "RunTask: the same clientToken and request → the original task, nothing started; the pin is honoured")
    unpinned = {k: v for k, v in run.items() if k != "placementConstraints"}
    e = error(ecs.run_task, clientToken="bed/1", **unpinned)
    check(e.get("Code") == "ConflictException" and e["status"] == 400 and e["resourceIds"] == [first[0]["taskArn"]]
          and calls("bed/1")[-1]["differ"] == ["placementConstraints"],
          "the same token without the pin → HTTP 400 ConflictException naming the task in resourceIds")
    ecs.create_cluster(clusterName="bed-other")
    register_hosts(moto, ecs, "bed-other", 1)
    elsewhere = ecs.run_task(clientToken="bed/1", **{**unpinned, "cluster": "bed-other"})["tasks"]
    check(len(elsewhere) == 1 and elsewhere[0]["taskArn"] != first[0]["taskArn"],
          "the same token in another cluster is another request (tokens are scoped to the cluster)")
    moto.command({"op": "refuse_run_task", "task_definition": "bed-app", "reason": "ATTRIBUTE"})
    refused = ecs.run_task(clientToken="bed/2", **unpinned)
    moto.command({"op": "refuse_run_task", "task_definition": "bed-app", "reason": None})
    replay = ecs.run_task(clientToken="bed/2", **unpinned)
    check(refused["tasks"] == [] and {f["reason"] for f in refused["failures"]} == {"ATTRIBUTE"}
          and replay["tasks"] == [] and replay["failures"] == refused["failures"],
          "refuse_run_task: HTTP 200, no task, failures[] ATTRIBUTE; the same token replays that answer")
    nowhere = ecs.run_task(clientToken="bed/3", **{**run, "placementConstraints": [
        {"type": "memberOf", "expression": "ec2InstanceId == i-00000000000000000"}]})
    check(nowhere["tasks"] == [] and {f["reason"] for f in nowhere["failures"]}
          == {"MemberOf placement constraint unsatisfied"}, "a pin naming no host of the cluster: not placed")

    moto.command({"op": "lose_run_task_responses", "count": 1})
    lost = error(ecs.run_task, clientToken="bed/4", **{**run, "startedBy": "ecs-autopilot/bed/4"})
    retried = ecs.run_task(clientToken="bed/4", **{**run, "startedBy": "ecs-autopilot/bed/4"})["tasks"]
    check(lost.get("status") == 500 and len(retried) == 1 and [c["lost"] for c in calls("bed/4")] == [True, False]
          and calls("bed/4")[0]["tasks"] == [retried[0]["taskArn"]],
          "a lost RunTask answer: the retry with the same token returns the task moto started")

    task = first[0]["taskArn"]
    moto.command({"op": "finish_task", "cluster": "bed", "task": task, "containers": {"app": 0, "sidecar": 137},
                  "stop_code": "EssentialContainerExited", "reason": "Essential container in task exited"})
    d = ecs.describe_tasks(cluster="bed", tasks=[task])["tasks"][0]
    check(d.get("stopCode") == "EssentialContainerExited" and d["lastStatus"] == "STOPPED"
          and {c["name"]: c.get("exitCode") for c in d["containers"]} == {"app": 0, "sidecar": 137},
          "finish_task with containers: DescribeTasks reports stopCode and each container's exit code")
    other = retried[0]["taskArn"]
    moto.command({"op": "finish_task", "cluster": "bed", "task": other, "containers": {},
                  "stop_code": "TerminationNotice", "reason": "host terminated"})
    d = ecs.describe_tasks(cluster="bed", tasks=[other])["tasks"][0]
    check(d.get("stopCode") == "TerminationNotice" and all("exitCode" not in c for c in d["containers"]),
          "a container without an exit code has none in DescribeTasks")

    e = error(ecs.list_tasks, cluster="bed", startedBy="ecs-autopilot/bed/1", desiredStatus="STOPPED")
    check(e.get("Code") == "InvalidParameterException",
          "ListTasks: startedBy with desiredStatus → InvalidParameterException (startedBy must be the only filter)")
    moto.command({"op": "hide_tasks_from_list", "count": 1})
    hidden = ecs.list_tasks(cluster="bed", startedBy="ecs-autopilot/bed/1")["taskArns"]
    shown = ecs.list_tasks(cluster="bed", startedBy="ecs-autopilot/bed/1")["taskArns"]
    check(hidden == [] and shown == [task], "hide_tasks_from_list 1: the next ListTasks by startedBy is empty, then not")
    moto.command({"op": "forget_task", "cluster": "bed", "task": task})
    d = ecs.describe_tasks(cluster="bed", tasks=[task])
    check(d["tasks"] == [] and d["failures"] == [{"arn": task, "reason": "MISSING"}]
          and task not in ecs.list_tasks(cluster="bed", desiredStatus="STOPPED")["taskArns"],
          "forget_task: no longer listed; DescribeTasks answers a MISSING failure")
    e = error(ecs.describe_tasks, cluster="bed", tasks=[f"t{i}" for i in range(101)])
    check(e.get("Code") == "InvalidParameterException", "DescribeTasks of 101 tasks → InvalidParameterException")

    def group(name: str) -> dict:
        return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]

    moto.command({"op": "create_scale_group", "name": "bed-kept", "max": 3, "desired": 2})
    moto.command({"op": "create_scale_group", "name": "bed-rebalanced", "max": 3, "desired": 3,
                  "suspend_az_rebalance": False})
    moto.command({"op": "create_scale_group", "name": "bed-hooked", "max": 3, "desired": 2,
                  "terminating_hook": "drain"})
    check([p["ProcessName"] for p in group("bed-kept")["SuspendedProcesses"]] == ["AZRebalance"]
          and group("bed-rebalanced")["SuspendedProcesses"] == [],
          "create_scale_group suspends AZRebalance by default; DescribeAutoScalingGroups reports it")
    victim = group("bed-kept")["Instances"][0]["InstanceId"]
    asg.terminate_instance_in_auto_scaling_group(InstanceId=victim, ShouldDecrementDesiredCapacity=True)
    g = group("bed-kept")
    check(g["DesiredCapacity"] == 1 and victim not in [i["InstanceId"] for i in g["Instances"]]
          and moto.command({"op": "rebalance_terminations"})["terminations"] == [],
          "AZRebalance suspended, no hook: the instance goes, nothing else is terminated")
    before = [i["InstanceId"] for i in group("bed-rebalanced")["Instances"]]
    asg.terminate_instance_in_auto_scaling_group(InstanceId=before[0], ShouldDecrementDesiredCapacity=True)
    (rebalanced,) = moto.command({"op": "rebalance_terminations"})["terminations"]
    after = [i["InstanceId"] for i in group("bed-rebalanced")["Instances"]]
    check(rebalanced["requested"] == before[0] and rebalanced["terminated"] in before[1:]
          and rebalanced["terminated"] not in after and len(after) == 2,
          "AZRebalance not suspended: a decrementing terminate also terminates another instance (recorded)")
    hooked = group("bed-hooked")["Instances"][0]["InstanceId"]
    asg.terminate_instance_in_auto_scaling_group(InstanceId=hooked, ShouldDecrementDesiredCapacity=True)
    state = {i["InstanceId"]: i["LifecycleState"] for i in group("bed-hooked")["Instances"]}
    check(state.get(hooked) == "Terminating:Wait" and group("bed-hooked")["DesiredCapacity"] == 1,
          "a group with a terminating hook keeps the instance in Terminating:Wait")
    asg.complete_lifecycle_action(LifecycleHookName="drain", AutoScalingGroupName="bed-hooked",
                                  LifecycleActionResult="CONTINUE", InstanceId=hooked)
    check(hooked not in [i["InstanceId"] for i in group("bed-hooked")["Instances"]],
          "CompleteLifecycleAction ends the wait: the instance leaves the group")
    left = group("bed-hooked")["Instances"][0]["InstanceId"]
    moto.command({"op": "set_group_instance_state", "group": "bed-hooked", "instance": left,
                  "state": "Terminating:Wait"})
    check(group("bed-hooked")["Instances"][0]["LifecycleState"] == "Terminating:Wait",
          "set_group_instance_state: DescribeAutoScalingGroups reports the state set")

    create_jobs_table(ddb, "bed-jobs")
    ddb.put_item(TableName="bed-jobs", Item={"jobId": {"S": "small"}, "job": {"S": "x" * 1000},
                                             "revision": {"N": "12345"}, "m": {"M": {"k": {"S": "v"}}}})
    size = moto.command({"op": "item_size", "table": "bed-jobs", "key": {"jobId": "small"}})["bytes"]
    # jobId+small 10, job+1000 1003, revision + 5 digits (3+1) 12, m + map (3 + 1 + k + v) 7
    check(size == 1032, f"item_size by DynamoDB's rule: {size} bytes")
    limit = 400 * 1024
    at_limit = "x" * (limit - len("jobId") - len("edge") - len("job"))
    ddb.put_item(TableName="bed-jobs", Item={"jobId": {"S": "edge"}, "job": {"S": at_limit}})
    e = error(ddb.put_item, TableName="bed-jobs", Item={"jobId": {"S": "edge"}, "job": {"S": at_limit + "y"}})
    check(e.get("Code") == "ValidationException" and "Item size has exceeded the maximum allowed size" in e["Message"],
          "an item of exactly 400 KB (409,600 bytes) is stored; one byte more → ValidationException")
    ddb.put_item(TableName="bed-jobs", Item={"jobId": {"S": "grow"}, "job": {"S": "x" * 300_000}})
    ddb.update_item(TableName="bed-jobs", Key={"jobId": {"S": "grow"}}, UpdateExpression="SET job = :j",
                    ExpressionAttributeValues={":j": {"S": "y" * 300_001}})
    e = error(ddb.update_item, TableName="bed-jobs", Key={"jobId": {"S": "grow"}}, UpdateExpression="SET job = :j",
              ExpressionAttributeValues={":j": {"S": "y" * limit}})
    check(e.get("Code") == "ValidationException",
          "UpdateItem: a 300 KB attribute can be replaced (moto alone refuses), a 400 KB one cannot")
    moto.command({"op": "reset"})
