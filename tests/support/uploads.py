"""Driving a local stack as a user does: a spec, then an upload, then the run it starts."""

from __future__ import annotations

from typing import Any

from evergreen.spec import ModelSpec, dump_spec


def train_on_upload(stack: Any, spec: ModelSpec, body: bytes, timeout: float = 600) -> dict[str, Any]:
    """Put `spec` under specs/, upload `body` as uploads/<model>/data.csv and wait for the execution it starts."""
    s3, bucket = stack.client("s3"), stack.outputs["DataBucketName"]
    s3.put_object(Bucket=bucket, Key=f"specs/{spec.name}.yaml", Body=dump_spec(spec).encode())
    known = len(stack.list_executions())
    s3.put_object(Bucket=bucket, Key=f"uploads/{spec.name}/data.csv", Body=body)
    return stack.wait_for_execution(stack.wait_for_new_execution(known)["executionArn"], timeout=timeout)
