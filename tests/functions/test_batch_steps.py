"""Batch-scoring steps against moto-backed storage built from template.yaml: the parts the end-to-end
suite reaches only with large files or by chance (multipart concatenation, header oddities, redeliveries)."""

from __future__ import annotations

import json

import boto3
import pytest

from evergreen.batch_contracts import BatchFailureInput, BatchPlanInput
from evergreen.errors import DataError
from evergreen.steps import batch_failure, batch_files, batch_plan
from evergreen.storage import Stores
from tests.support.infra import REGION, moto_stores

MIB = 1024 * 1024


@pytest.fixture
def stores(monkeypatch):
    yield from moto_stores(monkeypatch)


def put_parts(stores: Stores, sizes: list[int]) -> tuple[list[batch_files.Part], bytes]:
    parts, expected = [], b""
    for i, size in enumerate(sizes):
        body = bytes([65 + i % 26]) * size
        key = f"batch/m/b/parts/{i:06d}.predictions.csv"
        if size:
            stores.s3.put_object(Bucket=stores.artifacts_bucket, Key=key, Body=body)
        parts.append(batch_files.Part(stores.artifacts_bucket, key, size))
        expected += body
    return parts, expected


@pytest.mark.parametrize("sizes,copied_parts", [
    ([3, 0, 5], []),                              # under 5 MiB in all: one PutObject
    ([6 * MIB, 6 * MIB, MIB], [1]),               # head + part 0 read and sent; part 1 copied in S3; part 2 last
    ([MIB, 5 * MIB, 6 * MIB, 2 * MIB], [2]),      # parts merged while a buffer is pending; then one copied
    ([6 * MIB, MIB, 2 * MIB, 6 * MIB], []),       # the 6 MiB part comes with 3 MiB buffered: read, merged
])
def test_concatenate_writes_the_head_then_every_part_in_order(stores, sizes, copied_parts, monkeypatch):
    parts, expected = put_parts(stores, sizes)
    copied = []
    real_copy = stores.s3.upload_part_copy

    def upload_part_copy(**kwargs):
        copied.append(kwargs["CopySource"]["Key"])
        return real_copy(**kwargs)

    monkeypatch.setattr(stores.s3, "upload_part_copy", upload_part_copy)
    size = batch_files.concatenate(stores.s3, parts, bucket=stores.data_bucket, key="scored/m/f.csv/predictions.csv",
                                   head=b"row_id,prediction\n")
    body = stores.s3.get_object(Bucket=stores.data_bucket, Key="scored/m/f.csv/predictions.csv")["Body"].read()
    assert body == b"row_id,prediction\n" + expected and size == len(body)
    # a part is copied inside S3 when it has 5 MiB or more and nothing is buffered before it (the head counts)
    assert copied == [parts[i].key for i in copied_parts]
    assert not stores.s3.list_multipart_uploads(Bucket=stores.data_bucket).get("Uploads")


def test_a_failed_concatenation_leaves_no_multipart_upload(stores):
    parts, _ = put_parts(stores, [6 * MIB, MIB])
    parts[1] = batch_files.Part(parts[1].bucket, parts[1].key, 2 * MIB)  # not the size its chunk reported
    with pytest.raises(RuntimeError, match="has 1048576 bytes, its chunk wrote 2097152"):
        batch_files.concatenate(stores.s3, parts, bucket=stores.data_bucket, key="scored/m/f.csv/predictions.csv")
    assert not stores.s3.list_multipart_uploads(Bucket=stores.data_bucket).get("Uploads")


def test_delete_prefix_removes_every_version_and_nothing_else(stores):
    bucket = stores.artifacts_bucket
    for _ in range(2):
        stores.s3.put_object(Bucket=bucket, Key="batch/m/b1/manifest.json", Body=b"[]")
    stores.s3.put_object(Bucket=bucket, Key="batch/m/b1/parts/000000.predictions.csv", Body=b"x")
    stores.s3.delete_object(Bucket=bucket, Key="batch/m/b1/parts/000000.predictions.csv")  # a delete marker
    stores.s3.put_object(Bucket=bucket, Key="batch/m/b10/manifest.json", Body=b"[]")
    assert batch_files.delete_prefix(stores.s3, bucket, "batch/m/b1/") == 4
    left = stores.s3.list_object_versions(Bucket=bucket, Prefix="batch/")
    assert [v["Key"] for v in left.get("Versions", [])] == ["batch/m/b10/manifest.json"]
    assert not left.get("DeleteMarkers")


