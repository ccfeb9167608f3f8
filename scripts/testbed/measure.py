"""Measured runs for scripts/scale and scripts/dispatcher-scale: a command or one invocation of a
release bootstrap under the local Runtime API, with its wall time and the process's own peak RSS,
run timed and again with the test bed's DynamoDB read accounting on (`measure`)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import time
from pathlib import Path

from testbed.ddb import CAPACITY_TABLE
from testbed.moto import REGION, Moto
from testbed.runtime_api import RuntimeApi


def env_for(endpoint: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CLUSTERS", "AWS_PROFILE", "AWS_SESSION_TOKEN")}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "CAPACITY_TABLE": CAPACITY_TABLE,
        }
    )
    return env


TIME = Path("/usr/bin/time")


def vm_hwm_kb(pid: int) -> int | None:
    """The process's own peak RSS (VmHWM: its address space's high-water mark), while it runs."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_measured(cmd: list[str], env: dict) -> dict:
    """Runs `cmd` to the end: exit code, output, wall seconds and the process's own peak RSS.

    Peak RSS comes from `/usr/bin/time -v` ("Maximum resident set size"). Not from this process's
    wait4 rusage: Linux carries the forking parent's high-water mark (this Python, with boto3
    loaded) into the child's ru_maxrss across exec. Without /usr/bin/time, VmHWM is sampled every
    5 ms while the command runs (a lower bound).
    """
    timed = TIME.exists()
    argv = [str(TIME), "-v", *cmd] if timed else cmd
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        sampled = 0
        while proc.poll() is None:
            if not timed:
                sampled = max(sampled, vm_hwm_kb(proc.pid) or 0)
            time.sleep(0.005)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        rss_kb = sampled
        if timed:
            stats = stderr.rfind("\tCommand being timed:")
            for line in stderr[stats:].splitlines():
                if "Maximum resident set size" in line:
                    rss_kb = int(line.rsplit(":", 1)[1])
            stderr = stderr[:stats] if stats >= 0 else stderr
        return {
            "rc": proc.returncode,
            "stdout": out.read().decode(errors="replace"),
            "stderr": stderr,
            "wall_s": wall,
            "rss_kb": rss_kb,
        }


def invoke_once(binary: Path, env: dict, event: dict, timeout_s: float = 900, wait_s: float = 1800) -> dict:
    """One invocation of `binary` under the test bed's Lambda Runtime API, with the
    deadline Lambda's 15-minute maximum gives; waited for up to `wait_s` (a sweep past its deadline
    is still measured). Its wall time is the invocation's (event handed out
    → answer posted), like Lambda's Duration; its RSS is the process's own peak so far."""
    api = RuntimeApi()
    env = {
        **env,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": binary.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{binary.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "scale",
        "RUST_LOG": "warn",
    }
    with tempfile.TemporaryFile() as logs:
        proc = subprocess.Popen([str(binary)], env=env, stdout=logs, stderr=subprocess.STDOUT)
        try:
            kind, payload = api.invoke(event, timeout_s, wait_s)
            answered = True
        except queue.Empty:
            answered = False
        # Still running (it polls for the next event): its own peak RSS so far.
        rss_kb = vm_hwm_kb(proc.pid) or 0
        proc.terminate()
        proc.wait()
        api.stop()
        logs.seek(0)
        log = logs.read().decode(errors="replace")
    if not answered or api.last_duration is None:
        raise SystemExit(f"{binary.name} did not answer within {wait_s:.0f}s:\n{log[-4000:]}")
    return {
        "rc": 0 if kind == "response" else 1,
        "stdout": json.dumps(payload),
        "stderr": log,
        "wall_s": api.last_duration,
        "rss_kb": rss_kb,
    }


SINGLE_RUN = False


def measure(moto: Moto | None, run) -> dict:
    """`run()` twice: timed with accounting off, then with the bed's read accounting on (once,
    with accounting on, under --single-run: the time then includes accounting's extra moto work).
    On AWS (`moto` None): once, DynamoDB's own ConsumedCapacity only."""
    if moto is None:
        return run()
    if SINGLE_RUN:
        moto.command({"op": "dynamodb_accounting", "enable": True})
        timed = run()
        timed["accounting"] = moto.command({"op": "dynamodb_accounting", "enable": False})
        timed["accounted_rc"] = timed["rc"]
        return timed
    moto.command({"op": "dynamodb_accounting", "enable": False})
    timed = run()
    moto.command({"op": "dynamodb_accounting", "enable": True})
    accounted = run()
    counters = moto.command({"op": "dynamodb_accounting", "enable": False})
    timed["accounting"] = counters
    timed["accounted_rc"] = accounted["rc"]
    return timed
