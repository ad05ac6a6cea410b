"""evergreen_cli.local.shims.sagemaker: a training job request run on this machine, as SageMaker lays it out."""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest
from moto import mock_aws

from evergreen_cli.local.shims.sagemaker import TrainingJobFailed, run_training_job

PROGRAM = b"""import json, os, pathlib
config = json.loads(pathlib.Path(os.environ["SM_INPUT_CONFIG_DIR"], "hyperparameters.json").read_text())
rows = pathlib.Path(os.environ["SM_CHANNEL_TRAIN"], "train.npz").read_bytes()
if json.loads(config["fail"]):
    raise SystemExit("the fit blew up")
pathlib.Path(os.environ["SM_MODEL_DIR"], "out.txt").write_bytes(rows + json.loads(config["suffix"]).encode())
"""


def bundle() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("entry.py")
        info.size = len(PROGRAM)
        tar.addfile(info, io.BytesIO(PROGRAM))
    return buf.getvalue()


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="art")
        client.put_object(Bucket="art", Key="code/sourcedir.tar.gz", Body=bundle())
        client.put_object(Bucket="art", Key="datasets/m/train.npz", Body=b"rows")
        yield client


def request(fail: bool) -> dict:
    return {
        "TrainingJobName": "evergreen-m-1",
        "HyperParameters": {"sagemaker_program": json.dumps("entry.py"), "fail": json.dumps(fail),
                            "sagemaker_submit_directory": json.dumps("s3://art/code/sourcedir.tar.gz"),
                            "suffix": json.dumps("+fitted")},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://art/datasets/m/train.npz"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://art/runs/m/r/sagemaker/"},
    }


def test_the_program_reads_its_channels_and_hyperparameters_and_its_model_is_tarred_to_s3(s3):
    job = run_training_job(request(fail=False), s3)
    assert job["TrainingJobStatus"] == "Completed"
    uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri == "s3://art/runs/m/r/sagemaker/evergreen-m-1/output/model.tar.gz"
    body = s3.get_object(Bucket="art", Key=uri.removeprefix("s3://art/"))["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert tar.extractfile("out.txt").read() == b"rows+fitted"


def test_a_failing_program_fails_the_job_with_its_error(s3):
    with pytest.raises(TrainingJobFailed, match="evergreen-m-1 failed: the fit blew up"):
        run_training_job(request(fail=True), s3)