def test_read_range_reads_the_planned_version(stores):
    first = stores.s3.put_object(Bucket=stores.data_bucket, Key="score/m/f.csv", Body=b"a,b\n1,2\n")
    stores.s3.put_object(Bucket=stores.data_bucket, Key="score/m/f.csv", Body=b"a,b\n9,9\n")
    source = batch_plan.SourceObject(bucket=stores.data_bucket, key="score/m/f.csv", version_id=first["VersionId"])
    assert batch_files.read_range(stores.s3, source, 4, 8) == b"1,2\n"
    assert b"".join(batch_files.read_blocks(stores.s3, source, 4, 3)) == b"1,2\n"
    assert batch_files.read_range(stores.s3, source, 4, 4) == b""


# --------------------------------------------------------------------------- Plan


def event(stores: Stores, key: str, size: int = 10, version: str | None = None) -> dict:
    return {"detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": stores.data_bucket}, "object": {"key": key, "size": size,
                                                                          "version-id": version}}}


def champion(stores: Stores, numeric=("x",), categorical=("c",), version: int = 3) -> None:
    boto3.resource("dynamodb", region_name=REGION).Table(stores.registry_table).put_item(Item={
        "model_name": "m", "sk": "alias#champion", "version": version, "model_key": "models/m/v000003/model.onnx",
        "sha256": "s", "columns": {"numeric": list(numeric), "categorical": list(categorical), "target": "y",
                                   "problem_type": "classification", "classes": ["no", "yes"]}})


def plan(stores: Stores, body: bytes, key: str = "score/m/f.csv", chunk_rows: int = 2):
    put = stores.s3.put_object(Bucket=stores.data_bucket, Key=key, Body=body)
    return batch_plan.run(BatchPlanInput(batch_id="b1", event=event(stores, key, len(body), put["VersionId"])),
                          stores, chunk_rows)


def test_plan_pins_the_champion_and_writes_the_manifest(stores):
    champion(stores)
    body = b"\xef\xbb\xbf\n id ;x;c;y\r\n1;2;a;no\r\n2;3;b;yes\r\n3;4;c;no"  # BOM, blank line, CRLF, no final break
    result = plan(stores, body)
    assert (result.model_name, result.name, result.champion_version, result.delimiter) == ("m", "f.csv", 3, ";")
    assert result.data_start == body.index(b"1;2") and not result.quoted
    assert result.prediction_header == ["row_id", "model_version", "prediction", "probability_no", "probability_yes"]
    assert (result.output_prefix, result.work_prefix) == ("scored/m/f.csv/", "batch/m/b1/")
    manifest = json.loads(stores.get_bytes(stores.artifacts_bucket, result.manifest_key))
    assert [(c["start"], c["end"], c["first_line"]) for c in manifest] == \
        [(body.index(b"1;2"), body.index(b"3;4"), 3), (body.index(b"3;4"), len(body), 5)]
    assert result.chunks == 2


def test_plan_names_the_missing_columns(stores):
    champion(stores, numeric=("x", "z"), categorical=("c", "d"))
    with pytest.raises(DataError, match=r"lacks 2 of the columns champion v3 of 'm' scores with: \['z', 'd'\]"):
        plan(stores, b"x,c,y\n1,a,no\n")


@pytest.mark.parametrize("body,message", [
    (b"x,c\n", "the header \\(line 1\\) has no data rows under it"),
    (b"x,c", "has no data rows"),
    (b'{"x": 1}', "looks like JSON"),
])
def test_plan_refuses_files_without_rows_or_that_are_not_csv(stores, body, message):
    champion(stores)
    with pytest.raises(DataError, match=message):
        plan(stores, body)


def test_a_bad_row_near_the_top_is_not_fatal_to_the_plan(stores):
    champion(stores)
    result = plan(stores, b"x,c\n1,caf\xe9\n2,\x00\n3,b\n")  # csvfile.read_header would refuse the whole file
    assert result.delimiter == "," and result.chunks == 2


