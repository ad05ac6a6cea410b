"""The `evergreen` commands against a stack found through its CloudFormation outputs (`--stack NAME`),
as against a deployed one: the stack is created from template.yaml by moto's CloudFormation (the local
runtime's LocalStack, in this process), and no local state file exists, so every command resolves
the stack with describe_stacks. The tour runs with --json, parsed: upload, watch to completion, models
shows the champion and the monitor's metric, predict and feedback (through the inference function,
since moto creates no API), the card, a second version, a rollback to v1 and a refused one; then
runs, run, trials --csv, card --open and logs (from CloudWatch Logs, which the stack on AWS has).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from evergreen import tracking
from evergreen_cli import app
from evergreen.synthetic import make_churn
from tests.support.specs import churn_spec
from tests.support.stacks import named_stack

pytestmark = pytest.mark.e2e

STACK = "evergreen-cli-deployed"
SPEC = churn_spec("churn", "  - family: logistic_regression\n    grid: {C: [1.0]}\n")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with named_stack(STACK, tmp_path_factory.mktemp("home")) as s:
        yield s


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    (folder / "spec.yaml").write_text(SPEC)
    (folder / "v1.csv").write_bytes(make_churn(600, seed=1))
    (folder / "v2.csv").write_bytes(make_churn(600, seed=5, drift=1.0))
    return folder


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = app.main(["--stack", STACK, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def ok_json(capsys, *argv: str):
    code, out, err = cli(capsys, *argv, "--json")
    assert code == 0 and err == "", err
    return json.loads(out)


def refused(capsys, *argv: str) -> str:
    code, out, err = cli(capsys, *argv)
    assert code == 1 and err.count("\n") == 1, (code, out, err)
    return err.strip()


def upload_and_watch(capsys, path, *extra: str) -> dict:
    uploaded = ok_json(capsys, "upload", str(path), "--model", "churn", *extra)
    assert uploaded["key"] == f"uploads/churn/{path.name}" and uploaded["run_id"], uploaded
    watched = ok_json(capsys, "watch", uploaded["run_id"], "--interval", "0.2", "--timeout", "300")
    assert watched["run_id"] == uploaded["run_id"] and watched["execution_status"] == "SUCCEEDED"
    return watched


def champion(capsys) -> int:
    [model] = ok_json(capsys, "models")
    assert model["model"] == "churn"
    return model["champion"]["version"]


def test_the_tour_against_a_stack_found_through_its_outputs(stack, files, capsys):
    assert refused(capsys, "upload", str(files / "v1.csv"), "--model", "churn") == (
        f"evergreen: model 'churn' has no spec at s3://{stack.outputs['DataBucketName']}/specs/churn.yaml: give one with --spec FILE")

    run = upload_and_watch(capsys, files / "v1.csv", "--spec", str(files / "spec.yaml"))
    assert run["status"] == "PROMOTED" and run["model"] == "churn" and run["reason"].startswith("v1 promoted: ")
    assert [s["name"] for s in run["states"]][:2] == ["Ingest", "TrainRung"] and run["states"][-1]["name"] == "Promoted"
    assert all(s["seconds"] is not None and s["error"] is None for s in run["states"])
    [trial] = run["summary"]["leaderboard"]
    assert (trial["rank"], trial["family"]) == (1, "logistic_regression")
    assert run["summary"]["decision"]["promote"] is True and run["summary"]["cost"]["usd"]["total"] > 0

    [model] = ok_json(capsys, "models")
    assert model["champion"]["version"] == 1 and model["challenger"] is None and model["pin"] is None
    assert model["quality"]["latest"] is None and model["quality"]["alarm"]["state"] in ("OK", "INSUFFICIENT_DATA")
    stack.client("cloudwatch").put_metric_data(Namespace="Evergreen", MetricData=[{
        "MetricName": "PredictionQuality", "Dimensions": [{"Name": "Model", "Value": "churn"}],
        "Timestamp": datetime.now(UTC), "Value": 0.93}])
    [model] = ok_json(capsys, "models")
    assert model["quality"]["latest"]["value"] == 0.93 and model["quality"]["alarm"]["threshold"] == 0.7

    answer = ok_json(capsys, "predict", "--model", "churn", "tenure_months=3", "contract=month-to-month", "support_calls=4")
    [prediction] = answer["predictions"]
    assert answer["model_version"] == 1 and prediction["prediction"] in ("yes", "no")
    labelled = ok_json(capsys, "feedback", "last", prediction["prediction"])
    assert labelled["accepted"] == 1 and labelled["results"] == [
        {"prediction_id": prediction["prediction_id"], "status": "recorded", "quality": 1.0}]
    assert refused(capsys, "feedback", "no-such-id", "yes").startswith("evergreen: /feedback answered 404: unknown prediction_id")

    card = ok_json(capsys, "card", "churn")
    assert (card["version"], card["key"], card["card"]["model_name"], card["card"]["run_id"]) == (
        1, "models/churn/v000001/card.json", "churn", run["run_id"])

    second = upload_and_watch(capsys, files / "v2.csv")
    assert second["status"] == "PROMOTED" and champion(capsys) == 2

    moved = ok_json(capsys, "rollback", "churn", "v1", "--reason", "v2 mislabels returns", "--actor", "ana")
    assert moved["audit"]["actor"] == "ana"
    assert moved["audit"]["reason"] == "rollback of champion v2 -> v1: v2 mislabels returns"
    assert champion(capsys) == 1
    assert ok_json(capsys, "predict", "--model", "churn", "tenure_months=3")["model_version"] == 1
    assert refused(capsys, "rollback", "churn", "9", "--reason", "typo") == (
        "evergreen: rollback refused: model 'churn' has no version 9: nothing was registered under it")
    assert refused(capsys, "pin", "churn", "--reason", " ") == (
        "evergreen: pin refused: invalid request: pin needs a reason: it goes into the audit log")
    assert champion(capsys) == 1

    runs = ok_json(capsys, "runs")
    assert [r["run_id"] for r in runs] == [second["run_id"], run["run_id"]]
    assert [r["status"] for r in runs] == ["PROMOTED", "PROMOTED"]
    assert [r["run_id"] for r in ok_json(capsys, "runs", "--model", "churn", "--limit", "1")] == [second["run_id"]]
    assert ok_json(capsys, "run", run["run_id"])["states"] == run["states"]

    code, out, err = cli(capsys, "trials", "--model", "churn", "--csv")
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["ExperimentsTableName"])
    assert code == 0 and out == tracking.trials_csv(tracking.model_trials(table, "churn"))
    assert out.count("\n") == 5  # the header, then 2 runs x (1 trial + the winner's refit)

    code, out, err = cli(capsys, "models")  # and the table for people
    assert code == 0 and "churn" in out and "v1 logistic_regression" in out and "0.930" in out


def test_card_open_saves_the_html_card_and_opens_it(stack, capsys, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    s3, bucket = stack.client("s3"), stack.outputs["ArtifactsBucketName"]
    s3.delete_object(Bucket=bucket, Key="models/churn/v000001/card.html")
    assert refused(capsys, "card", "churn", "v1", "--open") == (
        f"evergreen: v1 of 'churn' has no card.html at s3://{bucket}/models/churn/v000001/card.html")
    s3.put_object(Bucket=bucket, Key="models/churn/v000001/card.html", Body=b"<html><body>churn v1</body></html>")
    code, out, err = cli(capsys, "card", "churn", "1", "--open")
    assert code == 0 and "churn v1: logistic_regression" in out
    [line] = [line for line in out.splitlines() if line.startswith("HTML card: ")]
    page = line.removeprefix("HTML card: ")
    assert open(page).read() == "<html><body>churn v1</body></html>" and opened == [f"file://{page}"]


def test_logs_reads_the_functions_log_groups(stack, capsys):
    logs = stack.client("logs")
    ingest = stack.resources["IngestFunction"]
    group = f"/aws/lambda/{ingest}"
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]  # the template's, with its retention
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(datetime.now(UTC).timestamp() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now - 2000, "message": "START run-a ingest\n"},
        {"timestamp": now - 1000, "message": "DataError run-b: file is not UTF-8 text\n"}])

    lines = ok_json(capsys, "logs", "--step", "ingest")
    assert [(line["step"], line["function"], line["message"]) for line in lines] == [
        ("ingest", ingest, "START run-a ingest"), ("ingest", ingest, "DataError run-b: file is not UTF-8 text")]
    assert [line["message"] for line in ok_json(capsys, "logs", "--step", "ingest", "--run", "run-b")] == [
        "DataError run-b: file is not UTF-8 text"]
    assert ok_json(capsys, "logs", "--step", "evaluate") == []  # nothing logged there (the handlers ran in-process)
    code, out, err = cli(capsys, "logs", "--step", "evaluate", "--since", "2h")
    assert code == 0 and out == "No log lines from evaluate in the last 2h.\n"
    logs.delete_log_group(logGroupName=f"/aws/lambda/{stack.resources['EvaluateFunction']}")
    assert refused(capsys, "logs", "--step", "evaluate") == (
        f"evergreen: no log group /aws/lambda/{stack.resources['EvaluateFunction']} in stack '{STACK}': the function has not logged yet, or its log group was deleted")
    assert refused(capsys, "logs", "--step", "nope").startswith(f"evergreen: no step 'nope' in stack '{STACK}': the steps are ")


def test_a_stack_that_does_not_exist_is_one_line(stack, capsys):
    code = app.main(["--stack", "no-such-stack", "models"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err == "evergreen: stack 'no-such-stack': Stack with id no-such-stack does not exist\n"
