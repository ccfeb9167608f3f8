"""task-dispatcher at production volume (issue 21), fed through the SQS event source mapping
template.yaml declares (testbed.sqs): terminal history, event bursts, a sweep over hundreds of
RUNNING jobs, the queue intake, a strict submission."""

from __future__ import annotations

import json
import time

from testbed.checks import WRITES, check
from testbed.ddb import clone_job_item, count_items, put_items
from testbed.dispatcher import DispatcherBed, fill_host, succeeded_job_item
from testbed.events import instance_event, scheduled_event
from testbed.moto import Moto
from testbed.runtime_api import Function
from testbed.sqs import EventSourceMapping, dispatcher_queue_settings


def dispatcher_volume_acceptance(moto: Moto) -> None:
    """Issue 21's acceptance on the release task-dispatcher: production volume (terminal history,
    bursts of events, hundreds of RUNNING jobs) and the SQS intake, fed through the event source
    mapping template.yaml declares (EventSourceMapping: real moto queues, pollers with their own
    function processes). Each scenario has its own cluster, dispatcher (CLUSTERS=<cluster>) and
    queue pair; DynamoDB reads are the test bed's accounting, AWS calls its per-operation counts."""
    print("\ntask-dispatcher at volume (issue 21; release binary, SQS event source mapping, moto)")
    bed = DispatcherBed.fresh(moto)
    bed.task_definition("vol-work", 256)
    settings = dispatcher_queue_settings()
    print(f"  --  event source mapping: BatchSize {settings['batch_size']}, window {settings['window_s']:g} s, "
          f"MaximumConcurrency {settings['concurrency']}, ReportBatchItemFailures "
          f"{settings['report_failures']}, Timeout {settings['timeout_s']:g} s, queue VisibilityTimeout "
          f"{settings['visibility_timeout']} s, maxReceiveCount {settings['max_receive_count']}")
    started = time.monotonic()
    try:
        batch_fn = vol_terminal_history(bed, settings)
        vol_event_burst(bed, settings)
        vol_running_sweep(bed, settings)
        vol_queue_intake(bed, settings)
        vol_strict_submission(bed, batch_fn)
        print(f"  --  volume scenarios: {time.monotonic() - started:.0f} s")
    finally:
        bed.stop()


def vol_terminal_history(bed: DispatcherBed, settings: dict) -> Function:
    print(" a. 20,000 SUCCEEDED jobs + 10 QUEUED in `batch`: one container-instance event through the queue")
    cluster = "batch"
    (host, _), = bed.cluster(cluster, 1)
    bed.task_definition("report", 256)
    bed.task_definition("report-huge", 16000)  # bigger than any host: never fits, reserves nothing
    fn = bed.function(cluster)
    template = succeeded_job_item(bed, fn, "vol-a-template", "report")
    t0 = time.monotonic()
    loaded = put_items(bed.moto, DispatcherBed.TABLE,
                       (clone_job_item(template, f"vol-a-done-{i:05d}") for i in range(20_000)))
    check(loaded == 20_000, f"20,000 SUCCEEDED clones of it loaded ({time.monotonic() - t0:.0f} s)")
    filler = fill_host(bed, cluster, host, 100, "vol-a-filler")  # < 256 MiB left: nothing fits
    priorities = [3, 9, 1, 7, 5, 10, 2, 8, 4, 6]
    for n, p in enumerate(priorities):
        family = "report-huge" if p == 10 else "report"
        kind, out = bed.submit(fn, {"jobId": f"vol-a-q{p:02d}", "taskDefinition": family, "priority": p})
        if kind != "response":
            raise SystemExit(f"FAILED: submit vol-a-q{p:02d}: {out}")
    queued = [bed.job(f"vol-a-q{p:02d}")["state"] for p in priorities]
    check(queued == ["QUEUED"] * 10, "10 jobs submitted while the host is full (priorities 1-10; the priority-10 "
                                     "one needs 16,000 MiB, more than any host): all QUEUED")
    # Room for exactly one 256-MiB job: the filler is replaced by one leaving 400 MiB.
    bed.ecs.stop_task(cluster=cluster, task=filler)
    fill_host(bed, cluster, host, 400, "vol-a-filler2")
    esm = EventSourceMapping(bed, cluster, settings)
    try:
        before = len(bed.moto.command({"op": "run_task_calls"})["calls"])
        bed.moto.command({"op": "dynamodb_accounting", "enable": True})
        bed.moto.command({"op": "aws_calls", "reset": True})
        esm.send([json.dumps(instance_event(cluster, host))])
        esm.drain()
        acc = bed.moto.command({"op": "dynamodb_accounting", "enable": False})
        calls = bed.moto.command({"op": "aws_calls"})["calls"]
        runs = bed.moto.command({"op": "run_task_calls"})["calls"][before:]
        wakes = esm.wakes()
    finally:
        esm.stop()
    print(f"  --  the wake-up: {acc['queries']} Queries, {acc['scanned_items']} items read "
          f"({acc['scanned_bytes']} bytes), {acc['returned_items']} returned, {acc['read_units']} read units; "
          f"AWS calls {json.dumps(calls)}")
    check(len(wakes) == 1 and acc["scanned_items"] <= 50,
          f"one wake-up of `batch` read {acc['scanned_items']} job items (≤ 50) of 20,011 in its cluster")
    started = [r["job_id"] for w in wakes for r in w.get("jobs", []) if r.get("action") == "started"]
    check(len(runs) == 1 and (runs[0].get("startedBy") or "").startswith("ecs-autopilot/vol-a-q09/")
          and bed.job("vol-a-q09")["state"] == "RUNNING" and started == ["vol-a-q09"],
          f"exactly one RunTask, for the highest-priority job that fits (vol-a-q09): "
          f"{[r.get('startedBy') for r in runs]}; the wake-up started {started}")
    return fn


