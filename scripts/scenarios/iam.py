"""Every call the functions made was allowed by their template policies (tests/iam_bed.py)."""

from __future__ import annotations

from testbed.checks import check
from testbed.moto import Moto


def iam_acceptance(moto: Moto) -> None:
    """Every call the functions made was allowed by their template policies (tests/iam_bed.py)."""
    print("\nIAM: every call against the function's template policy")
    report = moto.command({"op": "iam_report"})
    for principal, actions in sorted(report["exercised"].items()):
        print(f"  {principal}: {sum(actions.values())} calls allowed, {len(actions)} actions")
    check(report["unknown"] == [], f"no call outside tests/iam_table.py: {report['unknown'][:5]}")
    check(report["denied"] == [], f"no AccessDenied: {report['denied'][:5]}")
