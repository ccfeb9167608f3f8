"""The acceptance scripts' one check (print `ok` and what held, or stop with `FAILED`), and the
AWS calls that write (an invalid input must cause none)."""

from __future__ import annotations

# Calls that change something in AWS: an invalid input must cause none of them.
WRITES = {
    "UpdateService", "StopTask", "RunTask", "StartTask", "UpdateContainerInstancesState", "PutAttributes",
    "DeleteAttributes", "UpdateTaskSet", "CompleteLifecycleAction", "RecordLifecycleActionHeartbeat",
    "SendMessage", "SendMessageBatch", "DeleteMessage", "PutItem", "UpdateItem", "DeleteItem",
    "BatchWriteItem", "TransactWriteItems", "SetDesiredCapacity", "TerminateInstanceInAutoScalingGroup",
    "SetInstanceProtection",
}


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    print(f"  ok  {what}")
