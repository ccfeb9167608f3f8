"""scripts/deploy (the guided first deploy), checked without AWS: the answers become the
parameter overrides, every parameter it sets exists in template.yaml, closed stdin takes the
defaults, a bad answer is asked again, and the answers are saved in samconfig.toml. Run by
scripts/test."""

import io
import re
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import deploy  # noqa: E402


def template_parameters() -> set[str]:
    text = (ROOT / "template.yaml").read_text()
    section = text.split("\nParameters:\n", 1)[1]
    section = re.split(r"\n[A-Za-z]", section, maxsplit=1)[0]
    return set(re.findall(r"^  ([A-Za-z0-9]+):$", section, re.M))


def run(answers: str) -> dict[str, str]:
    sys.stdin = io.StringIO(answers)
    out = sys.stdout
    sys.stdout = io.StringIO()
    try:
        return deploy.answers()
    finally:
        sys.stdout = out


def main() -> None:
    known = template_parameters()
    assert "EnableDaemonCount" in known and "ClusterNamePattern" in known, known
    p = run("y\nn\ny\ny\nprod\narn:aws:sns:us-east-1:123456789012:oncall\nx86_64\n")
    assert p == {"EnableDaemonCount": "true", "EnableCapacityTable": "false",
                 "EnableInstanceDrainer": "true", "EnableTaskDispatcher": "true",
                 "ClusterNamePattern": "prod", "Clusters": "prod", "DrainerClusters": "prod",
                 "DispatcherClusters": "prod",
                 "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:oncall",
                 "Architecture": "x86_64"}, p
    assert set(p) <= known, set(p) - known
    # Closed stdin: every default (all capabilities, every cluster, no alarm topic).
    d = run("")
    assert d["ClusterNamePattern"] == "*" and "Clusters" not in d and "AlarmTopicArn" not in d, d
    assert all(d[name] == "true" for name, _ in deploy.CAPABILITIES), d
    # A bad answer is asked again.
    again = run("y\ny\ny\ny\nnot a cluster!\nprod-*\nprod-a, prod-b\nnone\narm64\n")
    assert again["ClusterNamePattern"] == "prod-*", again
    # A pattern: the schedules sweep the clusters named, not the region.
    assert again["Clusters"] == again["DrainerClusters"] == again["DispatcherClusters"] == "prod-a,prod-b", again
    # Nothing chosen: refused.
    try:
        run("n\nn\nn\nn\n")
        raise AssertionError("no capability must be refused")
    except SystemExit as e:
        assert "nothing to deploy" in str(e), e
    # Saved for the next plain `sam deploy`, and samconfig.toml stays valid TOML.
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "samconfig.toml"
        cfg.write_text((ROOT / "samconfig.toml").read_text())
        deploy.save(p, cfg)
        deploy.save(p, cfg)  # twice: replaced, not added
        parsed = tomllib.loads(cfg.read_text())
        assert parsed["default"]["deploy"]["parameters"]["parameter_overrides"] == deploy.overrides(p)
        assert cfg.read_text().count("parameter_overrides") == 1
    print("deploy_test: ok")


if __name__ == "__main__":
    main()
