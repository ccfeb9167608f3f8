"""Issue 25's policy acceptance on the release task-dispatcher: a contended trace replayed on moto in
real time, measured against greedy priority and FIFO over the same trace (about 2 minutes)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from testbed.checks import check
from testbed.dispatcher import DispatcherBed
from testbed.ecs import set_model
from testbed.events import sqs_batch
from testbed.moto import ROOT, Moto


# Issue 25's first acceptance line through the release task-dispatcher: a contended trace
# (docs/traces/contended.json: 120 jobs in three classes, 14 host-sized, bursts, runs of 1–8
# steps, 4 hosts of 4096 CPU / 7482 MiB, run times known) replayed on moto in real time, one trace
# step = POLICY_STEP_SECONDS (default 2) real seconds, against greedy priority and FIFO over the
# same trace.
POLICY_TRACE = ROOT / "docs" / "traces" / "contended.json"
POLICY_PRIORITY = {"high": 3, "medium": 2, "low": 1}
POLICY_CLUSTER = "policy"


def policy_random_trace(seed: int) -> dict:
    """The simulator's `random_trace(seed)` (simulate.rs: SplitMix64, 120 jobs, 4 hosts of 4096 CPU
    / 7482 MiB, bursts of 1–16 jobs 1–6 steps apart, runs of 1–8 steps, 10 % host-sized), jobs
    without families (this acceptance gives each size its own task definition): seed 1 is
    docs/traces/contended.json."""
    mask = (1 << 64) - 1
    state = [seed & mask]

    def draw(lo: int, hi: int) -> int:
        state[0] = (state[0] + 0x9E3779B97F4A7C15) & mask
        z = state[0]
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return lo + (z ^ (z >> 31)) % (hi - lo + 1)

    jobs: list[dict] = []
    step = 0
    while len(jobs) < 120:
        for _ in range(draw(1, 16)):
            if len(jobs) == 120:
                break
            p = draw(0, 9)
            priority = "high" if p <= 1 else "medium" if p <= 4 else "low"
            size = draw(0, 19)
            if size <= 11:
                cpu, memory = draw(1, 4) * 256, draw(2, 8) * 256
            elif size <= 17:
                cpu, memory = draw(4, 8) * 256, draw(8, 14) * 256
            else:
                cpu, memory = draw(12, 16) * 256, draw(20, 29) * 256
            jobs.append({"id": f"j{len(jobs):03d}", "arrival": step, "priority": priority, "cpu": cpu,
                         "memory": memory, "run": draw(1, 8)})
        step += draw(1, 6)
    return {"description": f"policy_random_trace({seed})", "hosts": {"count": 4, "cpu": 4096, "memory": 7482},
            "estimates": "known", "jobs": jobs}


def policy_fits(room: list[int], job: dict) -> bool:
    return room[0] >= job["cpu"] and room[1] >= job["memory"]


def policy_first_fit(free: list[list[int]], job: dict) -> int | None:
    return next((h for h, room in enumerate(free) if policy_fits(room, job)), None)


def policy_rank(job: dict) -> tuple:
    """The dispatcher's queue order: priority (higher first), then submission, then job id."""
    return (-POLICY_PRIORITY[job["priority"]], job["arrival"], job["id"])


def policy_baseline(trace: dict, fifo: bool, order: list | None = None) -> list[tuple[int, int]]:
    """Each job's (start step, host) under greedy priority (queue order, every job on its first fit) or
    FIFO (arrival order, first fit, until the first that fits nowhere): the simulator's Greedy and
    Fifo (crates/autopilot-core/src/dispatch/simulate.rs) re-implemented over the same clock — at
    each step ended runs free their room, then arrivals join, then the scheduler starts jobs.
    `order` gets (step, job, host) in the order the scheduler started them."""
    jobs, hosts = trace["jobs"], trace["hosts"]
    free = [[hosts["cpu"], hosts["memory"]] for _ in range(hosts["count"])]
    arrivals = sorted(range(len(jobs)), key=lambda i: (jobs[i]["arrival"], i))
    running: list[tuple[int, int, int]] = []  # (end step, host, job)
    waiting: list[int] = []
    started: list[tuple[int, int] | None] = [None] * len(jobs)
    step, nxt = 0, 0
    while True:
        for end, h, i in [r for r in running if r[0] <= step]:
            free[h][0] += jobs[i]["cpu"]
            free[h][1] += jobs[i]["memory"]
        running = [r for r in running if r[0] > step]
        while nxt < len(arrivals) and jobs[arrivals[nxt]]["arrival"] <= step:
            waiting.append(arrivals[nxt])
            nxt += 1
        if not waiting and nxt == len(arrivals):
            return [s for s in started if s is not None]
        for i in (waiting if fifo else sorted(waiting, key=lambda i: policy_rank(jobs[i]))):
            h = policy_first_fit(free, jobs[i])
            if h is None:
                if fifo:
                    break
                continue
            free[h][0] -= jobs[i]["cpu"]
            free[h][1] -= jobs[i]["memory"]
            running.append((step + jobs[i]["run"], h, i))
            started[i] = (step, h)
            if order is not None:
                order.append((step, i, h))
        waiting = [i for i in waiting if started[i] is None]
        step += 1


