"""Where things live, and the thin I/O every step uses. Domain modules never touch AWS.

Data bucket (versioned; raw uploads are never overwritten or deleted by Evergreen):
    uploads/<model>/<anything>          a new object here starts a run (S3 -> EventBridge -> Step Functions)
    specs/<model>.yaml | .json          the model spec
Artifacts bucket:
    datasets/<model>/<dataset_version>/{train,validation,test}.csv, profile.json
    runs/<model>/<run_id>/candidates/<candidate_id>/pipeline.joblib     written by train
    runs/<model>/<run_id>/export/model.onnx                             written by export
    models/<model>/v<version:06d>/{model.onnx,card.json}               written by promote only
    models/<model>/contracts/v<contract version:06d>.json              the data contract, by promote
    quarantine/<model>/<run_id>/rows.csv                                rows ingest left out, with why
DynamoDB:
    RegistryTable     pk model_name, sk "version#<6 digits>" | "alias#champion" | "counter"
    ExperimentsTable  pk run_id, sk "run" | "trial#<candidate_id>"; GSI ByModel (model_name, started_at)
    PredictionsTable  pk prediction_id; GSI ByModel (model_name, created_at); TTL expires_at
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

import boto3

UPLOAD_PREFIX = "uploads/"
SPEC_PREFIX = "specs/"


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


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def to_dynamo(value: Any) -> Any:
    """JSON-ish value -> DynamoDB-safe (floats become Decimal; NaN/inf become None)."""
    return json.loads(json.dumps(value, default=str), parse_float=_decimal_or_none, parse_constant=lambda _: None)


def _decimal_or_none(text: str) -> Decimal | None:
    d = Decimal(text)
    return d if d.is_finite() else None


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

    def put_json(self, bucket: str, key: str, value: Any) -> None:
        self.put_bytes(bucket, key, json.dumps(value, indent=1, sort_keys=True, default=str).encode(), "application/json")
