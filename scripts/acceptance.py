"""ecs-autopilot acceptance: the release binaries, driven as Lambda drives them, against moto.

`scripts/acceptance` builds the functions with `cargo lambda build --release` (the bootstraps a
deployment zips) and runs this. Each function runs as its own process against a local Lambda
Runtime API (scripts/testbed/runtime_api.py: the same HTTP protocol Lambda serves to a
`provided.al2023` bootstrap, with the invocation deadline header), and talks to moto
(tests/moto_server.py, the project's test bed: it adds the lifecycle calls moto lacks and can
inject what moto cannot produce; see that file).

Each scenario prints what it checked; the script exits non-zero at the first failure. It is not
part of `scripts/test` (the release build takes minutes); the same behaviour is tested in-process
by `cargo test` (tests/moto).

`scripts/acceptance task-dispatcher` runs the task-dispatcher's scenarios only (issue 11's,
issue 19's, issue 21's and issue 25's); `scripts/acceptance task-dispatcher-volume` only issue
21's (production volume and the SQS intake, through an emulated SQS event source mapping:
testbed.sqs.EventSourceMapping);
`scripts/acceptance task-dispatcher-policy` only issue 25's policy on a contended trace in real time
(scenarios/dispatch_policy.py, about 2 minutes; POLICY_STEP_SECONDS, POLICY_TRACE or POLICY_SEED
choose the step, the trace or the simulator's random trace of a seed);
`.venv/bin/python scripts/acceptance.py test-bed` checks the test bed's own issue-19 rules from
boto3 (no binary needed; dispatcher_v2_acceptance runs the same check first);
`.venv/bin/python scripts/acceptance.py mutations` only issue 13's mutated
inputs (and the IAM check).

The scenarios are scripts/scenarios/ (one module per family), the test bed they share
scripts/testbed/ (moto client, Runtime API and function runner, events, the dispatcher's bed and
its SQS event source mapping).
"""

from __future__ import annotations

import sys

from scenarios.bed_self_check import bed_self_check
from scenarios.daemon import daemon_acceptance, sweep_at_scale
from scenarios.dispatch_policy import dispatch_policy_acceptance
from scenarios.dispatcher import dispatcher_acceptance
from scenarios.dispatcher_v2 import dispatcher_v2_acceptance
from scenarios.dispatcher_volume import dispatcher_volume_acceptance
from scenarios.drainer import drainer_acceptance
from scenarios.iam import iam_acceptance
from scenarios.logs import log_acceptance
from scenarios.mutations import mutation_acceptance
from scenarios.scale_from_zero import scale_from_zero_acceptance
from testbed.moto import Moto


def main() -> None:
    moto = Moto()
    try:
        print(f"moto server: {moto.endpoint}")
        if sys.argv[1:] == ["task-dispatcher"]:  # only this function's scenarios
            dispatcher_acceptance(moto)
            dispatcher_v2_acceptance(moto)
            dispatcher_volume_acceptance(moto)
            dispatch_policy_acceptance(moto)
            iam_acceptance(moto)
            print("\nall acceptance checks passed")
            return
        if sys.argv[1:] == ["task-dispatcher-volume"]:  # issue 21's volume and queue scenarios only
            dispatcher_volume_acceptance(moto)
            iam_acceptance(moto)
            print("\nall acceptance checks passed")
            return
        if sys.argv[1:] == ["task-dispatcher-policy"]:  # issue 25's policy on a contended trace only
            dispatch_policy_acceptance(moto)
            iam_acceptance(moto)
            log_acceptance()
            print("\nall acceptance checks passed")
            return
        if sys.argv[1:] == ["test-bed"]:  # the test bed's own rules, no binary needed
            bed_self_check(moto)
            print("\nall acceptance checks passed")
            return
        if sys.argv[1:] == ["mutations"]:
            mutation_acceptance(moto)
            iam_acceptance(moto)
            print("\nall acceptance checks passed")
            return
        drainer_acceptance(moto)
        daemon_acceptance(moto)
        sweep_at_scale(moto)
        dispatcher_acceptance(moto)
        scale_from_zero_acceptance(moto)
        dispatcher_v2_acceptance(moto)
        dispatcher_volume_acceptance(moto)
        dispatch_policy_acceptance(moto)  # about 2 minutes: the trace replayed in real time
        mutation_acceptance(moto)
        iam_acceptance(moto)
        log_acceptance()
        print("\nall acceptance checks passed")
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
