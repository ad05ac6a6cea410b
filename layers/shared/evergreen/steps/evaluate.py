"""Evaluate: judge the exported challenger as it would be served, and decide.

Scored on this run's held-out test split, each as it is or would be served:
  - the challenger: the ONNX artifact Export wrote (verified against its sha256), labelling with its
    decision threshold (TrialResult.threshold);
  - the champion: its served ONNX model (verified against the registry), with the threshold its alias
    records (none for a champion registered before thresholds: the graph's labels), fed its own columns;
  - a trivial baseline (majority class with the training priors / the training mean).
Then the gates and the decision (evergreen.evaluation.decide): the plausibility gate on the champion's
own test split; the gates of evergreen.gates (sanity: a classifier answering one class or no better
than the majority class in balanced accuracy; the served artifact's size and single-row time, as
Export measured them; a pin a person set on the model; slices of spec.promotion.slices, both models per slice; fairness per group of
spec.promotion.sensitive, evergreen.slices); and the rule of
spec.promotion against the incumbent (the champion, or with none the baseline), whose paired
bootstrap interval is computed on the same test rows (evergreen.bootstrap).

The champion's artifact is verified first: a missing object or a sha256 that does not match the
registry fails the run (ChampionIntegrityError, naming the key and the check), so nothing can be
promoted on the baseline bar because the champion could not be read.

Calibration (metrics.calibration: expected calibration error and the reliability curve) is reported
for classifiers, and the model card's plot numbers for every model (evergreen.card_figures: confusion
matrix and ROC/PR curves, or residuals; the permutation importance of each feature, computed with the
served challenger on a seeded sample of the test split). The challenger's outputs on the test split
are kept as `prediction_profile`: the monitor's baseline for prediction drift and the estimated
quality (evergreen.monitoring.drift).
"""

from __future__ import annotations

import numpy as np
from botocore.exceptions import ClientError

from evergreen import card_figures, data, gates, metrics, registry, slices, splits, thresholds
from evergreen.bootstrap import paired_improvement
from evergreen.contracts import (
    ChampionScore,
    ColumnSchema,
    Decision,
    EvaluateInput,
    EvaluateResult,
    ReferenceScore,
    RunContext,
)
from evergreen.data_contract import breaking_changes
from evergreen.errors import ChampionIntegrityError
from evergreen.evaluation import decide, reference_gate_applies
from evergreen.monitoring import drift
from evergreen.monitoring.drift import prediction_profile
from evergreen.onnx_model import ModelIntegrityError, OnnxModel, Prediction
from evergreen.steps.common import load_split
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


def answers(model: OnnxModel, frame: data.Frame, columns: ColumnSchema) -> Prediction:
    """What `model` answers for the rows of `frame`, fed through the input contract inference uses."""
    feeds = data.model_inputs(frame, columns)
    return model.run(feeds.get("numeric"), feeds.get("categorical"))


def card_figures_of(model: OnnxModel, test: data.Frame, said: Prediction, columns: ColumnSchema, metric: str,
                    seed: int) -> dict:
    """The model card's plot numbers for `model`, which answered `said` on the test split."""
    importance = card_figures.permutation_importance(
        lambda feeds: model.run(feeds.get("numeric"), feeds.get("categorical")), data.model_inputs(test, columns),
        {"numeric": columns.numeric, "categorical": columns.categorical}, test.target, metric, columns.classes,
        seed=seed)
    return card_figures.figures(test.target, said, columns.classes, importance)


def champion_answers(stores: Stores, alias: dict, test: data.Frame, schema: ColumnSchema,
                     metric: str) -> tuple[ChampionScore, Prediction | None]:
    """The champion's score on the test split and its answers (None when it cannot score this data)."""
    base = {"version": alias["version"], "onnx_key": alias["model_key"], "sha256": alias["sha256"]}
    champ_cols = ColumnSchema.model_validate(alias["columns"])
    onnx = load_champion(stores, alias, champ_cols)
    why = breaking_changes(champ_cols, schema)
    if why:
        return ChampionScore(**base, test_score=None, note="; ".join(why)), None
    # fed exactly as inference feeds it (its own columns); the classes are the same (else a breaking change)
    said = answers(onnx, test, champ_cols)
    return ChampionScore(**base, test_score=metrics.score(metric, test.target, said.labels, said.probabilities,
                                                          champ_cols.classes)), said