def test_plan_without_a_champion_or_for_objects_that_are_not_data(stores):
    with pytest.raises(batch_plan.NoChampion, match="model 'm' has no champion yet"):
        plan(stores, b"x,c\n1,a\n")
    for key, size in (("score/m/", 0), ("score/m/_SUCCESS", 0), ("score/m/.hidden.csv", 5)):
        with pytest.raises(batch_plan.IgnoredUpload):
            batch_plan.run(BatchPlanInput(batch_id="b", event=event(stores, key, size)), stores, 2)
    with pytest.raises(batch_plan.TriggerError, match="not under score/<model>/<file>"):
        plan(stores, b"x\n1\n", key="score/only-a-model")


def test_plan_finds_a_url_encoded_key(stores):
    champion(stores)
    put = stores.s3.put_object(Bucket=stores.data_bucket, Key="score/m/my file.csv", Body=b"x,c\n1,a\n")
    result = batch_plan.run(BatchPlanInput(batch_id="b", event=event(stores, "score/m/my+file.csv", 8, put["VersionId"])),
                            stores, 2)
    assert result.source.key == "score/m/my file.csv" and result.name == "my file.csv"


def test_a_repeated_event_for_a_scored_version_is_skipped(stores):
    champion(stores)
    put = stores.s3.put_object(Bucket=stores.data_bucket, Key="score/m/f.csv", Body=b"x,c\n1,a\n")
    stores.put_json(stores.data_bucket, "scored/m/f.csv/summary.json",
                    {"batch_id": "b0", "source": {"key": "score/m/f.csv", "version_id": put["VersionId"]}})
    with pytest.raises(batch_plan.AlreadyScored, match="already scored by batch b0"):
        batch_plan.run(BatchPlanInput(batch_id="b1", event=event(stores, "score/m/f.csv", 8, put["VersionId"])),
                       stores, 2)
    newer = stores.s3.put_object(Bucket=stores.data_bucket, Key="score/m/f.csv", Body=b"x,c\n2,b\n")
    assert batch_plan.run(BatchPlanInput(batch_id="b2", event=event(stores, "score/m/f.csv", 8, newer["VersionId"])),
                          stores, 2).chunks == 1


# --------------------------------------------------------------------------- RecordFailure


def test_a_failure_is_recorded_beside_the_outputs_and_the_work_removed(stores, monkeypatch):
    stores.s3.put_object(Bucket=stores.artifacts_bucket, Key="batch/m/b1/parts/000000.predictions.csv", Body=b"x")
    sent = []
    monkeypatch.setenv("NOTIFICATION_TOPIC", "arn:aws:sns:us-east-1:123456789012:t")
    state = {**event(stores, "score/m/f.csv"), "error": {
        "Error": "DataError", "Cause": json.dumps({"errorMessage": "s3://b/score/m/f.csv: the header lacks ['x']",
                                                   "errorType": "DataError", "stackTrace": ["  File ..."]})}}

    class Sns:
        def publish(self, **kwargs):
            sent.append(kwargs)

    result = batch_failure.run(BatchFailureInput(batch_id="b1", state=state), stores, sns=Sns())
    assert result.reason == "DataError: s3://b/score/m/f.csv: the header lacks ['x']"
    assert result.error_key == "scored/m/f.csv/error.json" and result.model_name == "m"
    error = stores.get_json(stores.data_bucket, result.error_key)
    assert error["reason"] == result.reason and error["error"] == "DataError" and error["batch_id"] == "b1"
    assert not stores.s3.list_object_versions(Bucket=stores.artifacts_bucket, Prefix="batch/").get("Versions")
    assert sent and "batch scoring failed: m" in sent[0]["Subject"] and result.reason in sent[0]["Message"]


def test_a_failure_of_a_key_that_names_no_file_writes_nothing(stores):
    state = {**event(stores, "score/nomodel"), "error": {"Error": "TriggerError", "Cause": "not under score/"}}
    result = batch_failure.run(BatchFailureInput(batch_id="b1", state=state), stores)
    assert result.error_key is None and result.model_name is None and result.reason.startswith("TriggerError")
