"""Hostile data and spec uploads against a serving v1, through the real template and state machine on moto.

For every case, three things: the run ends with a clear reason naming the problem (or with a
documented acceptance: the data is used, what was wrong is counted in the run record, and any
promotion was judged against the champion, never the trivial baseline); the raw upload is kept;
and the champion is unchanged and still serving: /predict with v1-style records returns exactly
v1's answer. The accepted cases are built from v1's own training rows, so a challenger cannot beat
v1 by the margin and the champion stays v1 throughout.
"""

from __future__ import annotations

import csv
import io
import json

import boto3
import pytest

from evergreen import registry
from evergreen_cli.local.api import invoke_api
from evergreen_cli.local.stack import LocalStack
from evergreen.spec import dump_spec, parse_spec
from evergreen.storage import from_dynamo
from evergreen.synthetic import make_churn
from tests.support.infra import ROOT
from tests.support.specs import churn_spec

pytestmark = pytest.mark.e2e

SPEC_TEXT = churn_spec("churn", """  - family: logistic_regression
    grid: {C: [1.0]}
  - family: decision_tree
    grid: {max_depth: [4]}
""")
SPEC = parse_spec(SPEC_TEXT)
V1_DATA = make_churn(600, seed=1)
PROBES = [{k: v for k, v in row.items() if k != "churned"}
          for row in csv.DictReader(io.StringIO(make_churn(4, seed=99).decode()))]


def table(text: bytes = V1_DATA) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text.decode())))
    return rows[0], rows[1:]


def to_csv(header, rows, delimiter=",", newline="\n") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows([header, *rows])
    return out.getvalue().encode()


def with_cells(column: str, cells: dict[int, str]) -> bytes:
    header, rows = table()
    j = header.index(column)
    for i, value in cells.items():
        rows[i][j] = value
    return to_csv(header, rows)


def mapped(column: str, fn) -> bytes:
    header, rows = table()
    j = header.index(column)
    for i, row in enumerate(rows):
        row[j] = fn(i, row[j])
    return to_csv(header, rows)


def renamed(old: str, new: str) -> bytes:
    header, rows = table()
    return to_csv([new if h == old else h for h in header], rows)


def without(column: str) -> bytes:
    header, rows = table()
    j = header.index(column)
    return to_csv(header[:j] + header[j + 1:], [r[:j] + r[j + 1:] for r in rows])


def with_columns(n: int) -> bytes:
    header, rows = table()
    return to_csv(header + [f"extra_{i}" for i in range(n)], [r + [str(i % 7)] * n for i, r in enumerate(rows)])


