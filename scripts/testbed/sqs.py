"""Lambda's SQS event source mapping in front of the release task-dispatcher (`EventSourceMapping`),
with its settings read from template.yaml (`dispatcher_queue_settings`)."""

from __future__ import annotations

import json
import queue
import sys
import threading
import time

from testbed.dispatcher import DispatcherBed
from testbed.moto import REGION, ROOT
from testbed.runtime_api import Function


# What template.yaml's queue event source is assumed to be when it does not declare one yet.
QUEUE_DEFAULTS = {"batch_size": 1000, "window_s": 5, "concurrency": 2, "report_failures": True,
                  "timeout_s": 60, "visibility_timeout": 360, "max_receive_count": 5}


def dispatcher_queue_settings() -> dict:
    """The task-dispatcher's SQS event source mapping and its queue as template.yaml declares them:
    `TaskDispatcherFunction.Properties.Events.Queue` (Type SQS: BatchSize,
    MaximumBatchingWindowInSeconds, FunctionResponseTypes, ScalingConfig.MaximumConcurrency), the
    function's Timeout, `TaskDispatcherQueue`'s VisibilityTimeout and RedrivePolicy
    maxReceiveCount. A template without the queue event: QUEUE_DEFAULTS, with a note."""
    sys.path.insert(0, str(ROOT / "tests"))
    from iam_bed import _Loader  # noqa: E402  (template.yaml with CloudFormation's short tags)

    t = _Loader.load((ROOT / "template.yaml").read_text())
    resources = t.get("Resources", {})
    fn = resources.get("TaskDispatcherFunction", {}).get("Properties", {})
    event = (fn.get("Events") or {}).get("Queue") or {}
    if event.get("Type") != "SQS":
        print(f"  note: template.yaml has no SQS event `Queue` on TaskDispatcherFunction: assumed BatchSize "
              f"{QUEUE_DEFAULTS['batch_size']}, window {QUEUE_DEFAULTS['window_s']} s, MaximumConcurrency "
              f"{QUEUE_DEFAULTS['concurrency']}")
        return dict(QUEUE_DEFAULTS)
    p = event.get("Properties", {})
    queue = resources.get("TaskDispatcherQueue", {}).get("Properties", {})
    redrive = queue.get("RedrivePolicy") or {}
    return {
        # Lambda's defaults for an SQS event source: 10 messages, no window, no concurrency cap
        # (the cap here: the template's reserved concurrency, else SQS's minimum, 2).
        "batch_size": int(p.get("BatchSize", 10)),
        "window_s": float(p.get("MaximumBatchingWindowInSeconds", 0)),
        "concurrency": int((p.get("ScalingConfig") or {}).get("MaximumConcurrency")
                           or fn.get("ReservedConcurrentExecutions") or 2),
        "report_failures": "ReportBatchItemFailures" in (p.get("FunctionResponseTypes") or []),
        "timeout_s": float(fn.get("Timeout", 3)),
        "visibility_timeout": int(queue.get("VisibilityTimeout", 30)),
        "max_receive_count": int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
    }


