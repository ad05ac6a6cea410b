"""The model spec: what a user writes once per model.

It lives in the data bucket at ``specs/<name>.yaml`` (or ``.json``); uploads for that model go
under ``uploads/<name>/``. Every run snapshots the spec it used into its run record.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import re
from dataclasses import dataclass
from typing import Any, Iterator, Literal

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

# Serving-size caps (ONNX size and session load time grow with nodes; FACTS: a full-depth 100-tree forest
# is 31 MB and loads in 0.76 s). A grid value above a cap is refused at validation, never lowered.
DEFAULT_MAX_DEPTH = 12  # trees and forests when the grid does not say
MAX_DEPTH = 16  # every family; `max_depth: null` means this
DEFAULT_N_ESTIMATORS = 100
MAX_ESTIMATORS = 200
DEFAULT_BOOSTING_ITER = 100
MAX_BOOSTING_ITER = 500
MAX_LEAF_NODES = 256  # hist_gradient_boosting; `max_leaf_nodes: null` means this
SERVING_CAP = "serving-size cap"
_EXPONENT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")  # PyYAML keeps 1e9 and 1.0e9 as str


@dataclass(frozen=True)
class Param:
    """The values one grid hyperparameter may take: a number of `kind` in [low, high] and/or one of `choices`."""

    kind: type | None = None  # int or float (an int is fine for a float; bool never is); None: `choices` only
    low: float = 0
    high: float = 0
    low_open: bool = False  # `low` itself is refused
    cap: str = ""  # why `high` is the limit, named when a value exceeds it
    choices: tuple[Any, ...] = ()  # allowed non-numbers (str or None)
    count: tuple[int, int] | None = None  # max_features: an int is a column count in this range, a float a fraction
    classification_only: bool = False
    null_means_cap: bool = False  # None is resolved to `high` (training.resolve_params)

    def problem(self, value: Any) -> str | None:
        """Why `value` is refused, or None when it is fine."""
        if (value is None or isinstance(value, str)) and value in self.choices:
            return None
        kind, low, high, low_open = self.kind, self.low, self.high, self.low_open
        integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if self.count and integral:
            kind, (low, high), low_open = int, self.count, False
        if kind is None or not (integral or (kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool))):
            named = [_show(c) for c in self.choices]
            what = {int: "an integer", float: "a number"}.get(kind, "")
            if named:
                what += (" or " if what else "") + (named[0] if len(named) == 1 else f"one of [{', '.join(named)}]")
            hint = " (YAML reads it as text: write e.g. 1.0e+9)" if isinstance(value, str) and _EXPONENT_RE.match(value) else ""
            return f"must be {what}, got {_show(value)}{hint}"
        if not integral and not math.isfinite(value):
            return f"must be finite, got {_show(value)}"
        if value < low or (low_open and value == low):
            return f"must be {'>' if low_open else '>='} {_show(low)}, got {_show(value)}"
        if value > high:
            return f"at most {_show(high)}{f' ({self.cap})' if self.cap else ''}, got {_show(value)}"
        return None


_DEPTH = Param(int, 1, MAX_DEPTH, cap=SERVING_CAP, choices=(None,), null_means_cap=True)
_LEAF = Param(int, 1, 100_000)
_TREE = {"max_depth": _DEPTH, "min_samples_leaf": _LEAF}
_FOREST = {
    **_TREE,
    "n_estimators": Param(int, 1, MAX_ESTIMATORS, cap=SERVING_CAP),
    "max_features": Param(float, 0, 1, low_open=True, choices=("sqrt", "log2", None), count=(1, 10_000)),
    "class_weight": Param(choices=(None, "balanced", "balanced_subsample"), classification_only=True),
}

# THE table of model families: the problem types each serves and every hyperparameter a grid may set, with
# its rule. Families are limited to what skl2onnx converts with parity (see FACTS: no native-categorical
# HistGB, no NaN fed straight into forests, k-NN is slower in ONNX than in scikit-learn).
PARAMS: dict[str, tuple[set[str], dict[str, Param]]] = {
    "logistic_regression": ({"classification"}, {
        "C": Param(float, 0, 10**6, low_open=True),
        "max_iter": Param(int, 1, 10_000),
        "class_weight": Param(choices=(None, "balanced")),
    }),
    "ridge": ({"regression"}, {"alpha": Param(float, 0, 10**6)}),
    "decision_tree": ({"classification", "regression"}, _TREE),
    "random_forest": ({"classification", "regression"}, _FOREST),
    "extra_trees": ({"classification", "regression"}, _FOREST),
    "hist_gradient_boosting": ({"classification", "regression"}, {
        "class_weight": Param(choices=(None, "balanced"), classification_only=True),
        "learning_rate": Param(float, 0, 1, low_open=True),
        "max_iter": Param(int, 1, MAX_BOOSTING_ITER, cap=SERVING_CAP),
        "max_depth": _DEPTH,
        "max_leaf_nodes": Param(int, 2, MAX_LEAF_NODES, cap=SERVING_CAP, choices=(None,), null_means_cap=True),
        "l2_regularization": Param(float, 0, 10**6),
        "min_samples_leaf": _LEAF,
    }),
}
# family -> (problem types it serves, the hyperparameters a grid may set)
FAMILIES: dict[str, tuple[set[str], set[str]]] = {f: (kinds, set(rules)) for f, (kinds, rules) in PARAMS.items()}

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# One search trains at most this many trials. The 256 KiB payload no longer bounds it: a rung is a
# Distributed Map whose configurations are read from S3 and whose trials are recorded in DynamoDB
# (evergreen.steps.next_rung); a child returns only its status (about 20 bytes, 20 KB for 1,000), and
# the finalists that travel on are a shortlist of at most search.FINALISTS plus one per family. What
# bounds it now is time and reads: TrainRung runs 4 trials at a time (a new account's Lambda concurrency
# is 10), so 1,000 trials of 10-60 s take 40 min to 4 h; and a trial under max_gb_seconds sums the
# compute of every trial recorded before it (one Query over the run's records, about 3 KB each), which
# grows with the square of the trials: a few MB per trial at 1,000.
MAX_TRIALS = 1000
DISTRIBUTIONS = ("log_uniform", "uniform", "int")  # a `space` entry: {kind: [low, high]}, both ends included
MAX_SPEC_BYTES = 64 * 1024
MAX_NESTING = 32  # a spec is at most 5 levels deep (candidates[0].grid.C[0])
MAX_LISTED = 100  # problems named in one SpecError


class SpecError(ValueError):
    """The spec is invalid; the message names every problem."""


class _Strict(BaseModel):
    # strict: no bool for int, no "1" for 1, no 2.0 for an int; allow_inf_nan=False: every float is finite
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class CandidateGrid(_Strict):
    """One model family and the values its hyperparameters may take: `grid` lists values (a grid search
    tries every combination; a random search draws from them), `space` declares ranges a random or
    halving search draws from ({log_uniform: [low, high]}, {uniform: [low, high]}, {int: [low, high]})."""

    family: str
    grid: dict[str, list[Any]] = Field(default_factory=dict)  # values are checked against PARAMS by ModelSpec
    space: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)  # checked by ModelSpec too


class SplitSpec(_Strict):
    validation: float = Field(0.2, gt=0, lt=0.5)
    test: float = Field(0.2, gt=0, lt=0.5)
    seed: int = Field(42, ge=0, le=2**32 - 1)


class FeatureSpec(_Strict):
    """Optional explicit feature typing; anything not listed is inferred from the data."""

    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)
    # leave out constant, ID-like and row-counter columns, each with a notice (evergreen.feature_selection);
    # a column listed in numeric or categorical is always kept
    auto_drop: bool = True


class MonitoringSpec(_Strict):
    """The one source of truth for a model's monitoring (the monitor reads it from the champion's
    registry record; promote writes the model's alarms from it)."""

    # Classification: quality is the fraction of correct predictions among those with feedback.
    # Regression: the fraction whose absolute error is within `regression_tolerance`.
    quality_threshold: float = Field(0.7, ge=0, le=1)  # the quality floor: below it, the quality alarm fires
    regression_tolerance: float | None = Field(None, gt=0)
    window_minutes: int = Field(60, ge=1, le=10080)  # the monitor judges the predictions of this many past minutes
    min_labels: int = Field(30, ge=1, le=1_000_000)  # quality is published only with this many labels in the window
    min_predictions: int = Field(200, ge=10, le=1_000_000)  # drift is published only with this many predictions
    drift_threshold: float = Field(0.2, gt=0, le=10)  # a feature drifted when its PSI against training exceeds this
    drift_share: float = Field(0.3, gt=0, le=1)  # the drift alarm fires when this share of features drifted
    cooldown_minutes: int = Field(60, ge=0, le=10080)  # after a retrain, alarms start no other for this long
    # what a retrain on an alarm learns from: "feedback" = the labelled predictions since the served errors
    # rose, found among the retrain_rows newest (else those of the last window_minutes); "window" = the
    # retrain_rows newest labelled predictions; "all" = the latest accepted upload plus what "feedback" takes
    retrain_data: Literal["feedback", "window", "all"] = "feedback"
    retrain_rows: int = Field(5000, ge=10, le=1_000_000)


