"""Small specs and tables shared by the data tests."""

from __future__ import annotations

from evergreen.spec import ModelSpec


def make_spec(target="y", problem_type="classification", min_rows=10, data=None, **features) -> ModelSpec:
    metric = "accuracy" if problem_type == "classification" else "rmse"
    family = "logistic_regression" if problem_type == "classification" else "ridge"
    return ModelSpec.model_validate({
        "name": "t", "target": target, "problem_type": problem_type, "primary_metric": metric,
        "min_rows": min_rows, "features": features, "candidates": [{"family": family}], "data": data or {},
    })


def sample_rows(n=30):
    rows = []
    for i in range(n):
        rows.append([str(i * 1.5), ["red", "blue", " green "][i % 3], str(i % 4), "yes" if i % 2 else "no"])
    return ["x", "colour", "level", "y"], rows