def vol_event_burst(bed: DispatcherBed, settings: dict) -> None:
    print(" b. 200 container-instance events of one cluster within 10 s")
    cluster = "vol-burst"
    hosts = bed.cluster(cluster, 2)
    fn = bed.function(cluster)
    for i in range(3):
        bed.submit(fn, {"jobId": f"vol-b-{i}", "taskDefinition": "vol-work", "priority": 1})
    esm = EventSourceMapping(bed, cluster, settings)
    try:
        bed.moto.command({"op": "dynamodb_accounting", "enable": True})
        bed.moto.command({"op": "aws_calls", "reset": True})
        t0 = time.monotonic()
        for k in range(20):  # 10 events every 0.45 s (pacing, not synchronisation)
            esm.send([json.dumps(instance_event(cluster, hosts[(k * 10 + j) % 2][0])) for j in range(10)])
            if k < 19:
                time.sleep(max(0.0, t0 + 0.45 * (k + 1) - time.monotonic()))
        sent_in = time.monotonic() - t0
        esm.drain()
        acc = bed.moto.command({"op": "dynamodb_accounting", "enable": False})
        calls = bed.moto.command({"op": "aws_calls"})["calls"]
        wakes = [w for w in esm.wakes() if w.get("cluster") == cluster]
        batches = [len(inv["message_ids"]) for inv in esm.invocations]
    finally:
        esm.stop()
    listed = calls.get("ecs:ListContainerInstances", 0)
    print(f"  --  200 events sent in {sent_in:.1f} s; {len(batches)} batches of {batches} messages; "
          f"{len(wakes)} wake-ups reported; jobs-table Queries {acc['queries']} ({acc['scanned_items']} items, "
          f"{acc['read_units']} read units); ECS calls "
          f"{json.dumps({k: v for k, v in calls.items() if k.startswith('ecs:')})}")
    check(sent_in <= 10 and len(wakes) <= 5 and acc["queries"] == len(wakes) and listed == len(wakes),
          f"200 events in {sent_in:.1f} s: {len(wakes)} wake-ups (≤ 5) read the jobs and hosts "
          f"(jobs-table Queries {acc['queries']}, ListContainerInstances {listed})")


def submission(cluster: str, **job) -> str:
    """The SQS message body of a submission of `vol-work` to `cluster`, with `job`'s fields."""
    return json.dumps({"action": "submit", "job": {"cluster": cluster, "taskDefinition": "vol-work", **job}})


def vol_running_sweep(bed: DispatcherBed, settings: dict) -> None:
    print(" c. 300 RUNNING jobs: one sweep")
    cluster = "vol-sweep"
    bed.cluster(cluster, 12)
    fn = bed.function(cluster)
    esm = EventSourceMapping(bed, cluster, settings)
    try:
        esm.send([submission(cluster, jobId=f"vol-c-{i:03d}", priority=1) for i in range(300)])
        esm.drain()
        sweeps, depth = 0, None
        while depth != 0 and sweeps < 30:  # a wake-up starts at most 20
            kind, out = bed.sweep(fn)
            sweeps += 1
            depth = sum(w.get("queue_depth", 0) for w in out.get("wakes", [])) if kind == "response" else None
        jobs = bed.cluster_jobs(cluster)
        running = sum(1 for j in jobs if j["state"] == "RUNNING")
        check(len(jobs) == 300 and running == 300,
              f"300 submissions through the queue ({len(esm.invocations)} batches), then {sweeps} sweeps: "
              f"{running} of {len(jobs)} jobs RUNNING")
        bed.moto.command({"op": "aws_calls", "reset": True})
        esm.send([json.dumps(scheduled_event())])
        esm.drain()
        calls = bed.moto.command({"op": "aws_calls"})["calls"]
        answer = esm.invocations[-1]
    finally:
        esm.stop()
    ecs = {k.split(":", 1)[1]: v for k, v in calls.items() if k.startswith("ecs:")}
    reconcile = ecs.get("DescribeTasks", 0) + ecs.get("ListTasks", 0)
    print(f"  --  the sweep's ECS calls by operation: {json.dumps(ecs)}; all calls {json.dumps(calls)}")
    check(answer["kind"] == "response" and reconcile <= 5 and ecs.get("DescribeTasks", 0) == 3
          and ecs.get("ListTasks", 0) == 0,
          f"one sweep (a Scheduled Event through the queue) reconciles 300 RUNNING jobs with {reconcile} ECS calls "
          f"(DescribeTasks {ecs.get('DescribeTasks', 0)}, 100 ARNs each; ListTasks {ecs.get('ListTasks', 0)})")


