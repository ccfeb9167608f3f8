"""A guided first deploy that asks only what has no safe default, then runs SAM.

`sam deploy --guided` prompts for every template parameter (SAM CLI has no way to skip those
with a default). This asks four questions — which capabilities, which clusters, where alarms go,
the architecture — shows the `sam build` / `sam deploy` it will run, runs them on confirmation,
and saves the answers in samconfig.toml's `parameter_overrides` so that a later plain
`sam deploy` repeats them. Every other parameter keeps the template's default (docs/deploy.md
lists the ones worth changing: pass them with `--parameter-overrides`).

    scripts/deploy                 # ask, show, confirm, build, deploy
    scripts/deploy --dry-run       # ask and show the commands, run nothing, write nothing
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPABILITIES = [
    ("EnableDaemonCount", "daemon-count (keep REPLICA daemon services at one task per host)"),
    ("EnableCapacityTable", "capacity table + capacity-recorder (\"is there room?\" in one Query)"),
    ("EnableInstanceDrainer", "instance-drainer (drain hosts before Auto Scaling terminates them)"),
    ("EnableTaskDispatcher", "task-dispatcher (a priority job queue that starts tasks where they fit)"),
]


def ask(prompt: str, default: str, check=None) -> str:
    while True:
        sys.stdout.write(f"{prompt} [{default}]: ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:  # stdin closed: the default
            answer = default
        else:
            answer = line.strip() or default
        problem = check(answer) if check else None
        if problem is None:
            return answer
        print(f"  {problem}")
        if not line:
            raise SystemExit(f"deploy: {prompt}: {problem}")


def yes_no(answer: str) -> str | None:
    return None if answer.lower() in ("y", "yes", "n", "no") else "answer y or n"


def cluster_pattern(answer: str) -> str | None:
    # The template's AllowedPattern for ClusterNamePattern: a cluster name with `*` wildcards.
    return None if re.fullmatch(r"[A-Za-z0-9_*\-]{1,255}", answer) else \
        "a cluster name or a pattern of names (letters, digits, -, _ and *)"


def topic(answer: str) -> str | None:
    if answer in ("", "none"):
        return None
    return None if re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}", answer) else \
        "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), or none"


def architecture(answer: str) -> str | None:
    return None if answer in ("arm64", "x86_64") else "arm64 or x86_64"


def default_architecture() -> str:
    """arm64 (Graviton) when the aarch64 standard library is installed, else x86_64 (no extra
    target to install)."""
    rustup = shutil.which("rustup")
    if rustup:
        out = subprocess.run([rustup, "target", "list", "--installed"], capture_output=True, text=True)
        if "aarch64-unknown-linux-gnu" in out.stdout:
            return "arm64"
    return "x86_64"


def answers() -> dict[str, str]:
    print("ecs-autopilot: the questions without a safe default (Enter keeps the value in brackets)\n")
    params: dict[str, str] = {}
    for name, what in CAPABILITIES:
        on = ask(f"Deploy {what}? (y/n)", "y", yes_no)
        params[name] = "true" if on.lower().startswith("y") else "false"
    if all(v == "false" for v in params.values()):
        raise SystemExit("deploy: no capability chosen: nothing to deploy")
    pattern = ask("Clusters the functions may act on (a name, or a pattern such as prod-*)", "*",
                  cluster_pattern)
    params["ClusterNamePattern"] = pattern
    if pattern != "*":
        # The schedules sweep these, not every cluster of the region (ListClusters would list
        # clusters outside the pattern, whose reads the roles refuse).
        names = pattern if "*" not in pattern else ask(
            "The clusters the schedules sweep (comma-separated names matching the pattern)", "",
            lambda a: None if a and all(re.fullmatch(r"[A-Za-z0-9_\-]{1,255}", n.strip())
                                        for n in a.split(",")) else "one or more cluster names")
        names = ",".join(n.strip() for n in names.split(","))
        for name in ("Clusters", "DrainerClusters", "DispatcherClusters"):
            params[name] = names
    alarm = ask("SNS topic ARN for the alarms (none: alarms without an action)", "none", topic)
    if alarm not in ("", "none"):
        params["AlarmTopicArn"] = alarm
    params["Architecture"] = ask("Architecture (arm64 needs rustup's aarch64-unknown-linux-gnu)",
                                 default_architecture(), architecture)
    return params


def overrides(params: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def commands(params: dict[str, str]) -> list[list[str]]:
    o = overrides(params)
    return [
        ["sam", "build", "--parameter-overrides", o],
        ["sam", "deploy", "--parameter-overrides", o],
    ]


def save(params: dict[str, str], path: Path = ROOT / "samconfig.toml") -> None:
    """Puts the answers in samconfig.toml's [default.deploy.parameters] parameter_overrides."""
    text = path.read_text()
    line = f"parameter_overrides = {overrides(params)!r}".replace("'", '"')
    if re.search(r"^parameter_overrides = .*$", text, re.M):
        text = re.sub(r"^parameter_overrides = .*$", line, text, count=1, flags=re.M)
    else:
        text = text.replace("[default.deploy.parameters]\n",
                            "[default.deploy.parameters]\n# Written by scripts/deploy.\n" + line + "\n", 1)
    path.write_text(text)


def main() -> None:
    dry = "--dry-run" in sys.argv[1:]
    params = answers()
    cmds = commands(params)
    print("\nwill run:")
    for c in cmds:
        print("  " + shlex.join(c))
    if dry:
        print("(dry run: nothing run, samconfig.toml unchanged)")
        return
    if ask("Run them now? (y/n)", "n", yes_no).lower().startswith("n"):
        print("nothing run")
        return
    save(params)
    env = {**__import__("os").environ, "SAM_CLI_TELEMETRY": "0"}
    for c in cmds:
        done = subprocess.run(c, cwd=ROOT, env=env)
        if done.returncode != 0:
            raise SystemExit(done.returncode)


if __name__ == "__main__":
    main()
