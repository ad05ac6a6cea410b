"""S3: the bucket settings moto's CloudFormation ignores (``configure_buckets``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def configure_buckets(s3_client: Any, buckets: Mapping[str, Mapping[str, Any]]) -> None:
    """Apply the bucket settings moto's CloudFormation ignores; ``{bucket name: properties}``.

    Gap (FACTS): moto's CloudFormation ignores ``NotificationConfiguration.
    EventBridgeConfiguration`` (so no S3 -> EventBridge events), and (found
    here) ``VersioningConfiguration`` (so no ``version-id`` in those events).
    Other notification configurations already on the bucket are kept.
    """
    for bucket, props in buckets.items():
        versioning = (props.get("VersioningConfiguration") or {}).get("Status")
        if versioning:
            s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": versioning})
        eventbridge = (props.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration") or {}
        if str(eventbridge.get("EventBridgeEnabled")).lower() == "true":
            current = s3_client.get_bucket_notification_configuration(Bucket=bucket)
            current.pop("ResponseMetadata", None)
            current["EventBridgeConfiguration"] = {}
            s3_client.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)
