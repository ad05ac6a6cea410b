"""The locked data contract of a model: what its clients and its data may rely on.

The first promotion records the contract (``DataContract``): the input columns and their types,
the categorical vocabularies as seen, the target and its type and classes, and the response
shape. Every later upload is checked against it before any training (``plan`` then
``conformance``): a renamed or dropped column, a type change, a class added or removed, or a
label type change fails the run with a DataError listing every difference. Columns the contract
does not have are reported and left out; new values of a categorical column are counted and
shown, and are no contract change.

A contract changes only when the spec says so: ``contract.version`` above the locked one. The
run then infers the columns afresh and lists the changes; a change the champion cannot be judged
on (``breaking_changes``) also needs ``contract.breaking: true``, and only then may the challenger
be judged against the trivial baseline instead of the champion. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict

from evergreen.contracts import ColumnSchema
from evergreen.data import Frame, describe, invalid_share_problems
from evergreen.errors import DataError
from evergreen.features import is_number
from evergreen.schema import check_width, infer_schema
from evergreen.spec import ModelSpec, SpecError
from evergreen.table import Table


class DataContract(BaseModel):
    """One version of a model's contract, as recorded at promotion (JSON in the artifacts bucket)."""

    model_config = ConfigDict(extra="forbid")

    version: int
    columns: ColumnSchema
    vocabulary: dict[str, list[str]] = {}  # categorical values seen, commonest first (data.max_categories)
    open_vocabulary: list[str] = []  # columns with more distinct values than their vocabulary lists
    response: dict[str, Any] = {}  # what /predict answers per record (response_shape)
    ranges: dict[str, list[float]] = {}  # numeric column -> [training min, training max] (serving flags outside)
    target_range: list[float] | None = None  # regression: [training target min, max] (serving flags far outside)
    changes: list[str] = []  # from the previous version, as the run that recorded it listed them
    recorded: dict[str, Any] = {}  # run_id, model_version, dataset_version, recorded_at


def response_shape(columns: ColumnSchema) -> dict[str, Any]:
    """What /predict answers per record under a contract's columns."""
    if columns.problem_type == "classification":
        return {"prediction": {"one_of": columns.classes}, "probabilities": {"keys": columns.classes}}
    return {"prediction": "number"}


@dataclass
class Plan:
    """How a run's data relates to the locked contract (None: the model has none yet)."""

    schema: ColumnSchema  # the columns this run trains on
    version: int  # the contract version this run's data follows
    previous: int | None  # the locked version before this run
    differences: list[str] = field(default_factory=list)  # header-level violations (raised with conformance's)
    changes: list[str] = field(default_factory=list)  # a declared new version: what it changes
    breaking: bool = False  # the declared changes stop the champion from scoring the new data
    notices: list[str] = field(default_factory=list)


def breaking_changes(old: ColumnSchema, new: ColumnSchema) -> list[str]:
    """Why a model of contract `old` cannot score data of `new` (or answer its clients the same way)."""
    out = []
    if old.target != new.target:
        out.append(f"target changed {old.target!r} -> {new.target!r}")
    if old.problem_type != new.problem_type:
        out.append(f"problem type changed {old.problem_type} -> {new.problem_type}")
    removed = [c for c in old.numeric + old.categorical if c not in new.numeric + new.categorical]
    if removed:
        out.append(f"columns removed: {removed}")
    retyped = [c for c in old.numeric if c in new.categorical] + [c for c in old.categorical if c in new.numeric]
    if retyped:
        out.append(f"columns changed type: {retyped}")
    if old.classes is not None and new.classes is not None and old.classes != new.classes:
        added = sorted(set(new.classes) - set(old.classes))
        gone = sorted(set(old.classes) - set(new.classes))
        out.append("classes changed:" + (f" added {added}" if added else "") + (f" removed {gone}" if gone else ""))
    return out


def changes(old: ColumnSchema, new: ColumnSchema) -> list[str]:
    """Every difference between two contracts' columns (breaking ones and additions)."""
    added = [c for c in new.numeric + new.categorical if c not in old.numeric + old.categorical]
    return breaking_changes(old, new) + ([f"columns added: {added}"] if added else [])


