"""Plan a batch: check an upload under score/<model>/ against the champion and cut it into chunks.

The trigger is S3 "Object Created" under score/<model>/<name> in the data bucket (via EventBridge).
Folder markers, empty objects and hidden or marker files end the execution SKIPPED (IgnoredUpload,
as for training uploads); so does a repeated event for an object version already scored
(AlreadyScored: its summary.json names that version). Then:

  - the champion alias is read once and its version pinned for every chunk (NoChampion without one);
  - the header (csvfile.read_header: delimiter, names) must hold every column of the champion's
    schema: a DataError names the missing ones (extra columns are left out);
  - the upload is streamed once, block by block, and cut every `chunk_rows` lines
    (evergreen.batch.ChunkPlanner); the chunks go to a manifest in the artifacts bucket, which the
    Distributed Map reads.
Nothing is read whole: memory is one block, whatever the upload's size.
"""

from __future__ import annotations

import json

from typing import Any
from urllib.parse import unquote_plus

import numpy as np
from botocore.exceptions import ClientError

from evergreen import batch, registry, storage
from evergreen.batch_contracts import BatchPlan, BatchPlanInput, ChunkRef
from evergreen.contracts import SourceObject
from evergreen.csvfile import HEAD_BYTES, read_header
from evergreen.errors import DataError
from evergreen.steps import batch_files
from evergreen.triggers import IgnoredUpload, TriggerError, not_data
from evergreen.storage import Stores

SNIFF_BYTES = 64 * 1024  # the header and the rows the delimiter is sniffed on (csvfile sniffs the first 200)
BLOCK_BYTES = 16 * 1024 * 1024  # bytes streamed at once while cutting


class NoChampion(Exception):
    """The model has no champion yet: there is nothing to score with."""


class AlreadyScored(Exception):
    """This object version was already scored (a repeated S3 event)."""


def parse_trigger(event: dict[str, Any], data_bucket: str) -> SourceObject:
    """The upload an "Object Created" event under score/ names; IgnoredUpload when it is not data."""
    if event.get("detail-type") != "Object Created":
        raise TriggerError(f"batch scoring starts on S3 'Object Created' events, not {event.get('detail-type')!r}")
    detail = event.get("detail") or {}
    bucket, obj = (detail.get("bucket") or {}).get("name"), detail.get("object") or {}
    key = obj.get("key")
    if not bucket or not key:
        raise TriggerError("S3 event without detail.bucket.name / detail.object.key")
    if bucket != data_bucket:
        raise TriggerError(f"s3://{bucket}/{key} is not in the data bucket {data_bucket}")
    why = not_data(key, obj.get("size"))
    if why:
        raise IgnoredUpload(f"s3://{bucket}/{key} is {why}, not data: ignored")
    return SourceObject(bucket=bucket, key=key, version_id=obj.get("version-id"),
                        etag=obj.get("etag") or obj.get("eTag"))


def resolve(s3: Any, source: SourceObject) -> tuple[SourceObject, int]:
    """The upload as stored (keys in S3 events may be URL-encoded) and its size in bytes."""
    extra = {"VersionId": source.version_id} if source.version_id else {}
    try:
        head = s3.head_object(Bucket=source.bucket, Key=source.key, **extra)
    except ClientError as exc:
        decoded = unquote_plus(source.key)
        if not storage.is_missing(exc) or decoded == source.key:
            raise
        source = source.model_copy(update={"key": decoded})
        head = s3.head_object(Bucket=source.bucket, Key=source.key, **extra)
    return source, int(head["ContentLength"])