# (id, object body, expected): expected is ("failed", error, text), ("skipped", text), ("rejected", reason text)
# or ("accepted", notice text)
DATA_CASES = [
    ("inf-ten-cells", with_cells("monthly_charges", {i: "inf" for i in range(10)}),
     ("accepted", "'monthly_charges'")),
    ("word-in-ten-cells", with_cells("tenure_months", {i: "twelve" for i in range(10)}),
     ("accepted", "'tenure_months': 10 of 600 values is not a number")),
    ("column-became-words", with_cells("tenure_months", {i: "twelve" for i in range(300)}),
     ("failed", "DataError", "column 'tenure_months': 300 of 600 values is not a number")),
    ("labels-mixed-yes-no-1-0", mapped("churned", lambda i, v: v if i % 2 else {"yes": "1", "no": "0"}[v]),
     ("failed", "DataError", "classes added: ")),
    ("labels-changed-type", mapped("churned", lambda i, v: {"yes": "1", "no": "0"}[v]),
     ("failed", "DataError", "classes removed (no rows): ['no', 'yes']")),
    ("labels-flipped", mapped("churned", lambda i, v: {"yes": "no", "no": "yes"}[v]),
     ("rejected", "implausible challenger: its accuracy on the test split champion v1 was validated on")),
    ("labels-60-percent-flipped", mapped("churned", lambda i, v: {"yes": "no", "no": "yes"}[v] if i % 5 < 3 else v),
     ("rejected", "")),
    ("labels-changed-case", mapped("churned", lambda i, v: v.upper()),
     ("failed", "DataError", "classes added: 'NO'")),
    ("class-added", with_cells("churned", {i: "maybe" for i in range(5)}),
     ("failed", "DataError", "classes added: 'maybe' (5 rows)")),
    ("class-removed", mapped("churned", lambda i, v: "no"),
     ("failed", "DataError", "classes removed (no rows): ['yes']")),
    ("column-renamed", renamed("tenure_months", "tenure"),
     ("failed", "DataError", "columns missing: ['tenure_months'] (renamed? the upload has new columns ['tenure'])")),
    ("column-dropped", without("age"), ("failed", "DataError", "columns missing: ['age']")),
    ("target-renamed", renamed("churned", "churn"), ("failed", "DataError", "target column 'churned' not found")),
    ("target-dropped", without("churned"), ("failed", "DataError", "target column 'churned' not found")),
    ("two-thousand-columns", with_columns(2000),
     ("failed", "DataError", "2008 feature columns; the spec allows at most 500 (data.max_columns)")),
    ("three-added-columns", with_columns(3), ("accepted", "columns not in contract v1 are left out: 'extra_0'")),
    ("column-all-missing", mapped("age", lambda i, v: ""),
     ("failed", "DataError", "columns with no usable value: ['age']")),
    ("target-all-missing", mapped("churned", lambda i, v: ""),
     ("failed", "DataError", "classes removed (no rows): ['no', 'yes']")),
    ("target-missing-in-30-rows", with_cells("churned", {i: "" for i in range(30)}),
     ("accepted", "30 rows left out (quarantined): 30 without a target")),
    ("category-10000-chars", with_cells("contract", {i: "x" * 10_000 for i in range(5)}),
     ("accepted", "'contract': 5 of 600 values is longer than 1024 characters")),
    ("categories-padded-with-spaces", mapped("contract", lambda i, v: f"  {v} "), ("accepted", "")),
    ("new-category-values", with_cells("payment_method", {i: "crypto" for i in range(12)}),
     ("accepted", "'payment_method': 12 rows have values the contract has not seen (e.g. 'crypto')")),
    ("huge-numbers", with_cells("age", {i: "1e39" for i in range(5)}),
     ("accepted", "'age': 5 of ")),
    ("half-missing-tokens", mapped("data_usage_gb", lambda i, v: "NA" if i % 2 else v), ("accepted", "")),
    ("semicolons-bom-crlf", b"\xef\xbb\xbf" + to_csv(*table(), delimiter=";", newline="\r\n"), ("accepted", "")),
    ("labels-with-trailing-spaces", mapped("churned", lambda i, v: v + "  "), ("accepted", "")),
    ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
     ("failed", "DataError", "file is not UTF-8 text (it contains NUL bytes")),
    ("utf16", V1_DATA.decode().encode("utf-16"), ("failed", "DataError", "file is not UTF-8 text")),
    ("latin1", "tenure_months,contract,churned\n1,caf\u00e9,yes\n".encode("latin-1"),
     ("failed", "DataError", "invalid byte at offset")),
    ("no-header", b"\n".join(V1_DATA.split(b"\n")[1:]), ("failed", "DataError", "the first line looks like data: is the header missing?")),
    ("ragged-rows", V1_DATA + b"1,2,3\n", ("failed", "DataError", "line 602 has 3")),
    ("header-only", V1_DATA.split(b"\n")[0] + b"\n", ("failed", "DataError", "the header has no data rows")),
    ("duplicate-header", V1_DATA.replace(b",age,", b",tenure_months,", 1),
     ("failed", "DataError", "duplicate column names ['tenure_months']")),
    ("too-few-rows", make_churn(30, seed=3), ("failed", "DataError", "requires at least 100")),
    ("json-not-csv", json.dumps([{"tenure_months": 1}] * 200).encode(), ("failed", "DataError", "looks like JSON")),
    ("folder-marker", b"", ("skipped", "is a folder marker, not data: ignored")),
    ("hidden-file", b"\x00\x00\x00\x01Bud1", ("skipped", "is a hidden or marker file ('.DS_Store')")),
    ("spark-marker", b"", ("skipped", "is an empty object, not data")),
    ("empty-file", b"", ("skipped", "is an empty object, not data")),
]
KEYS = {"folder-marker": "uploads/churn/batch-7/", "hidden-file": "uploads/churn/.DS_Store",
        "spark-marker": "uploads/churn/out/_SUCCESS"}

