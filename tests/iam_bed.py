"""IAM enforcement in the moto test bed (moto enforces no IAM unless told, and then evaluates every
ECS request against resource "*" ignoring Condition blocks: ecs-notes, "Deploying").

A request signed with an access key id `fn-<LogicalId>` (tests/support/lib.rs `function_clients`,
scripts/testbed/runtime_api.py `Function`) comes from that function of template.yaml: it is authorized against the
function's own policy statements from the template, for the action(s), resource(s) and condition
keys the IAM table gives that call (tests/iam_table.py). A refused request answers AccessDenied as
AWS would; a call the table does not know is refused too and reported. Requests signed otherwise
(the tests' fixtures, key `testing`) are not checked.

What the bed binds in the template (a deployed stack names these itself): parameters take their
defaults, except `ScaleGroupName` (the tests' own groups: "*"); the stack's tables and queues
(`!GetAtt CapacityTable.Arn`, ...) are any table / queue of the test account. `iam_policy` sets a
principal's policy directly (tests of the evaluation itself).

Evaluation: Allow statements only (the template has no Deny); Action matched case-insensitively,
Resource and ARN conditions with IAM's `*` and `?` wildcards; condition operators StringEquals,
StringLike, ArnEquals, ArnLike (another operator fails loudly); a condition key missing from the
request context does not match.
"""

import fnmatch
import json
import re
import threading
import urllib.parse
from pathlib import Path

import iam_table

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "fn-"
LOCK = threading.Lock()
DENIED = []      # {"principal", "action", "resource", "operation"}
UNKNOWN = []     # {"principal", "service", "operation"}
EXERCISED = {}   # principal -> {action: count}
POLICIES = {}    # principal -> [statement] set by iam_policy
PARAMETER_BINDINGS = {"ScaleGroupName": "*"}
# Stands for the name of one stack table in a bound ARN (matched as one path segment).
ONE_NAME = "\x00name\x00"
NO_VALUE = object()


class _Loader:
    """template.yaml with CloudFormation's short tags, as {"Ref": ...} / {"Fn::X": ...}."""

    @staticmethod
    def load(text: str) -> dict:
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        def tag(name):
            def construct(loader, node):
                if isinstance(node, yaml.ScalarNode):
                    value = loader.construct_scalar(node)
                elif isinstance(node, yaml.SequenceNode):
                    value = loader.construct_sequence(node, deep=True)
                else:
                    value = loader.construct_mapping(node, deep=True)
                if name == "GetAtt" and isinstance(value, str):
                    value = value.split(".", 1)
                return {"Ref": value} if name == "Ref" else {f"Fn::{name}": value}
            return construct

        for name in ["Ref", "Sub", "GetAtt", "If", "Join", "Split", "Equals", "Not", "And", "Or",
                     "Condition", "Select"]:
            Loader.add_constructor(f"!{name}", tag(name))
        return yaml.load(text, Loader=Loader)


class Template:
    def __init__(self, text: str):
        self.t = _Loader.load(text)
        self.params = {k: str(v.get("Default", "")) for k, v in self.t.get("Parameters", {}).items()}
        self.params.update(PARAMETER_BINDINGS)
        self.pseudo = {"AWS::Partition": iam_table.PARTITION, "AWS::Region": iam_table.REGION,
                       "AWS::AccountId": iam_table.ACCOUNT, "AWS::URLSuffix": "amazonaws.com",
                       "AWS::StackName": "ecs-autopilot"}

    def binding(self, resource: str, attribute) -> str:
        kind = self.t["Resources"][resource]["Type"]
        if kind == "AWS::DynamoDB::Table":
            # Any one table name of the test account, never more: `table/NAME/index/X` is
            # another resource (a grant on the table ARN does not cover its indexes on AWS).
            return f"arn:{iam_table.PARTITION}:dynamodb:{iam_table.REGION}:{iam_table.ACCOUNT}:table/{ONE_NAME}"
        if kind == "AWS::SQS::Queue":
            return f"arn:{iam_table.PARTITION}:sqs:{iam_table.REGION}:{iam_table.ACCOUNT}:*"
        raise ValueError(f"iam bed: no binding for {resource}.{attribute} ({kind})")

    def ref(self, name: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        return self.binding(name, None)

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.t["Conditions"][name]))

    def resolve(self, v):
        if isinstance(v, dict) and len(v) == 1:
            (key, arg), = v.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.binding(arg[0], arg[1])
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

                def sub(m):
                    name = m.group(1)
                    if name in extra:
                        return str(extra[name])
                    if "." in name:
                        return self.binding(*name.split(".", 1))
                    return str(self.ref(name))
                import re
                return re.sub(r"\$\{([^}!]+)\}", sub, text)
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
        if isinstance(v, dict):
            out = {k: self.resolve(x) for k, x in v.items()}
            return {k: x for k, x in out.items() if x is not NO_VALUE}
        if isinstance(v, list):
            return [x for x in (self.resolve(x) for x in v) if x is not NO_VALUE]
        return v

    def statements(self, function: str) -> list:
        resource = self.t["Resources"].get(function)
        if resource is None or resource.get("Type") != "AWS::Serverless::Function":
            raise ValueError(f"iam bed: {function} is no function of template.yaml")
        out = []
        for policy in self.resolve(resource["Properties"].get("Policies", [])):
            out.extend(policy.get("Statement", []))
        return out


_TEMPLATE = None


def template() -> Template:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = Template((ROOT / "template.yaml").read_text())
    return _TEMPLATE


def _list(v) -> list:
    return v if isinstance(v, list) else [v]


