"""Canary rollout on the local stack: the real template and state machine register each promoted
challenger beside the champion; inference answers half the requests with it; the monitor, on its
schedule, judges the two on the labels sent to /feedback and ends the rollout. A worse challenger is
rolled back, a better one promoted; the champion answers throughout, and every move is in the audit log.

The labels are chosen by the test from who answered (the champion's answers right, the challenger's
wrong, or the reverse): the world disagreeing with a model is what a canary is for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from evergreen import registry
from evergreen_cli.local.api import invoke_api
from evergreen_cli.local.demo import _records
from evergreen_cli.local.stack import LocalStack
from evergreen.spec import dump_spec, parse_spec
from evergreen.synthetic import make_churn
from tests.support.infra import ROOT
from tests.support.specs import churn_spec

pytestmark = pytest.mark.e2e

SPEC = parse_spec(churn_spec("churn", """  - family: logistic_regression
    grid: {C: [1.0]}
""", """promotion: {rollout: canary, canary_share: 0.5}
monitoring: {min_labels: 20, cooldown_minutes: 0}
"""))


@pytest.fixture(scope="module")
def stack():
    with pytest.MonkeyPatch.context() as env, LocalStack(root=ROOT, parameters={"ModelName": "churn"},
                                                          stack_name="evergreen-canary") as s:
        env.setenv("CHAMPION_TTL_SECONDS", "0")
        s.client("s3").put_object(Bucket=s.outputs["DataBucketName"], Key="specs/churn.yaml", Body=dump_spec(SPEC).encode())
        yield s


def table(stack):
    return boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["RegistryTableName"])


def upload(stack, name: str, body: bytes) -> dict:
    known = len(stack.list_executions())
    stack.client("s3").put_object(Bucket=stack.outputs["DataBucketName"], Key=f"uploads/churn/{name}", Body=body)
    execution = stack.wait_for_execution(stack.wait_for_new_execution(known)["executionArn"], timeout=300)
    assert execution["status"] == "SUCCEEDED", execution
    return execution


def serve_and_label(stack, seed: int, right: int) -> set[int]:
    """120 single-record requests; each labelled so that model v`right`'s answers are right, the other's
    wrong. Returns the versions that answered; checks the champion alias never moved meanwhile."""
    champion = registry.get_alias(table(stack), "churn")["version"]
    answered = set()
    for record, _ in _records(make_churn(120, seed=seed), "churned"):
        status, out = invoke_api(stack, "POST", "/predict", {"model": "churn", "record": record})
        assert status == 200, out
        p, version = out["predictions"][0], out["model_version"]
        answered.add(version)
        label = p["prediction"] if version == right else ("no" if p["prediction"] == "yes" else "yes")
        status, fb = invoke_api(stack, "POST", "/feedback", {"prediction_id": p["prediction_id"], "label": label})
        assert status == 200 and fb["accepted"] == 1, fb
    assert registry.get_alias(table(stack), "churn")["version"] == champion
    return answered


def monitor(stack) -> dict:
    [tick] = stack.tick_schedules(datetime.now(UTC), force=True)  # one scheduled run of the monitor
    assert tick.error is None, tick.payload
    [rollout] = tick.payload["rollouts"]
    return rollout


def test_a_worse_canary_is_rolled_back_and_a_better_one_promoted(stack):
    upload(stack, "v1.csv", make_churn(600, seed=1))
    assert registry.get_alias(table(stack), "churn")["version"] == 1  # the first version: nothing to compare with

    run = upload(stack, "v2.csv", make_churn(600, seed=5, drift=1.0))
    rec = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["ExperimentsTableName"]).get_item(
        Key={"run_id": run["name"], "sk": "run"})["Item"]
    assert rec["reason"].startswith("v2 promoted to canary beside champion v1 (the monitor ends the rollout"), rec["reason"]
    challenger = registry.get_alias(table(stack), "churn", registry.CHALLENGER)
    assert challenger["version"] == 2 and challenger["rollout"]["mode"] == "canary"
    assert registry.get_alias(table(stack), "churn")["version"] == 1
    assert serve_and_label(stack, seed=11, right=1) == {1, 2}  # both answer their share
    verdict = monitor(stack)
    assert verdict["outcome"] == "rolled_back" and verdict["challenger_labels"] >= 20, verdict
    assert registry.get_alias(table(stack), "churn", registry.CHALLENGER) is None
    assert serve_and_label(stack, seed=12, right=1) == {1}  # the champion alone again

    upload(stack, "v3.csv", make_churn(600, seed=7, drift=1.0))
    assert registry.get_alias(table(stack), "churn", registry.CHALLENGER)["version"] == 3
    assert serve_and_label(stack, seed=13, right=3) == {1, 3}
    verdict = monitor(stack)
    assert verdict["outcome"] == "promoted" and verdict["challenger_quality"] > verdict["champion_quality"], verdict
    assert registry.get_alias(table(stack), "churn")["version"] == 3
    assert registry.get_alias(table(stack), "churn", registry.PREVIOUS)["version"] == 1

    log = list(reversed(registry.audit_log(table(stack), "churn")))
    assert [(e["actor"], [(c.get("alias"), c.get("from"), c.get("to")) for c in e["changes"]]) for e in log] == [
        ("pipeline", [("champion", None, 1)]),
        ("pipeline", [("challenger", None, 2)]),
        ("monitor", [("challenger", 2, None)]),
        ("pipeline", [("challenger", None, 3)]),
        ("monitor", [("champion", 1, 3), ("challenger", 3, None), ("previous", None, 1)]),  # no previous before
    ]
    assert "rolled back: live quality champion v1 1.0000" in log[2]["reason"]


def admin(stack, **payload) -> tuple[str | None, dict]:
    """The documented call: ModelAdminFunction invoked through the Lambda API -> (FunctionError, answer)."""
    out = stack.client("lambda").invoke(FunctionName=stack.outputs["ModelAdminFunctionName"],
                                        Payload=json.dumps(payload).encode())
    return out.get("FunctionError"), json.loads(out["Payload"].read())


def test_rollback_to_v1_through_the_lambda_api_and_refused_for_a_missing_version(stack):
    assert registry.get_alias(table(stack), "churn")["version"] == 3  # after the test above
    error, answer = admin(stack, action="rollback", model="churn", version=1, reason="v3 mislabels returns", actor="ana")
    assert error is None, answer
    assert answer["audit"]["reason"] == "rollback of champion v3 -> v1: v3 mislabels returns"
    assert registry.get_alias(table(stack), "churn")["version"] == 1
    status, out = invoke_api(stack, "POST", "/predict", {"model": "churn", "record": {"tenure_months": 3}})
    assert status == 200 and out["model_version"] == 1

    error, answer = admin(stack, action="rollback", model="churn", version=9, reason="typo")
    assert error == "Unhandled" and answer["errorType"] == "AdminError"
    assert answer["errorMessage"] == "model 'churn' has no version 9: nothing was registered under it"
    error, answer = admin(stack, action="rollback", model="churn", version=2)
    assert error == "Unhandled" and answer["errorMessage"] == (
        "invalid request: rollback needs a reason: it goes into the audit log")
    assert registry.get_alias(table(stack), "churn")["version"] == 1
