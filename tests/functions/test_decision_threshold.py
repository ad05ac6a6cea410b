"""A binary classifier's decision threshold through the steps after Train, on moto-backed storage built
from template.yaml: RefitWinner tunes it again for the refit model (in Lambda and in a SageMaker job),
Evaluate and Export judge with it, Promote registers it, and serving and batch scoring load it."""

from __future__ import annotations

import numpy as np
import pytest

from evergreen import batch, csvfile, export, registry, splits, thresholds, training
from evergreen.contracts import (
    DatasetRef,
    EvaluateInput,
    ExportInput,
    PromoteInput,
    RefitInput,
    RunContext,
    SageMakerRefitInput,
    TrialResult,
)
from evergreen.data import build_frame, model_inputs, sample_frame, split_frame
from evergreen_cli.local.shims.sagemaker import run_training_job
from evergreen.onnx_model import sha256_hex
from evergreen.schema import infer_schema
from evergreen.serving.champion import champion_from_bytes
from evergreen.spec import Candidate, parse_spec
from evergreen.steps import batch_score, evaluate, export_onnx, promote, refit
from evergreen.steps.common import dump_pipeline, load_pipeline
from evergreen.storage import Stores, candidate_key
from tests.support.infra import PROMOTE_ENV, moto_stores
from tests.support.runs import run_context

SPEC = parse_spec("{name: fraud, target: fraud, problem_type: classification, primary_metric: balanced_accuracy,"
                  " candidates: [{family: logistic_regression}], compute: {instance_type: ml.m5.xlarge},"
                  " search: {cv_max_rows: 0}}")  # scored on validation: the refit tunes the threshold again
SAMPLE_ROWS = 1000  # the trial's search sample: the winner is refit on all 1,800 training rows


@pytest.fixture(scope="module")
def rare():
    """(schema, train, validation, test) of 3,000 rows with 2.6% positives."""
    from evergreen.synthetic import make_rare

    table = csvfile.read_table(make_rare(3000, seed=0), source="fraud", text_columns=["fraud"])
    schema = infer_schema(table, SPEC).schema
    return (schema, *split_frame(build_frame(table, schema).frame, 0.2, 0.2, 0, True))


@pytest.fixture
def stores(monkeypatch):
    yield from moto_stores(monkeypatch, **PROMOTE_ENV)


def run_of(stores: Stores, rare) -> RunContext:
    """This run's context, its splits written where ingest writes them."""
    schema, train, validation, test = rare
    keys = {}
    for part, frame in (("train", train), ("validation", validation), ("test", test)):
        keys[part] = f"datasets/fraud/ds-1/{part}.npz"
        stores.put_bytes(stores.artifacts_bucket, keys[part], splits.to_bytes(splits.arrays_of(frame, schema)))
    profile = "datasets/fraud/ds-1/profile.json"
    stores.put_json(stores.artifacts_bucket, profile, {"vocabulary": {}, "open_vocabulary": []})
    dataset = DatasetRef(version="ds-1", bucket=stores.artifacts_bucket, train_key=keys["train"],
                         validation_key=keys["validation"], test_key=keys["test"], profile_key=profile,
                         rows={"train": train.n_rows, "validation": validation.n_rows, "test": test.n_rows},
                         columns=schema)
    return run_context().model_copy(update={"model_name": "fraud", "spec": SPEC, "dataset": dataset})


def sampled_trial(stores: Stores, run: RunContext, rare) -> TrialResult:
    """The one trial, as Train records it: fitted on the search sample, its threshold tuned on validation."""
    schema, train, validation, _ = rare
    sample = sample_frame(train, SAMPLE_ROWS, 0, classification=True)
    fit = training.fit_candidate(Candidate(candidate_id="c000", family="logistic_regression", params={}),
                                 sample, validation, schema, "balanced_accuracy", random_state=SPEC.split.seed)
    key = candidate_key("fraud", run.run_id, "c000")
    stores.put_bytes(stores.artifacts_bucket, key, dump_pipeline(fit.pipeline))
    return TrialResult(candidate_id="c000", family="logistic_regression", params={}, status="ok",
                       metric="balanced_accuracy", validation_score=fit.validation_score, artifact_key=key,
                       trained_rows=sample.n_rows, threshold=fit.threshold)