class ContractSpec(_Strict):
    """The locked data contract's version: bump it to change the contract on purpose. `breaking` allows a
    new version that drops columns/classes the champion needs (the challenger is then judged against the
    trivial baseline)."""

    version: int = Field(1, ge=1, le=10**6)
    breaking: bool = False


class DataSpec(_Strict):
    # share of a numeric column's non-missing cells that may be unparseable/non-finite (they become missing
    # and are counted); above it the run fails naming the column
    max_invalid_fraction: float = Field(0.05, ge=0, le=0.5)
    # one-hot vocabulary per categorical column (top-K by frequency in train; rarer values are treated like
    # unseen ones)
    max_categories: int = Field(50, ge=2, le=1000)
    max_columns: int = Field(500, ge=1, le=2000)  # feature columns an upload may have


class SearchSpec(_Strict):
    """How the candidates are searched (evergreen.search), and the budget that stops the search.

    strategy: "grid" tries every combination of the candidates' grids; "random" draws max_trials
    configurations from their grids and spaces; "halving" (successive halving) draws as many as the
    budget allows, trains them on a small sample, and sends the best 1/eta of each rung on to a sample
    eta times larger, the last rung on sample_rows rows. "auto": grid when the candidates declare no
    space, random when they do, halving over evergreen.search's default space when the spec names no
    candidates."""

    strategy: Literal["auto", "grid", "random", "halving"] = "auto"
    # trials of every rung together; at most MAX_TRIALS (1,000), bounded by time and reads, not by the
    # state machine's payload (each rung is a Distributed Map: see MAX_TRIALS)
    max_trials: int = Field(64, ge=1, le=MAX_TRIALS)
    max_minutes: float = Field(60.0, gt=0, le=24 * 60)  # no trial starts once this much time has passed since Ingest
    max_gb_seconds: float | None = Field(None, gt=0)  # no trial starts once the trials have used this much compute
    eta: int = Field(3, ge=2, le=10)  # halving: the share of a rung that goes on is 1/eta, its sample eta times larger
    min_rows: int = Field(500, ge=50, le=10_000_000)  # halving: the first rung's sample (at least)
    # halving, for a classifier: the first rung's sample holds at least this many rows of the rarest class
    # (at 2.5% positives, 4,000 rows: a sample of 500 would rank its trials on a dozen positives)
    min_class_rows: int = Field(100, ge=1, le=1_000_000)
    # every trial fits on at most this many training rows (a stratified sample, the same for every
    # trial of a rung); the winner is then refit on the whole training split before it is tested
    sample_rows: int = Field(200_000, ge=1_000, le=100_000_000)
    # small data: when train + validation hold at most cv_max_rows rows, every trial is scored by
    # cv_folds-fold cross-validation on train + validation together (stratified for classification)
    # instead of on the validation split alone, and the winner is fitted on train + validation; 0: never
    cv_max_rows: int = Field(10_000, ge=0, le=1_000_000)
    cv_folds: int = Field(5, ge=2, le=10)
    # small in its rarest class: a classification dataset whose rarest class has fewer than
    # cv_min_class_rows rows in train + validation is cross-validated too, up to cv_max_rare_rows rows
    # (a validation split then holds a few dozen of that class: too few to rank trials by); 0: never
    cv_min_class_rows: int = Field(1_000, ge=0, le=1_000_000)
    cv_max_rare_rows: int = Field(100_000, ge=0, le=1_000_000)

    def folds(self, rows: dict[str, int]) -> int | None:
        """The folds a search on a dataset of `rows` (DatasetRef.rows, with "rarest_class": the rarest
        class's rows in train + validation, for classification) cross-validates with; None: it scores
        on the validation split."""
        both = rows["train"] + rows["validation"]
        rare = rows.get("rarest_class", self.cv_min_class_rows) < self.cv_min_class_rows and both <= self.cv_max_rare_rows
        return self.cv_folds if both <= self.cv_max_rows or rare else None

    def search_rows(self, rows: dict[str, int]) -> int:
        """The rows the search draws its samples from: train + validation under cross-validation, else train."""
        return rows["train"] + (rows["validation"] if self.folds(rows) else 0)