def check_not_scored(stores: Stores, source: SourceObject, output_prefix: str) -> None:
    """AlreadyScored when the summary.json beside the outputs is of this very object version."""
    if not source.version_id:
        return  # an unversioned bucket cannot tell a repeated event from a new upload
    key = f"{output_prefix}summary.json"
    raw = stores.get_bytes_or_none(stores.data_bucket, key)
    if raw is None:
        return
    previous = json.loads(raw)
    seen = previous.get("source") or {}
    if seen.get("version_id") == source.version_id and seen.get("key") == source.key:
        raise AlreadyScored(f"s3://{source.bucket}/{source.key} version {source.version_id} was already scored "
                            f"by batch {previous.get('batch_id')}: see s3://{stores.data_bucket}/{key}")


def header_text(head: bytes) -> bytes:
    """What the header is read and the delimiter sniffed from: the lines in the first SNIFF_BYTES when
    they are UTF-8 text without NUL bytes, else the header line alone (csvfile.read_header refuses the
    whole file for such bytes; here a bad row is rejected by its chunk, not fatal)."""
    window = head[:SNIFF_BYTES]
    window = window[:window.rfind(b"\n") + 1 or len(window)]
    if b"\x00" not in window and batch.is_utf8(window):
        return window
    start = 0
    for end in np.flatnonzero(np.frombuffer(head, dtype=np.uint8) == batch.LF).tolist():
        if head[start:end].strip():  # the first line that is not blank
            return head[:end + 1]
        start = end + 1
    return head


def run(inp: BatchPlanInput, stores: Stores, chunk_rows: int) -> BatchPlan:
    source, size = resolve(stores.s3, parse_trigger(inp.event, stores.data_bucket))
    where = storage.model_and_name(source.key)
    if where is None:
        raise TriggerError(f"s3://{source.bucket}/{source.key} is not under score/<model>/<file>")
    model, name = where
    uri = f"s3://{source.bucket}/{source.key}"
    output_prefix = storage.output_prefix(model, name)
    check_not_scored(stores, source, output_prefix)

    alias = registry.get_alias(stores.registry, model)
    if alias is None:
        raise NoChampion(f"{uri}: model {model!r} has no champion yet, so there is nothing to score with "
                         f"(a CSV under uploads/{model}/ trains one)")
    columns = alias.get("columns") or {}
    wanted = [*(columns.get("numeric") or []), *(columns.get("categorical") or [])]
    classes = columns.get("classes") if columns.get("problem_type") == "classification" else None

    head = batch_files.read_range(stores.s3, source, 0, min(size, HEAD_BYTES))
    delimiter, line, names = read_header(header_text(head), source=uri)
    missing = [column for column in wanted if column not in names]
    if missing:
        raise DataError(f"{uri}: the header lacks {len(missing)} of the columns champion v{alias['version']} of "
                        f"{model!r} scores with: {missing} (the header has {names[:30]})")
    start = batch.data_start(head, line)
    if start is None and size > len(head):
        raise DataError(f"{uri}: no line break in the first {HEAD_BYTES:,} bytes after the header (line {line})")
    if start is None or start >= size:
        raise DataError(f"{uri}: the header (line {line}) has no data rows under it")

    planner = batch.ChunkPlanner(start, line + 1, chunk_rows)
    for block in batch_files.read_blocks(stores.s3, source, start, BLOCK_BYTES):
        planner.feed(block)
    chunks = planner.chunks()
    work = storage.work_prefix(model, inp.batch_id)
    manifest = storage.manifest_key(work)
    stores.put_json(stores.artifacts_bucket, manifest,
                    [ChunkRef(index=c.index, start=c.start, end=c.end, first_line=c.first_line).model_dump()
                     for c in chunks])
    return BatchPlan(
        batch_id=inp.batch_id, model_name=model, name=name, source=source, champion_version=int(alias["version"]),
        delimiter=delimiter, data_start=start, quoted=planner.quoted, chunk_rows=planner.chunk_rows,
        chunks=len(chunks), work_bucket=stores.artifacts_bucket, work_prefix=work, manifest_key=manifest,
        output_bucket=stores.data_bucket, output_prefix=output_prefix,
        prediction_header=batch.prediction_header(classes),
    )
