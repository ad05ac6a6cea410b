"""Typed contracts between the batch-scoring steps (statemachines/batch_scoring.asl.json).

The execution's state has these slots::

    {<the S3 Object Created event>, "plan": BatchPlan, "chunks": [ChunkResult], "summary": BatchSummary,
     "error": {"Error", "Cause"}, "outcome": BatchFailureResult}

Plan writes the chunk manifest ([ChunkRef], JSON) to S3; the Distributed Map reads it from there
(ItemReader) and gives each child execution {"plan", "chunk"}. Only keys, offsets and counts travel
between states. tests/unit/test_batch_asl.py checks the ASL against these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evergreen.contracts import SourceObject


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchPlanInput(_Model):
    batch_id: str  # the execution name
    event: dict[str, Any]  # the EventBridge "Object Created" event of the upload under score/<model>/


class BatchPlan(_Model):
    """Output of Plan: what every later step needs to find the rows, the model and the outputs."""

    batch_id: str
    model_name: str
    name: str  # the upload's name under score/<model>/
    source: SourceObject  # the upload, with the version every ranged read uses
    champion_version: int  # pinned: every chunk is scored by this version, even if a promotion happens meanwhile
    delimiter: str
    data_start: int  # byte offset of the first line after the header
    quoted: bool  # the data holds double quotes: one chunk, read with the csv module
    chunk_rows: int  # lines per chunk (the last may have fewer)
    chunks: int
    work_bucket: str  # the artifacts bucket
    work_prefix: str  # batch/<model>/<batch_id>/: the manifest and the chunks' parts
    manifest_key: str
    output_bucket: str  # the data bucket
    output_prefix: str  # scored/<model>/<name>/
    prediction_header: list[str]  # the columns of predictions.csv


class ChunkRef(_Model):
    """One item of the manifest: the upload's bytes [start, end), whose first line is `first_line`."""

    index: int
    start: int
    end: int
    first_line: int


class ScoreChunkInput(_Model):
    plan: BatchPlan
    chunk: ChunkRef


class ChunkResult(_Model):
    """Output of one ScoreChunk: counts and the byte sizes of its two parts (0: not written)."""

    index: int
    scored: int
    rejected: int
    predictions_bytes: int
    rejected_bytes: int


class CombineInput(_Model):
    plan: BatchPlan
    chunks: list[ChunkResult | None]  # in manifest order; None: that chunk's child execution failed
    started_at: str  # the execution's start ($$.Execution.StartTime), for the summary's seconds


class BatchSummary(_Model):
    """summary.json, beside predictions.csv and rejected.csv; also Combine's output."""

    batch_id: str
    model: str
    version: int
    source: SourceObject
    rows: int  # data rows (blank lines are not rows) = scored + rejected
    scored: int
    rejected: int
    chunks: int
    seconds: float  # from the execution's start to the end of Combine
    predictions_key: str
    rejected_key: str
    finished_at: str


class BatchFailureInput(_Model):
    batch_id: str
    state: dict[str, Any] = Field(default_factory=dict)  # the whole execution state, with its "error" slot


class BatchFailureResult(_Model):
    batch_id: str
    model_name: str | None
    reason: str  # "<Error>: <message>" without a stack trace: the execution's cause
    error_key: str | None  # scored/<model>/<name>/error.json, when the upload's key names a model and a file
