"""The IAM table of the test bed: for each AWS call the functions make (service, operation and the
shape of its parameters), the IAM action(s) it is authorized as, the resource ARN(s) each is
authorized against, and the condition keys AWS puts in the request context. One row per
(operation, parameter shape); each row cites the Service Authorization Reference page it follows:

  ECS:         https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html
  DynamoDB:    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html
  Auto Scaling: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html
  SQS:         https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html
  IAM:         https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html

A resource of "*" means the reference lists no resource type for that action (or for that shape:
ListTasks without a container instance). A call no row knows is refused and reported: the bed
never guesses (tests/iam_bed.py).

`authorizations(service, operation, params, backends)` -> list of (iam_action, resource, context);
every one must be allowed. `backends` reads moto's model (a task definition's roles, a group's ARN).
"""

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"

ECS_SAR = "SAR Amazon ECS"
DDB_SAR = "SAR Amazon DynamoDB"
ASG_SAR = "SAR Amazon EC2 Auto Scaling"
SQS_SAR = "SAR Amazon SQS"
IAM_SAR = "SAR IAM (PassRole)"


def _ecs(kind: str, rest: str) -> str:
    return f"arn:{PARTITION}:ecs:{REGION}:{ACCOUNT}:{kind}/{rest}"


def cluster_arn(cluster) -> str:
    cluster = cluster or "default"
    return cluster if cluster.startswith("arn:") else _ecs("cluster", cluster)


def cluster_name(cluster) -> str:
    return cluster_arn(cluster).rsplit("/", 1)[-1]


def _in_cluster(kind: str, cluster, ident: str) -> str:
    """A container-instance / task / service ARN (long format) from an ARN or a short id."""
    return ident if ident.startswith("arn:") else _ecs(kind, f"{cluster_name(cluster)}/{ident}")


def _ecs_context(p: dict) -> dict:
    return {"ecs:cluster": cluster_arn(p.get("cluster"))}


