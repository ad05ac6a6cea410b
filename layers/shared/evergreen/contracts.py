"""Typed contracts between the pipeline steps.

The state machine keeps one JSON state per execution with these slots (see
``statemachines/pipeline.asl.json``)::

    {<the trigger event>, "run": RunContext, "trials": [TrialResult], "evaluation": EvaluateResult,
     "export": ExportResult, "promotion": PromoteResult, "error": {"Error", "Cause"}}

Each Task passes the slots it needs as its Payload, so every step's input model is built from the
previous steps' output models; ``tests/unit/test_contracts_chain.py`` checks the ASL against these
models. Only S3 keys and small summaries travel between states (256 KB state limit).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evergreen.spec import Candidate, ModelSpec


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceObject(_Model):
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None

    @property
    def source_id(self) -> str:
        """One uploaded object version: what a duplicate delivery of its S3 event shares."""
        return f"{self.bucket}/{self.key}#{self.version_id or '-'}#{self.etag or '-'}"


class ColumnSchema(_Model):
    """The served model's input schema; also written beside the ONNX file in the registry.

    ONNX input contract (what export produces and inference feeds):
      - "numeric": float32 tensor [N, len(numeric)], NaN for missing (omitted when there are none)
      - "categorical": string tensor [N, len(categorical)], "" for missing (omitted when there are none)
    Outputs: "label" ([N], class labels as strings for classifiers, float32 [N, 1] for regressors)
    and "probabilities" ([N, len(classes)] for classifiers, columns in `classes` order).
    """

    numeric: list[str]
    categorical: list[str]
    target: str
    problem_type: Literal["classification", "regression"]
    classes: list[str] | None = None  # sorted class labels as strings, classification only


class DatasetRef(_Model):
    version: str  # content hash of the cleaned data: "ds-<16 hex>"
    bucket: str
    train_key: str
    validation_key: str
    test_key: str
    profile_key: str
    rows: dict[str, int]  # {"train", "validation", "test", "raw", "dropped"}
    columns: ColumnSchema
    quarantine_key: str | None = None  # the upload's rows left out, with the reason each (CSV)


class ContractInfo(_Model):
    """How this run's data relates to the model's locked data contract (evergreen.data_contract)."""

    version: int  # the contract version the data follows
    previous: int | None = None  # the locked version before this run; None for a model's first contract
    changes: list[str] = Field(default_factory=list)  # what a declared new version changes
    breaking: bool = False  # the champion cannot be judged on the new contract (declared in the spec)
    notices: list[str] = Field(default_factory=list)  # columns left out, cells made missing, new categories

    @property
    def is_new(self) -> bool:
        return self.previous != self.version


class RefitPlan(_Model):
    """Where the winner's fit on the whole training split runs (evergreen.sagemaker_refit.plan)."""

    # what fits it ("where" would be the natural name, but it is a keyword of the JSONPath moto's interpreter uses)
    runner: Literal["lambda", "sagemaker"] = "lambda"
    reason: str = ""
    estimated_mb: int = 0


class TrialResult(_Model):
    candidate_id: str
    family: str
    params: dict[str, Any]
    status: Literal["ok", "failed", "skipped"]  # skipped: the search's budget was spent before the trial began
    metric: str
    # what the trials are ranked on: the score on validation of the fit on the search sample, or under
    # cross-validation (spec.search.folds) the mean of the folds' scores
    validation_score: float | None = None
    cv_std: float | None = None  # cross-validation: the standard deviation of the folds' scores
    cv_folds: int | None = None  # cross-validation: how many folds; None when scored on the validation split
    fit_seconds: float | None = None
    artifact_key: str | None = None  # joblib of the fitted Pipeline, in the artifacts bucket
    error: str | None = None
    trained_rows: int | None = None  # the rows this artifact was fitted on
    refit_validation_score: float | None = None  # the winner refit on the whole training split, on validation
    rung: int = 0  # successive halving: the rung the trial ran in (grid and random searches have one rung)
    fitted_params: dict[str, Any] | None = None  # the estimator's parameters as fitted: defaults and caps resolved
    # binary classification: the decision threshold tuned on validation (under cross-validation: on the
    # folds' held-out predictions)
    threshold: float | None = None
    predict_us_per_row: float | None = None  # the fitted Pipeline's predict time on the rows it was scored on, per row
    gb_seconds: float | None = None  # the trial's compute: its function's memory (GB) x its duration (s)