def reference_score(stores: Stores, run: RunContext, alias: dict, challenger: OnnxModel) -> ReferenceScore | None:
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
    said = answers(challenger, reference, schema)
    return ReferenceScore(
        dataset_version=alias["dataset_version"],
        challenger_score=metrics.score(metric, reference.target, said.labels, said.probabilities, schema.classes),
        baseline_score=float(metrics.baseline_score(metric, reference.target, reference.target, schema.classes)),
        drifted_feature_share=share,
        applies=reference_gate_applies(share, monitoring.drift_share, reference.n_rows,
                                       run.dataset.rows["train"], monitoring.min_predictions),
    )


def run(inp: EvaluateInput, stores: Stores) -> EvaluateResult:
    spec, schema, exported = inp.run.spec, inp.run.dataset.columns, inp.export
    metric, hib, margin = spec.primary_metric, spec.higher_is_better, spec.promotion_margin
    if not (exported.passed and exported.candidate and exported.onnx_key):
        return EvaluateResult(metric=metric, higher_is_better=hib, margin=margin,
                              decision=Decision(promote=False, rule=spec.promotion.rule, reason=exported.reason))
    challenger = OnnxModel(stores.get_bytes(stores.artifacts_bucket, exported.onnx_key), numeric=schema.numeric,
                           categorical=schema.categorical, classes=schema.classes, expected_sha256=exported.sha256,
                           threshold=exported.candidate.threshold)
    test = load_split(stores, inp.run.dataset, "test")
    said = answers(challenger, test, schema)
    score = metrics.score(metric, test.target, said.labels, said.probabilities, schema.classes)
    if not np.isfinite(score):
        raise ValueError(f"challenger {exported.candidate.candidate_id} scored {score} on the test split")
    train = load_split(stores, inp.run.dataset, "train")
    trivial = Prediction(*metrics.baseline_predictions(train.target, test.n_rows, schema.classes))
    baseline = metrics.score(metric, test.target, trivial.labels, trivial.probabilities, schema.classes)
    alias = registry.get_alias(stores.registry, inp.run.model_name)
    champion = champion_said = reference = None
    if alias is not None:
        champion, champion_said = champion_answers(stores, alias, test, schema, metric)
        reference = reference_score(stores, inp.run, alias, challenger)
    incumbent = champion_said if champion_said is not None else trivial
    interval = paired_improvement(metric, hib, test.target, said, incumbent, schema.classes,
                                  resamples=spec.promotion.resamples, confidence=spec.promotion.confidence,
                                  seed=spec.split.seed)
    promotion = spec.promotion
    cut = {c: slices.slicing(c, schema, train, promotion.slice_buckets) for c in (*promotion.slices, *promotion.sensitive)}
    by_slice = slices.slice_scores([cut[c] for c in promotion.slices], test, metric, said, champion_said, schema.classes)
    fairness = (slices.fairness([cut[c] for c in promotion.sensitive], test, said, schema.classes,
                                promotion.min_slice_rows) if thresholds.is_binary(schema.classes) else [])
    blocks = (gates.pinned(registry.get_pin(stores.registry, inp.run.model_name))
              + gates.sanity(test.target, said.labels, trivial.labels, schema.classes)
              + gates.served_budget(exported.size_bytes, exported.p50_ms, promotion.max_onnx_mb, promotion.max_p50_ms)
              + gates.slice_regressions(by_slice, metric, hib, promotion.min_slice_rows, promotion.slice_tolerance)
              + gates.fairness_breaches(fairness, promotion.max_demographic_parity_difference,
                                        promotion.max_equal_opportunity_difference))
    decision = decide(metric=metric, higher_is_better=hib, margin=margin, challenger=score, baseline=baseline,
                      champion=champion, breaking=inp.run.contract.breaking, reference=reference,
                      rule=promotion.rule, interval=interval, blocks=blocks)
    return EvaluateResult(
        metric=metric, higher_is_better=hib, decision=decision, challenger=exported.candidate,
        challenger_test_score=score, baseline_test_score=baseline, champion=champion, reference=reference,
        margin=margin, slices=by_slice, fairness=fairness,
        calibration=(metrics.calibration(test.target, said.probabilities, schema.classes)
                     if said.probabilities is not None else None),
        prediction_profile=prediction_profile(said.labels, said.probabilities, schema.classes,
                                                             test.target),
        figures=card_figures_of(challenger, test, said, schema, metric, spec.split.seed),
    )
