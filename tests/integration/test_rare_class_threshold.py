"""A rare-class binary model through the real template and state machine on moto: the decision threshold
tuned on validation is recorded on the trial, registered with the champion, and /predict answers with it
(evergreen.thresholds)."""

from __future__ import annotations

import csv
import io
import json

import boto3
import pytest

from evergreen import registry
from evergreen_cli.local.api import invoke_api
from evergreen_cli.local.stack import LocalStack
from evergreen.spec import parse_spec
from evergreen.storage import from_dynamo
from evergreen.synthetic import make_rare
from tests.support.infra import ROOT
from tests.support.uploads import train_on_upload

pytestmark = pytest.mark.e2e

SPEC = parse_spec("""name: fraud
target: fraud
problem_type: classification
primary_metric: balanced_accuracy
min_rows: 100
candidates:
  - family: logistic_regression
    grid: {C: [1.0]}
""")


@pytest.fixture(scope="module")
def trained():
    """The stack after one upload of 3,000 rows with 2.6% positives: (stack, execution)."""
    with pytest.MonkeyPatch.context() as env, LocalStack(root=ROOT, stack_name="evergreen-threshold") as stack:
        env.setenv("CHAMPION_TTL_SECONDS", "0")
        execution = train_on_upload(stack, SPEC, make_rare(3000, seed=0))
        yield stack, execution


def table(stack, output: str):
    return boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs[output])


def records_of(stack, run_id: str) -> dict[str, dict]:
    items = table(stack, "ExperimentsTableName").query(
        KeyConditionExpression="run_id = :r", ExpressionAttributeValues={":r": run_id})["Items"]
    return {item["sk"]: from_dynamo(item) for item in items}


def test_the_trial_records_a_tuned_threshold_and_the_champion_carries_it(trained):
    stack, execution = trained
    assert execution["status"] == "SUCCEEDED"
    records = records_of(stack, execution["name"])
    assert records["run"]["status"] == "PROMOTED"
    [trial] = [r for sk, r in records.items() if sk.startswith("trial#") and not sk.endswith("-refit")]
    assert 0 < trial["threshold"] < 0.5
    # cross-validated (3,000 rows): the winner is fitted on train + validation and keeps that threshold
    assert records[f"trial#{trial['candidate_id']}-refit"]["threshold"] == trial["threshold"]

    alias = registry.get_alias(table(stack, "RegistryTableName"), "fraud")
    version = registry.get_version(table(stack, "RegistryTableName"), "fraud", alias["version"])
    assert alias["threshold"] == version["threshold"] == trial["threshold"]
    card = stack.client("s3").get_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=alias["card_key"])["Body"]
    assert json.loads(card.read())["threshold"] == trial["threshold"]


def test_predict_answers_the_positive_class_between_the_threshold_and_0_5(trained):
    stack, _ = trained
    threshold = registry.get_alias(table(stack, "RegistryTableName"), "fraud")["threshold"]
    rows = list(csv.DictReader(io.StringIO(make_rare(600, seed=7).decode())))
    features = [{k: v for k, v in row.items() if k != "fraud"} for row in rows]
    answered = []
    for start in range(0, len(features), 100):  # at most 100 records per request
        status, body = invoke_api(stack, "POST", "/predict", {"model": "fraud", "records": features[start:start + 100]})
        assert status == 200, body
        answered += body["predictions"]
    p_yes = [a["probabilities"]["yes"] for a in answered]
    # the float32 probabilities as the response writes them: keep clear of the threshold by more than their rounding
    between = [i for i, p in enumerate(p_yes) if threshold + 1e-6 < p < 0.5]
    below = [i for i, p in enumerate(p_yes) if p < threshold - 1e-6]
    assert between and below
    assert {answered[i]["prediction"] for i in between} == {"yes"}  # argmax would answer "no"
    assert {answered[i]["prediction"] for i in below} == {"no"}

    status, body = invoke_api(stack, "POST", "/predict", {"model": "fraud", "record": features[between[0]]})
    assert status == 200 and body["predictions"][0]["prediction"] == "yes"
    assert threshold < body["predictions"][0]["probabilities"]["yes"] < 0.5
