"""S3 I/O the batch-scoring steps share: ranged reads of an upload, concatenating parts into one object,
and removing a batch's working files with every version (the buckets are versioned)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from evergreen.contracts import SourceObject

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's smallest multipart part but the last
DELETE_BATCH = 1000  # keys per DeleteObjects call (S3's limit)


def read_range(s3: Any, source: SourceObject, start: int, end: int) -> bytes:
    """The bytes [start, end) of the upload's version; b"" for an empty range."""
    if end <= start:
        return b""
    extra = {"VersionId": source.version_id} if source.version_id else {}
    return s3.get_object(Bucket=source.bucket, Key=source.key, Range=f"bytes={start}-{end - 1}", **extra)["Body"].read()


def read_blocks(s3: Any, source: SourceObject, start: int, block_bytes: int) -> Iterator[bytes]:
    """The upload's version from `start` to its end, streamed in blocks of `block_bytes` (the last
    may be shorter): memory stays one block, whatever the file's size."""
    extra = {"VersionId": source.version_id} if source.version_id else {}
    body = s3.get_object(Bucket=source.bucket, Key=source.key, Range=f"bytes={start}-", **extra)["Body"]
    while block := body.read(block_bytes):
        yield block


@dataclass(frozen=True)
class Part:
    bucket: str
    key: str
    size: int


def concatenate(s3: Any, parts: Sequence[Part], *, bucket: str, key: str, head: bytes = b"",
                content_type: str = "text/csv") -> int:
    """Write `head` then every part, in order, as one object; returns its size in bytes.

    Under MIN_PART_BYTES in all: one PutObject. Otherwise a multipart upload: a part of at least
    MIN_PART_BYTES met with nothing buffered is copied inside S3 (UploadPartCopy: its bytes never
    pass through this function); the others are read and buffered until the buffer reaches
    MIN_PART_BYTES, then uploaded as one part (the last part may be smaller, as S3 allows). Memory
    stays under two parts. A failed upload is aborted, so no invisible parts are left to pay for.
    """
    total = len(head) + sum(p.size for p in parts)
    if total < MIN_PART_BYTES:
        body = head + b"".join(_read(s3, p) for p in parts if p.size)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        return len(body)
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]
    done: list[dict[str, Any]] = []
    try:
        buffer = bytearray(head)
        for part in parts:
            if not part.size:
                continue
            number = len(done) + 1
            if not buffer and part.size >= MIN_PART_BYTES:
                copied = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number,
                                             CopySource={"Bucket": part.bucket, "Key": part.key})
                done.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
                continue
            buffer += _read(s3, part)
            if len(buffer) >= MIN_PART_BYTES:
                done.append(_upload(s3, bucket, key, upload, number, buffer))
                buffer = bytearray()
        if buffer:
            done.append(_upload(s3, bucket, key, upload, len(done) + 1, buffer))
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done})
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
        raise
    return total


def _read(s3: Any, part: Part) -> bytes:
    body = s3.get_object(Bucket=part.bucket, Key=part.key)["Body"].read()
    if len(body) != part.size:
        raise RuntimeError(f"s3://{part.bucket}/{part.key} has {len(body)} bytes, its chunk wrote {part.size}")
    return body


def _upload(s3: Any, bucket: str, key: str, upload: str, number: int, data: bytearray) -> dict[str, Any]:
    answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=bytes(data))
    return {"PartNumber": number, "ETag": answer["ETag"]}


def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every version and delete marker under `prefix` (a versioned bucket keeps deleted objects
    as versions otherwise); returns how many were deleted. Listed in full first, then deleted."""
    found = [{"Key": item["Key"], "VersionId": item["VersionId"]}
             for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
             for item in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    return sum(_delete(s3, bucket, found[i:i + DELETE_BATCH]) for i in range(0, len(found), DELETE_BATCH))


def _delete(s3: Any, bucket: str, objects: list[dict[str, str]]) -> int:
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    errors = answer.get("Errors") or []
    if errors:
        first = errors[0]
        raise RuntimeError(f"could not delete {len(errors)} of {len(objects)} objects from s3://{bucket}: "
                           f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}")
    return len(objects)
