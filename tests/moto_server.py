"""Local AWS for ecs-autopilot's tests and demo: moto server on 127.0.0.1, on a free port.

Started by the Rust test helper (tests/support/lib.rs) and by scripts/demo. Protocol:
- On start it prints one JSON line: {"endpoint": "http://127.0.0.1:PORT"}.
- Then it reads JSON commands, one per line, from stdin and answers each with one JSON line:
    {"op": "run_instances", "instance_type": "t3.large", "availability_zone": "us-east-1a", "count": 2}
        -> {"instance_ids": ["i-...", ...]}   (ECS RegisterContainerInstance needs a real EC2 id in moto)
    {"op": "reset"} -> {"ok": true}            (clears every backend)
  Errors answer {"error": "..."}.
- When stdin closes (the test process ended, even by a crash) the server stops and the process exits,
  so no moto outlives its test.
"""

import json
import logging
import sys

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


def main() -> None:
    # Request logs would bury test output; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    ec2 = boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    print(json.dumps({"endpoint": endpoint}), flush=True)
    try:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                print(json.dumps(handle(json.loads(line), ec2, endpoint)), flush=True)
            except Exception as e:  # answer, never die: the test reads one line per command
                print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
    finally:
        server.stop()


def handle(cmd: dict, ec2, endpoint: str) -> dict:
    op = cmd.get("op")
    if op == "run_instances":
        resp = ec2.run_instances(
            ImageId="ami-12c6146b",  # one of moto's built-in AMIs
            MinCount=int(cmd.get("count", 1)),
            MaxCount=int(cmd.get("count", 1)),
            InstanceType=cmd.get("instance_type", "t3.large"),
            Placement={"AvailabilityZone": cmd.get("availability_zone", "us-east-1a")},
        )
        return {"instance_ids": [i["InstanceId"] for i in resp["Instances"]]}
    if op == "reset":
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        return {"ok": True}
    raise ValueError(f"unknown op {op!r}")


if __name__ == "__main__":
    main()
