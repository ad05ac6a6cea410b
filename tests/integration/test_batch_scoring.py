"""Batch scoring end to end: the real template.yaml and statemachines/batch_scoring.asl.json on moto.

A CSV uploaded under score/<model>/ starts the batch state machine (S3 -> EventBridge -> Step Functions);
moto's interpreter runs its Distributed Map with the manifest read from S3, one child execution per
chunk, and the handlers run in-process. The champion is trained first by the pipeline, as in
test_pipeline_e2e. One local stack per module, with 40-line chunks so that small files have several.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from evergreen_cli.local.api import invoke_api
from evergreen_cli.local.stack import LocalStack
from evergreen.spec import dump_spec
from evergreen.synthetic import make_churn
from tests.integration.test_pipeline_e2e import SPEC, champion, upload_and_wait
from tests.support.infra import ROOT

pytestmark = pytest.mark.e2e

CHUNK_ROWS = 40
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "data_usage_gb", "days_since_login", "age",
            "contract", "payment_method"]


@pytest.fixture(scope="module")
def stack():
    with pytest.MonkeyPatch.context() as env, LocalStack(
            root=ROOT, parameters={"ModelName": "churn", "BatchChunkRows": str(CHUNK_ROWS)},
            stack_name="evergreen-batch") as s:
        env.setenv("CHAMPION_TTL_SECONDS", "0")
        s.client("s3").put_object(Bucket=s.outputs["DataBucketName"], Key="specs/churn.yaml",
                                  Body=dump_spec(SPEC).encode())
        trained = upload_and_wait(s, "train.csv", make_churn(600, seed=1))
        assert trained["status"] == "SUCCEEDED" and champion(s)["version"] == 1
        yield s


def score_and_wait(stack, name: str, body: bytes, model: str = "churn") -> dict:
    known = len(stack.list_executions())
    stack.client("s3").put_object(Bucket=stack.outputs["DataBucketName"], Key=f"score/{model}/{name}", Body=body)
    execution = stack.wait_for_new_execution(known)
    assert execution["stateMachineArn"] == stack.outputs["BatchScoringStateMachineArn"]
    return stack.wait_for_execution(execution["executionArn"], timeout=300)


def output(stack, model: str, name: str, file: str) -> bytes:
    return stack.client("s3").get_object(Bucket=stack.outputs["DataBucketName"],
                                         Key=f"scored/{model}/{name}/{file}")["Body"].read()


def outputs(stack, model: str, name: str) -> list[str]:
    found = stack.client("s3").list_objects_v2(Bucket=stack.outputs["DataBucketName"], Prefix=f"scored/{model}/{name}/")
    return sorted(o["Key"].rsplit("/", 1)[1] for o in found.get("Contents", []))


def work_files(stack) -> list[dict]:
    found = stack.client("s3").list_object_versions(Bucket=stack.outputs["ArtifactsBucketName"], Prefix="batch/")
    return found.get("Versions", []) + found.get("DeleteMarkers", [])


def table(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def predict(stack, records: list[dict]) -> list[dict]:
    answers = []
    for start in range(0, len(records), 100):  # /predict takes at most 100 records a request
        status, body = invoke_api(stack, "POST", "/predict", {"model": "churn", "records": records[start:start + 100]})
        assert status == 200, body
        assert body["model_version"] == 1
        answers += body["predictions"]
    return answers


def with_bad_rows(body: bytes) -> tuple[bytes, dict[int, str]]:
    """The churn CSV with four bad rows and a blank line put in; {bad row's line number: its reason's start}."""
    lines = body.decode().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")

    def row(line_number: int, **cells: str) -> str:
        values = dict(zip(header, lines[line_number - 1].rstrip("\n").split(",")))
        return ",".join({**values, **cells}.values()) + "\n"

    lines[4] = row(5, age="forty")
    lines[49] = "1,2,3\n"
    lines[96] = row(97, contract="x" * 1100)
    lines[129] = row(130, contract="caf\udce9")  # the byte 0xE9 alone: Latin-1, not UTF-8
    lines[160] = "\n"  # line 161: blank, not a row
    bad = {5: 'age is not a number, got "forty"', 50: f"has 3 fields, the header has {len(header)}",
           97: "contract is longer than 1024 characters", 130: "is not UTF-8 text"}
    return "".join(lines).encode("utf-8", errors="surrogateescape"), bad


def test_a_csv_under_score_is_scored_by_the_champion_in_chunks(stack):
    body, bad = with_bad_rows(make_churn(250, seed=7))
    before = len(stack.list_executions())
    execution = score_and_wait(stack, "customers.csv", body)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert len(stack.list_executions()) == before + 1  # the outputs under scored/ start nothing

    summary = json.loads(output(stack, "churn", "customers.csv", "summary.json"))
    assert summary["model"] == "churn" and summary["version"] == 1 and summary["batch_id"] == execution["name"]
    assert summary["chunks"] == 7  # 250 lines after the header, 40 a chunk
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (249, 245, 4)  # one blank line
    assert summary["source"]["key"] == "score/churn/customers.csv" and summary["source"]["version_id"]
    assert outputs(stack, "churn", "customers.csv") == ["predictions.csv", "rejected.csv", "summary.json"]
    assert work_files(stack) == []  # the manifest and every part, every version, removed

    rejected = table(output(stack, "churn", "customers.csv", "rejected.csv"))
    assert [int(r["row_id"]) for r in rejected] == sorted(bad)
    for r in rejected:
        assert r["reason"].startswith(bad[int(r["row_id"])]), r

    predictions = table(output(stack, "churn", "customers.csv", "predictions.csv"))
    assert list(predictions[0]) == ["row_id", "model_version", "prediction", "probability_no", "probability_yes"]
    lines = body.decode("utf-8", errors="surrogateescape").splitlines()
    good = [n for n in range(2, len(lines) + 1) if n not in bad and lines[n - 1].strip()]
    assert [int(p["row_id"]) for p in predictions] == good
    # the same rows through /predict, their cells sent as the CSV's texts
    header = lines[0].split(",")
    records = [{k: v for k, v in zip(header, lines[n - 1].split(",")) if k in FEATURES} for n in good]
    answers = predict(stack, records)
    assert [p["prediction"] for p in predictions] == [a["prediction"] for a in answers]
    assert {p["model_version"] for p in predictions} == {"1"}
    got = np.array([[float(p["probability_no"]), float(p["probability_yes"])] for p in predictions])
    want = np.array([[a["probabilities"]["no"], a["probabilities"]["yes"]] for a in answers])
    # onnxruntime's kernels block by batch size (here 40 rows a run, 100 a request): the last float32 bits may differ
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_a_quoted_file_is_scored_in_one_chunk(stack):
    rows = table(make_churn(90, seed=8))
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([*FEATURES, "note"])
    for i, row in enumerate(rows):
        writer.writerow([*(row[c] for c in FEATURES), "two\nlines" if i % 10 == 0 else "plain"])
    execution = score_and_wait(stack, "quoted.csv", out.getvalue().encode())
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    summary = json.loads(output(stack, "churn", "quoted.csv", "summary.json"))
    assert (summary["chunks"], summary["scored"], summary["rejected"]) == (1, 90, 0)
    predictions = table(output(stack, "churn", "quoted.csv", "predictions.csv"))
    starts, line = [], 2  # a record with a line break in a field takes two lines
    for i in range(90):
        starts.append(line)
        line += 2 if i % 10 == 0 else 1
    assert [int(p["row_id"]) for p in predictions] == starts
    answers = predict(stack, [{c: r[c] for c in FEATURES} for r in rows])
    assert [p["prediction"] for p in predictions] == [a["prediction"] for a in answers]


def test_a_header_without_the_champions_columns_fails_naming_them(stack):
    body = make_churn(50, seed=9).replace(b"tenure_months", b"tenure", 1).replace(b"support_calls", b"calls", 1)
    execution = score_and_wait(stack, "renamed.csv", body)
    assert execution["status"] == "FAILED" and execution["error"] == "DataError"
    assert "['tenure_months', 'support_calls']" in execution["cause"] and "Traceback" not in execution["cause"]
    error = json.loads(output(stack, "churn", "renamed.csv", "error.json"))
    assert error["error"] == "DataError" and "tenure_months" in error["reason"]
    assert error["batch_id"] == execution["name"]
    assert outputs(stack, "churn", "renamed.csv") == ["error.json"]
    assert work_files(stack) == []

    fixed = score_and_wait(stack, "renamed.csv", make_churn(50, seed=9))  # the same name, fixed: the error goes
    assert fixed["status"] == "SUCCEEDED"
    assert outputs(stack, "churn", "renamed.csv") == ["predictions.csv", "rejected.csv", "summary.json"]


def test_make_up_tells_how_to_start_a_batch(stack):
    from evergreen_cli.local.__main__ import instructions

    bucket = stack.outputs["DataBucketName"]
    assert f"s3 cp rows.csv s3://{bucket}/score/churn/rows.csv" in instructions(stack, "http://127.0.0.1:8080")


def test_a_model_without_a_champion_fails_clearly(stack):
    execution = score_and_wait(stack, "data.csv", make_churn(20, seed=10), model="unknown")
    assert execution["status"] == "FAILED" and execution["error"] == "NoChampion"
    assert "model 'unknown' has no champion yet" in execution["cause"]


def test_a_failing_chunk_fails_the_batch_and_leaves_no_parts(stack, monkeypatch):
    from evergreen.steps import batch_score

    real = batch_score.run

    def broken(inp, stores, champions):
        if inp.chunk.index == 1:
            raise RuntimeError("injected failure in chunk 1")
        return real(inp, stores, champions)

    monkeypatch.setattr(batch_score, "run", broken)
    execution = score_and_wait(stack, "flaky.csv", make_churn(120, seed=11))
    assert execution["status"] == "FAILED"
    # AWS fails the Map (States.ExceedToleratedFailureThreshold, ending as Evergreen.StepFailed); moto's
    # Distributed Map gives the failed child a null result, which Combine refuses
    assert execution["error"] in ("ChunkFailed", "Evergreen.StepFailed")
    if execution["error"] == "ChunkFailed":
        assert "1 of 3 chunks failed (chunks [1])" in execution["cause"]
    assert outputs(stack, "churn", "flaky.csv") == ["error.json"]
    assert work_files(stack) == []


def test_folder_markers_hidden_files_and_repeated_events_are_skipped(stack):
    for name in ("folder/", "_SUCCESS", ".DS_Store"):
        execution = score_and_wait(stack, name, b"" if name.endswith("/") else b"x")
        assert execution["status"] == "SUCCEEDED"
        assert "IgnoredUpload" in execution["output"]

    first = score_and_wait(stack, "twice.csv", make_churn(30, seed=12))
    assert first["status"] == "SUCCEEDED"
    sfn = stack.client("stepfunctions")
    event = json.loads(sfn.describe_execution(executionArn=first["executionArn"])["input"])
    # S3 delivers the event a second time
    again = sfn.start_execution(stateMachineArn=first["stateMachineArn"], input=json.dumps(event))
    repeated = stack.wait_for_execution(again["executionArn"])
    assert repeated["status"] == "SUCCEEDED" and "AlreadyScored" in repeated["output"]
    assert json.loads(output(stack, "churn", "twice.csv", "summary.json"))["batch_id"] == first["name"]