class SearchState(_Model):
    """Where the search stands (evergreen.search): the rung the state machine trains next, or the end.

    Each rung is one Distributed Map (TrainRung) over the rung's configurations, which Ingest or NextRung
    wrote to S3 (`items_key`): in the state that travels, `candidates` is empty, so a rung of any size
    costs the 256 KB payload nothing. Each Train records its trial in the experiments table; NextRung
    reads them there (evergreen.steps.next_rung) and writes the next state."""

    strategy: Literal["grid", "random", "halving"]
    rung: int = 0
    rungs: int = 1  # how many rungs the plan has (halving: more than one when the data allows)
    # this rung's configurations while a step plans with them (evergreen.search); empty in the state
    # machine's payload, where `items_key` names them, and once the search is done
    candidates: list[Candidate] = Field(default_factory=list)
    items_key: str | None = None  # the rung's configurations, a JSON array in the artifacts bucket (storage.rung_items_key)
    size: int = 0  # how many configurations the rung trains (its items)
    sample_rows: int  # each trial of this rung fits on a stratified sample of this many training rows
    deadline: str  # ISO 8601 UTC: no trial starts after it (spec.search.max_minutes after Ingest)
    trials: int = 0  # trials trained in the rungs before this one
    gb_seconds: float = 0.0  # and the compute they used
    done: bool = False
    stopped: str | None = None  # why the search ended before its plan (a budget), for the run record
    finalists: list[TrialResult] = Field(default_factory=list)  # done: the trials the winner is chosen from


class RunContext(_Model):
    """Output of ingest; the context every later step receives."""

    run_id: str
    model_name: str
    trigger: Literal["upload", "alarm", "manual"]
    source: SourceObject | None = None
    spec: ModelSpec
    dataset: DatasetRef
    contract: ContractInfo
    search: SearchState
    refit: RefitPlan = RefitPlan()


class IngestInput(_Model):
    run_id: str
    event: dict[str, Any]  # the EventBridge event that started the execution (S3 Object Created or alarm)


class TrainInput(_Model):
    run_id: str
    model_name: str
    spec: ModelSpec
    dataset: DatasetRef
    candidate: Candidate
    rung: int = 0
    sample_rows: int | None = None  # the rung's sample (None: spec.search.sample_rows)
    deadline: str | None = None  # ISO 8601 UTC: past it, the trial is skipped (the search's time budget)


class NextRungInput(_Model):
    run: RunContext  # run.search names the rung just trained; its trials are read from the experiments table


class ChampionScore(_Model):
    version: int
    onnx_key: str
    sha256: str
    test_score: float | None  # the champion's ONNX model on this run's test split; None if it cannot score it
    note: str | None = None


class ReferenceScore(_Model):
    """The challenger on the test split the current champion was validated on (classification): a
    challenger no better than the trivial baseline there contradicts what the champion learned."""

    dataset_version: str
    challenger_score: float
    baseline_score: float
    # the share of features of that split that drifted from this run's training data (PSI above the
    # spec's monitoring.drift_threshold): at the spec's drift_share or more, the inputs moved on and
    # the old split no longer says what is plausible, so it gates nothing (`applies` False)
    drifted_feature_share: float | None = None
    applies: bool = True


class Interval(_Model):
    """A challenger's improvement over the incumbent on the test split (positive: better, in the
    metric's units) and its paired bootstrap confidence interval (evergreen.bootstrap)."""

    estimate: float  # on the test rows as they are
    low: float
    high: float
    confidence: float
    resamples: int  # the resamples the metric was defined on
    seed: int

    def describe(self) -> str:
        return (f"{self.estimate:+.4f}, {self.confidence:.0%} interval [{self.low:+.4f}, {self.high:+.4f}] "
                f"({self.resamples} paired bootstrap resamples, seed {self.seed})")


class SliceScore(_Model):
    """The primary metric of both models on one slice of the test rows (evergreen.slices)."""

    column: str
    slice: str  # a category, "(missing)", or a numeric bucket "[low, high)"
    rows: int
    challenger: float | None  # None: the metric is not defined on these rows
    champion: float | None = None  # None: no champion, or it cannot score this data