def plan(table: Table, spec: ModelSpec, contract: DataContract | None) -> Plan:
    """Decide the columns of this run from the locked contract (or infer them for a first or a
    declared new contract). Raises SpecError for a contract version older than the locked one and
    DataError for a declared breaking change without ``contract.breaking``."""
    if contract is None:
        inferred = infer_schema(table, spec)
        return Plan(inferred.schema, spec.contract.version, None, notices=inferred.notices)
    if spec.contract.version < contract.version:
        raise SpecError(f"spec contract.version {spec.contract.version} is older than the locked contract "
                        f"v{contract.version}; set it to {contract.version} (or higher to change the contract)")
    if spec.contract.version > contract.version:
        inferred = infer_schema(table, spec)
        breaking = breaking_changes(contract.columns, inferred.schema)
        if breaking and not spec.contract.breaking:
            raise DataError(
                f"contract v{contract.version} -> v{spec.contract.version} is a breaking change: "
                f"{'; '.join(breaking)}. The champion cannot be judged on it; set contract.breaking: true "
                "in the spec to replace it anyway (the challenger is then judged against the trivial baseline)")
        return Plan(inferred.schema, spec.contract.version, contract.version,
                    changes=changes(contract.columns, inferred.schema), breaking=bool(breaking), notices=inferred.notices)

    locked, header = contract.columns, table.header
    check_width(header, spec)
    differences = []
    if spec.target != locked.target:
        differences.append(f"the spec's target {spec.target!r} is not the contract's {locked.target!r}")
    if spec.problem_type != locked.problem_type:
        differences.append(f"the spec's problem type {spec.problem_type} is not the contract's {locked.problem_type}")
    if locked.target not in header:
        differences.append(f"target column {locked.target!r} not found")
    expected = locked.numeric + locked.categorical
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected and c != locked.target]
    if missing:
        hint = f" (renamed? the upload has new columns {extra[:10]})" if extra else ""
        if len(missing) == len(expected) and any(is_number(name) for name in header):
            hint = " (the first line looks like data: is the header missing?)"
        differences.append(f"columns missing: {missing}{hint}")
    notices = []
    if extra:
        notices.append(f"columns not in contract v{contract.version} are left out: {describe(extra, 10)} "
                       "(bump contract.version in the spec to take them in)")
    return Plan(locked, contract.version, contract.version, differences=differences, notices=notices)


def leaving_out(plan_: Plan, contract: DataContract | None, reasons: Mapping[str, str]) -> Plan:
    """An inferred plan without the columns feature selection left out (evergreen.feature_selection:
    never one of `contract`'s, so nothing breaking), their reasons among its notices and its changes
    listed again against `contract`. The contract recorded from this run's data then leaves them out."""
    schema = plan_.schema.model_copy(update={"numeric": [c for c in plan_.schema.numeric if c not in reasons],
                                             "categorical": [c for c in plan_.schema.categorical if c not in reasons]})
    return replace(plan_, schema=schema, changes=changes(contract.columns, schema) if contract else [],
                   notices=[*plan_.notices, *reasons.values()])


def checkable(schema: ColumnSchema, header: Sequence[str]) -> ColumnSchema | None:
    """The part of `schema` an upload has, so its cells can be checked even when columns are
    missing; None without the target (nothing to check against)."""
    if schema.target not in header:
        return None
    return schema.model_copy(update={"numeric": [c for c in schema.numeric if c in header],
                                     "categorical": [c for c in schema.categorical if c in header]})


def conformance(plan_: Plan, report: dict[str, Any], spec: ModelSpec) -> list[str]:
    """Violations found while cleaning the data against the plan's columns: numeric columns with
    too many values that are not numbers (a type change), classes added or removed, a regression
    target that is not numeric. With plan_.differences, everything a run must fail with."""
    problems = list(plan_.differences) + invalid_share_problems(report, spec.data.max_invalid_fraction)
    if report.get("empty_columns") and report["rows"]:
        problems.append(f"columns with no usable value: {report['empty_columns']} (no model can be fitted on them)")
    if plan_.previous is None or plan_.previous != plan_.version:
        return problems  # inferred from this data: classes and types are its own
    schema = plan_.schema
    unknown = report.get("invalid_targets") or {}
    if schema.problem_type == "classification":
        if unknown:
            shown = ", ".join(f"{label!r} ({n} rows)" for label, n in unknown.items())
            problems.append(f"classes added: {shown}; the contract's classes are {schema.classes}")
        absent = [c for c, n in (report.get("class_counts") or {}).items() if n == 0]
        if absent:
            problems.append(f"classes removed (no rows): {absent}")
    elif report.get("dropped_invalid_target", 0) > spec.data.max_invalid_fraction * max(report.get("raw", 1), 1):
        problems.append(f"target {schema.target!r} is numeric in the contract but {report['dropped_invalid_target']} "
                        f"values are not numbers (e.g. {describe(list(unknown))})")
    return problems


def new_categories(contract: DataContract | None, frame: Frame) -> dict[str, dict[str, Any]]:
    """Per categorical column with a complete recorded vocabulary: rows whose value it did not have."""
    out: dict[str, dict[str, Any]] = {}
    if contract is None:
        return out
    for name in contract.columns.categorical:
        known = contract.vocabulary.get(name)
        if known is None or name in contract.open_vocabulary or name not in frame.columns:
            continue
        seen = set(known) | {""}
        fresh = [v for v in frame.columns[name].tolist() if v not in seen]
        if fresh:
            out[name] = {"rows": len(fresh), "examples": list(dict.fromkeys(fresh))[:5]}
    return out