def _like(pattern: str, value: str) -> bool:
    if ONE_NAME in pattern:
        # fnmatch's `*` crosses `/`; a stack resource's name is one path segment.
        parts = [fnmatch.translate(p.replace("[", "[[]"))[4:-3] for p in pattern.split(ONE_NAME)]
        return re.fullmatch("[^/]+".join(parts), value, re.S) is not None
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _conditions_hold(conditions: dict, context: dict) -> bool:
    for operator, keys in conditions.items():
        for key, wanted in keys.items():
            have = context.get(key)
            if have is None:
                return False
            if operator == "StringEquals" or operator == "ArnEquals":
                if have not in _list(wanted):
                    return False
            elif operator in ("StringLike", "ArnLike"):
                if not any(_like(w, have) for w in _list(wanted)):
                    return False
            else:
                raise ValueError(f"iam bed: condition operator {operator} is not implemented")
    return True


def allowed(statements: list, action: str, resource: str, context: dict) -> bool:
    for s in statements:
        if s.get("Effect") != "Allow":
            raise ValueError(f"iam bed: only Allow statements are evaluated: {s}")
        if not any(_like(a.lower(), action.lower()) for a in _list(s.get("Action", []))):
            continue
        if not any(_like(r, resource) for r in _list(s.get("Resource", []))):
            continue
        if "Condition" in s and not _conditions_hold(s["Condition"], context):
            continue
        return True
    return False


class Backends:
    """What the IAM table reads from moto's model."""

    def task_definition(self, ident: str):
        from moto.ecs.models import ecs_backends
        try:
            return ecs_backends[iam_table.ACCOUNT][iam_table.REGION].describe_task_definition(ident)
        except Exception:
            return None

    def group_arn(self, name, instance_id) -> str:
        from moto.autoscaling.models import autoscaling_backends
        groups = autoscaling_backends[iam_table.ACCOUNT][iam_table.REGION].autoscaling_groups
        for group in groups.values():
            if group.name == name or (instance_id and any(
                    s.instance.id == instance_id for s in group.instance_states)):
                return group.arn
        # A group moto does not have: the ARN shape, with a placeholder id.
        return (f"arn:{iam_table.PARTITION}:autoscaling:{iam_table.REGION}:{iam_table.ACCOUNT}:"
                f"autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/{name}")


def principal_of(headers) -> str | None:
    auth = headers.get("Authorization") or headers.get("authorization") or ""
    marker = "Credential="
    if marker not in auth:
        return None
    key = auth.split(marker, 1)[1].split("/", 1)[0]
    return key[len(PREFIX):] if key.startswith(PREFIX) else None


def _params(response) -> dict:
    body = response.body
    if isinstance(body, dict):  # moto's DynamoDB has parsed it already
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = body or ""
    content_type = (response.headers.get("Content-Type") or response.headers.get("content-type") or "")
    if "json" in content_type or body.startswith("{"):
        try:
            return json.loads(body) if body else {}
        except ValueError:
            return {}
    return {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}


def _service(response) -> str:
    name = getattr(response, "service_name", "") or ""
    return {"sqs": "sqs", "ecs": "ecs", "dynamodb": "dynamodb", "autoscaling": "autoscaling"}.get(name, name)


def _denial(response, message: str):
    content_type = response.headers.get("Content-Type") or response.headers.get("content-type") or ""
    if "json" in content_type:
        body = json.dumps({"__type": "AccessDeniedException", "message": message})
        return 400, {"Content-Type": content_type, "x-amzn-ErrorType": "AccessDeniedException"}, body
    body = ("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{message}</Message></Error><RequestId>iam-bed</RequestId></ErrorResponse>")
    return 403, {"Content-Type": "text/xml"}, body


def check(response):
    """None to let the call through, else the (status, headers, body) of the refusal."""
    principal = principal_of(response.headers)
    if principal is None:
        return None
    service, operation = _service(response), response._get_action()
    needed = iam_table.authorizations(service, operation, _params(response), Backends())
    with LOCK:
        if needed is None:
            UNKNOWN.append({"principal": principal, "service": service, "operation": operation})
            return _denial(response, f"iam bed: {service}:{operation} is not in tests/iam_table.py")
        statements = POLICIES.get(principal)
        if statements is None:
            statements = template().statements(principal)
        for action, resource, context in needed:
            if not allowed(statements, action, resource, context):
                DENIED.append({"principal": principal, "action": action, "resource": resource,
                               "operation": operation})
                return _denial(response, f"User: {principal} is not authorized to perform: {action} "
                                         f"on resource: {resource} because no identity-based policy "
                                         "allows the action")
        counts = EXERCISED.setdefault(principal, {})
        for action, _, _ in needed:
            counts[action] = counts.get(action, 0) + 1
    return None


def install_iam_enforcement() -> None:
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action

    def call_action(self):
        refusal = check(self)
        return refusal if refusal is not None else original(self)

    BaseResponse.call_action = call_action


def command(cmd: dict) -> dict:
    op = cmd["op"]
    if op == "iam_policy":
        with LOCK:
            POLICIES[cmd["principal"]] = cmd["statements"]
        return {"ok": True}
    if op == "iam_report":
        with LOCK:
            return {"denied": list(DENIED), "unknown": list(UNKNOWN),
                    "exercised": {p: dict(a) for p, a in EXERCISED.items()}}
    if op == "iam_granted":
        t = template()
        out = {}
        for name, r in t.t["Resources"].items():
            if r.get("Type") == "AWS::Serverless::Function":
                out[name] = sorted({a for s in t.statements(name) for a in _list(s.get("Action", []))})
        return {"granted": out}
    raise ValueError(f"unknown iam op {op}")