# (id, spec text, expected error text): a spec that cannot run fails at validation, naming the problem
SPEC_CASES = [
    ("billion-laughs", "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nname: churn\n", "aliases/anchors are not allowed"),
    ("seed-2-to-the-40", SPEC_TEXT + "split: {seed: 1099511627776}\n", "split.seed"),
    ("negative-C", SPEC_TEXT.replace("C: [1.0]", "C: [-1]"), "must be > 0, got -1"),
    ("max-iter-word", SPEC_TEXT.replace("C: [1.0]", "max_iter: ['x']"), "must be an integer"),
    ("margin-nan", SPEC_TEXT.replace("promotion_margin: 0.01", "promotion_margin: .nan"), "promotion_margin"),
    ("max-iter-1e9", SPEC_TEXT.replace("C: [1.0]", "max_iter: [1000000000]"), "at most 10000"),
    ("spec-70kb", SPEC_TEXT + "# " + "x" * 70_000 + "\n", "at most 65536"),
    ("unknown-family", SPEC_TEXT.replace("decision_tree", "svm"), "unknown family 'svm'"),
    ("name-mismatch", SPEC_TEXT.replace("name: churn", "name: other"), "does not match the model folder 'churn'"),
    ("duplicate-key", SPEC_TEXT + "target: churned\n", "duplicate key"),
    ("not-a-mapping", "- a\n- b\n", "expected a mapping"),
    ("contract-version-zero", SPEC_TEXT + "contract: {version: 0}\n", "contract.version"),
]

# (id, spec text, object body, expected error text): the spec and the data disagree with the locked contract
CONTRACT_CASES = [
    ("spec-says-regression", SPEC_TEXT.replace("problem_type: classification", "problem_type: regression")
     .replace("accuracy", "rmse").replace("logistic_regression", "ridge").replace("C: [1.0]", "alpha: [1.0]"),
     V1_DATA, "the spec's problem type regression is not the contract's classification"),
    ("spec-changes-target", SPEC_TEXT.replace("target: churned", "target: contract"), V1_DATA,
     "the spec's target 'contract' is not the contract's 'churned'"),
    ("undeclared-breaking-change", SPEC_TEXT + "contract: {version: 2}\n", without("age"),
     "contract v1 -> v2 is a breaking change: columns removed: ['age']"),
]


@pytest.fixture(scope="module")
def stack():
    with pytest.MonkeyPatch.context() as env, LocalStack(
            root=ROOT, parameters={"ModelName": "churn"}, stack_name="evergreen-hostile") as s:
        env.setenv("CHAMPION_TTL_SECONDS", "0")
        put_spec(s, dump_spec(SPEC))
        first = upload_and_wait(s, "v1.csv", V1_DATA)
        assert first["status"] == "SUCCEEDED" and champion(s)["version"] == 1
        yield s


@pytest.fixture(scope="module")
def v1_answer(stack):
    return answer(stack)


def put_spec(stack, text: str) -> None:
    stack.client("s3").put_object(Bucket=stack.outputs["DataBucketName"], Key="specs/churn.yaml", Body=text.encode())


def upload_and_wait(stack, name: str, body: bytes, key: str | None = None) -> dict:
    known = len(stack.list_executions())
    put = stack.client("s3").put_object(Bucket=stack.outputs["DataBucketName"], Key=key or f"uploads/churn/{name}", Body=body)
    execution = stack.wait_for_execution(stack.wait_for_new_execution(known)["executionArn"], timeout=300)
    execution["version_id"] = put.get("VersionId")
    return execution


def run_record(stack, run_id: str) -> dict:
    t = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["ExperimentsTableName"])
    return from_dynamo(t.get_item(Key={"run_id": run_id, "sk": "run"})["Item"])


def champion(stack) -> dict | None:
    return registry.get_alias(registry_table(stack), "churn")


def registry_table(stack):
    return boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["RegistryTableName"])


def answer(stack) -> list:
    status, body = invoke_api(stack, "POST", "/predict", {"model": "churn", "records": PROBES})
    assert status == 200, body
    return [body["model_version"]] + [(p["prediction"], p["probabilities"]) for p in body["predictions"]]


def assert_unchanged(stack, before: dict, v1_answer: list) -> None:
    assert champion(stack) == before, "the champion moved"
    assert answer(stack) == v1_answer, "/predict no longer gives v1's answer"


def kept(stack, key: str, version_id: str | None) -> None:
    extra = {"VersionId": version_id} if version_id else {}
    stack.client("s3").head_object(Bucket=stack.outputs["DataBucketName"], Key=key, **extra)


