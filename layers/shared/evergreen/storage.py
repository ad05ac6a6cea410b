"""Where things live, and the thin I/O every step uses. Domain modules never touch AWS.

Data bucket (versioned; raw uploads are never overwritten or deleted by Evergreen):
    uploads/<model>/<anything>          a new object here starts a run (S3 -> EventBridge -> Step Functions)
    specs/<model>.yaml | .json          the model spec
    score/<model>/<name>                a new object here is batch-scored by the champion (evergreen.batch)
    scored/<model>/<name>/              its predictions.csv, rejected.csv, summary.json (or error.json)
Artifacts bucket:
    datasets/<model>/<dataset_version>/{train,validation,test}.npz, profile.json   (evergreen.splits)
    runs/<model>/<run_id>/candidates/<candidate_id>/pipeline.joblib     written by train (on the search sample)
    runs/<model>/<run_id>/search/rung-<rung:03d>.json                    a rung's candidate configurations (JSON
                                                                        array), by ingest and next_rung; TrainRung's
                                                                        Distributed Map reads it (ItemReader)
    runs/<model>/<run_id>/refit/pipeline.joblib                         the winner on all training rows, by refit
    runs/<model>/<run_id>/sagemaker/<job>/output/model.tar.gz           that fit when a SageMaker training job ran it
    sagemaker/code/<sha256>/sourcedir.tar.gz                            the training job's program (evergreen.sagemaker_refit)
    runs/<model>/<run_id>/export/model.onnx                             written by export
    models/<model>/v<version:06d>/{model.onnx,card.json,card.html}     written by promote only
    models/<model>/contracts/v<contract version:06d>.json              the data contract, by promote
    quarantine/<model>/<run_id>/rows.csv                                rows ingest left out, with why
    batch/<model>/<batch_id>/                                           a batch's manifest and chunk parts, while it runs
DynamoDB:
    RegistryTable     pk model_name, sk "version#<6 digits>" | "alias#champion" | "counter"
    ExperimentsTable  pk run_id, sk "run" | "trial#<trial id>" | "crash#<rung>#<candidate id>"; GSI ByModel
                      (model_name, started_at)
    PredictionsTable  pk prediction_id; GSI ByModel (model_name, created_at); TTL expires_at
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

import boto3
from botocore.exceptions import ClientError

UPLOAD_PREFIX = "uploads/"
SPEC_PREFIX = "specs/"
SCORE_PREFIX = "score/"  # uploads to score: score/<model>/<name>, in the data bucket
SCORED_PREFIX = "scored/"  # results: scored/<model>/<name>/{predictions.csv,rejected.csv,summary.json,error.json}
WORK_PREFIX = "batch/"  # a batch's working files, in the artifacts bucket: batch/<model>/<batch id>/


def model_from_upload_key(key: str) -> str | None:
    """uploads/<model>/<file> -> <model>; None when the key is not a model upload."""
    if not key.startswith(UPLOAD_PREFIX):
        return None
    parts = key[len(UPLOAD_PREFIX):].split("/", 1)
    return parts[0] if len(parts) == 2 and parts[0] and parts[1] else None


def spec_keys(model: str) -> list[str]:
    return [f"{SPEC_PREFIX}{model}.yaml", f"{SPEC_PREFIX}{model}.yml", f"{SPEC_PREFIX}{model}.json"]


def dataset_prefix(model: str, version: str) -> str:
    return f"datasets/{model}/{version}/"


def candidate_key(model: str, run_id: str, candidate_id: str) -> str:
    return f"runs/{model}/{run_id}/candidates/{candidate_id}/pipeline.joblib"


def rung_items_key(model: str, run_id: str, rung: int) -> str:
    """A search rung's candidate configurations, the items TrainRung's Distributed Map reads from S3."""
    return f"runs/{model}/{run_id}/search/rung-{rung:03d}.json"


def refit_key(model: str, run_id: str) -> str:
    return f"runs/{model}/{run_id}/refit/pipeline.joblib"


def sagemaker_output_prefix(model: str, run_id: str) -> str:
    return f"runs/{model}/{run_id}/sagemaker/"


def sagemaker_code_key(digest: str) -> str:
    return f"sagemaker/code/{digest}/sourcedir.tar.gz"


def export_key(model: str, run_id: str) -> str:
    return f"runs/{model}/{run_id}/export/model.onnx"


def quarantine_key(model: str, run_id: str) -> str:
    return f"quarantine/{model}/{run_id}/rows.csv"


def contract_key(model: str, version: int) -> str:
    return f"models/{model}/contracts/v{version:06d}.json"


def model_key(model: str, version: int) -> str:
    return f"models/{model}/v{version:06d}/model.onnx"


def card_key(model: str, version: int) -> str:
    return f"models/{model}/v{version:06d}/card.json"


def card_html_key(model: str, version: int) -> str:
    """The model card as one self-contained HTML page (evergreen.card_html), beside its JSON."""
    return f"models/{model}/v{version:06d}/card.html"


# --- batch scoring (evergreen.batch) ---------------------------------------------------------


def model_and_name(key: str) -> tuple[str, str] | None:
    """score/<model>/<name> -> (model, name); None when the key is not a file to score. <name> may
    hold folders (score/demo/2026/jan.csv -> ("demo", "2026/jan.csv"))."""
    if not key.startswith(SCORE_PREFIX):
        return None
    model, _, name = key[len(SCORE_PREFIX):].partition("/")
    return (model, name) if model and name and not name.endswith("/") else None


def output_prefix(model: str, name: str) -> str:
    return f"{SCORED_PREFIX}{model}/{name}/"


def work_prefix(model: str, batch_id: str) -> str:
    return f"{WORK_PREFIX}{model}/{batch_id}/"


def manifest_key(work: str) -> str:
    return f"{work}manifest.json"


def part_key(work: str, index: int, kind: str) -> str:
    """A chunk's part of predictions.csv or rejected.csv (`kind`), without the header."""
    return f"{work}parts/{index:06d}.{kind}.csv"


