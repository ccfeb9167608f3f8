"""The IAM bed's reading of template.yaml, checked without moto: a grant on a table ARN does not
cover its indexes (AWS authorizes a Query of an index against `table/NAME/index/INDEX`), and each
function's Query grants cover exactly the indexes its code reads. Run by scripts/test."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
import iam_bed  # noqa: E402
import iam_table  # noqa: E402


def arn(rest: str) -> str:
    return f"arn:{iam_table.PARTITION}:dynamodb:{iam_table.REGION}:{iam_table.ACCOUNT}:{rest}"


def main() -> None:
    t = iam_bed.template()
    table_only = [{"Effect": "Allow", "Action": "dynamodb:Query",
                   "Resource": t.binding("JobsTable", "Arn")}]
    assert iam_bed.allowed(table_only, "dynamodb:Query", arn("table/jobs"), {})
    assert not iam_bed.allowed(table_only, "dynamodb:Query", arn("table/jobs/index/by-cluster-live"), {}), \
        "a table grant must not cover an index"
    dispatcher = t.statements("TaskDispatcherFunction")
    assert iam_bed.allowed(dispatcher, "dynamodb:Query", arn("table/jobs/index/by-cluster-live"), {})
    assert iam_bed.allowed(dispatcher, "dynamodb:Query", arn("table/capacity/index/live"), {})
    assert not iam_bed.allowed(dispatcher, "dynamodb:Query", arn("table/jobs/index/by-cluster"), {})
    assert not iam_bed.allowed(dispatcher, "dynamodb:Query", arn("table/capacity"), {})
    recorder = t.statements("CapacityRecorderFunction")
    assert iam_bed.allowed(recorder, "dynamodb:Query", arn("table/capacity/index/live"), {})
    assert iam_bed.allowed(recorder, "dynamodb:Query", arn("table/capacity"), {})
    print("iam_bed_test: ok")


if __name__ == "__main__":
    main()