class PromotionSpec(_Strict):
    """How a challenger must beat the incumbent (the champion; with none yet, the trivial baseline) on
    the test split (evergreen.evaluation.decide): "ci", the lower bound of the paired bootstrap
    confidence interval of its improvement (evergreen.bootstrap) must beat promotion_margin; "margin",
    the improvement itself must (a gain inside the test split's noise can pass)."""

    rule: Literal["ci", "margin"] = "ci"
    confidence: float = Field(0.95, ge=0.5, le=0.999)
    resamples: int = Field(1000, ge=100, le=10_000)
    # slices (evergreen.slices): feature columns whose groups are scored apart; a numeric one is cut
    # into slice_buckets quantile buckets of the training split. A slice of at least min_slice_rows test
    # rows on which the challenger is worse than the champion by more than slice_tolerance (in the
    # primary metric's units) blocks the promotion
    slices: list[str] = Field(default_factory=list)
    slice_buckets: int = Field(4, ge=2, le=20)
    min_slice_rows: int = Field(30, ge=1)
    slice_tolerance: float = Field(0.05, ge=0)
    # fairness (binary classifiers): the groups of these feature columns get selection and true
    # positive rates; a difference above its maximum (None: reported only) blocks the promotion
    sensitive: list[str] = Field(default_factory=list)
    max_demographic_parity_difference: float | None = Field(None, ge=0, le=1)
    max_equal_opportunity_difference: float | None = Field(None, ge=0, le=1)
    # the served artifact's budget, measured by Export: the ONNX model's size and its median time to
    # answer one row (onnxruntime, one thread); a challenger over either is refused with the numbers
    max_onnx_mb: float = Field(100.0, gt=0)
    max_p50_ms: float = Field(50.0, gt=0)
    # how a promoted challenger takes over from a champion (evergreen.aliases; the first version of a
    # model has nothing to be compared with and becomes champion at once): "direct", at once; "shadow",
    # the champion answers and the challenger's answer is logged beside it; "canary", canary_share of
    # requests, chosen by their request key, are answered by the challenger. The monitor compares the two
    # on the labelled predictions since the rollout began (evergreen.monitoring.rollout): once each has
    # monitoring.min_labels labels, the challenger becomes champion if its quality is at least the
    # champion's less rollout_tolerance, and is rolled back otherwise
    rollout: Literal["direct", "shadow", "canary"] = "direct"
    canary_share: float = Field(0.1, gt=0, lt=1)
    rollout_tolerance: float = Field(0.0, ge=0, le=1)


