"""The release bootstraps' logs of this run: JSON lines with timestamp, level and request id."""

from __future__ import annotations

import json
import time

from testbed.checks import check
from testbed.moto import ROOT


# When this run started: log_acceptance checks only the logs written since.
RUN_STARTED = time.time()


def log_acceptance() -> None:
    """Every line the release bootstraps wrote is one JSON object with an RFC 3339 timestamp and a
    level Lambda's log-level filtering reads; every invocation's `aws usage` line names its
    request id (the functions' logs of this run, .demo/acceptance-*.log written since it started)."""
    print("\nlogs: JSON lines with timestamp, level and request id")
    levels = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
    logs = [p for p in sorted((ROOT / ".demo").glob("acceptance-*.log")) if p.stat().st_mtime >= RUN_STARTED]
    for path in logs:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        bad, usage, with_id = [], 0, 0
        for line in lines:
            try:
                v = json.loads(line)
            except ValueError:
                bad.append(line)
                continue
            if not (isinstance(v.get("timestamp"), str) and "T" in v["timestamp"] and v.get("level") in levels):
                bad.append(line)
            if v.get("message") == "aws usage":
                usage += 1
                with_id += bool(v.get("requestId"))
        check(not bad, f"{path.name}: {len(lines)} lines, all JSON with timestamp and level {bad[:2]}")
        check(usage == with_id, f"{path.name}: {usage} aws usage lines, each with its requestId")