class EventSourceMapping:
    """Lambda's SQS event source mapping in front of the release task-dispatcher, on a real (moto)
    queue pair: `<cluster>-dispatcher-queue` (the template's TaskDispatcherQueue: its visibility
    timeout, and its redrive policy to the failure queue) and `<cluster>-dispatcher-failures`
    (TaskDispatcherFailures, the function's DEAD_LETTER_QUEUE_URL).

    Emulated, from `settings` (dispatcher_queue_settings, read from template.yaml):
    - MaximumConcurrency pollers, each owning its own task-dispatcher process (one of Lambda's
      concurrent execution environments: one batch at a time each), all with the same env
      (CLUSTERS=<cluster>, JOBS_TABLE, DEAD_LETTER_QUEUE_URL).
    - A poller long-polls ReceiveMessage (at most 10 messages a call, attributes All) and closes its
      batch when it holds BatchSize messages or MaximumBatchingWindowInSeconds have passed since its
      first message; then it invokes its function synchronously (deadline: the function's Timeout)
      with the SQS event as Lambda shapes it: Records of messageId, receiptHandle, body, attributes
      (ApproximateReceiveCount, SentTimestamp, ...), messageAttributes {}, md5OfBody, eventSource
      `aws:sqs`, eventSourceARN, awsRegion.
    - With ReportBatchItemFailures it deletes the messages not listed in the response's
      batchItemFailures; an itemIdentifier that is empty or not in the batch makes the whole batch
      a failure, as Lambda treats an invalid partial response. Without it: all deleted on success.
      A function error (or no answer by the deadline): nothing deleted — the messages come back
      after the visibility timeout and the queue's redrive policy counts their receives.
    - `redeliver_once(message_id)`: that message is not deleted after its first successful
      delivery and is made visible again at once (ChangeMessageVisibility 0), as when a poller's
      DeleteMessage is lost: SQS delivers it again with the same messageId (receive count 2).

    Not emulated: Lambda's 6 MB invocation payload cut (a batch closes on count and window only);
    poller scaling (Lambda starts with a few pollers and adds them with the backlog up to
    MaximumConcurrency; here exactly that many poll from the start); throttling and the backoff
    after function errors; message attributes (none are sent). The window is checked between
    long polls of at most 1 s, so a batch can close up to ~1 s after its window. ReceiveMessage
    calls are serialized: moto can hand one message to two concurrent receivers, which SQS does
    not within the visibility timeout.
    """

    def __init__(self, bed: DispatcherBed, cluster: str, settings: dict, start: bool = True) -> None:
        self.bed, self.cluster, self.settings = bed, cluster, settings
        self.sqs = bed.moto.client("sqs")
        self.failures_url = self.sqs.create_queue(QueueName=f"{cluster}-dispatcher-failures")["QueueUrl"]
        failures_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.failures_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"VisibilityTimeout": str(settings["visibility_timeout"])}
        if settings.get("max_receive_count"):
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": failures_arn,
                                                      "maxReceiveCount": settings["max_receive_count"]})
        self.url = self.sqs.create_queue(QueueName=f"{cluster}-dispatcher-queue", Attributes=attributes)["QueueUrl"]
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.functions = []
        for i in range(settings["concurrency"]):
            fn = Function("task-dispatcher", bed.moto, {"JOBS_TABLE": bed.TABLE, "CLUSTERS": cluster,
                                                        "DEAD_LETTER_QUEUE_URL": self.failures_url},
                          log_name=f"task-dispatcher-{cluster}-poller{i}")
            fn.cluster = cluster  # type: ignore[attr-defined]
            self.functions.append(fn)
        self.invocations: list[dict] = []  # one per batch: poller, message ids, answer, deletes
        self._redeliver: set[str] = set()
        self._busy = [False] * len(self.functions)
        self._cond = threading.Condition()
        self._receive = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        if start:
            self.start()

    def start(self) -> None:
        for i in range(len(self.functions)):
            t = threading.Thread(target=self._poll, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)

    def redeliver_once(self, message_id: str) -> None:
        self._redeliver.add(message_id)

    def send(self, bodies: list[str]) -> list[str]:
        """SendMessageBatch, 10 at a time: the message ids, in order."""
        ids = []
        for i in range(0, len(bodies), 10):
            entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])]
            answer = self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            if answer.get("Failed"):
                raise SystemExit(f"FAILED: SendMessageBatch: {answer['Failed']}")
            ids += [s["MessageId"] for s in sorted(answer["Successful"], key=lambda s: int(s["Id"]))]
        return ids

    def _poll(self, i: int) -> None:
        sqs, fn = self.bed.moto.client("sqs"), self.functions[i]
        batch_size, window = self.settings["batch_size"], self.settings["window_s"]
        while not self._stopping.is_set():
            batch: list[dict] = []
            first = None
            while len(batch) < batch_size and not self._stopping.is_set():
                if first is not None and time.monotonic() - first >= window:
                    break
                with self._receive:
                    got = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=min(10, batch_size - len(batch)),
                                              WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])
                if got and first is None:
                    first = time.monotonic()
                    with self._cond:
                        self._busy[i] = True
                batch += got
            if batch:
                self._deliver(i, sqs, fn, batch)
            with self._cond:
                self._busy[i] = False
                self._cond.notify_all()

    def _record(self, m: dict) -> dict:
        return {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": dict(m.get("Attributes") or {}), "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": self.arn,
                "awsRegion": REGION}

    def _deliver(self, i: int, sqs, fn: Function, batch: list[dict]) -> None:
        ids = [m["MessageId"] for m in batch]
        started = time.monotonic()
        if fn.proc.poll() is not None:
            kind, payload = "error", {"errorType": "Exited", "errorMessage": f"exit {fn.proc.returncode}"}
        else:
            try:
                kind, payload = fn.api.invoke({"Records": [self._record(m) for m in batch]},
                                              timeout_s=self.settings["timeout_s"])
            except queue.Empty:
                kind, payload = "error", {"errorType": "Timeout", "errorMessage": "no answer by the deadline"}
        failed: set[str] = set()
        whole = kind != "response"
        if kind == "response" and self.settings["report_failures"] and isinstance(payload, dict):
            for f in payload.get("batchItemFailures") or []:
                ident = f.get("itemIdentifier") if isinstance(f, dict) else None
                if not ident or ident not in ids:
                    whole = True
                failed.add(str(ident))
        keep = [m for m in batch if whole or m["MessageId"] in failed]
        done = [m for m in batch if m not in keep]
        redelivered = [m for m in done if m["MessageId"] in self._redeliver]
        for m in redelivered:
            self._redeliver.discard(m["MessageId"])
            sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        done = [m for m in done if m not in redelivered]
        for k in range(0, len(done), 10):
            entries = [{"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(done[k:k + 10])]
            answer = sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
            if answer.get("Failed"):
                print(f"  !!  DeleteMessageBatch failed: {answer['Failed']}")
        with self._cond:
            self.invocations.append({
                "poller": i, "message_ids": ids, "kind": kind, "payload": payload, "failed": sorted(failed),
                "whole_batch_failed": whole, "deleted": len(done), "redelivered": [m["MessageId"] for m in redelivered],
                "receive_counts": {m["MessageId"]: int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 0))
                                   for m in batch},
                "seconds": time.monotonic() - started})
            self._cond.notify_all()

    def queue_counts(self) -> tuple[int, int, int]:
        a = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
                int(a.get("ApproximateNumberOfMessagesDelayed", 0)))

    def drain(self, deadline_s: float = 120.0) -> None:
        """Waits until the queue holds no message (visible, in flight or delayed) and no poller
        holds a batch; fails past the deadline."""
        end = time.monotonic() + deadline_s
        counts = None
        while time.monotonic() <= end:
            with self._cond:
                if any(self._busy):
                    self._cond.wait(timeout=0.5)  # woken when a poller's batch is done
                    continue
            counts = self.queue_counts()
            with self._cond:
                if counts == (0, 0, 0) and not any(self._busy):
                    return
                self._cond.wait(timeout=0.2)  # woken by a poller, or look at the queue again
        raise SystemExit(f"FAILED: {self.cluster}: the queue did not drain within {deadline_s:.0f}s "
                         f"(visible, in flight, delayed: {counts}; pollers busy: {self._busy})")

    def dead_letters(self) -> list[dict]:
        """Every message of the failure queue (received and deleted): body JSON where it parses."""
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.failures_url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return out
            for m in got:
                try:
                    out.append(json.loads(m["Body"]))
                except ValueError:
                    out.append({"raw": m["Body"]})
                self.sqs.delete_message(QueueUrl=self.failures_url, ReceiptHandle=m["ReceiptHandle"])

    def wakes(self) -> list[dict]:
        """The wake-ups the function reported, over every batch answered."""
        return [w for inv in self.invocations if inv["kind"] == "response" and isinstance(inv["payload"], dict)
                for w in inv["payload"].get("wakes") or []]

    def stop(self) -> None:
        self._stopping.set()
        for t in self._threads:
            t.join(timeout=self.settings["timeout_s"] + 10)
        for fn in self.functions:
            fn.stop()
