"""A local Lambda Runtime API, and the release bootstraps run against it (`Function`).

`RuntimeApi` serves the HTTP protocol Lambda serves to a `provided.al2023` bootstrap (next
invocation with its deadline header, response, error); `Function` starts one release bootstrap
(`$CARGO_TARGET_DIR/lambda/<name>/bootstrap`) with the environment Lambda sets, pointed at moto."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from testbed.moto import ACCOUNT, REGION, ROOT, Moto

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


class RuntimeApi:
    """A Lambda Runtime API for one function process: `invoke` hands it an event and waits for
    its answer, as Lambda's synchronous invoke does. `last_duration` is the last invocation's time
    from the event handed out to the answer posted, like Lambda's Duration (testbed.measure)."""

    def __init__(self) -> None:
        self.pending: queue.Queue = queue.Queue()
        self.answers: dict[str, queue.Queue] = {}
        self.handed_out: dict[str, float] = {}
        self.last_duration: float | None = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                request_id, body, deadline_ms = api.pending.get()
                api.handed_out[request_id] = time.monotonic()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:acceptance",
                )
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = self.path.split("/")
                # /2018-06-01/runtime/invocation/{id}/response|error, or /runtime/init/error
                if "invocation" in parts:
                    request_id, kind = parts[-2], parts[-1]
                    if request_id in api.handed_out:
                        api.last_duration = time.monotonic() - api.handed_out.pop(request_id)
                    api.answers[request_id].put((kind, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event, timeout_s: float = 30.0, wait_s: float | None = None,
               request_id: str | None = None) -> tuple[str, dict]:
        """Returns ("response", payload) or ("error", {errorType, errorMessage}). `event` bytes are
        sent as they are (a payload that is not JSON); anything else as JSON. `timeout_s` sets the
        invocation's deadline; no answer within `wait_s` (default: the deadline and 5 s more):
        `queue.Empty`. `request_id`: the invocation's `Lambda-Runtime-Aws-Request-Id` (default a
        new one); Lambda's retries of an asynchronous invocation keep the event's request id."""
        request_id = request_id or str(uuid.uuid4())
        self.answers[request_id] = queue.Queue()
        deadline_ms = int((time.time() + timeout_s) * 1000)
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.pending.put((request_id, body, deadline_ms))
        kind, body = self.answers[request_id].get(timeout=timeout_s + 5 if wait_s is None else wait_s)
        return kind, json.loads(body or b"null")

    def stop(self) -> None:
        self.server.shutdown()


# The function's logical id in template.yaml: its requests are signed with the access key
# `fn-<LogicalId>`, and the test bed authorizes each against that function's template policy
# (tests/iam_bed.py); main() fails on any refusal.
LOGICAL_IDS = {
    "daemon-count": "DaemonCountFunction",
    "capacity-recorder": "CapacityRecorderFunction",
    "instance-drainer": "InstanceDrainerFunction",
    "task-dispatcher": "TaskDispatcherFunction",
}


class Function:
    """One release bootstrap running against its own Runtime API (`binary`: another build's
    bootstrap of that function, e.g. scripts/dispatcher-scale's "before" binary)."""

    def __init__(self, name: str, moto: Moto, env: dict, endpoint: str | None = None,
                 log_name: str | None = None, binary: Path | None = None,
                 log_prefix: str = "acceptance-") -> None:
        self.api = RuntimeApi()
        binary = binary or TARGET / "lambda" / name / "bootstrap"
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: run scripts/acceptance (it builds the release binaries)")
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "acceptance",
            "AWS_ENDPOINT_URL": endpoint or moto.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": f"fn-{LOGICAL_IDS[name]}",
            "AWS_SECRET_ACCESS_KEY": "testing",
            **env,
        }
        log_dir = ROOT / ".demo"
        log_dir.mkdir(exist_ok=True)
        # .demo/acceptance-*.log are what log_acceptance checks; other scripts pass their own prefix.
        self.log = open(log_dir / f"{log_prefix}{log_name or name}.log", "w")
        self.proc = subprocess.Popen([str(binary)], env=full_env, stdout=self.log, stderr=subprocess.STDOUT)

    def invoke(self, event, request_id: str | None = None) -> tuple[str, dict]:
        if self.proc.poll() is not None:
            raise SystemExit(f"the function exited with {self.proc.returncode}")
        return self.api.invoke(event, request_id=request_id)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.api.stop()
        self.log.close()
