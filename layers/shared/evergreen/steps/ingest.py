"""Ingest: turn the trigger into a versioned, validated, split and profiled dataset, and plan the trials.

Triggers:
  - S3 "Object Created" under uploads/<model>/ (via EventBridge): the uploaded CSV is the data.
    Folder markers, empty objects and hidden or marker files (".x", "_SUCCESS") are not data: the
    run ends SKIPPED (IgnoredUpload). A second delivery of the same object version (S3 events are
    at-least-once) ends SKIPPED too (DuplicateUpload): it trains nothing.
  - CloudWatch "Alarm State Change" to ALARM on the model's quality or drift alarm: the data is what
    the spec's retraining policy takes (monitoring.retrain_data, see `feedback_rows`: the labelled
    predictions since the served errors rose, else those of the window; the N newest; or the latest
    accepted upload plus the first); fewer than monitoring.min_labels labels, a retrain inside
    monitoring.cooldown_minutes of the last one, or a run of the model in progress end the run
    SKIPPED (RetrainSkipped) with the reason.
At most one run per model holds it at a time: an upload that finds another run waits (RunInProgress,
retried by the state machine). Before any training the data is checked against the model's locked data contract
(evergreen.data_contract): a violation fails the run with a DataError listing every difference.
A run that decides the contract's columns (the first, or a declared new version) leaves constant,
ID-like and row-counter columns out of it, judged on the training split, each with a notice
(evergreen.feature_selection).
Rows left out (no usable target) go to a quarantine CSV with the reason each. The raw upload is
never modified; the run record is written first so even a bad upload is tracked. The upload is read
once (evergreen.csvfile: pandas' C parser, in chunks) and the splits are written once, binary and
columnar (evergreen.splits), for every later step to load without parsing.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

import numpy as np
from botocore.exceptions import ClientError

from evergreen import (
    data,
    data_contract,
    feature_selection,
    features,
    prediction_log,
    registry,
    run_records,
    sagemaker_refit,
    search,
    splits,
    table,
)
from evergreen.contracts import ContractInfo, DatasetRef, IngestInput, RunContext, SourceObject
from evergreen.csvfile import read_table
from evergreen.data_contract import DataContract
from evergreen.errors import ChampionIntegrityError, DataError
from evergreen.monitoring import alarms, changepoint, quality
from evergreen.monitoring.profile import profile
from evergreen.spec import ModelSpec, SpecError, parse_spec
from evergreen.steps import next_rung
from evergreen.storage import Stores, dataset_prefix, is_missing, model_from_upload_key, quarantine_key, spec_keys
from evergreen.triggers import IgnoredUpload, TriggerError, not_data

MAX_NOTICES = 50
LOCK_TTL = timedelta(hours=2)  # longer than any run: a run that died without FinishRun frees its model then


class DuplicateUpload(Exception):
    """This object version was already ingested by another run (a repeated S3 event)."""


class RetrainSkipped(Exception):
    """A retrain on an alarm that may not run now: the cooldown, a run in progress, too few labels."""


class RunInProgress(Exception):
    """Another run of the model holds it; the state machine retries this one later."""


def parse_trigger(event: dict[str, Any]) -> tuple[str, str, SourceObject | None]:
    """-> (trigger, model_name, source object for uploads)."""
    detail_type = event.get("detail-type")
    detail = event.get("detail") or {}
    if detail_type == "Object Created":
        bucket = (detail.get("bucket") or {}).get("name")
        obj = detail.get("object") or {}
        key = obj.get("key")
        if not bucket or not key:
            raise TriggerError("S3 event without detail.bucket.name / detail.object.key")
        why = not_data(key, obj.get("size"))
        if why:
            raise IgnoredUpload(f"s3://{bucket}/{key} is {why}, not data: ignored")
        model = model_from_upload_key(key)
        if model is None:
            raise TriggerError(f"upload key {key!r} is not under uploads/<model>/<file>")
        etag = obj.get("etag") or obj.get("eTag")
        return "upload", model, SourceObject(bucket=bucket, key=key, version_id=obj.get("version-id"), etag=etag)
    if detail_type == "CloudWatch Alarm State Change":
        state = (detail.get("state") or {}).get("value")
        if state != "ALARM":
            raise TriggerError(f"alarm {detail.get('alarmName')!r} is {state}, not ALARM")
        model = alarms.model_of(detail)
        if model:
            return "alarm", model, None
        raise TriggerError(f"alarm {detail.get('alarmName')!r} has no Model dimension to retrain")
    if "model_name" in event:  # manual start: {"model_name": ..., "source": {"bucket", "key"}}
        source = SourceObject.model_validate(event["source"]) if event.get("source") else None
        return "manual", event["model_name"], source
    raise TriggerError(f"unsupported trigger: detail-type {detail_type!r}")


def load_spec(stores: Stores, model: str) -> ModelSpec:
    for key in spec_keys(model):
        text = stores.get_bytes_or_none(stores.data_bucket, key)
        if text is None:
            continue
        spec = parse_spec(text, source=f"s3://{stores.data_bucket}/{key}")
        if spec.name != model:
            raise SpecError(f"s3://{stores.data_bucket}/{key}: name {spec.name!r} does not match the model folder {model!r}")
        return spec
    raise SpecError(f"no spec for model {model!r}: put one at s3://{stores.data_bucket}/{spec_keys(model)[0]}")


def read_upload(stores: Stores, source: SourceObject) -> bytes:
    try:
        return stores.get_bytes(source.bucket, source.key, source.version_id)
    except ClientError as exc:
        decoded = unquote_plus(source.key)
        if is_missing(exc) and decoded != source.key:
            return stores.get_bytes(source.bucket, decoded, source.version_id)  # keys in S3 events may be URL-encoded
        raise


@dataclass(frozen=True)
class Feedback:
    table: table.Table
    scope: str  # which labelled predictions were taken, and why


def errors_of(items: list[dict[str, Any]]) -> list[float]:
    """Each labelled prediction's error (1 - right for a classifier, |error| for a regressor; NaN when
    it cannot be scored): the series `changepoint.rise` reads."""
    out = []
    for item in items:
        try:
            s = quality.score(quality.problem_type_of(item), item.get("prediction"), item["label"], None)
        except (TypeError, ValueError):
            out.append(math.nan)
            continue
        out.append(1.0 - s.quality if s.quality is not None else float(s.abs_error))  # type: ignore[arg-type]
    return out


def since_the_rise(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], changepoint.Rise | None]:
    """The labelled predictions (newest first) from the most significant rise of their errors on
    (the new concept), or all of them and None when the errors did not rise. Pure."""
    ordered = items[::-1]  # oldest first
    scored = [(item, e) for item, e in zip(ordered, errors_of(ordered)) if not math.isnan(e)]
    found = changepoint.rise([e for _, e in scored])
    if found is None:
        return items, None
    start = scored[found.index][0]["created_at"]
    return [item for item in items if item["created_at"] >= start], found


def feedback_rows(stores: Stores, spec: ModelSpec, contract: DataContract | None, now: datetime) -> Feedback:
    """The labelled predictions the spec's retraining data policy takes, as CSV-like rows (features as
    served + the label). "window": the monitoring.retrain_rows newest. "feedback" and "all": among
    those, the ones from where the served errors rose (evergreen.monitoring.changepoint: the new
    concept alone, however many labels of the old one the log holds); when they did not rise (a
    shift of the inputs that did not hurt yet), the ones of the last monitoring.window_minutes.
    Every contract column is a column, even one no request sent."""
    policy = spec.monitoring
    recent = list(prediction_log.labelled(stores.predictions, spec.name, limit=policy.retrain_rows))
    if not recent:
        items, scope = [], "no labelled prediction yet"
    elif policy.retrain_data == "window":
        items, scope = recent, f"the {len(recent)} newest labelled predictions (at most {policy.retrain_rows})"
    else:
        items, found = since_the_rise(recent)
        if found is not None:
            scope = (f"the {len(items)} labelled predictions since {items[-1]['created_at']}, when the served "
                     f"errors rose from {found.before:.3g} to {found.after:.3g} (among the {len(recent)} newest)")
        else:
            since = (now - timedelta(minutes=policy.window_minutes)).isoformat(timespec="milliseconds")
            items = [item for item in recent if item["created_at"] >= since]
            scope = (f"the {len(items)} labelled predictions of the last {policy.window_minutes} min (the served "
                     f"errors did not rise among the {len(recent)} newest)")
    if len(items) < policy.min_labels:
        raise RetrainSkipped(f"{spec.name!r} has {scope.removeprefix('the ')}; a retrain needs at least "
                             f"{policy.min_labels} (monitoring.min_labels)")
    expected = contract.columns.numeric + contract.columns.categorical if contract else []
    names = sorted(({name for item in items for name in (item.get("features") or {})} | set(expected)) - {spec.target})
    rows = [[_cell((item.get("features") or {}).get(f)) for f in names] + [_cell(item["label"])] for item in items]
    # sorted: the same labels give the same dataset version, whatever the order they came in
    return Feedback(table.Table.from_rows([*names, spec.target], sorted(rows)), scope)


def text_columns(spec: ModelSpec, contract: DataContract | None) -> list[str]:
    """The columns an upload is read as text whatever they hold: categorical ones and class labels."""
    names = [*spec.features.categorical, *(contract.columns.categorical if contract else [])]
    return names + ([spec.target] if spec.problem_type == "classification" else [])


def read_source(stores: Stores, source: SourceObject, spec: ModelSpec, contract: DataContract | None) -> table.Table:
    return read_table(read_upload(stores, source), source=f"s3://{source.bucket}/{source.key}",
                      text_columns=text_columns(spec, contract))


def with_latest_upload(stores: Stores, spec: ModelSpec, contract: DataContract | None, rows: table.Table) -> table.Table:
    """The "all" policy: the model's latest accepted upload, then the feedback rows (columns aligned)."""
    latest = run_records.latest_accepted_upload(stores.experiments, spec.name)
    if latest is None:
        return rows
    return table.concat(read_source(stores, SourceObject.model_validate(latest), spec, contract), rows)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def load_contract(stores: Stores, model: str) -> DataContract | None:
    """The champion's data contract; None before a model's first promotion."""
    alias = registry.get_alias(stores.registry, model)
    if alias is None:
        return None
    key = alias.get("contract_key")
    if not key:  # a champion promoted before contracts were recorded: its columns are its contract
        return DataContract(version=int(alias.get("contract_version") or 1), columns=alias["columns"])
    try:
        return DataContract.model_validate(stores.get_json(stores.artifacts_bucket, key))
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        raise ChampionIntegrityError(
            f"the data contract of champion v{alias['version']} cannot be read: s3://{stores.artifacts_bucket}/{key} "
            f"({code}); restore it or move the champion alias to a verified version") from None