# S3 says "no such object" as NoSuchKey (GET), 404/NotFound (HEAD), or 403/AccessDenied to a caller that
# may not list the bucket (every Evergreen function: IAM is scoped to key prefixes)
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound", "403", "AccessDenied"})


def is_missing(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] in MISSING_CODES


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_AS_IS = frozenset({str, int, bool, type(None)})
_CONSTANT_KEYS = {True: "true", False: "false", None: "null"}


def to_dynamo(value: Any) -> Any:
    """A JSON-like value as DynamoDB takes it: what a JSON round trip (json.dumps(default=str), then
    json.loads reading floats as Decimal) gives, without the text. A float becomes the Decimal of its
    repr (NaN and ±inf: None), a tuple a list, a dict key its JSON text (1 -> "1", None -> "null"), a
    subclass of str, int or float its plain value, anything else (numpy scalars but float64, Decimal,
    datetime) its str()."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    if kind is dict:  # str, int, bool, None and float values are converted in place, without a call per value
        return {key if type(key) is str else _key(key):
                item if (item_type := type(item)) in _AS_IS else
                (Decimal(repr(item)) if math.isfinite(item) else None) if item_type is float else to_dynamo(item)
                for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _AS_IS else to_dynamo(item) for item in value]
    return _not_exactly_json(value)


def _not_exactly_json(value: Any) -> Any:
    """to_dynamo of a value whose type is not exactly one of JSON's, as json's encoder sees it."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return to_dynamo(float.__float__(value))
    if isinstance(value, (list, tuple)):
        return to_dynamo(list(value))
    if isinstance(value, dict):
        return to_dynamo(dict(value.items()))
    return str(value)


def _key(key: Any) -> str:
    """A dict key as json.dumps writes it; TypeError, as json.dumps, for a key JSON cannot have."""
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, float):
        if math.isfinite(key):
            return float.__repr__(key)
        return "NaN" if math.isnan(key) else "Infinity" if key > 0 else "-Infinity"
    if key is True or key is False or key is None:
        return _CONSTANT_KEYS[key]
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


@dataclass
class Stores:
    """Bucket and table names plus lazily made clients. `Stores.from_env()` in a handler."""

    data_bucket: str
    artifacts_bucket: str
    registry_table: str
    experiments_table: str
    predictions_table: str

    @classmethod
    def from_env(cls) -> Stores:
        env = os.environ
        return cls(
            data_bucket=env["DATA_BUCKET"],
            artifacts_bucket=env["ARTIFACTS_BUCKET"],
            registry_table=env["REGISTRY_TABLE"],
            experiments_table=env["EXPERIMENTS_TABLE"],
            predictions_table=env["PREDICTIONS_TABLE"],
        )

    @cached_property
    def s3(self):
        return boto3.client("s3")

    @cached_property
    def _dynamodb(self):
        return boto3.resource("dynamodb")

    @cached_property
    def registry(self):
        return self._dynamodb.Table(self.registry_table)

    @cached_property
    def experiments(self):
        return self._dynamodb.Table(self.experiments_table)

    @cached_property
    def predictions(self):
        return self._dynamodb.Table(self.predictions_table)

    # --- S3 helpers -------------------------------------------------------------------------
    def get_bytes(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        extra = {"VersionId": version_id} if version_id else {}
        return self.s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()

    def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def get_json(self, bucket: str, key: str) -> Any:
        return json.loads(self.get_bytes(bucket, key))

    def get_bytes_or_none(self, bucket: str, key: str) -> bytes | None:
        """The object, or None when there is none (see MISSING_CODES)."""
        try:
            return self.get_bytes(bucket, key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return False
            raise
        return True

    def put_json(self, bucket: str, key: str, value: Any) -> None:
        self.put_bytes(bucket, key, json.dumps(value, indent=1, sort_keys=True, default=str).encode(), "application/json")
