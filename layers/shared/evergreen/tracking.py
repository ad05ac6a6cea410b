"""Experiment tracking: what a trial records beyond its result, a run's leaderboard, the trials of a
model across runs as CSV or JSON, and re-running a run's best trial.

A trial record (ExperimentsTable, pk run_id, sk "trial#<trial id>": evergreen.steps.train writes it
through run_records.record_trial) holds the TrialResult (params as written in the spec and as fitted,
validation score and decision threshold, fit seconds, predict microseconds per row, GB-seconds, status)
and what a person needs to compare it and a program needs to re-run it: the dataset version, the seed,
Evergreen's and the libraries' versions (``versions``) and the TrainInput it ran on (``trial_input``, as
JSON text).

ONNX size is recorded for the exported model only (FinishRun puts ``onnx_bytes`` on the record of the
exported artifact and on its leaderboard row), not per trial. Converting every trial was measured
(``.venv/bin/python benchmarks/bench_trial_onnx.py``, the default spec's seven candidates, one thread):
it adds 12-17% to the fits' time at 10k and 50k training rows, nearly all of it the forests', and it
makes the deep forest's trial 55-100% longer (random_forest at max_depth 16: 1.5 s to convert beside a
1.5 s fit at 10k rows, 5.2 s beside 9.5 s at 50k; 19 MB of ONNX, 140-170 MB more peak memory while
converting); every Train container would also import skl2onnx (0.4-1.0 s beside scikit-learn).
Export converts the winner anyway.

Import-light, like the rest of the shared layer: the future CLI (`evergreen trials --model M [--csv]`)
reads records without scikit-learn; only ``reproduce_best_trial`` needs the training layer, imported
when it is called.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

import evergreen
from evergreen import run_records
from evergreen.spec import METRICS

# what each version in a record names: the package whose distribution metadata gives it
LIBRARIES = ("numpy", "scikit-learn", "skl2onnx", "onnxruntime")
# the columns of a model's trials, in the order the CSV and the JSON give them
TRIAL_FIELDS = (
    "model_name", "run_id", "trial_id", "candidate_id", "rung", "family", "status", "metric", "validation_score",
    "cv_std", "cv_folds", "refit_validation_score", "threshold", "params", "fitted_params", "fit_seconds", "predict_us_per_row",
    "gb_seconds", "trained_rows", "onnx_bytes", "dataset_version", "seed", "versions", "recorded_at", "error",
)
# a run record is one DynamoDB item (400 KB at most): its leaderboard keeps the best this many trials (a
# row is about 330 bytes; every trial stays in its record)
LEADERBOARD_ROWS = 100
REFIT_SUFFIX = "-refit"  # evergreen.steps.refit records the winner's fit on every training row as "<candidate id>-refit"


@lru_cache(maxsize=1)
def versions() -> dict[str, str | None]:
    """Evergreen's, Python's and the model libraries' versions (None: not installed in this function).
    Read from distribution metadata, so a trial does not import skl2onnx (1.4-1.7 s) to name its version."""
    out: dict[str, str | None] = {"evergreen": evergreen.__version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def gb_seconds(seconds: float, memory_mb: int | None = None) -> float | None:
    """A duration's compute as Lambda bills it: the function's memory in GB times the seconds. The
    memory is the Lambda context's memory_limit_in_mb when given, else AWS_LAMBDA_FUNCTION_MEMORY_SIZE
    (set in Lambda; not locally, where the in-process handlers share one environment); None without either."""
    if memory_mb is None and os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"):
        memory_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    return None if memory_mb is None else round(memory_mb / 1024 * seconds, 4)


def trial_id_of(record: dict[str, Any]) -> str | None:
    """A trial record's id in its run (None for a trial of the state that has no record)."""
    return record["sk"].removeprefix("trial#") if "sk" in record else None


