"""`evergreen upload FILE --model M [--spec S]`: put a CSV where it starts a run, and find that run.

With ``--spec`` the spec is validated here first (evergreen.spec.parse_spec, as Ingest will) and put
at ``specs/<M>.yaml`` in the data bucket, the key Ingest reads first; without it, the model must
already have a spec there. The CSV goes to ``uploads/<M>/<file name>``; S3 -> EventBridge starts the
pipeline, and the run started for this object version (its event names the key and version id, or
ETag) is waited for, so `evergreen watch` that follows watches it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from evergreen_cli import output, runs
from evergreen_cli.output import CliError, JsonFlag
from evergreen_cli.target import Target, target_of
from evergreen.spec import NAME_RE, SpecError, parse_spec
from evergreen.storage import UPLOAD_PREFIX, spec_keys


def put_spec(target: Target, model: str, spec: Path) -> str:
    try:
        parsed = parse_spec(spec.read_bytes(), source=str(spec))
    except SpecError as exc:
        raise CliError(f"the spec is refused: {exc}") from None
    if parsed.name != model:
        raise CliError(f"{spec} names model {parsed.name!r}, not {model!r}: its name must be the model's")
    key = spec_keys(model)[0]
    target.client("s3").put_object(Bucket=target.output("DataBucketName"), Key=key, Body=spec.read_bytes())
    return key


def existing_spec(target: Target, model: str) -> str:
    from botocore.exceptions import ClientError

    bucket = target.output("DataBucketName")
    for key in spec_keys(model):
        try:
            target.client("s3").head_object(Bucket=bucket, Key=key)
            return key
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                raise
    raise CliError(f"model {model!r} has no spec at s3://{bucket}/{spec_keys(model)[0]}: give one with --spec FILE")


def started_by(execution_input: dict[str, Any], bucket: str, key: str, version_id: str | None, etag: str) -> bool:
    """Whether an execution's input is the S3 event of this object version."""
    detail = execution_input.get("detail") or {}
    obj = detail.get("object") or {}
    if (detail.get("bucket") or {}).get("name") != bucket or obj.get("key") != key:
        return False
    if version_id and obj.get("version-id") not in (None, "null"):
        return obj.get("version-id") == version_id
    return obj.get("etag", "").strip('"') == etag.strip('"')


def find_run(target: Target, bucket: str, key: str, version_id: str | None, etag: str, since: datetime,
             wait: float) -> dict[str, Any] | None:
    """The execution the upload started, polling for up to `wait` seconds (events are asynchronous)."""
    sfn = target.client("stepfunctions")
    seen: set[str] = set()
    deadline = time.monotonic() + wait
    while True:
        for execution in runs.executions(target, 20):
            if execution["executionArn"] in seen or execution["startDate"] < since:
                continue
            seen.add(execution["executionArn"])
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if started_by(json.loads(described.get("input") or "{}"), bucket, key, version_id, etag):
                return execution
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)


def upload(ctx: typer.Context,
           file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV to train on.")],
           model: Annotated[str, typer.Option("--model", "-m", help="The model it trains (its uploads/<model>/ folder).")],
           spec: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, readable=True,
                                                     help="The model's spec (YAML or JSON), validated, then put at specs/<model>.yaml.")] = None,
           wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for the run the upload starts (0: do not wait).")] = 60.0,
           json_: JsonFlag = False) -> None:
    """Upload a CSV (and the model's spec): it starts a pipeline run, whose id is printed."""
    if not NAME_RE.match(model):
        raise CliError(f"{model!r} is not a model name ({NAME_RE.pattern})")
    target = target_of(ctx)
    spec_key = put_spec(target, model, spec) if spec else existing_spec(target, model)
    bucket, key = target.output("DataBucketName"), f"{UPLOAD_PREFIX}{model}/{file.name}"
    s3 = target.client("s3")
    since = datetime.now(UTC) - timedelta(seconds=5)  # clocks differ a little
    s3.upload_file(str(file), bucket, key)
    head = s3.head_object(Bucket=bucket, Key=key)
    version_id = head.get("VersionId")
    found = find_run(target, bucket, key, version_id, head["ETag"], since, wait) if wait else None
    result = {"bucket": bucket, "key": key, "version_id": version_id, "etag": head["ETag"].strip('"'),
              "spec_key": spec_key, "run_id": found["name"] if found else None,
              "execution_arn": found["executionArn"] if found else None}
    if json_:
        output.emit_json(result)
    else:
        out = output.console()
        out.print(f"uploaded {escape(file.name)} to s3://{escape(bucket)}/{escape(key)} (spec s3://{escape(bucket)}/{escape(spec_key)})")
        if found:
            out.print(f"run {escape(found['name'])} started: evergreen watch {escape(found['name'])}")
    if wait and not found:
        raise CliError(f"uploaded s3://{bucket}/{key}, but no run started for it within {wait:g} s "
                       "(is the bucket's EventBridge notification on? `evergreen runs` lists the runs)")
