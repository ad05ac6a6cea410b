"""What the model card's permutation importance (evergreen.card_figures.permutation_importance) adds to
Evaluate: its time per family, with the served ONNX model, as Evaluate runs it.

    .venv/bin/python benchmarks/bench_card_importance.py [--rows 60000]

Data: the churn example (8 features) split as Ingest splits it (60/20/20); each family is fitted on
the training split, exported, and the importance computed on the test split (a sample of at most
card_figures.IMPORTANCE_ROWS rows, card_figures.IMPORTANCE_REPEATS shuffles per feature). The time
grows with features x repeats x the model's time on the sample.
"""

from __future__ import annotations

import argparse
import time

from evergreen import card_figures, csvfile, export, training
from evergreen.data import build_frame, model_inputs, split_frame
from evergreen.onnx_model import OnnxModel
from evergreen.schema import infer_schema
from evergreen.spec import Candidate, parse_spec
from evergreen.synthetic import make_churn

FAMILIES = (("logistic_regression", {}), ("hist_gradient_boosting", {}),
            ("random_forest", {"n_estimators": 100, "max_depth": 12}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    args = parser.parse_args()
    spec = parse_spec("{name: c, target: churned, problem_type: classification, primary_metric: accuracy, "
                      "candidates: [{family: logistic_regression}]}")
    table = csvfile.read_table(make_churn(args.rows, seed=0), source="churn", text_columns=["churned"])
    schema = infer_schema(table, spec).schema
    train, _, test = split_frame(build_frame(table, schema).frame, 0.2, 0.2, 0, True)
    names = {"numeric": schema.numeric, "categorical": schema.categorical}
    print("| family | test rows | rows scored | features | seconds |\n|---|---|---|---|---|")
    for family, params in FAMILIES:
        pipeline, _ = training.fit_pipeline(Candidate(candidate_id="c", family=family, params=params), train, schema,
                                            random_state=0)
        model = OnnxModel(export.to_onnx(pipeline, schema), numeric=schema.numeric, categorical=schema.categorical,
                          classes=schema.classes)
        started = time.perf_counter()
        found = card_figures.permutation_importance(lambda f, m=model: m.run(f.get("numeric"), f.get("categorical")),
                                                    model_inputs(test, schema), names, test.target, "accuracy",
                                                    schema.classes, seed=0)
        print(f"| {family} | {test.n_rows:,} | {found['rows']:,} | {found['features']} | "
              f"{time.perf_counter() - started:.2f} |")


if __name__ == "__main__":
    main()