def leaderboard(records: list[dict[str, Any]], exported: dict[str, Any] | None = None,
                onnx_bytes: int | None = None) -> list[dict[str, Any]]:
    """A run's trials ranked as the run chose among them: successful ones first, the last rung first (a
    successive-halving run's winner is the best of its last rung that has any successful trial), best
    validation score first, ties in candidate order (what evaluation.rank_trials keeps); then the failed
    and skipped ones, unranked. The refit of the winner is not a trial of the search and is left out.

    `records`: trial records, and TrialResult dicts of trials that have none (their rows' trial_id is None).
    `exported`: the TrialResult Export converted (its candidate_id and rung); its row gets `onnx_bytes`."""
    trials = [r for r in records if not r["candidate_id"].endswith(REFIT_SUFFIX)]
    scored = [r["status"] == "ok" and r.get("validation_score") is not None for r in trials]
    ok = [r for r, is_ok in zip(trials, scored) if is_ok]
    higher = METRICS[ok[0]["metric"]][1] if ok else True
    ok.sort(key=lambda r: (-r.get("rung", 0), -r["validation_score"] if higher else r["validation_score"],
                           *_spec_order(r)))
    rest = sorted((r for r, is_ok in zip(trials, scored) if not is_ok),
                  key=lambda r: (r["status"], r.get("rung", 0), *_spec_order(r)))
    rows = []
    for rank, record in enumerate(ok + rest, start=1):
        is_exported = exported is not None and (record["candidate_id"], record.get("rung", 0)) == (
            exported.get("candidate_id"), exported.get("rung", 0))
        rows.append({
            "rank": rank if rank <= len(ok) else None, "trial_id": trial_id_of(record),
            "candidate_id": record["candidate_id"], "family": record["family"], "rung": record.get("rung", 0),
            "fitted_params": record.get("fitted_params"), "validation_score": record.get("validation_score"),
            "cv_std": record.get("cv_std"), "fit_seconds": record.get("fit_seconds"), "predict_us_per_row": record.get("predict_us_per_row"),
            "gb_seconds": record.get("gb_seconds"), "status": record["status"],
            "onnx_bytes": onnx_bytes if is_exported else None,
        })
    return rows[:LEADERBOARD_ROWS]


def _spec_order(record: dict[str, Any]) -> tuple[int, str]:
    """Candidate ids are c000, c001, ... in spec order (c1000 after c999): by length, then text."""
    return len(record["candidate_id"]), record["candidate_id"]


def model_trials(table: Any, model_name: str) -> list[dict[str, Any]]:
    """Every trial of `model_name`, across its runs, oldest first, each with TRIAL_FIELDS (None where
    a record has no such field: records written before a field existed, a failed trial's scores). One
    Query on the TrialsByModel index, never a Scan."""
    return [{field: trial_id_of(record) if field == "trial_id" else record.get(field) for field in TRIAL_FIELDS}
            for record in run_records.model_trial_records(table, model_name)]


def trials_json(rows: list[dict[str, Any]]) -> str:
    """The trials as a JSON array (params, fitted_params and versions as objects)."""
    return json.dumps(rows, indent=2)


def trials_csv(rows: list[dict[str, Any]]) -> str:
    """The trials as CSV, one row per trial: params and fitted_params as JSON text, one column per
    version ("version_python", "version_scikit-learn", ...), empty cells for None."""
    names = ["evergreen", "python", *LIBRARIES]
    header = [f for f in TRIAL_FIELDS if f != "versions"] + [f"version_{n}" for n in names]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        cells = {f: json.dumps(row[f], sort_keys=True) if isinstance(row[f], dict) else row[f]
                 for f in TRIAL_FIELDS if f != "versions"}
        cells |= {f"version_{n}": (row.get("versions") or {}).get(n) for n in names}
        writer.writerow(cells)
    return out.getvalue()


@dataclass(frozen=True)
class Reproduction:
    run_id: str
    trial_id: str
    recorded_score: float
    reproduced_score: float
    # BLAS and OpenMP sums may round differently on another thread count: a score that differs with
    # these unequal is not evidence the data, seed or code changed
    threads_recorded: int | None
    threads_used: int


def reproduce_best_trial(stores: Any, run_id: str) -> Reproduction:
    """Fit the run's best trial again, as Train fitted it: the same dataset version (its split files),
    the same seed, the same sample (the trial's rung's), the same candidate and code path
    (steps.train.fit_trial); score it as Train did (the validation split, or the same folds).

    The best trial is the leaderboard's first (``leaderboard``). Raises ValueError when the run has no
    successful trial, or when its record predates ``trial_input`` (nothing says what it ran on)."""
    from evergreen import compute
    from evergreen.contracts import TrainInput
    from evergreen.steps.train import fit_trial

    records = run_records.run_trials(stores.experiments, run_id)
    board = leaderboard(records)
    if not board or board[0]["rank"] is None:
        raise ValueError(f"run {run_id} has no successful trial to reproduce")
    best = next(r for r in records if trial_id_of(r) == board[0]["trial_id"])
    if not best.get("trial_input"):
        raise ValueError(f"trial {board[0]['trial_id']} of run {run_id} does not record its input")
    inp = TrainInput.model_validate_json(best["trial_input"])
    fit = fit_trial(inp, stores)  # what evergreen.steps.train.run fits and scores with
    return Reproduction(run_id=run_id, trial_id=trial_id_of(best), recorded_score=best["validation_score"],
                        reproduced_score=fit.validation_score,
                        threads_recorded=(best.get("fitted_params") or {}).get("threads"),
                        threads_used=compute.threads())
