"""Combine a batch: the chunks' parts, in order, into predictions.csv and rejected.csv beside each other
under scored/<model>/<name>/, then summary.json, then remove the working files.

Concatenation is evergreen.steps.batch_files.concatenate: parts of 5 MiB or more are copied inside S3
(multipart UploadPartCopy), smaller ones are read and merged into parts of 5 MiB. summary.json is
written last, so its presence says both CSV files are complete; an error.json an earlier failed
batch left for the same name is removed.
"""

from __future__ import annotations

from datetime import UTC, datetime


from evergreen import batch, storage
from evergreen.batch_contracts import BatchSummary, CombineInput
from evergreen.steps import batch_files
from evergreen.storage import Stores


class ChunkFailed(Exception):
    """A chunk has no result: its child execution failed, so the batch would miss its rows."""


def run(inp: CombineInput, stores: Stores, now: datetime | None = None) -> BatchSummary:
    plan = inp.plan
    failed = [i for i, r in enumerate(inp.chunks) if r is None]
    if failed:  # AWS fails the Map itself (no tolerated failures); moto's Distributed Map gives a null result
        raise ChunkFailed(f"batch {plan.batch_id}: {len(failed)} of {plan.chunks} chunks failed (chunks "
                          f"{failed[:20]}); their child executions of the ScoreChunks map run hold the errors; "
                          "nothing was combined")
    results = sorted((r for r in inp.chunks if r is not None), key=lambda r: r.index)
    if [r.index for r in results] != list(range(plan.chunks)):
        raise RuntimeError(f"batch {plan.batch_id}: {len(results)} chunk results for {plan.chunks} chunks")
    outputs = {}
    for kind, header in (("predictions", plan.prediction_header), ("rejected", batch.REJECTED_HEADER)):
        parts = [batch_files.Part(plan.work_bucket, storage.part_key(plan.work_prefix, r.index, kind),
                                  r.predictions_bytes if kind == "predictions" else r.rejected_bytes)
                 for r in results]
        outputs[kind] = f"{plan.output_prefix}{kind}.csv"
        batch_files.concatenate(stores.s3, parts, bucket=plan.output_bucket, key=outputs[kind],
                                head=batch.csv_line(header))
    finished = now or datetime.now(UTC)
    scored, rejected = sum(r.scored for r in results), sum(r.rejected for r in results)
    summary = BatchSummary(
        batch_id=plan.batch_id, model=plan.model_name, version=plan.champion_version, source=plan.source,
        rows=scored + rejected, scored=scored, rejected=rejected, chunks=plan.chunks,
        seconds=round((finished - datetime.fromisoformat(inp.started_at)).total_seconds(), 3),
        predictions_key=outputs["predictions"], rejected_key=outputs["rejected"],
        finished_at=finished.isoformat(timespec="milliseconds"))
    stores.put_json(plan.output_bucket, f"{plan.output_prefix}summary.json", summary.model_dump(mode="json"))
    remove_stale_error(stores, plan.output_bucket, f"{plan.output_prefix}error.json")
    batch_files.delete_prefix(stores.s3, plan.work_bucket, plan.work_prefix)
    return summary


def remove_stale_error(stores: Stores, bucket: str, key: str) -> None:
    """Delete the error.json of an earlier failed batch of the same name, if there is one."""
    if stores.exists(bucket, key):
        stores.s3.delete_object(Bucket=bucket, Key=key)
