"""The winner's full fit: on a search sample the trials are cheap, and the winner is fitted again on
every training row, in RefitFunction or, past its memory (or when the spec asks), as a SageMaker
training job through createTrainingJob.sync, which the local stack runs with evergreen_cli.local.shims.sagemaker."""

from __future__ import annotations

import boto3
import pytest

from evergreen_cli.local.stack import LocalStack
from evergreen.spec import parse_spec
from evergreen.storage import from_dynamo
from evergreen.synthetic import make_churn
from tests.support.infra import ROOT
from tests.support.uploads import train_on_upload
from tests.support.specs import churn_spec

pytestmark = pytest.mark.e2e

CANDIDATES = """  - family: logistic_regression
    grid: {C: [0.01, 1.0]}
"""


@pytest.fixture(scope="module")
def stack():
    with LocalStack(root=ROOT, stack_name="evergreen-refit") as s:
        yield s


def train(stack, model: str, refit: str) -> tuple[dict, dict[str, dict]]:
    spec = parse_spec(churn_spec(model, CANDIDATES, f"search: {{sample_rows: 1000}}\ncompute: {{refit: {refit}}}\n"))
    execution = train_on_upload(stack, spec, make_churn(3000, seed=4))
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["ExperimentsTableName"])
    items = table.query(KeyConditionExpression="run_id = :r", ExpressionAttributeValues={":r": execution["name"]})["Items"]
    return execution, {item["sk"]: from_dynamo(item) for item in items}


def states_entered(stack, arn: str) -> list[str]:
    events = stack.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def test_the_trials_use_the_sample_and_refit_winner_fits_every_training_row(stack):
    execution, records = train(stack, "sampled", "auto")
    assert execution["status"] == "SUCCEEDED" and records["run"]["status"] == "PROMOTED"
    entered = states_entered(stack, execution["executionArn"])
    assert "RefitWinner" in entered and "RefitOnSageMaker" not in entered
    trials = [r for sk, r in records.items() if sk.startswith("trial#") and not sk.endswith("-refit")]
    assert {t["trained_rows"] for t in trials} == {1000}
    [refit] = [r for sk, r in records.items() if sk.endswith("-refit")]
    rows = records["run"]["summary"]["rows"]
    # 3000 rows is under cv_max_rows, so the search cross-validated on train + validation: the
    # winner's refit fits all of them (it keeps the threshold tuned out of fold).
    assert refit["trained_rows"] == rows["train"] + rows["validation"] > 1000


def test_a_spec_that_asks_for_sagemaker_fits_the_winner_in_a_training_job(stack):
    execution, records = train(stack, "big", "sagemaker")
    assert execution["status"] == "SUCCEEDED", execution
    assert records["run"]["status"] == "PROMOTED"
    entered = states_entered(stack, execution["executionArn"])
    assert entered[entered.index("RefitWhere"):entered.index("Export")] == [
        "RefitWhere", "PrepareSageMakerRefit", "RefitOnSageMaker", "CollectSageMakerRefit"]
    [refit] = [r for sk, r in records.items() if sk.endswith("-refit")]
    assert refit["fitted_by"].startswith("SageMaker training job evergreen-big-")
    assert refit["artifact_key"].endswith("/refit/pipeline.joblib")
    listed = stack.client("s3").list_objects_v2(Bucket=stack.outputs["ArtifactsBucketName"], Prefix="runs/big/")
    assert any(o["Key"].endswith("/output/model.tar.gz") for o in listed["Contents"])