def _run_task(p: dict, backends) -> list:
    """RunTask: the task definition (latest ACTIVE revision when none is named), with ecs:cluster;
    iam:PassRole on the roles RunTask hands ECS; ecs:TagResource on the new task when `tags` are
    given (condition ecs:CreateAction = RunTask)."""
    td = backends.task_definition(p.get("taskDefinition", ""))
    td_arn = td.arn if td is not None else _ecs("task-definition", p.get("taskDefinition", ""))
    out = [("ecs:RunTask", td_arn, _ecs_context(p))]
    overrides = p.get("overrides") or {}
    roles = [
        overrides.get("taskRoleArn") or getattr(td, "task_role_arn", None),
        overrides.get("executionRoleArn") or getattr(td, "execution_role_arn", None),
    ]
    for role in roles:
        if role:
            out.append(("iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
    if p.get("tags"):
        new_task = _ecs("task", f"{cluster_name(p.get('cluster'))}/new-task")
        out.append(("ecs:TagResource", new_task, {"ecs:CreateAction": "RunTask", **_ecs_context(p)}))
    return out


def _list_tasks(p: dict, backends) -> list:
    if p.get("containerInstance"):
        # With a container instance: the container-instance resource (ECS, ListTasks row).
        ci = _in_cluster("container-instance", p.get("cluster"), p["containerInstance"])
        return [("ecs:ListTasks", ci, {**_ecs_context(p), "ecs:container-instance": ci})]
    # By cluster, service, family or startedBy: no resource type, "*", scoped by ecs:cluster.
    return [("ecs:ListTasks", "*", _ecs_context(p))]


def _each(kind: str, key: str):
    def rows(action: str):
        def f(p: dict, backends) -> list:
            return [(action, _in_cluster(kind, p.get("cluster"), i), _ecs_context(p)) for i in p.get(key) or []]
        return f
    return rows


def _table(p: dict) -> str:
    name = p.get("TableName", "")
    if name.startswith("arn:"):
        return name
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def _query(p: dict, backends) -> list:
    if p.get("IndexName"):
        # A Query of an index is authorized against the index ARN (DynamoDB, Query row: index).
        return [("dynamodb:Query", f"{_table(p)}/index/{p['IndexName']}", {})]
    return [("dynamodb:Query", _table(p), {})]


def _group(p: dict, backends) -> str:
    return backends.group_arn(p.get("AutoScalingGroupName"), p.get("InstanceId"))


def _queue(p: dict) -> str:
    name = (p.get("QueueUrl") or "").rstrip("/").rsplit("/", 1)[-1]
    return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"


# (service, operation) -> (function(params, backends) -> [(action, resource, context)], source)
ROWS = {
    ("ecs", "ListClusters"): (lambda p, b: [("ecs:ListClusters", "*", {})], f"{ECS_SAR}: ListClusters, no resource type"),
    ("ecs", "ListServices"): (lambda p, b: [("ecs:ListServices", "*", _ecs_context(p))], f"{ECS_SAR}: ListServices, no resource type, condition ecs:cluster"),
    ("ecs", "DescribeTaskDefinition"): (lambda p, b: [("ecs:DescribeTaskDefinition", "*", {})], f"{ECS_SAR}: DescribeTaskDefinition, no resource type"),
    ("ecs", "DescribeClusters"): (lambda p, b: [("ecs:DescribeClusters", cluster_arn(c), {}) for c in (p.get("clusters") or ["default"])], f"{ECS_SAR}: DescribeClusters, cluster*"),
    ("ecs", "ListContainerInstances"): (lambda p, b: [("ecs:ListContainerInstances", cluster_arn(p.get("cluster")), {})], f"{ECS_SAR}: ListContainerInstances, cluster*"),
    # Two shapes: with a container instance / without (by cluster, service, startedBy).
    ("ecs", "ListTasks"): (_list_tasks, f"{ECS_SAR}: ListTasks, container-instance (optional), conditions ecs:cluster, ecs:container-instance"),
    ("ecs", "DescribeContainerInstances"): (_each("container-instance", "containerInstances")("ecs:DescribeContainerInstances"), f"{ECS_SAR}: DescribeContainerInstances, container-instance*, condition ecs:cluster"),
    ("ecs", "DescribeServices"): (_each("service", "services")("ecs:DescribeServices"), f"{ECS_SAR}: DescribeServices, service*, condition ecs:cluster"),
    ("ecs", "DescribeTasks"): (_each("task", "tasks")("ecs:DescribeTasks"), f"{ECS_SAR}: DescribeTasks, task*, condition ecs:cluster"),
    ("ecs", "UpdateContainerInstancesState"): (_each("container-instance", "containerInstances")("ecs:UpdateContainerInstancesState"), f"{ECS_SAR}: UpdateContainerInstancesState, container-instance*, condition ecs:cluster"),
    ("ecs", "UpdateService"): (lambda p, b: [("ecs:UpdateService", _in_cluster("service", p.get("cluster"), p.get("service", "")), _ecs_context(p))], f"{ECS_SAR}: UpdateService, service*, condition ecs:cluster"),
    ("ecs", "StopTask"): (lambda p, b: [("ecs:StopTask", _in_cluster("task", p.get("cluster"), p.get("task", "")), _ecs_context(p))], f"{ECS_SAR}: StopTask, task*, condition ecs:cluster"),
    ("ecs", "PutAttributes"): (lambda p, b: [("ecs:PutAttributes", _in_cluster("container-instance", p.get("cluster"), a.get("targetId", "")), {}) for a in p.get("attributes") or []], f"{ECS_SAR}: PutAttributes, container-instance*"),
    ("ecs", "DeleteAttributes"): (lambda p, b: [("ecs:DeleteAttributes", _in_cluster("container-instance", p.get("cluster"), a.get("targetId", "")), {}) for a in p.get("attributes") or []], f"{ECS_SAR}: DeleteAttributes, container-instance*"),
    ("ecs", "RunTask"): (_run_task, f"{ECS_SAR}: RunTask, task-definition*, condition ecs:cluster; TagResource on create, condition ecs:CreateAction; {IAM_SAR}: role*, condition iam:PassedToService"),
    ("dynamodb", "GetItem"): (lambda p, b: [("dynamodb:GetItem", _table(p), {})], f"{DDB_SAR}: GetItem, table*"),
    ("dynamodb", "PutItem"): (lambda p, b: [("dynamodb:PutItem", _table(p), {})], f"{DDB_SAR}: PutItem, table*"),
    ("dynamodb", "UpdateItem"): (lambda p, b: [("dynamodb:UpdateItem", _table(p), {})], f"{DDB_SAR}: UpdateItem, table*"),
    ("dynamodb", "Query"): (_query, f"{DDB_SAR}: Query, table* or index"),
    ("autoscaling", "CompleteLifecycleAction"): (lambda p, b: [("autoscaling:CompleteLifecycleAction", _group(p, b), {})], f"{ASG_SAR}: CompleteLifecycleAction, autoScalingGroup*"),
    ("autoscaling", "RecordLifecycleActionHeartbeat"): (lambda p, b: [("autoscaling:RecordLifecycleActionHeartbeat", _group(p, b), {})], f"{ASG_SAR}: RecordLifecycleActionHeartbeat, autoScalingGroup*"),
    ("autoscaling", "DescribeLifecycleHooks"): (lambda p, b: [("autoscaling:DescribeLifecycleHooks", "*", {})], f"{ASG_SAR}: DescribeLifecycleHooks, no resource type"),
    ("autoscaling", "DescribeAutoScalingGroups"): (lambda p, b: [("autoscaling:DescribeAutoScalingGroups", "*", {})], f"{ASG_SAR}: DescribeAutoScalingGroups, no resource type"),
    ("autoscaling", "SetDesiredCapacity"): (lambda p, b: [("autoscaling:SetDesiredCapacity", _group(p, b), {})], f"{ASG_SAR}: SetDesiredCapacity, autoScalingGroup*"),
    ("autoscaling", "TerminateInstanceInAutoScalingGroup"): (lambda p, b: [("autoscaling:TerminateInstanceInAutoScalingGroup", _group(p, b), {})], f"{ASG_SAR}: TerminateInstanceInAutoScalingGroup, autoScalingGroup*"),
    ("sqs", "SendMessage"): (lambda p, b: [("sqs:SendMessage", _queue(p), {})], f"{SQS_SAR}: SendMessage, queue*"),
}


def authorizations(service: str, operation: str, params: dict, backends):
    """The (action, resource, context) the call needs, or None for a call no row knows."""
    row = ROWS.get((service, operation))
    if row is None:
        return None
    return row[0](params, backends)
