"""Evaluate: the best candidate, the current champion (its served ONNX artifact) and a trivial baseline,
all on this run's held-out test split (export decides, on the ONNX artifact itself).

A binary challenger is scored with its decision threshold (TrialResult.threshold) and the champion
with the one its alias records (none for a champion registered before thresholds: the graph's labels),
each as it is or would be served (evergreen.thresholds).

The champion's artifact is verified first: a missing object or a sha256 that does not match the
registry fails the run (ChampionIntegrityError, naming the key and the check), so nothing can be
promoted on the baseline bar because the champion could not be read.
"""

from __future__ import annotations

import numpy as np
from botocore.exceptions import ClientError

from evergreen import data, metrics, registry, splits, training
from evergreen.contracts import ChampionScore, ColumnSchema, EvaluateInput, EvaluateResult, ReferenceScore, RunContext
from evergreen.data_contract import breaking_changes
from evergreen.errors import ChampionIntegrityError
from evergreen.evaluation import rank_trials, reference_gate_applies
from evergreen.monitoring import drift
from evergreen.onnx_model import ModelIntegrityError, OnnxModel
from evergreen.steps.common import load_pipeline, load_split, score_onnx
from evergreen.storage import Stores, dataset_prefix


def load_champion(stores: Stores, alias: dict, columns: ColumnSchema) -> OnnxModel:
    """The champion's ONNX model, verified against the registry; ChampionIntegrityError otherwise."""
    where = f"champion v{alias['version']} artifact s3://{stores.artifacts_bucket}/{alias['model_key']}"
    advice = "restore it or move the champion alias to a verified version; nothing is promoted meanwhile"
    try:
        blob = stores.get_bytes(stores.artifacts_bucket, alias["model_key"])
    except ClientError as exc:
        raise ChampionIntegrityError(f"{where} cannot be read ({exc.response['Error']['Code']}); {advice}") from None
    try:
        return OnnxModel(blob, numeric=columns.numeric, categorical=columns.categorical, classes=columns.classes,
                         expected_sha256=alias["sha256"], threshold=alias.get("threshold"))
    except ModelIntegrityError as exc:
        raise ChampionIntegrityError(f"{where} failed the integrity check: {exc}; {advice}") from None


def champion_score(stores: Stores, alias: dict, test: data.Frame, schema: ColumnSchema, metric: str) -> ChampionScore:
    base = {"version": alias["version"], "onnx_key": alias["model_key"], "sha256": alias["sha256"]}
    champ_cols = ColumnSchema.model_validate(alias["columns"])
    onnx = load_champion(stores, alias, champ_cols)
    why = breaking_changes(champ_cols, schema)
    if why:
        return ChampionScore(**base, test_score=None, note="; ".join(why))
    # fed exactly as inference feeds it (its own columns), scored against the champion's own class order
    return ChampionScore(**base, test_score=score_onnx(onnx, test, champ_cols, metric))


def reference_score(stores: Stores, run: RunContext, alias: dict, pipeline,
                    threshold: float | None) -> ReferenceScore | None:
    """The challenger on the test split of the dataset the champion was validated on, for classifiers
    whose contract the champion shares (see evaluation.decide), and how far that split's inputs
    drifted from this run's training data. Regression is not gated: a level shift of the target is a
    real drift that the old split would call implausible."""
    schema, metric, monitoring = run.dataset.columns, run.spec.primary_metric, run.spec.monitoring
    if schema.problem_type != "classification" or not alias.get("dataset_version"):
        return None
    if ColumnSchema.model_validate(alias["columns"]) != schema:
        return None
    # a champion registered before the splits were binary names no test_key: its split is a CSV
    key = alias.get("test_key") or dataset_prefix(run.model_name, alias["dataset_version"]) + "test.csv"
    try:
        reference = splits.read_split(stores.get_bytes(stores.artifacts_bucket, key), schema, source=key)
    except ClientError as exc:
        raise ChampionIntegrityError(f"the test split champion v{alias['version']} was validated on cannot be read: "
                                     f"s3://{stores.artifacts_bucket}/{key} ({exc.response['Error']['Code']})") from None
    profile = stores.get_json(stores.artifacts_bucket, run.dataset.profile_key)["profile"]
    share = drift.input_drift(profile, reference.columns, monitoring.drift_threshold).drifted_share
    return ReferenceScore(
        dataset_version=alias["dataset_version"],
        challenger_score=float(training.evaluate_pipeline(pipeline, reference, schema, metric, threshold)),
        baseline_score=float(metrics.baseline_score(metric, reference.target, reference.target, schema.classes)),
        drifted_feature_share=share,
        applies=reference_gate_applies(share, monitoring.drift_share, reference.n_rows,
                                       run.dataset.rows["train"], monitoring.min_predictions),
    )


def run(inp: EvaluateInput, stores: Stores) -> EvaluateResult:
    spec, schema = inp.run.spec, inp.run.dataset.columns
    metric, hib = spec.primary_metric, spec.higher_is_better
    ranked = rank_trials(inp.trials, hib)
    best = ranked[0]

    train = load_split(stores, inp.run.dataset, "train")
    test = load_split(stores, inp.run.dataset, "test")
    pipeline = load_pipeline(stores, best.artifact_key)
    challenger = float(training.evaluate_pipeline(pipeline, test, schema, metric, best.threshold))
    baseline = float(metrics.baseline_score(metric, train.target, test.target, schema.classes))
    alias = registry.get_alias(stores.registry, inp.run.model_name)
    champion = reference = None
    if alias is not None:
        champion = champion_score(stores, alias, test, schema, metric)
        reference = reference_score(stores, inp.run, alias, pipeline, best.threshold)
    if not np.isfinite(challenger):
        raise ValueError(f"challenger {best.candidate_id} scored {challenger} on the test split")

    return EvaluateResult(
        metric=metric, higher_is_better=hib, challenger=best, challenger_test_score=challenger,
        baseline_test_score=baseline, champion=champion, reference=reference, margin=spec.promotion_margin,
        ranking=ranked,
    )