def vol_queue_intake(bed: DispatcherBed, settings: dict) -> None:
    print(" d. 25 SQS messages: 3 invalid, 2 duplicates, one redelivered")
    cluster = "vol-intake"
    bed.cluster(cluster, 2)
    esm = EventSourceMapping(bed, cluster, settings, start=False)
    valid = [submission(cluster, jobId=f"vol-d-{i:02d}", priority=1) for i in range(15)]
    valid += [submission(cluster, priority=2 + i) for i in range(5)]  # no jobId: named from the message id
    duplicates = [submission(cluster, jobId=j, priority=1) for j in ("vol-d-03", "vol-d-07")]
    invalid = ["{not json", submission(cluster, prority=5),
               json.dumps({"action": "submit", "job": {"cluster": cluster, "priority": 1}})]
    try:
        ids = esm.send(valid + duplicates + invalid)
        invalid_ids = ids[-3:]
        redelivered = ids[17]  # a submission without jobId: only its message id names its job
        esm.redeliver_once(redelivered)
        esm.start()
        esm.drain()
        letters = esm.dead_letters()
        visible, in_flight, delayed = esm.queue_counts()
    finally:
        esm.stop()
    jobs = bed.cluster_jobs(cluster)
    runs = {j["jobId"]: len(bed.runs(j["jobId"])) for j in jobs}
    cluster_runs = [c for c in bed.moto.command({"op": "run_task_calls"})["calls"]
                    if (c.get("cluster") or "").split("/")[-1] == cluster]
    deliveries: dict[str, int] = {}
    for inv in esm.invocations:
        for m in inv["message_ids"]:
            deliveries[m] = deliveries.get(m, 0) + 1
    failures = {f for inv in esm.invocations for f in inv["failed"]}
    reported = {i["message_id"]: i["reason"] for inv in esm.invocations if isinstance(inv["payload"], dict)
                for i in inv["payload"].get("invalid") or []}
    print(f"  --  {len(esm.invocations)} batches of {[len(i['message_ids']) for i in esm.invocations]} messages; "
          f"batchItemFailures {sorted(failures)}; invalid reported {json.dumps(reported)[:400]}")
    check(len(jobs) == 20 and all(n == 1 for n in runs.values()) and len(cluster_runs) == 20
          and all(j["state"] == "RUNNING" for j in jobs),
          f"{len(jobs)} jobs, each started once ({len(cluster_runs)} RunTask for the cluster; "
          f"runs per job {sorted(set(runs.values()))})")
    counts = [inv["receive_counts"].get(redelivered) for inv in esm.invocations if redelivered in inv["message_ids"]]
    check(deliveries.get(redelivered) == 2 and all(n == 1 for m, n in deliveries.items() if m != redelivered)
          and len(deliveries) == 25,
          f"one submission without jobId delivered twice (same messageId, receive counts {counts}; its delete "
          f"lost): still one job for it; every other message delivered once")
    by_id = {letter.get("messageId"): letter for letter in letters}
    reasons = [by_id.get(m, {}).get("reason") or "" for m in invalid_ids]
    check(len(letters) == 3 and set(by_id) == set(invalid_ids)
          and "JSON" in reasons[0] and "prority" in reasons[1] and "taskDefinition" in reasons[2],
          f"the 3 invalid messages are in the dead-letter queue with their reason: {reasons}")
    check(not failures & set(invalid_ids) and set(reported) == set(invalid_ids),
          "the invalid messages are answered as invalid, not in batchItemFailures (never retried)")
    check((visible, in_flight, delayed) == (0, 0, 0) and not failures,
          f"the queue is empty afterwards (visible {visible}, in flight {in_flight}, delayed {delayed}); "
          f"no batchItemFailures")


def vol_strict_submission(bed: DispatcherBed, fn: Function) -> None:
    print(" e. a submission with an unknown key, by direct invoke")
    before = count_items(bed.ddb, DispatcherBed.TABLE)
    bed.moto.command({"op": "aws_calls", "reset": True})
    kind, out = fn.invoke({"action": "submit", "job": {"cluster": "batch", "taskDefinition": "report", "prority": 5}})
    calls = bed.moto.command({"op": "aws_calls"})["calls"]
    after = count_items(bed.ddb, DispatcherBed.TABLE)
    writes = {k: v for k, v in calls.items() if k.split(":", 1)[1] in WRITES}
    check(kind == "error" and out.get("errorType") == "InvalidJob" and "job.prority" in (out.get("errorMessage") or "")
          and before == after and not writes,
          f"refused ({out.get('errorType')}: {(out.get('errorMessage') or '')[:160]}); items {before} → {after}; "
          f"calls {json.dumps(calls)}")
