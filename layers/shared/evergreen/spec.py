"""The model spec: what a user writes once per model.

It lives in the data bucket at ``specs/<name>.yaml`` (or ``.json``); uploads for that model go
under ``uploads/<name>/``. Every run snapshots the spec it used into its run record.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ProblemType = Literal["classification", "regression"]

# metric -> (problem type, higher is better)
METRICS: dict[str, tuple[ProblemType, bool]] = {
    "accuracy": ("classification", True),
    "balanced_accuracy": ("classification", True),
    "f1_macro": ("classification", True),
    "roc_auc": ("classification", True),
    "log_loss": ("classification", False),
    "rmse": ("regression", False),
    "mae": ("regression", False),
    "r2": ("regression", True),
}

# family -> problem types it serves, and the hyperparameters a grid may set.
# Families are limited to what skl2onnx converts with parity (see FACTS: no native-categorical HistGB,
# no NaN fed straight into forests, k-NN is slower in ONNX than in scikit-learn).
FAMILIES: dict[str, tuple[set[str], set[str]]] = {
    "logistic_regression": ({"classification"}, {"C", "max_iter", "class_weight"}),
    "ridge": ({"regression"}, {"alpha"}),
    "decision_tree": ({"classification", "regression"}, {"max_depth", "min_samples_leaf"}),
    "random_forest": (
        {"classification", "regression"},
        {"n_estimators", "max_depth", "min_samples_leaf", "max_features", "class_weight"},
    ),
    "extra_trees": (
        {"classification", "regression"},
        {"n_estimators", "max_depth", "min_samples_leaf", "max_features", "class_weight"},
    ),
    "hist_gradient_boosting": (
        {"classification", "regression"},
        {"learning_rate", "max_iter", "max_depth", "max_leaf_nodes", "l2_regularization", "min_samples_leaf"},
    ),
}

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MAX_CANDIDATES = 64


class SpecError(ValueError):
    """The spec is invalid; the message names every problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CandidateGrid(_Strict):
    family: str
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("grid")
    @classmethod
    def _non_empty_lists(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not values:
                raise ValueError(f"grid value list for {key!r} is empty")
        return grid


class SplitSpec(_Strict):
    validation: float = Field(0.2, gt=0, lt=0.5)
    test: float = Field(0.2, gt=0, lt=0.5)
    seed: int = 42


class FeatureSpec(_Strict):
    """Optional explicit feature typing; anything not listed is inferred from the data."""

    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)


class MonitoringSpec(_Strict):
    # Classification: quality is the fraction of correct predictions among those with feedback.
    # Regression: the fraction whose absolute error is within `regression_tolerance`.
    quality_threshold: float = Field(0.7, ge=0, le=1)
    regression_tolerance: float | None = Field(None, gt=0)


class ModelSpec(_Strict):
    name: str
    target: str
    problem_type: ProblemType
    primary_metric: str
    promotion_margin: float = Field(0.0, ge=0)
    min_rows: int = Field(50, ge=10)
    split: SplitSpec = SplitSpec()
    features: FeatureSpec = FeatureSpec()
    candidates: list[CandidateGrid]
    monitoring: MonitoringSpec = MonitoringSpec()

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not NAME_RE.match(name):
            raise ValueError("must be 1-40 characters of lowercase letters, digits and '-', starting with a letter or digit")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        problems: list[str] = []
        if self.primary_metric not in METRICS:
            problems.append(f"primary_metric {self.primary_metric!r} is not one of {sorted(METRICS)}")
        elif METRICS[self.primary_metric][0] != self.problem_type:
            problems.append(f"primary_metric {self.primary_metric!r} is for {METRICS[self.primary_metric][0]}, not {self.problem_type}")
        if not self.candidates:
            problems.append("candidates must list at least one model family")
        for grid in self.candidates:
            if grid.family not in FAMILIES:
                problems.append(f"unknown family {grid.family!r}; known: {sorted(FAMILIES)}")
                continue
            kinds, allowed = FAMILIES[grid.family]
            if self.problem_type not in kinds:
                problems.append(f"family {grid.family!r} does not do {self.problem_type}")
            unknown = sorted(set(grid.grid) - allowed)
            if unknown:
                problems.append(f"family {grid.family!r} does not take {unknown}; allowed: {sorted(allowed)}")
        if self.target in self.features.drop:
            problems.append(f"target {self.target!r} is listed in features.drop")
        if self.target in self.features.numeric or self.target in self.features.categorical:
            problems.append(f"target {self.target!r} is listed as a feature")
        if self.split.validation + self.split.test >= 0.8:
            problems.append("split.validation + split.test must leave at least 20% for training")
        if problems:
            raise ValueError("; ".join(problems))
        if len(expand_candidates(self)) > MAX_CANDIDATES:
            raise ValueError(f"the grids expand to more than {MAX_CANDIDATES} candidates")
        return self

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.primary_metric][1]


class Candidate(_Strict):
    """One point of the search: a family and concrete hyperparameters."""

    candidate_id: str
    family: str
    params: dict[str, Any]


def expand_candidates(spec: ModelSpec) -> list[Candidate]:
    """The full grid of every family, in spec order, with stable ids (c000, c001, ...)."""
    out: list[Candidate] = []
    for grid in spec.candidates:
        keys = sorted(grid.grid)
        for values in itertools.product(*(grid.grid[k] for k in keys)) if keys else [()]:
            out.append(Candidate(candidate_id=f"c{len(out):03d}", family=grid.family, params=dict(zip(keys, values))))
    return out


def parse_spec(text: str | bytes, *, source: str = "spec") -> ModelSpec:
    """Parse YAML or JSON text into a validated spec; raise SpecError naming each problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML/JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()
        )
        raise SpecError(f"{source}: {details}") from exc


def default_spec(name: str, target: str, problem_type: ProblemType) -> ModelSpec:
    """A sensible spec for a user who only names the target (used by `make demo DATA=... TARGET=...`)."""
    if problem_type == "classification":
        candidates = [
            {"family": "logistic_regression", "grid": {"C": [0.1, 1.0, 10.0]}},
            {"family": "random_forest", "grid": {"n_estimators": [100], "max_depth": [8, 16]}},
            {"family": "hist_gradient_boosting", "grid": {"learning_rate": [0.1], "max_iter": [100, 200]}},
        ]
        metric = "accuracy"
    else:
        candidates = [
            {"family": "ridge", "grid": {"alpha": [0.1, 1.0, 10.0]}},
            {"family": "random_forest", "grid": {"n_estimators": [100], "max_depth": [8, 16]}},
            {"family": "hist_gradient_boosting", "grid": {"learning_rate": [0.1], "max_iter": [100, 200]}},
        ]
        metric = "rmse"
    return ModelSpec.model_validate(
        {
            "name": name,
            "target": target,
            "problem_type": problem_type,
            "primary_metric": metric,
            "promotion_margin": 0.01 if problem_type == "classification" else 0.0,
            "candidates": candidates,
        }
    )


def dump_spec(spec: ModelSpec) -> str:
    return json.dumps(spec.model_dump(mode="json"), indent=2, sort_keys=True)
