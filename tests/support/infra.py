"""moto resources built from template.yaml itself, so tests cannot drift from the infrastructure.

Call these inside `mock_aws()`. Tables get the template's AttributeDefinitions, KeySchema,
GlobalSecondaryIndexes and TTL attribute; buckets get versioning as declared. Physical names
are the logical IDs in kebab case; `stack_env()` returns the Globals environment with those
names, which is exactly what a deployed function would see.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from collections.abc import Iterator
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
# what Promote reads besides Stores (template.yaml: PromoteFunction's Environment), for a stack named "stk"
PROMOTE_ENV = {"ALARM_PREFIX": "stk", "METRICS_NAMESPACE": "Evergreen", "MONITOR_PERIOD_SECONDS": "300",
               "DASHBOARD_NAME": "stk-evergreen"}


@lru_cache(maxsize=1)
def template() -> dict[str, Any]:
    """template.yaml with intrinsic tags (!Ref, !Sub, ...) as their JSON forms."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())


def resource(logical_id: str) -> dict[str, Any]:
    return template()["Resources"][logical_id]


def physical_name(logical_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", logical_id).lower()


def resources_of_type(type_name: str) -> list[str]:
    return [lid for lid, res in template()["Resources"].items() if res["Type"] == type_name]


def create_table(logical_id: str, session: Any = None) -> str:
    """Create the DynamoDB table `logical_id` exactly as the template declares its keys."""
    import boto3

    props = resource(logical_id)["Properties"]
    client = (session or boto3).client("dynamodb", region_name=REGION)
    name = physical_name(logical_id)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
            for g in props["GlobalSecondaryIndexes"]
        ]
    client.create_table(**kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    return name


def create_bucket(logical_id: str, session: Any = None) -> str:
    import boto3

    props = resource(logical_id).get("Properties", {})
    client = (session or boto3).client("s3", region_name=REGION)
    name = physical_name(logical_id)
    client.create_bucket(Bucket=name)
    if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def create_storage(session: Any = None) -> dict[str, str]:
    """Every table and bucket in the template; returns {logical_id: physical name}."""
    names = {lid: create_table(lid, session) for lid in resources_of_type("AWS::DynamoDB::Table")}
    names |= {lid: create_bucket(lid, session) for lid in resources_of_type("AWS::S3::Bucket")}
    return names


def stack_env(parameters: dict[str, str] | None = None) -> dict[str, str]:
    """Globals.Function.Environment with !Ref resolved to the physical names above (and parameter defaults)."""
    params = {k: str(v.get("Default", "")) for k, v in template().get("Parameters", {}).items()}
    params |= parameters or {}
    env = {}
    for key, value in template()["Globals"]["Function"]["Environment"]["Variables"].items():
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            value = params[ref] if ref in params else physical_name(ref)
        env[key] = str(value)
    return env


def load_script(name: str):
    """scripts/<name>.py as a module (scripts/ is not a package)."""
    import importlib.util
    import sys

    module_name = f"_evergreen_scripts_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def lambda_context(function: str, memory_mb: int = 1024, remaining_ms: int = 15_000) -> Any:
    """A Lambda context object as the runtime passes it, for calling a handler directly."""
    from types import SimpleNamespace

    return SimpleNamespace(
        function_name=function, function_version="$LATEST", memory_limit_in_mb=memory_mb,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:{function}",
        aws_request_id="4c1a2b3d-0000-4000-8000-00000000abcd", log_group_name=f"/aws/lambda/{function}",
        log_stream_name="2026/11/23/[$LATEST]0123456789abcdef", get_remaining_time_in_millis=lambda: remaining_ms)


def moto_stores(monkeypatch: Any, **env: str) -> Iterator[Any]:
    """A Stores over every bucket and table of the template, on moto (yield it from a fixture); `env`:
    further environment variables the steps under test read."""
    from moto import mock_aws

    from evergreen.storage import Stores

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("NOTIFICATION_TOPIC", raising=False)
    with mock_aws():
        names = create_storage()
        yield Stores(data_bucket=names["DataBucket"], artifacts_bucket=names["ArtifactsBucket"],
                     registry_table=names["RegistryTable"], experiments_table=names["ExperimentsTable"],
                     predictions_table=names["PredictionsTable"])