def write_quarantine(stores: Stores, key: str, rows: table.Table, rejected: list[tuple[int, str]]) -> None:
    """The rejected rows with why; `_row` is the row's line in the upload (numbers as the parser read them)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["_row", "_reason", *rows.header])
    cells = rows.rows(np.array([index for index, _ in rejected], dtype=np.intp))
    writer.writerows([index + 2, reason, *row] for (index, reason), row in zip(rejected, cells))
    stores.put_bytes(stores.artifacts_bucket, key, out.getvalue().encode("utf-8"), "text/csv")


def notices_of(plan: data_contract.Plan, report: dict[str, Any], fresh: dict[str, dict[str, Any]]) -> list[str]:
    notices = list(plan.notices)
    for name, info in report["invalid_cells"].items():
        if not any(n.startswith(f"column {name!r} is numeric:") for n in notices):
            notices.append(f"column {name!r}: {info['count']} of {info['present']} values {info['reason']} "
                           f"(e.g. {data.describe(info['examples'])}) and became missing")
    if report["dropped"]:
        notices.append(f"{report['dropped']} rows left out (quarantined): {report['dropped_missing_target']} "
                       f"without a target, {report['dropped_invalid_target']} with an invalid one")
    for name, info in fresh.items():
        notices.append(f"column {name!r}: {info['rows']} rows have values the contract has not seen "
                       f"(e.g. {data.describe(info['examples'])}); served like unseen categories")
    return notices[:MAX_NOTICES]


def hold_the_model(stores: Stores, run_id: str, trigger: str, model: str, spec: ModelSpec, now: datetime) -> None:
    """At most one run per model at a time, and no retrain on an alarm inside the cooldown: an upload
    waits for the model (RunInProgress: the state machine retries), an alarm's retrain is skipped
    (RetrainSkipped), each with its reason."""
    if trigger == "alarm":
        last = run_records.last_retrain(stores.experiments, model)
        cooldown = timedelta(minutes=spec.monitoring.cooldown_minutes)
        if last is not None and now - last < cooldown:
            raise RetrainSkipped(f"{model!r} was last retrained at {last.isoformat(timespec='seconds')}; "
                                 f"monitoring.cooldown_minutes ({spec.monitoring.cooldown_minutes}) allows the next "
                                 f"retrain from {(last + cooldown).isoformat(timespec='seconds')}")
    holder = run_records.acquire_lock(stores.experiments, model, run_id, now, LOCK_TTL)
    if holder is not None:
        if trigger == "alarm":
            raise RetrainSkipped(f"run {holder} of {model!r} is in progress; this alarm's retrain is skipped")
        raise RunInProgress(f"run {holder} of {model!r} is in progress; this run waits for it")


def run(inp: IngestInput, stores: Stores) -> RunContext:
    trigger, model, source = parse_trigger(inp.event)
    run_records.start(stores.experiments, inp.run_id, trigger, model, source.model_dump() if source else None)
    if source is not None:
        first = run_records.claim_source(stores.experiments, source.source_id, inp.run_id)
        if first is not None:
            raise DuplicateUpload(f"s3://{source.bucket}/{source.key} (version {source.version_id}) was already "
                                  f"ingested by run {first}: a repeated event, nothing to train")
    spec = load_spec(stores, model)
    now = datetime.now(UTC)
    hold_the_model(stores, inp.run_id, trigger, model, spec, now)

    contract = load_contract(stores, model)
    learned_from: list[str] = []
    if source is not None:
        name = f"s3://{source.bucket}/{source.key}"
        rows = read_source(stores, source, spec, contract)
    else:
        feedback = feedback_rows(stores, spec, contract, now)
        learned_from.append(f"learned from {feedback.scope}")
        name, rows = f"{feedback.scope} of {model!r}", feedback.table
        if spec.monitoring.retrain_data == "all":
            name = f"the latest upload and {name}"
            rows = with_latest_upload(stores, spec, contract, rows)
        run_records.mark_retrain(stores.experiments, model, inp.run_id, now)
    plan = data_contract.plan(rows, spec, contract)
    columns = data_contract.checkable(plan.schema, rows.header)
    if columns is None:
        raise DataError(f"{name} breaks data contract v{plan.version}: " + "; ".join(plan.differences))
    cleaned = data.build_frame(rows, columns)
    quarantine = None
    if cleaned.rejected:
        quarantine = quarantine_key(model, inp.run_id)
        write_quarantine(stores, quarantine, rows, cleaned.rejected)
    problems = data_contract.conformance(plan, cleaned.report, spec)
    if problems:
        against = f"breaks data contract v{plan.version}" if contract and not plan.changes else "cannot be used"
        raise DataError(f"{name} {against}: " + "; ".join(problems))
    frame, schema = cleaned.frame, plan.schema
    if frame.n_rows < spec.min_rows:
        raise DataError(f"only {frame.n_rows} usable rows; the spec requires at least {spec.min_rows}")
    train, validation, test = data.split_frame(
        frame, spec.split.validation, spec.split.test, spec.split.seed, classification=spec.problem_type == "classification"
    )
    if plan.previous != plan.version and spec.features.auto_drop:  # this run decides the contract's columns
        locked = contract.columns.numeric + contract.columns.categorical if contract else []
        keep = {*spec.features.numeric, *spec.features.categorical, *locked, *spec.promotion.slices,
                *spec.promotion.sensitive}
        reasons = feature_selection.left_out(train, schema, keep=keep,
                                             max_categories=spec.data.max_categories, upload_rows=cleaned.report["raw"])
        plan = data_contract.leaving_out(plan, contract, reasons)
        schema = plan.schema
    sliced = [c for c in (*spec.promotion.slices, *spec.promotion.sensitive) if c not in schema.numeric + schema.categorical]
    if sliced:
        raise DataError(f"promotion slices/sensitive columns {sliced} are not feature columns of the data "
                        f"(features: {schema.numeric + schema.categorical}); Evaluate groups test rows by features")

    arrays = {part: splits.arrays_of(subset, schema) for part, subset in zip(splits.PARTS, (train, validation, test))}
    version = splits.dataset_version(schema, arrays)
    prefix = dataset_prefix(model, version)
    keys = {part: splits.split_key(prefix, part) for part in splits.PARTS}
    for part in splits.PARTS:
        stores.put_bytes(stores.artifacts_bucket, keys[part], splits.to_bytes(arrays[part]))
    fresh = data_contract.new_categories(contract, frame)
    top = spec.data.max_categories
    vocabulary = {c: features.vocabulary(frame.columns[c].tolist(), top) for c in schema.categorical}
    profile_key = f"{prefix}profile.json"
    stores.put_json(stores.artifacts_bucket, profile_key, {
        "dataset_version": version, "source": source.model_dump() if source else {"feedback": True},
        "report": {**cleaned.report, "new_categories": fresh}, "columns": schema.model_dump(),
        "profile": profile(train, schema, top),
        "vocabulary": vocabulary,
        "open_vocabulary": [c for c in schema.categorical if len(set(frame.columns[c].tolist()) - {""}) > top],
    })
    width = len(schema.numeric) + sum(len(v) for v in vocabulary.values())  # the model matrix's columns
    shares = data.class_shares(train) if spec.problem_type == "classification" else None
    if spec.primary_metric is None:
        spec = search.resolved_spec(spec, schema, shares)
        learned_from.append(f"primary_metric: {spec.primary_metric}, chosen from the data (the spec names none)"
                            + (f"; the rarest class holds {min(shares.values()):.1%} of the training rows" if shares else ""))
    report = cleaned.report
    rows_ = {"train": train.n_rows, "validation": validation.n_rows, "test": test.n_rows,
             "raw": report["raw"], "dropped": report["dropped"]}
    if shares:  # the rarest class's rows in train + validation (SearchSpec.folds)
        targets = np.concatenate([train.target, validation.target]).astype(str)
        rows_["rarest_class"] = min(data.class_counts(targets, list(shares)).values())
    space = search.candidate_space(spec, train.n_rows, shares)
    folds = spec.search.folds(rows_)
    if folds:
        both, search_ = rows_["train"] + rows_["validation"], spec.search
        why = (f"at most search.cv_max_rows={search_.cv_max_rows:,}" if both <= search_.cv_max_rows else
               f"its rarest class has {rows_['rarest_class']:,} of them, under search.cv_min_class_rows="
               f"{search_.cv_min_class_rows:,}")
        learned_from.append(f"trials are scored by {folds}-fold cross-validation on train + validation "
                            f"({both:,} rows, {why}); the winner is fitted on them all")
    refit_rows = spec.search.search_rows(rows_)
    refit = sagemaker_refit.plan(refit_rows, width, {c.family for c in space}, refit_memory_mb(), spec.compute)
    if refit.runner == "sagemaker":
        learned_from.append(f"the winner's fit on all {refit_rows:,} rows runs as a SageMaker training job: "
                            f"{refit.reason}")
    return RunContext(
        run_id=inp.run_id,
        model_name=model,
        trigger=trigger,
        source=source,
        spec=spec,
        dataset=DatasetRef(version=version, bucket=stores.artifacts_bucket, train_key=keys["train"],
                           validation_key=keys["validation"], test_key=keys["test"], profile_key=profile_key,
                           rows=rows_, columns=schema, quarantine_key=quarantine),
        contract=ContractInfo(version=plan.version, previous=plan.previous, changes=plan.changes,
                              breaking=plan.breaking, notices=learned_from + notices_of(plan, report, fresh)),
        # the first rung's configurations go to S3, where TrainRung's Distributed Map reads them
        search=next_rung.write_rung(stores, model, inp.run_id, search.plan(spec, space, spec.search.search_rows(rows_), now,
                                                                               min(shares.values()) if shares else None)),
        refit=refit,
    )


def refit_memory_mb() -> int:
    """RefitFunction's memory (the template passes TrainMemorySize as REFIT_MEMORY_MB; 6144 is its default)."""
    return int(os.environ.get("REFIT_MEMORY_MB", "6144"))