def test_the_threshold_is_retuned_on_refit_judged_registered_and_served(stores, rare):
    schema, train, validation, test = rare
    run = run_of(stores, rare)
    trial = sampled_trial(stores, run, rare)
    assert trial.threshold < 0.5

    # RefitWinner: every training row, and the threshold tuned again for the refit model
    [winner] = refit.run(RefitInput(run=run, trials=[trial]), stores)
    full = training.fit_candidate(Candidate(candidate_id="c000", family="logistic_regression", params={}), train,
                                  validation, schema, "balanced_accuracy", random_state=SPEC.split.seed)
    assert winner.trained_rows == train.n_rows and winner.threshold == full.threshold != trial.threshold
    assert winner.refit_validation_score == full.validation_score

    # Export checks parity with it; Evaluate judges the ONNX artifact with it
    exported = export_onnx.run(ExportInput(run=run, trials=[winner]), stores)
    assert exported.passed and exported.candidate.threshold == winner.threshold
    assert exported.parity.label_agreement == 1.0
    evaluation = evaluate.run(EvaluateInput(run=run, export=exported), stores)
    tuned = training.evaluate_pipeline(full.pipeline, test, schema, "balanced_accuracy", winner.threshold)
    argmax = training.evaluate_pipeline(full.pipeline, test, schema, "balanced_accuracy")
    assert evaluation.challenger_test_score == pytest.approx(tuned, abs=1e-3) and tuned > argmax + 0.1

    # Promote registers it in the version, the champion alias and the model card
    promoted = promote.run(PromoteInput(run=run, evaluation=evaluation, export=exported), stores)
    alias = registry.get_alias(stores.registry, "fraud")
    version = registry.get_version(stores.registry, "fraud", promoted.version)
    assert alias["threshold"] == version["threshold"] == winner.threshold
    assert stores.get_json(stores.artifacts_bucket, alias["card_key"])["threshold"] == winner.threshold

    # serving and batch scoring load it with the model, and label with it
    onnx_bytes = stores.get_bytes(stores.artifacts_bucket, alias["model_key"])
    assert champion_from_bytes("fraud", alias, onnx_bytes).model.threshold == winner.threshold
    pinned = batch_score.PinnedChampions(stores).get("fraud", promoted.version)
    assert pinned.model.threshold == winner.threshold
    labels, probabilities = batch.predict(pinned.model, model_inputs(test, schema), test.n_rows)
    assert labels.tolist() == thresholds.labels(probabilities, schema.classes, winner.threshold).tolist()
    assert np.sum(labels == "yes") > np.sum(probabilities[:, 1] > 0.5)


def test_the_champion_is_scored_with_the_threshold_its_alias_records(stores, rare):
    schema, train, validation, test = rare
    run = run_of(stores, rare)
    trial = sampled_trial(stores, run, rare)
    pipeline = load_pipeline(stores, trial.artifact_key)
    onnx_bytes = export.to_onnx(pipeline, schema)
    stores.put_bytes(stores.artifacts_bucket, "models/fraud/v000001/model.onnx", onnx_bytes)
    alias = {"version": 1, "model_key": "models/fraud/v000001/model.onnx", "sha256": sha256_hex(onnx_bytes),
             "columns": schema.model_dump()}

    exported = export_onnx.run(ExportInput(run=run, trials=[trial]), stores)

    def champion_score(version: int, expected: int | None, **fields) -> float:
        registry.register_champion(stores.registry, "fraud", version, {**alias, **fields}, expected_version=expected)
        return evaluate.run(EvaluateInput(run=run, export=exported), stores).champion.test_score

    # a champion registered before thresholds: argmax, as it was served
    before = champion_score(1, None)
    assert before == pytest.approx(training.evaluate_pipeline(pipeline, test, schema, "balanced_accuracy"), abs=1e-3)
    # the same model registered with its threshold: scored as it is served now
    after = champion_score(2, 1, threshold=trial.threshold)
    assert after == pytest.approx(training.evaluate_pipeline(pipeline, test, schema, "balanced_accuracy",
                                                             trial.threshold), abs=1e-3)
    assert after > before + 0.1


def test_a_refit_in_a_sagemaker_job_brings_its_own_threshold(stores, rare):
    schema, train, validation, _ = rare
    run = run_of(stores, rare)
    trial = sampled_trial(stores, run, rare)
    inp = SageMakerRefitInput(run=run, trials=[trial], action="prepare")
    request = refit.prepare_sagemaker(inp, stores, role_arn="arn:aws:iam::123456789012:role/r", image="image")
    job = run_training_job(request, stores.s3)  # the program (evergreen.sagemaker_entry) in a child Python
    [winner] = refit.collect_sagemaker(inp.model_copy(update={"action": "collect", "job": job}), stores)
    full = training.fit_candidate(Candidate(candidate_id="c000", family="logistic_regression", params={}), train,
                                  validation, schema, "balanced_accuracy", random_state=SPEC.split.seed)
    assert winner.threshold == pytest.approx(full.threshold) and winner.threshold != trial.threshold
