"""The decision threshold rule (evergreen.thresholds.tune) against 0.5 and against the plain maximum.

    .venv/bin/python benchmarks/bench_thresholds.py [--seeds 12]

Per data set, metric and family: fit on the training split, pick a threshold on validation, and
report the mean (and worst) change of the TEST metric against the threshold 0.5 (argmax), over
seeds. "plain" takes the validation maximum (ties: closest to 0.5); "tune" is the rule served
(the one-standard-error rule). Data: the churn example (balanced; accuracy) at 600 and 3,000 rows,
and evergreen.synthetic.make_rare (2.5% positives; balanced accuracy and f1_macro) at 3,000 rows.
"""

from __future__ import annotations

import argparse

import numpy as np

from evergreen import csvfile, data, metrics, thresholds, training
from evergreen.schema import infer_schema
from evergreen.spec import Candidate, ModelSpec
from evergreen.synthetic import make_churn, make_rare

FAMILIES = (("logistic_regression", {}), ("hist_gradient_boosting", {"max_iter": 50}),
            ("random_forest", {"n_estimators": 50}))
CASES = (("churn", 600, "accuracy"), ("churn", 3000, "accuracy"), ("rare", 3000, "balanced_accuracy"),
         ("rare", 3000, "f1_macro"))


def frame_of(kind: str, rows: int, seed: int, metric: str):
    body, target = (make_churn(rows, seed), "churned") if kind == "churn" else (make_rare(rows, seed), "fraud")
    spec = ModelSpec.model_validate({"name": kind, "target": target, "problem_type": "classification",
                                     "primary_metric": metric, "candidates": [{"family": "logistic_regression"}]})
    table = csvfile.read_table(body, source=kind, text_columns=[target])
    schema = infer_schema(table, spec).schema
    return data.build_frame(table, schema).frame, schema


def plain_maximum(y: np.ndarray, p: np.ndarray, classes: list[str], metric: str) -> float:
    positive = y == classes[1]
    candidates = thresholds.confusion(positive, p[:, 1])[0]
    scores = np.array([metrics.score(metric, y, thresholds.labels(p, classes, t), p, classes) for t in candidates])
    best = candidates[scores >= scores.max() - 1e-12]
    return float(best[np.argmin(np.abs(best - 0.5))])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=12)
    seeds = parser.parse_args().seeds
    print("| data | rows | metric | family | test at 0.5 | plain: mean (worst) | tune: mean (worst) |")
    print("|---|---|---|---|---|---|---|")
    for kind, rows, metric in CASES:
        for family, params in FAMILIES:
            at_half, changes = [], {"plain": [], "tune": []}
            for seed in range(seeds):
                frame, schema = frame_of(kind, rows, seed, metric)
                train, validation, test = data.split_frame(frame, 0.2, 0.2, seed, True)
                fit = training.fit_candidate(Candidate(candidate_id="c", family=family, params=params), train,
                                             validation, schema, metric, random_state=0)
                _, p_validation = training.predict(fit.pipeline, validation, schema)
                y = validation.target.astype(str)
                base = training.evaluate_pipeline(fit.pipeline, test, schema, metric, 0.5)
                at_half.append(base)
                for rule, threshold in (("plain", plain_maximum(y, p_validation, schema.classes, metric)),
                                        ("tune", fit.threshold)):
                    changes[rule].append(training.evaluate_pipeline(fit.pipeline, test, schema, metric, threshold) - base)
            cells = [f"{np.mean(v):+.4f} ({np.min(v):+.3f})" for v in changes.values()]
            print(f"| {kind} | {rows} | {metric} | {family} | {np.mean(at_half):.3f} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