class FairnessReport(_Model):
    """A binary classifier's answers per group of a sensitive column (evergreen.slices.fairness)."""

    column: str
    positive_class: str
    groups: dict[str, dict[str, Any]]  # name -> rows, positives, selection_rate, true_positive_rate
    min_rows: int  # groups with fewer rows are shown, not counted in the differences
    demographic_parity_difference: float | None
    equal_opportunity_difference: float | None


class Decision(_Model):
    promote: bool
    reason: str
    rule: Literal["ci", "margin"] = "margin"  # spec.promotion.rule the decision applied
    blocked_by: list[str] = Field(default_factory=list)  # the gates that refused the challenger, each with its numbers
    interval: Interval | None = None  # the improvement over the incumbent (champion or baseline) and its interval


class RefitInput(_Model):
    run: RunContext
    trials: list[TrialResult]


class SageMakerRefitInput(RefitInput):
    action: Literal["prepare", "collect"]
    job: dict[str, Any] | None = None  # collect: the finished training job (TrainingJobName, ModelArtifacts)


class ParityReport(_Model):
    rows: int
    tolerance: float
    max_abs_diff: float  # probabilities (classification) or predictions (regression)
    label_agreement: float | None = None  # classification only
    passed: bool


class ExportInput(_Model):
    run: RunContext
    trials: list[TrialResult]


class ExportResult(_Model):
    """The first candidate, in ranking order, whose ONNX conversion passes parity: the artifact that
    Evaluate judges and Promote would serve."""

    passed: bool
    reason: str
    candidate: TrialResult | None = None  # the exported candidate (the best one unless it failed export)
    skipped: list[str] = Field(default_factory=list)  # better-ranked candidates that failed export, with reasons
    onnx_key: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    parity: ParityReport | None = None
    p50_ms: float | None = None  # the ONNX model's median time to answer one row (export.single_row_p50_ms)
    ranking: list[TrialResult] = Field(default_factory=list)  # successful trials, best validation score first
    # Evergreen's, Python's and the libraries' versions the artifact was fitted and converted with (the
    # training layer's: evergreen.tracking.versions), for the model card's lineage
    versions: dict[str, str | None] = Field(default_factory=dict)


class EvaluateInput(_Model):
    run: RunContext
    export: ExportResult


class EvaluateResult(_Model):
    """The exported challenger as it would be served (its ONNX artifact), the champion's served ONNX
    model and a trivial baseline, on this run's test split; the gates, and the promotion decision."""

    metric: str
    higher_is_better: bool
    decision: Decision  # always present: the Choice state reads it
    challenger: TrialResult | None = None  # the exported candidate; None when nothing could be exported
    challenger_test_score: float | None = None  # its ONNX artifact on the test split
    baseline_test_score: float | None = None  # trivial model (majority class / mean) on the test split
    champion: ChampionScore | None = None
    reference: ReferenceScore | None = None  # the plausibility gate's evidence (None: not applicable)
    margin: float
    slices: list[SliceScore] = Field(default_factory=list)  # spec.promotion.slices, both models per slice
    fairness: list[FairnessReport] = Field(default_factory=list)  # spec.promotion.sensitive, the challenger
    calibration: dict[str, Any] | None = None  # classifiers: metrics.calibration of the challenger on the test split
    # the model card's plot numbers for the challenger on the test split (evergreen.card_figures.figures):
    # confusion matrix and ROC/PR curves, or residuals; permutation importance
    figures: dict[str, Any] | None = None
    # the challenger's outputs on the test split, the monitor's baseline (monitoring.drift.prediction_profile)
    prediction_profile: dict[str, Any] | None = None


class PromoteInput(_Model):
    run: RunContext
    evaluation: EvaluateResult
    export: ExportResult


class PromoteResult(_Model):
    model_name: str
    version: int
    promoted: bool
    alias: Literal["champion", "challenger"] = "champion"  # challenger: in shadow or canary beside the champion
    previous_champion: int | None = None
    model_key: str  # models/<name>/v<version>/model.onnx
    sha256: str


Outcome = Literal["promoted", "rejected", "failed", "skipped"]


class FinishInput(_Model):
    run_id: str
    # the state machine passes $$.Execution.Id: FinishRun reads its history for the run's cost (evergreen.cost)
    execution_arn: str | None = None
    outcome: Outcome
    state: dict[str, Any]  # the whole execution state: slots present so far


class FinishResult(_Model):
    run_id: str
    outcome: Outcome
    model_name: str | None = None
    reason: str