def policy_figures(trace: dict, starts: list[int]) -> dict:
    """Mean wait per class (high, medium, low), longest wait, longest wait of a large job (more
    than half a host's CPU or memory), makespan: the simulator's figures, in steps."""
    jobs, hosts = trace["jobs"], trace["hosts"]
    waits = [s - j["arrival"] for s, j in zip(starts, jobs)]
    mean = {}
    for c in POLICY_PRIORITY:
        w = [x for x, j in zip(waits, jobs) if j["priority"] == c]
        mean[c] = sum(w) / len(w) if w else None
    large = [x for x, j in zip(waits, jobs) if j["cpu"] * 2 > hosts["cpu"] or j["memory"] * 2 > hosts["memory"]]
    return {"mean": mean, "longest": max(waits), "longest_large": max(large) if large else None,
            "makespan": max(s + j["run"] for s, j in zip(starts, jobs))}


def policy_inversions(trace: dict, step_starts: dict, declared) -> tuple[int, int, list[str]]:
    """(inversions, undeclared, what each one was), counted as the simulator counts them, from
    this run's own bookkeeping of what runs where: a start (in RunTask order within the wake-up)
    while a job of a higher class that first-fits some host at that moment (given the starts
    before it in the wake-up) is left waiting; undeclared when `declared(step, job)` names no
    holder for some such job. Also refuses a start into room that is not there by this
    bookkeeping."""
    jobs, hosts = trace["jobs"], trace["hosts"]
    free = [[hosts["cpu"], hosts["memory"]] for _ in range(hosts["count"])]
    running: list[tuple[int, int, int]] = []
    started: set[int] = set()
    inversions, undeclared, notes = 0, 0, []
    for step in range(max(step_starts, default=0) + 1):
        for end, h, i in [r for r in running if r[0] <= step]:
            free[h][0] += jobs[i]["cpu"]
            free[h][1] += jobs[i]["memory"]
        running = [r for r in running if r[0] > step]
        now = {i for i, _ in step_starts.get(step, [])}
        left = [i for i, j in enumerate(jobs) if j["arrival"] <= step and i not in started and i not in now]
        for i, h in step_starts.get(step, []):
            j = jobs[i]
            if not policy_fits(free[h], j):
                raise SystemExit(f"FAILED: step {step}: {j['id']} started on host {h} without room: {free[h]}")
            higher = [w for w in left if POLICY_PRIORITY[jobs[w]["priority"]] > POLICY_PRIORITY[j["priority"]]
                      and policy_first_fit(free, jobs[w]) is not None]
            if higher:
                inversions += 1
                held = {jobs[w]["id"]: declared(step, w) for w in higher}
                bare = [w for w, holder in held.items() if holder is None]
                undeclared += bool(bare)
                what = ", ".join(w if holder is None else f"{w} (held for {holder})" for w, holder in held.items())
                notes.append(f"{'undeclared' if bare else 'declared'}: step {step}: {j['id']} ({j['priority']}) "
                             f"started while {what} fit")
            free[h][0] -= j["cpu"]
            free[h][1] -= j["memory"]
            running.append((step + j["run"], h, i))
        started |= now
    return inversions, undeclared, notes


def policy_waits(f: dict) -> str:
    return " · ".join("–" if f["mean"][c] is None else f"{f['mean'][c]:.2f}" for c in POLICY_PRIORITY)


