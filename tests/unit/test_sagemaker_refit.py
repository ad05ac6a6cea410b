"""evergreen.sagemaker_refit: where the winner's full fit runs, and the training job that runs it."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from evergreen import sagemaker_refit
from evergreen.contracts import TrialResult
from evergreen.spec import ComputeSpec
from tests.support.infra import ROOT
from tests.support.runs import run_context


def test_the_fit_goes_to_sagemaker_only_past_the_functions_memory():
    auto, every = ComputeSpec(), set(sagemaker_refit.BYTES_PER_CELL)
    small = sagemaker_refit.plan(100_000, 50, every, 3008, auto)
    assert small.runner == "lambda" and "within" in small.reason
    big = sagemaker_refit.plan(3_000_000, 179, every, 10240, auto)
    assert big.runner == "sagemaker" and "3,000,000 rows x 179 model columns" in big.reason
    assert big.estimated_mb > 10240
    # the costliest family the spec names decides: a linear-only spec fits where boosting would not
    assert sagemaker_refit.plan(3_000_000, 179, {"logistic_regression"}, 10240, auto).runner == "lambda"
    assert sagemaker_refit.plan(100, 5, every, 3008, ComputeSpec(refit="sagemaker")).runner == "sagemaker"
    assert sagemaker_refit.plan(10**8, 500, every, 512, ComputeSpec(refit="lambda")).runner == "lambda"


def test_every_family_has_a_measured_cost():
    from evergreen.spec import FAMILIES

    assert set(sagemaker_refit.BYTES_PER_CELL) == set(FAMILIES)


def pins(path) -> dict[str, str]:
    return dict(line.split("==") for line in path.read_text().splitlines() if "==" in line and not line.startswith("#"))


def test_the_job_installs_the_versions_the_lambda_layers_pin():
    """The pickle the job writes is read by the training layer's scikit-learn: the same versions."""
    layers = {**pins(ROOT / "layers/training/requirements.txt"), **pins(ROOT / "requirements/dev.lock")}
    for requirement in sagemaker_refit.REQUIREMENTS:
        name, version = requirement.split("==")
        assert layers[name] == version, requirement


def test_the_request_names_the_splits_the_program_and_the_output():
    winner = TrialResult(candidate_id="c001", family="logistic_regression", params={"C": 0.5}, status="ok",
                         metric="accuracy", validation_score=0.9, threshold=0.4)
    request = sagemaker_refit.job_request(run_context(), winner, "s3://art/sagemaker/code/x/sourcedir.tar.gz",
                                          "s3://art/runs/m/run-1/sagemaker/")
    assert request["TrainingJobName"].startswith("evergreen-m-") and len(request["TrainingJobName"]) <= 63
    assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]] == [
        "s3://art/datasets/m/ds-1/train.npz", "s3://art/datasets/m/ds-1/validation.npz"]
    hp = {k: json.loads(v) for k, v in request["HyperParameters"].items()}
    assert hp["sagemaker_program"] == "train_entry.py" and hp["candidate"]["params"] == {"C": 0.5}
    assert hp["columns"]["numeric"] == ["x"] and hp["metric"] == "accuracy"
    # 15 rows: a cross-validated search, so the job fits train + validation with the out-of-fold threshold
    assert hp["cross_validated"] is True and hp["threshold"] == 0.4
    assert request["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}


def test_the_image_is_awss_scikit_learn_image_of_the_region_unless_one_is_set():
    assert sagemaker_refit.training_image("", "eu-west-1") == (
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3")
    assert sagemaker_refit.training_image("my/image:1", "xx-nowhere-1") == "my/image:1"
    with pytest.raises(ValueError, match="set the SageMakerTrainingImage template parameter"):
        sagemaker_refit.training_image("", "xx-nowhere-1")


def test_the_program_bundle_is_the_whole_package():
    bundle, digest = sagemaker_refit.source_bundle()
    assert sagemaker_refit.source_bundle() == (bundle, digest)  # same files, same bytes
    with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
        names = tar.getnames()
        assert tar.extractfile("requirements.txt").read().decode().split() == list(sagemaker_refit.REQUIREMENTS)
    assert names[:2] == ["train_entry.py", "requirements.txt"]
    assert "evergreen/sagemaker_entry.py" in names and "evergreen/training.py" in names
    package = ROOT / "layers" / "shared"
    assert sorted(names[2:]) == sorted(p.relative_to(package).as_posix() for p in (package / "evergreen").rglob("*.py"))
