"""The moto test bed (tests/moto_server.py) as a client: its endpoint, its command channel and
boto3 clients against it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"


class Moto:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "moto_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        first = json.loads(self.proc.stdout.readline())
        self.endpoint = first["endpoint"]
        self.proxy = first["proxy"]  # the fault-injecting proxy in front of moto (faults off by default)

    def command(self, cmd: dict) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise SystemExit(f"moto: {answer['error']}")
        return answer

    def client(self, service: str, **kw):
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing", **kw,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # moto_server.py exits when its stdin closes
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(timeout=10)


def clients(moto: Moto) -> dict:
    return {name: moto.client(name) for name in ("ecs", "sqs", "autoscaling")}
