"""Train tiny scikit-learn models and export them to ONNX the way export does (tests only).

The ONNX input contract is evergreen.contracts.ColumnSchema: a float32 "numeric" tensor [N, k]
(NaN for missing) and a string "categorical" tensor [N, m] ("" for missing); output 0 is the
label, output 1 the class probabilities (zipmap off). scikit-learn sees the same data as one 2-D
object matrix, numeric columns first, selected by integer index in a ColumnTransformer, so the
two inputs map onto the same columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

NUMERIC = ["age", "income"]
CATEGORICAL = ["plan", "region"]
PLANS = ["basic", "plus", "pro"]
REGIONS = ["north", "south", "east"]
CLASSES = ["bronze", "gold", "silver"]  # sorted, as strings: what the registry stores


@dataclass
class TinyModel:
    pipeline: Any  # the fitted scikit-learn Pipeline (reference for parity checks)
    onnx_bytes: bytes
    columns: dict[str, Any]  # a ColumnSchema dict, as in the registry's champion item
    seen: dict[str, Any] = field(default_factory=dict)  # what training saw: ranges, vocabulary, target_range

    def matrix(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Records -> the 2-D object matrix the scikit-learn pipeline was fitted on."""
        rows = []
        for r in records:
            nums = [np.nan if r.get(c) in (None, "") else float(r[c]) for c in self.columns["numeric"]]
            cats = ["" if r.get(c) is None else str(r[c]) for c in self.columns["categorical"]]
            rows.append(nums + cats)
        return np.array(rows, dtype=object)


def synthetic_records(n: int, seed: int = 0) -> tuple[list[dict[str, Any]], list[str], np.ndarray]:
    """n customer-like records with some missing values, a 3-class label and a numeric target."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 80, n)
    income = rng.lognormal(10, 0.5, n)
    plan = rng.choice(PLANS, n)
    region = rng.choice(REGIONS, n)
    score = (age - 45) / 15 + np.log(income) - 10 + np.select([plan == "pro", plan == "plus"], [1.5, 0.5], -0.5)
    score += rng.normal(0, 0.4, n)
    labels = np.where(score > 1.0, "gold", np.where(score > -0.5, "silver", "bronze"))
    value = 3.0 * (age / 10) + np.log(income) + np.select([plan == "pro", plan == "plus"], [4.0, 2.0], 0.0)
    value += rng.normal(0, 0.3, n)
    records = []
    for i in range(n):
        rec: dict[str, Any] = {"age": float(age[i]), "income": float(income[i]), "plan": str(plan[i]),
                               "region": str(region[i])}
        if i % 11 == 0:
            rec["age"] = None
        if i % 13 == 0:
            rec["region"] = None
        records.append(rec)
    return records, [str(v) for v in labels], value


def _pipeline(estimator: Any, k: int, m: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline([
        ("impute", SimpleImputer(missing_values="", strategy="most_frequent")),
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ])
    pre = ColumnTransformer([("num", numeric, list(range(k))), ("cat", categorical, list(range(k, k + m)))])
    return Pipeline([("pre", pre), ("model", estimator)])


def _to_onnx(pipeline: Any, k: int, m: int, classifier: bool) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial_types = [("numeric", FloatTensorType([None, k])), ("categorical", StringTensorType([None, m]))]
    options = {id(pipeline.steps[-1][1]): {"zipmap": False}} if classifier else None
    onx = convert_sklearn(pipeline, initial_types=initial_types, options=options, target_opset=17)
    return onx.SerializeToString()


def _seen(records: list[dict[str, Any]], y: Any, regression: bool) -> dict[str, Any]:
    """The training ranges and vocabularies, as ingest profiles them (float32 values, missing left out)."""
    ranges = {}
    for c in NUMERIC:
        values = np.array([r[c] for r in records if r[c] is not None], dtype=np.float32)
        ranges[c] = [float(values.min()), float(values.max())]
    vocabulary = {c: sorted({r[c] for r in records if r[c] is not None}) for c in CATEGORICAL}
    target = np.asarray(y, dtype=np.float64) if regression else None
    return {"ranges": ranges, "vocabulary": vocabulary,
            "target_range": [float(target.min()), float(target.max())] if target is not None else None}


def contract_document(model: TinyModel, **overrides: Any) -> dict[str, Any]:
    """The model's data contract as promote records it (evergreen.data_contract.DataContract, JSON)."""
    from evergreen.contracts import ColumnSchema
    from evergreen.data_contract import DataContract, response_shape

    columns = ColumnSchema.model_validate(model.columns)
    fields = {"version": 1, "columns": columns, "response": response_shape(columns), **model.seen, **overrides}
    return DataContract(**fields).model_dump(mode="json")