@pytest.mark.parametrize("case,body,expected", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_a_hostile_upload_changes_nothing(stack, v1_answer, case, body, expected):
    before = champion(stack)
    key = KEYS.get(case, f"uploads/churn/{case}.csv")
    execution = upload_and_wait(stack, case, body, key)
    record = run_record(stack, execution["name"])
    if expected[0] == "failed":
        _, error, text = expected
        assert execution["status"] == "FAILED" and execution["error"] == error, (execution.get("cause"), record)
        assert text in execution["cause"] and text in record["reason"]
        assert "Traceback" not in execution["cause"] and "/var/task" not in execution["cause"]
        assert record["status"] == "FAILED"
    elif expected[0] == "rejected":  # trained, and refused: the upload contradicts what v1 learned
        assert execution["status"] == "SUCCEEDED" and record["status"] == "REJECTED", record.get("reason")
        assert expected[1] in record["reason"]
    elif expected[0] == "skipped":
        assert execution["status"] == "SUCCEEDED" and record["status"] == "SKIPPED"
        assert expected[1] in record["reason"]
    else:
        assert execution["status"] == "SUCCEEDED", (execution.get("cause"), record.get("reason"))
        notices = record["summary"]["contract"]["notices"]
        assert not expected[1] or any(expected[1] in n for n in notices), notices
        assert record["status"] in ("REJECTED", "PROMOTED")
        assert "champion v1" in record["reason"] and "trivial baseline" not in record["reason"], record["reason"]
    kept(stack, key, execution["version_id"])
    assert_unchanged(stack, before, v1_answer)


def test_rows_left_out_are_quarantined_with_their_reason(stack):
    body = with_cells("churned", {0: "", 7: "NA"})
    execution = upload_and_wait(stack, "quarantine", body)
    record = run_record(stack, execution["name"])
    key = record["summary"]["quarantine_key"]
    rows = list(csv.reader(io.StringIO(stack.client("s3").get_object(
        Bucket=stack.outputs["ArtifactsBucketName"], Key=key)["Body"].read().decode())))
    assert rows[0][:2] == ["_row", "_reason"] and [r[:2] for r in rows[1:]] == [["2", "missing target"], ["9", "missing target"]]


@pytest.mark.parametrize("case,text,expected", SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_a_spec_that_cannot_run_fails_at_validation(stack, v1_answer, case, text, expected):
    before = champion(stack)
    put_spec(stack, text)
    try:
        execution = upload_and_wait(stack, f"spec-{case}", V1_DATA)
    finally:
        put_spec(stack, SPEC_TEXT)
    assert execution["status"] == "FAILED" and execution["error"] == "SpecError", execution.get("cause")
    assert expected in execution["cause"] and expected in run_record(stack, execution["name"])["reason"]
    kept(stack, f"uploads/churn/spec-{case}", execution["version_id"])
    assert_unchanged(stack, before, v1_answer)


@pytest.mark.parametrize("case,text,body,expected", CONTRACT_CASES, ids=[c[0] for c in CONTRACT_CASES])
def test_a_spec_that_disagrees_with_the_contract_changes_nothing(stack, v1_answer, case, text, body, expected):
    before = champion(stack)
    put_spec(stack, text)
    try:
        execution = upload_and_wait(stack, f"contract-{case}", body)
    finally:
        put_spec(stack, SPEC_TEXT)
    assert execution["status"] == "FAILED" and execution["error"] == "DataError", execution.get("cause")
    assert expected in execution["cause"]
    assert_unchanged(stack, before, v1_answer)


def test_a_duplicate_delivery_of_the_same_object_version_trains_nothing(stack, v1_answer):
    before = champion(stack)
    first = upload_and_wait(stack, "once.csv", with_cells("age", {0: "41"}))
    assert first["status"] == "SUCCEEDED"
    sfn = stack.client("stepfunctions")
    again = sfn.start_execution(stateMachineArn=first["stateMachineArn"], name="redelivered-" + first["name"][:40],
                                input=first["input"])  # EventBridge delivered the same event a second time
    execution = stack.wait_for_execution(again["executionArn"], timeout=120)
    record = run_record(stack, execution["name"])
    assert execution["status"] == "SUCCEEDED" and record["status"] == "SKIPPED"
    assert f"was already ingested by run {first['name']}" in record["reason"]
    assert not [i for i in stack.invocations if i.function == "TrainFunction" and i.started_at > record_time(record)]
    assert_unchanged(stack, before, v1_answer)


def record_time(record: dict) -> float:
    from datetime import datetime

    return datetime.fromisoformat(record["started_at"]).timestamp()


@pytest.mark.parametrize("damage", ["tampered", "missing", "alias-to-missing-key"])
def test_a_damaged_champion_fails_the_run_naming_the_key_and_keeps_serving(stack, v1_answer, damage):
    before = champion(stack)
    s3, bucket, key = stack.client("s3"), stack.outputs["ArtifactsBucketName"], before["model_key"]
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    table = registry_table(stack)
    if damage == "tampered":
        s3.put_object(Bucket=bucket, Key=key, Body=original + b"\x00")
        expected = f"champion v1 artifact s3://{bucket}/{key} failed the integrity check: model sha256"
    elif damage == "missing":
        s3.delete_object(Bucket=bucket, Key=key)
        expected = f"champion v1 artifact s3://{bucket}/{key} cannot be read (NoSuchKey)"
    else:
        table.update_item(Key={"model_name": "churn", "sk": "alias#champion"}, UpdateExpression="SET model_key = :k",
                          ExpressionAttributeValues={":k": "models/churn/v000009/model.onnx"})
        expected = f"champion v1 artifact s3://{bucket}/models/churn/v000009/model.onnx cannot be read (NoSuchKey)"
    try:
        # a challenger from new-concept data that would beat v1 easily: it must not be promoted
        execution = upload_and_wait(stack, f"after-{damage}.csv", make_churn(600, seed=5, drift=1.0))
        assert execution["status"] == "FAILED" and execution["error"] == "ChampionIntegrityError"
        assert expected in execution["cause"] and "restore it or move the champion alias" in execution["cause"]
        if damage == "alias-to-missing-key":
            assert champion(stack)["model_key"] == "models/churn/v000009/model.onnx"  # nothing moved it
        else:
            assert champion(stack) == before
        assert answer(stack) == v1_answer  # inference keeps serving the last verified model
    finally:
        s3.put_object(Bucket=bucket, Key=key, Body=original)
        table.update_item(Key={"model_name": "churn", "sk": "alias#champion"}, UpdateExpression="SET model_key = :k",
                          ExpressionAttributeValues={":k": key})
    assert_unchanged(stack, before, v1_answer)


def test_a_declared_additive_contract_change_must_still_beat_the_champion(stack, v1_answer):
    before = champion(stack)
    put_spec(stack, SPEC_TEXT + "contract: {version: 2}\n")
    try:
        execution = upload_and_wait(stack, "v2-contract.csv", with_columns(1))
    finally:
        put_spec(stack, SPEC_TEXT)
    record = run_record(stack, execution["name"])
    assert execution["status"] == "SUCCEEDED" and record["summary"]["contract"]["changes"] == ["columns added: ['extra_0']"]
    assert record["status"] == "REJECTED" and "champion v1" in record["reason"], record["reason"]
    assert_unchanged(stack, before, v1_answer)


def test_a_declared_breaking_change_replaces_the_champion_on_the_baseline_bar(stack, v1_answer):
    """Last in the module: it is the one upload that may change the champion, because the spec says so."""
    put_spec(stack, SPEC_TEXT + "contract: {version: 2, breaking: true}\n")
    execution = upload_and_wait(stack, "v2-breaking.csv", without("age"))
    record = run_record(stack, execution["name"])
    assert record["status"] == "PROMOTED", record["reason"]
    assert "breaking contract change declared in the spec" in record["reason"] and "columns removed: ['age']" in record["reason"]
    new = champion(stack)
    assert new["version"] == 2 and new["contract_version"] == 2
    contract = json.loads(stack.client("s3").get_object(Bucket=stack.outputs["ArtifactsBucketName"],
                                                        Key=new["contract_key"])["Body"].read())
    assert contract["version"] == 2 and contract["changes"] == ["columns removed: ['age']"]
    assert "age" not in contract["columns"]["numeric"] and contract["vocabulary"]["contract"]
    status, body = invoke_api(stack, "POST", "/predict", {"model": "churn", "records": PROBES})
    assert status == 200 and body["model_version"] == 2 and body["ignored_fields"] == ["age"]
    # from now on v2's contract is the one that is locked: v1-shaped data conforms (age is left out) ...
    execution = upload_and_wait(stack, "v1-shaped-again.csv", V1_DATA)
    notices = run_record(stack, execution["name"])["summary"]["contract"]["notices"]
    assert execution["status"] == "SUCCEEDED" and any("not in contract v2 are left out: 'age'" in n for n in notices)
    # ... and a spec still at v1 is refused
    put_spec(stack, SPEC_TEXT)
    execution = upload_and_wait(stack, "spec-behind.csv", V1_DATA)
    assert execution["error"] == "SpecError" and "older than the locked contract v2" in execution["cause"]
