"""Evaluate: the best candidate, the current champion (its served ONNX artifact) and a trivial baseline,
all on this run's held-out test split (export decides, on the ONNX artifact itself)."""

from __future__ import annotations

import numpy as np

from evergreen import data, metrics, registry, training
from evergreen.contracts import ChampionScore, ColumnSchema, EvaluateInput, EvaluateResult
from evergreen.evaluation import rank_trials, schema_mismatch
from evergreen.onnx_model import ModelIntegrityError, OnnxModel
from evergreen.steps.common import load_pipeline, load_split, score_onnx
from evergreen.storage import Stores


def champion_score(stores: Stores, model_name: str, test: data.Frame, schema: ColumnSchema, metric: str) -> ChampionScore | None:
    alias = registry.get_alias(stores.registry, model_name)
    if alias is None:
        return None
    base = {"version": alias["version"], "onnx_key": alias["model_key"], "sha256": alias["sha256"]}
    champ_cols = ColumnSchema.model_validate(alias["columns"])
    why = schema_mismatch(champ_cols, schema)
    if why:
        return ChampionScore(**base, test_score=None, note=why)
    try:
        onnx = OnnxModel(stores.get_bytes(stores.artifacts_bucket, alias["model_key"]), numeric=champ_cols.numeric,
                         categorical=champ_cols.categorical, classes=champ_cols.classes, expected_sha256=alias["sha256"])
    except ModelIntegrityError as exc:
        return ChampionScore(**base, test_score=None, note=str(exc))
    # fed exactly as inference feeds it, scored against the champion's own class order
    return ChampionScore(**base, test_score=score_onnx(onnx, test, champ_cols, metric))


def run(inp: EvaluateInput, stores: Stores) -> EvaluateResult:
    spec, schema = inp.run.spec, inp.run.dataset.columns
    metric, hib = spec.primary_metric, spec.higher_is_better
    ranked = rank_trials(inp.trials, hib)
    best = ranked[0]

    train = load_split(stores, inp.run.dataset, "train")
    test = load_split(stores, inp.run.dataset, "test")
    pipeline = load_pipeline(stores, best.artifact_key)
    challenger = float(training.evaluate_pipeline(pipeline, test, schema, metric))
    baseline = float(metrics.baseline_score(metric, train.target, test.target, schema.classes))
    champion = champion_score(stores, inp.run.model_name, test, schema, metric)
    if not np.isfinite(challenger):
        raise ValueError(f"challenger {best.candidate_id} scored {challenger} on the test split")

    return EvaluateResult(
        metric=metric, higher_is_better=hib, challenger=best, challenger_test_score=challenger,
        baseline_test_score=baseline, champion=champion, margin=spec.promotion_margin, ranking=ranked,
    )