def _fit(pipeline: Any, model: TinyModel, records: list[dict[str, Any]], y: Any) -> None:
    # float32 numerics, as onnxruntime sees them, so parity is not blurred by float64 vs float32
    X = model.matrix(records)
    k = len(model.columns["numeric"])
    X[:, :k] = X[:, :k].astype(np.float32)
    pipeline.fit(X, y)


def train_classifier(seed: int = 0, n: int = 400, max_iter: int = 200, estimator: Any = None) -> TinyModel:
    """A LogisticRegression classifier, or `estimator` (a fresh scikit-learn classifier) in its place."""
    from sklearn.linear_model import LogisticRegression

    records, labels, _ = synthetic_records(n, seed)
    columns = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": "tier",
               "problem_type": "classification", "classes": CLASSES}
    if estimator is None:
        estimator = LogisticRegression(max_iter=max_iter, random_state=seed)
    pipeline = _pipeline(estimator, len(NUMERIC), len(CATEGORICAL))
    model = TinyModel(pipeline, b"", columns)
    _fit(pipeline, model, records, np.array(labels, dtype=object))
    model.seen = _seen(records, labels, regression=False)
    assert [str(c) for c in pipeline.classes_] == CLASSES
    model.onnx_bytes = _to_onnx(pipeline, len(NUMERIC), len(CATEGORICAL), classifier=True)
    return model


def train_binary_classifier(seed: int = 0, n: int = 400) -> TinyModel:
    """A LogisticRegression on "gold" tier or not: classes ["no", "yes"] (about half "yes")."""
    from sklearn.linear_model import LogisticRegression

    records, labels, _ = synthetic_records(n, seed)
    gold = np.array(["yes" if label == "gold" else "no" for label in labels], dtype=object)
    columns = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": "gold",
               "problem_type": "classification", "classes": ["no", "yes"]}
    pipeline = _pipeline(LogisticRegression(max_iter=200, random_state=seed), len(NUMERIC), len(CATEGORICAL))
    model = TinyModel(pipeline, b"", columns)
    _fit(pipeline, model, records, gold)
    model.seen = _seen(records, gold, regression=False)
    model.onnx_bytes = _to_onnx(pipeline, len(NUMERIC), len(CATEGORICAL), classifier=True)
    return model


def train_regressor(seed: int = 0, n: int = 400) -> TinyModel:
    from sklearn.linear_model import Ridge

    records, _, value = synthetic_records(n, seed)
    columns = {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": "spend",
               "problem_type": "regression", "classes": None}
    pipeline = _pipeline(Ridge(alpha=1.0), len(NUMERIC), len(CATEGORICAL))
    model = TinyModel(pipeline, b"", columns)
    _fit(pipeline, model, records, value)
    model.seen = _seen(records, value, regression=True)
    model.onnx_bytes = _to_onnx(pipeline, len(NUMERIC), len(CATEGORICAL), classifier=False)
    return model


def custom_domain_model() -> bytes:
    """A valid-looking graph whose only node lives in a non-standard operator domain."""
    from onnx import TensorProto, helper

    numeric = helper.make_tensor_value_info("numeric", TensorProto.FLOAT, [None, len(NUMERIC)])
    categorical = helper.make_tensor_value_info("categorical", TensorProto.STRING, [None, len(CATEGORICAL)])
    label = helper.make_tensor_value_info("label", TensorProto.FLOAT, [None, len(NUMERIC)])
    node = helper.make_node("Exfiltrate", ["numeric"], ["label"], domain="com.example.custom")
    graph = helper.make_graph([node], "custom", [numeric, categorical], [label])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example.custom", 1)])
    return model.SerializeToString()