def dispatch_policy_acceptance(moto: Moto) -> None:
    """Issue 25's first acceptance line on the release task-dispatcher: a contended trace
    (POLICY_TRACE, default docs/traces/contended.json) replayed on moto, one step =
    POLICY_STEP_SECONDS real seconds (default 2; the binary reads the real clock), each job
    submitting `expectedSeconds` = its run × the step (run times known; a job's `expected`, when
    the trace gives one, instead).

    Each step, in the simulator's order: the tasks whose run ended are stopped in moto
    (finish_task, exit 0: the room is free before the function hears of it); then ONE SQS batch —
    their STOPPED events (as ECS sends them), the step's submissions (`{"action": "submit"}`,
    priority 3/2/1), or a `wake` message when there are neither — is handed to the function
    synchronously, at the step's boundary (the function's clock is whole seconds: the boundary
    is a whole second and the batch arrives within it, so `now` = start step × the step). One
    batch per step is production's path (template.yaml: everything reaches the dispatcher
    through its queue, one wake-up per cluster per batch) and the simulator's clock: direct
    submits would wake the cluster once per job, before the rest of the step's burst is queued.

    Each job's start step is the step whose batch made its RunTask call (the bed's
    run_task_calls, host from the call's memberOf pin), checked against the job item's STARTING
    transition time. Inversions are counted as the simulator counts them (policy_inversions);
    a waiting job is declared held when its latest decision line up to that wake-up
    (.demo/acceptance-task-dispatcher-policy.log: lines are logged when a job's action or reason
    changes) is `waiting` with a `blocked_by` ranked above it or that arrived before it. Greedy
    priority and FIFO are policy_baseline over the same trace. Pacing waits for each step's
    wall-clock boundary; every invocation is synchronous and answered before the next."""
    path = Path(os.environ.get("POLICY_TRACE", str(POLICY_TRACE)))
    step_s = int(os.environ.get("POLICY_STEP_SECONDS", "2"))
    if os.environ.get("POLICY_SEED"):  # the simulator's random trace of that seed instead
        trace = policy_random_trace(int(os.environ["POLICY_SEED"]))
        path = Path(f"random trace of seed {os.environ['POLICY_SEED']}")
    else:
        trace = json.loads(path.read_text())
    jobs, hosts = trace["jobs"], trace["hosts"]
    n = len(jobs)
    print(f"\ntask-dispatcher policy (issue 25; release binary, Lambda Runtime API, moto): {path.name}, "
          f"{n} jobs, {hosts['count']} hosts × {hosts['cpu']} CPU / {hosts['memory']} MiB, 1 step = {step_s} s")
    if trace.get("estimates", "known") != "known" or trace.get("runTimesKnown") is False:
        raise SystemExit("FAILED: the policy acceptance replays run times known to the jobs (estimates: known)")
    began = time.monotonic()
    bed = DispatcherBed.fresh(moto)
    cluster = POLICY_CLUSTER
    registered = bed.cluster(cluster, hosts["count"])
    host_of = {ec2: h for h, (_, ec2) in enumerate(registered)}
    # moto registers every host at 4096 CPU / 7482 MiB; another size is set on its model.
    for arn, _ in registered:
        ci = bed.ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])["containerInstances"][0]
        size = {r["name"]: r.get("integerValue") for r in ci["registeredResources"]}
        if (size.get("CPU"), size.get("MEMORY")) != (hosts["cpu"], hosts["memory"]):
            def sized(resources: list) -> list:
                want = {"CPU": hosts["cpu"], "MEMORY": hosts["memory"]}
                return [{**r, "integerValue": want.get(r["name"], r.get("integerValue"))} for r in resources]
            set_model(moto, "container_instance", cluster, arn, {
                "registered_resources": sized(ci["registeredResources"]),
                "remaining_resources": sized(ci["remainingResources"])})
    # One task definition per size: one container with the job's CPU and memory (what moto and
    # ECS reserve on the host for a task without task-level size).
    family_of = {}
    for j in jobs:
        family = f"policy-{j['cpu']}-{j['memory']}"
        if family not in family_of.values():
            bed.ecs.register_task_definition(family=family, containerDefinitions=[
                {"name": family, "image": "busybox", "cpu": j["cpu"], "memory": j["memory"]}])
        family_of[j["id"]] = family
    index = {j["id"]: i for i, j in enumerate(jobs)}
    arriving: dict[int, list[int]] = {}
    for i, j in enumerate(jobs):
        arriving.setdefault(j["arrival"], []).append(i)
    greedy = [s for s, _ in policy_baseline(trace, fifo=False)]
    give_up = max(j["arrival"] for j in jobs) + 2 * sum(j["run"] for j in jobs) + n

    fn = bed.function(cluster)
    log_path = ROOT / ".demo" / f"acceptance-task-dispatcher-{cluster}.log"
    try:
        start_step: list[int | None] = [None] * n
        step_starts: dict[int, list[tuple[int, int]]] = {}
        running: dict[int, int] = {}  # job -> end step
        request_step: dict[str, int] = {}
        # The bed's RunTask record outlives `reset`: earlier scenarios' calls are not this replay's.
        late, durations, bad_calls = [], [], []
        calls_seen = len(moto.command({"op": "run_task_calls"})["calls"])
        t0 = int(time.time()) + 2
        step = 0
        while any(s is None for s in start_step):
            if step > give_up:
                raise SystemExit(f"FAILED: step {step}: {sum(s is None for s in start_step)} jobs never started")
            bodies = []
            for i in sorted(i for i, end in running.items() if end <= step):
                task = bed.job(jobs[i]["id"])["taskArn"]
                moto.command({"op": "finish_task", "cluster": cluster, "task": task,
                              "containers": {family_of[jobs[i]["id"]]: 0},
                              "stop_code": "EssentialContainerExited", "reason": "Essential container in task exited"})
                bodies.append(json.dumps(bed.stopped_event(cluster, task)))
                del running[i]
            for i in arriving.get(step, []):
                j = jobs[i]
                bodies.append(json.dumps({"action": "submit", "job": {
                    "jobId": j["id"], "cluster": cluster, "taskDefinition": family_of[j["id"]],
                    "priority": POLICY_PRIORITY[j["priority"]],
                    # The trace's `expected` (a wrong estimate) where it gives one, else the run.
                    "expectedSeconds": j.get("expected", j["run"]) * step_s}}))
            if not bodies:
                bodies.append(json.dumps({"action": "wake", "cluster": cluster}))
            boundary = t0 + step * step_s
            while time.time() < boundary + 0.01:  # pacing: the step's wall-clock boundary
                time.sleep(boundary + 0.01 - time.time())
            if time.time() >= boundary + 0.8:  # the function's `now` may already be a second late
                late.append(step)
            rid = f"policy-step-{step:03d}-{uuid.uuid4()}"
            request_step[rid] = step
            kind, out = fn.invoke(sqs_batch(bodies), request_id=rid)
            durations.append(fn.api.last_duration or 0.0)
            if kind != "response" or out.get("batchItemFailures") or out.get("invalid") or out.get("error"):
                raise SystemExit(f"FAILED: step {step}: the batch was not handled: {kind} {json.dumps(out)[:800]}")
            calls = moto.command({"op": "run_task_calls"})["calls"]
            for c in calls[calls_seen:]:
                parts = (c.get("startedBy") or "").split("/")
                i = index.get(parts[1]) if len(parts) == 3 else None
                pins = [p.get("expression", "") for p in c.get("placementConstraints") or []]
                pinned = [e.split("==")[-1].strip() for e in pins if "ec2InstanceId" in e]
                if i is None or c.get("outcome") != "started" or len(pinned) != 1 or pinned[0] not in host_of:
                    bad_calls.append((step, c))
                    continue
                if start_step[i] is None:
                    start_step[i] = step
                    step_starts.setdefault(step, []).append((i, host_of[pinned[0]]))
                    running[i] = step + jobs[i]["run"]
            calls_seen = len(calls)
            step += 1
        # Every job started: the rest of the runs end at once (no decision is left to make).
        bodies = []
        for i in sorted(running):
            task = bed.job(jobs[i]["id"])["taskArn"]
            moto.command({"op": "finish_task", "cluster": cluster, "task": task,
                          "containers": {family_of[jobs[i]["id"]]: 0},
                          "stop_code": "EssentialContainerExited", "reason": "Essential container in task exited"})
            bodies.append(json.dumps(bed.stopped_event(cluster, task)))
        if bodies:
            kind, out = fn.invoke(sqs_batch(bodies))
            check(kind == "response" and not out.get("batchItemFailures"),
                  f"the last {len(bodies)} runs' STOPPED events handled")
        replay_s = time.monotonic() - began

        # Decision lines, by the wake-up (step) whose request logged them.
        lines_of: dict[int, list[tuple[int, dict]]] = {}
        for line in log_path.read_text().splitlines():
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if v.get("message") == "task-dispatcher decision" and v.get("requestId") in request_step:
                i = index.get(v.get("job_id"))
                if i is not None:
                    lines_of.setdefault(i, []).append((request_step[v["requestId"]], v))

        def declared(at: int, w: int) -> str | None:
            """The holder w's current decision line (its latest up to wake-up `at`) declares
            holding it back, when that holder ranks above w or arrived before it."""
            current = [v for s, v in lines_of.get(w, []) if s <= at]
            if not current or current[-1].get("action") != "waiting":
                return None
            holder = index.get(current[-1].get("blocked_by") or "")
            if holder is not None and (policy_rank(jobs[holder]) < policy_rank(jobs[w])
                                       or jobs[holder]["arrival"] < jobs[w]["arrival"]):
                return jobs[holder]["id"]
            return None

        starts = [s for s in start_step if s is not None]
        inversions, undeclared, notes = policy_inversions(trace, step_starts, declared)
        mine, g = policy_figures(trace, starts), policy_figures(trace, greedy)
        fifo = policy_figures(trace, [s for s, _ in policy_baseline(trace, fifo=True)])
        # The baselines declare nothing: every inversion of theirs is undeclared.
        baseline_inv = []
        for is_fifo in (False, True):
            order: list[tuple[int, int, int]] = []
            policy_baseline(trace, fifo=is_fifo, order=order)
            by_step: dict[int, list[tuple[int, int]]] = {}
            for s, i, h in order:
                by_step.setdefault(s, []).append((i, h))
            baseline_inv.append(policy_inversions(trace, by_step, lambda s, w: None)[0])
        print("  | scheduler | inversions (undeclared) | mean wait, steps (high · medium · low) "
              "| longest wait of a large job | longest wait | makespan |")
        print(f"  | task-dispatcher (release binary on moto) | {inversions} ({undeclared}) | {policy_waits(mine)} "
              f"| {mine['longest_large']} | {mine['longest']} | {mine['makespan']} |")
        for name, f, inv in (("greedy priority (policy_baseline)", g, baseline_inv[0]),
                             ("FIFO (policy_baseline)", fifo, baseline_inv[1])):
            print(f"  | {name} | {inv} ({inv}) | {policy_waits(f)} | {f['longest_large']} | {f['longest']} "
                  f"| {f['makespan']} |")
        holds = sum(1 for ls in lines_of.values() for _, v in ls if v.get("reserves"))
        blocked = sum(1 for ls in lines_of.values() for _, v in ls if v.get("blocked_by"))
        print(f"  --  {step} wake-ups (one SQS batch per step), invocation {max(durations):.2f} s at most "
              f"(mean {sum(durations) / len(durations):.2f} s); decision lines: {holds} declaring a hold, "
              f"{blocked} naming blocked_by; replay {replay_s:.0f} s")
        for note in notes[:20]:
            print(f"  --  inversion, {note}")

        # Exactly once: one RunTask per job (started), one task per job in ECS, every job SUCCEEDED
        # after its one launch.
        calls = [c for c in moto.command({"op": "run_task_calls"})["calls"] if c.get("cluster") == cluster]
        per_job: dict[str, int] = {}
        for c in calls:
            parts = (c.get("startedBy") or "").split("/")
            if len(parts) == 3:
                per_job[parts[1]] = per_job.get(parts[1], 0) + 1
        tasks: dict[str, int] = {}
        for t in bed.tasks_started_by(cluster, "ecs-autopilot/"):
            jid = t["startedBy"].split("/")[1]
            tasks[jid] = tasks.get(jid, 0) + 1
        final = {j["id"]: bed.job(j["id"]) for j in jobs}
        at_boundary = [j["id"] for i, j in enumerate(jobs)
                       if next((t["at"] for t in final[j["id"]]["history"] if t["to"] == "STARTING"), None)
                       != t0 + start_step[i] * step_s]
        counts = sorted(set(per_job.values()))
        print(f"  --  RunTask calls per job: {counts} ({len(calls)} calls, {len(per_job)} jobs); "
              f"ECS tasks per job: {sorted(set(tasks.values()))}")
        check(not bad_calls, f"every RunTask call names a trace job, started, pinned to a host {bad_calls[:2]}")
        check(not late, f"every step's batch reached the function within its second (late steps: {late[:10]})")
        check(not at_boundary, "each job's STARTING time is its start step's boundary (the clock scaled exactly) "
              f"{at_boundary[:5]}")
        check(len(per_job) == n and counts == [1] and len(tasks) == n and set(tasks.values()) == {1}
              and all(final[j["id"]]["state"] == "SUCCEEDED" and final[j["id"]]["launches"] == 1 for j in jobs),
              f"every job started exactly once: {n} jobs, one RunTask and one task each, each SUCCEEDED after launch 1")
        check(undeclared == 0, f"no undeclared priority inversion ({inversions} inversions, {undeclared} undeclared)")
        check(mine["mean"]["high"] <= g["mean"]["high"] + 0.5,
              f"high-priority mean wait {mine['mean']['high']:.2f} steps within half a step of greedy "
              f"priority's {g['mean']['high']:.2f}")
        check(mine["longest"] <= 1.5 * fifo["longest"],
              f"longest wait {mine['longest']} steps at most 1.5 × FIFO's {fifo['longest']} "
              f"(= {1.5 * fifo['longest']:g})")
        print(f"  --  policy acceptance took {time.monotonic() - began:.0f} s")
    finally:
        bed.stop()