class ComputeSpec(_Strict):
    # where the winner's fit on the whole training split runs: "auto" sends it to a SageMaker training job
    # when its estimated memory is over RefitFunction's (the TrainMemorySize template parameter)
    refit: Literal["auto", "lambda", "sagemaker"] = "auto"
    instance_type: str = Field("ml.m5.4xlarge", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    volume_gb: int = Field(30, ge=1, le=16384)
    max_runtime_minutes: int = Field(120, ge=1, le=7200)


class ModelSpec(_Strict):
    name: str
    target: str
    problem_type: ProblemType
    # None: chosen from the data by evergreen.search.default_metric (Ingest writes it into the run's spec)
    primary_metric: str | None = None
    promotion_margin: float = Field(0.0, ge=0)
    promotion: PromotionSpec = PromotionSpec()
    min_rows: int = Field(50, ge=10)
    split: SplitSpec = SplitSpec()
    features: FeatureSpec = FeatureSpec()
    candidates: list[CandidateGrid] = Field(default_factory=list)  # none: evergreen.search's default space
    monitoring: MonitoringSpec = MonitoringSpec()
    contract: ContractSpec = ContractSpec()
    data: DataSpec = DataSpec()
    search: SearchSpec = SearchSpec()
    compute: ComputeSpec = ComputeSpec()

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not NAME_RE.match(name):
            raise ValueError("must be 1-40 characters of lowercase letters, digits and '-', starting with a letter or digit")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        problems = spec_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def higher_is_better(self) -> bool:
        if self.primary_metric is None:
            raise ValueError("the spec's primary_metric is chosen from the data at Ingest; this spec has none yet")
        return METRICS[self.primary_metric][1]


class Candidate(_Strict):
    """One point of the search: a family and concrete hyperparameters."""

    candidate_id: str
    family: str
    params: dict[str, Any]


def expand_candidates(candidates: list[CandidateGrid]) -> list[Candidate]:
    """The full grid of every family, in spec order, with stable ids (c000, c001, ...)."""
    out: list[Candidate] = []
    for grid in candidates:
        keys = sorted(grid.grid)
        for values in itertools.product(*(grid.grid[k] for k in keys)) if keys else [()]:
            out.append(Candidate(candidate_id=f"c{len(out):03d}", family=grid.family, params=dict(zip(keys, values))))
    return out


def grid_size(candidates: list[dict[str, Any]] | list[CandidateGrid]) -> int:
    """How many configurations the candidates' grids expand to (raw spec data or parsed)."""
    total = 0
    for cand in candidates:
        grid = cand.grid if isinstance(cand, CandidateGrid) else cand.get("grid", {}) if isinstance(cand, dict) else {}
        total += math.prod(len(v) for v in (grid or {}).values() if isinstance(v, list)) if isinstance(grid, dict) else 1
    return total


def strategy_of(spec: ModelSpec) -> Literal["grid", "random", "halving"]:
    """The search strategy `auto` stands for (see SearchSpec)."""
    if spec.search.strategy != "auto":
        return spec.search.strategy
    if not spec.candidates:
        return "halving"
    return "random" if any(c.space for c in spec.candidates) else "grid"


def _show(value: Any) -> str:
    """A value as the user wrote it (null for None), cut short when long."""
    text = "null" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _space_problems(family: str, problem_type: str | None, space: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(location under the space, problem) for every refused range; `family` is known."""
    rules = PARAMS[family][1]
    for name, declared in space.items():
        rule = rules.get(name)
        if rule is None:
            yield "", f"family {family!r} does not take {name!r}; allowed: {sorted(rules)}"
            continue
        if not isinstance(declared, dict) or len(declared) != 1 or next(iter(declared)) not in DISTRIBUTIONS:
            yield f".{name}", f"must be one of {{{', '.join(f'{k}: [low, high]' for k in DISTRIBUTIONS)}}}, got {_show(declared)}"
            continue
        (kind, bounds), = declared.items()
        if rule.classification_only and problem_type == "regression":
            yield f".{name}", f"{name} is only for classification; a regression spec cannot set it"
        elif rule.kind is None:
            yield f".{name}", f"{name} takes only {[_show(c) for c in rule.choices]}: list them in `grid`"
        elif not (isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) for b in bounds)):
            yield f".{name}.{kind}", f"must be [low, high], two numbers, got {_show(bounds)}"
        elif not bounds[0] < bounds[1]:
            yield f".{name}.{kind}", f"low must be below high, got {_show(bounds)}"
        elif kind == "int" and not all(isinstance(b, numbers.Integral) for b in bounds):
            yield f".{name}.{kind}", f"the bounds of an int range must be integers, got {_show(bounds)}"
        elif kind == "int" and rule.kind is float and rule.count is None:
            yield f".{name}.{kind}", f"{name} is a real number: declare uniform or log_uniform"
        elif kind != "int" and rule.kind is int:
            yield f".{name}.{kind}", f"{name} is an integer: declare int"
        elif kind == "log_uniform" and bounds[0] <= 0:
            yield f".{name}.{kind}", f"a log-uniform range must be above 0, got {_show(bounds)}"
        else:
            yield from ((f".{name}.{kind}[{i}]", msg) for i, b in enumerate(bounds) if (msg := rule.problem(b)))


def _param_problems(family: str, problem_type: str | None, grid: dict[str, list[Any]]) -> Iterator[tuple[str, str]]:
    """(location under the grid, problem) for every refused name or value; `family` is known."""
    rules = PARAMS[family][1]
    unknown = sorted((str(k) for k in grid if k not in rules))
    if unknown:
        yield "", f"family {family!r} does not take {unknown}; allowed: {sorted(rules)}"
    for name, values in grid.items():
        rule = rules.get(name)
        if rule is None or not isinstance(values, list):
            continue  # unknown (above) or not a list (pydantic says so)
        if rule.classification_only and problem_type == "regression":
            yield f".{name}", f"{name} is only for classification; a regression spec cannot set it"
        elif not values:
            yield f".{name}", "the value list is empty"
        else:
            yield from ((f".{name}[{i}]", msg) for i, v in enumerate(values) if (msg := rule.problem(v)))


def check_params(family: str, problem_type: str | None, params: dict[str, Any]) -> list[str]:
    """Problems with one candidate's concrete params (empty when fine); problem_type None skips the
    classification-only check."""
    if family not in PARAMS:
        return [f"unknown family {family!r}; known: {sorted(PARAMS)}"]
    grid = {k: [v] for k, v in params.items()}
    return [f"{loc.lstrip('.').removesuffix('[0]')}: {msg}" if loc else msg for loc, msg in _param_problems(family, problem_type, grid)]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def spec_problems(raw: dict[str, Any]) -> list[str]:
    """Every cross-field and grid-value problem of spec data, each as "<loc>: <msg>". Works on raw parsed
    data too (anything of the wrong type is skipped here: field validation names it), so parse_spec can
    report these together with pydantic's field errors."""
    out: list[str] = []
    problem_type = raw.get("problem_type") if raw.get("problem_type") in ("classification", "regression") else None
    metric = raw.get("primary_metric")
    if isinstance(metric, str):
        if metric not in METRICS:
            out.append(f"primary_metric: {metric!r} is not one of {sorted(METRICS)}")
        elif problem_type and METRICS[metric][0] != problem_type:
            out.append(f"primary_metric: {metric!r} is for {METRICS[metric][0]}, not {problem_type}")
    promotion = raw.get("promotion") if isinstance(raw.get("promotion"), dict) else {}
    fairness_set = [k for k in ("sensitive", "max_demographic_parity_difference", "max_equal_opportunity_difference")
                    if promotion.get(k)]
    if problem_type == "regression" and fairness_set:
        out.append(f"promotion.{fairness_set[0]}: fairness is measured for binary classifiers, not regression")
    target = raw.get("target")
    for key in ("slices", "sensitive"):
        if isinstance(promotion.get(key), list) and target in promotion[key]:
            out.append(f"promotion.{key}: {target!r} is the target; slices are groups of feature columns")
    candidates = raw.get("candidates")
    search = raw.get("search") if isinstance(raw.get("search"), dict) else {}
    strategy, max_trials = search.get("strategy", "auto"), search.get("max_trials", SearchSpec.model_fields["max_trials"].default)
    if isinstance(candidates, list):
        spaced = False
        for i, cand in enumerate(candidates):
            if not isinstance(cand, dict):
                continue
            family, grid, space = cand.get("family"), cand.get("grid", {}), cand.get("space", {})
            grid = grid if isinstance(grid, dict) else {}
            space = space if isinstance(space, dict) else {}
            spaced = spaced or bool(space)
            if not isinstance(family, str):
                continue
            if family not in PARAMS:
                out.append(f"candidates[{i}].family: unknown family {family!r}; known: {sorted(PARAMS)}")
                continue
            if problem_type and problem_type not in PARAMS[family][0]:
                out.append(f"candidates[{i}].family: family {family!r} does not do {problem_type}")
            out += [f"candidates[{i}].grid{loc}: {msg}" for loc, msg in _param_problems(family, problem_type, grid)]
            out += [f"candidates[{i}].space{loc}: {msg}" for loc, msg in _space_problems(family, problem_type, space)]
            both = sorted(set(grid) & set(space))
            if both:
                out.append(f"candidates[{i}]: {both} set in both grid and space; a hyperparameter takes one")
        total = grid_size(candidates)
        if strategy == "grid" and spaced:
            out.append("search.strategy: a grid search takes `grid` lists only; `space` ranges need random or halving")
        if strategy in ("grid", "auto") and not spaced and isinstance(max_trials, int) and total > max_trials:
            out.append(f"candidates: the grids expand to {total} candidates, more than search.max_trials ({max_trials}); "
                       "raise max_trials (at most {MAX_TRIALS}) or set search.strategy to random or halving".replace("{MAX_TRIALS}", str(MAX_TRIALS)))
        if strategy == "grid" and not candidates:
            out.append("search.strategy: a grid search needs candidates; name some, or leave the strategy to auto")
    target, features = raw.get("target"), raw.get("features")
    if isinstance(target, str) and isinstance(features, dict):
        listed = {k: v if isinstance(v, list) else [] for k, v in features.items()}
        if target in listed.get("drop", []):
            out.append(f"features.drop: target {target!r} is listed in features.drop")
        if target in listed.get("numeric", []) + listed.get("categorical", []):
            out.append(f"features: target {target!r} is listed as a feature")
    split = raw.get("split")
    if isinstance(split, dict):
        sizes = [split.get(k, SplitSpec.model_fields[k].default) for k in ("validation", "test")]
        if all(_is_number(v) for v in sizes) and sum(sizes) >= 0.8:
            out.append("split: validation + test must leave at least 20% for training")
    return out


class _Refused(yaml.YAMLError):
    """YAML a spec never needs (and an attacker would use); the message is final."""


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases/anchors and merge keys (billion laughs), duplicate mapping keys
    (YAML silently keeps the last) and deep nesting (the composer recurses). JSON is YAML: same loader."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(f"YAML aliases/anchors are not allowed in a spec (line {line})")
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise _Refused(f"nested more than {MAX_NESTING} levels deep (line {line})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # the scanner looks ahead over every open [ or { (quadratic): stop it before the composer could
        if self.flow_level >= MAX_NESTING:
            raise _Refused(f"nested more than {MAX_NESTING} levels deep (line {self.line + 1})")
        super().fetch_flow_collection_start(TokenClass)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(f"YAML merge keys (<<) are not allowed in a spec (line {line})")
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise _Refused(f"duplicate key {key!r} (line {line})")
                seen.add(key)
        return super().construct_mapping(node, deep)


def _loc(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f"{'.' if i else ''}{p}" for i, p in enumerate(loc))


def parse_spec(text: str | bytes, *, source: str = "spec") -> ModelSpec:
    """Parse YAML or JSON text into a validated spec; raise one SpecError naming every problem."""
    size = len(text) if isinstance(text, bytes) or len(text) > MAX_SPEC_BYTES else len(text.encode("utf-8", "replace"))
    if size > MAX_SPEC_BYTES:
        raise SpecError(f"{source}: the spec is {size} bytes; at most {MAX_SPEC_BYTES} (64 KiB) are allowed")
    try:
        raw = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        raise SpecError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML/JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    problems = spec_problems(raw)
    try:
        spec = ModelSpec.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        fields = [
            f"{_loc(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            + ("" if e["type"] in ("missing", "extra_forbidden") else f", got {_show(e['input'])}")
            for e in errors if e["loc"]
        ]  # loc () is the model validator: spec_problems(raw) already names the same problems
        problems = fields + (problems or [e["msg"].removeprefix("Value error, ") for e in errors if not e["loc"]])
    else:
        if not problems:
            return spec
    more = f"; ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    raise SpecError(f"{source}: {'; '.join(problems[:MAX_LISTED])}{more}")


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
