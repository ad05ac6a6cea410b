"""ONNX parity per model family: max |onnxruntime - scikit-learn| and label agreement.

    .venv/bin/python benchmarks/parity_table.py

Data: the churn example (binary classification, 4,000 rows) and scikit-learn's diabetes set
(regression, 442 rows), each split as the pipeline splits it; parity rows = the test split plus
200 probe rows with ~30% missing values and ~30% unseen categories (what export checks).
"""

from __future__ import annotations

import csv
import io

from evergreen import csvfile, data, export, training
from evergreen.schema import infer_schema
from evergreen.spec import FAMILIES, Candidate, default_spec
from evergreen.synthetic import make_churn


def diabetes_csv() -> bytes:
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*d.feature_names, "progression"])
    writer.writerows([*(f"{v:.6g}" for v in x), y] for x, y in zip(d.data, d.target))
    return buf.getvalue().encode()


def table(raw: bytes, target: str, problem: str) -> None:
    spec = default_spec("bench", target, problem)
    header, rows = csvfile.read_csv(raw, source=target)
    schema = infer_schema(header, rows, spec).schema
    frame = data.build_frame(header, rows, schema).frame
    train, val, test = data.split_frame(frame, 0.2, 0.2, 42, classification=problem == "classification")
    rows_ = data.concat_frames(test, export.probe_frame(test, schema))
    print(f"\n{problem} ({frame.n_rows} rows, parity on {rows_.n_rows} rows)")
    print(f"  {'family':<24} {'max abs diff':>12} {'tolerance':>10} {'labels agree':>12}  passed")
    for family, (kinds, _) in FAMILIES.items():
        if problem not in kinds:
            continue
        fit = training.fit_candidate(Candidate(candidate_id="c", family=family, params={}), train, val, schema,
                                     spec.primary_metric, random_state=0)
        report = export.check_parity(fit.pipeline, export.to_onnx(fit.pipeline, schema), rows_, schema)
        agree = f"{report.label_agreement:.4f}" if report.label_agreement is not None else "-"
        print(f"  {family:<24} {report.max_abs_diff:>12.2e} {report.tolerance:>10.2e} {agree:>12}  {report.passed}")


if __name__ == "__main__":
    table(make_churn(4000, seed=1), "churned", "classification")
    table(diabetes_csv(), "progression", "regression")
