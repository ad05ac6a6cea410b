"""The SAM template, made creatable by moto's CloudFormation.

moto's CloudFormation does not apply the SAM transform and supports only part of
CloudFormation (FACTS: "Gaps to bridge"). This module turns the project's own
``template.yaml`` into a template moto can create, and records every liberty it
takes so the local stack can say what it runs and what it does not:

1. ``translate``: the SAM transform offline (evergreen_cli.local.sam, the one translator, shared with
   scripts/sam_transform.py: AWS::LanguageExtensions, then aws-sam-translator), with local
   ``CodeUri`` / ``ContentUri`` / ``DefinitionUri`` paths kept as ``s3://__local__/<path>``.
2. ``prepare_for_moto``: zip those paths into moto S3; inline the state-machine
   definition (moto reads only ``DefinitionString``); drop the API Gateway
   resources and whatever moto cannot create (and whatever depends on them);
   drop the Lambda ``Layers`` property; defer CloudWatch alarms (moto's
   CloudFormation cannot create them: ``evergreen_cli.local.shims.cloudwatch.create_alarms``
   does, after the stack).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evergreen_cli.local import sam as offline_sam

LOCAL_BUCKET = "__local__"
"""Bucket name that marks "a local path" in the translated template."""

_URI_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}
# Resource types created after the stack (moto's CloudFormation ignores them).
DEFERRED_TYPES = {"AWS::CloudWatch::Alarm"}
# What moto's CloudFormation ignores on AWS::S3::Bucket, applied by shims.s3.configure_buckets.
_IGNORED_BUCKET_PROPERTIES = ("VersioningConfiguration", "NotificationConfiguration")
_ZIP_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".venv", ".git"}


@dataclass(frozen=True)
class FunctionSpec:
    """Where a function's code lives locally and how Lambda would call it."""

    logical_id: str
    code_dir: Path
    handler: str
    layer_dirs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Dropped:
    """A resource, output or property the local stack does not create, and why."""

    logical_id: str
    kind: str  # a resource type, "Output", or "Property <name>"
    reason: str


@dataclass
class Prepared:
    """What ``prepare_for_moto`` produced: the template and its record."""

    template: dict[str, Any]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    state_machines: list[str] = field(default_factory=list)
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Bucket settings moto's CloudFormation ignores: ``{logical id: {property: value}}``."""
    deferred: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: list[Dropped] = field(default_factory=list)


# --------------------------------------------------------------------------- load + translate


def _is_local_path(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def _mark_local_paths(sam: dict[str, Any]) -> dict[str, Any]:
    """Local CodeUri / ContentUri / DefinitionUri paths -> ``s3://__local__/<path>`` (in place)."""
    function_globals = sam.get("Globals", {}).get("Function", {})
    if _is_local_path(function_globals.get("CodeUri")):
        function_globals["CodeUri"] = f"s3://{LOCAL_BUCKET}/{function_globals['CodeUri']}"
    for resource in sam.get("Resources", {}).values():
        prop = _URI_PROPERTIES.get(resource.get("Type"))
        props = resource.get("Properties") or {}
        if prop and _is_local_path(props.get(prop)):
            props[prop] = f"s3://{LOCAL_BUCKET}/{props[prop]}"
    return sam


def translate(sam: dict[str, Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SAM transform offline (evergreen_cli.local.sam: LanguageExtensions, then aws-sam-translator).
    Local paths become ``s3://__local__/<path>``."""
    return offline_sam.transform(sam, parameters, localize=_mark_local_paths)


# --------------------------------------------------------------------------- references


_SUB_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_.]+))?\}")


def references(value: Any) -> set[str]:
    """Logical ids (or parameters) that ``Ref`` / ``Fn::GetAtt`` / ``Fn::Sub`` point at."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner.split(".", 1)[0] if isinstance(inner, str) else inner[0]
                found.add(target)
            elif key == "Fn::Sub":
                text, variables = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
                found |= {m.group(1) for m in _SUB_VAR.finditer(text)} - set(variables)
                found |= references(variables)
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


def _rewrite_refs(value: Any, logical_id: str, name: Any, arn: Any) -> Any:
    """Replace ``Ref logical_id`` by ``name`` and ``GetAtt logical_id.Arn`` by ``arn``."""
    if isinstance(value, list):
        return [_rewrite_refs(v, logical_id, name, arn) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("Ref") == logical_id:
        return name
    getatt = value.get("Fn::GetAtt")
    if getatt is not None:
        target = getatt.split(".", 1) if isinstance(getatt, str) else getatt
        if target[0] == logical_id:
            return arn
    sub = value.get("Fn::Sub")
    if sub is not None:
        text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], dict(sub[1]))
        variables = _rewrite_refs(variables, logical_id, name, arn)
        if f"${{{logical_id}" in text:
            text = text.replace(f"${{{logical_id}.Arn}}", "${__LocalArn}")
            text = text.replace(f"${{{logical_id}}}", "${__LocalName}")
            variables.update({"__LocalName": name, "__LocalArn": arn})
        return {"Fn::Sub": [text, variables] if variables else text}
    return {k: _rewrite_refs(v, logical_id, name, arn) for k, v in value.items()}


# --------------------------------------------------------------------------- state machines


def _split_substitutions(text: str, substitutions: dict[str, Any]) -> Any:
    """``text`` with each ``${Key}`` of ``substitutions`` replaced, as an ``Fn::Join``.

    Not ``Fn::Sub``: moto's ``Fn::Sub`` runs ``string.Template``, which turns the
    ASL's ``$$.Execution.Name`` into ``$.Execution.Name``. ``Fn::Join`` touches no ``$``.
    """
    if not substitutions:
        return text
    pattern = re.compile("|".join(re.escape("${" + k + "}") for k in substitutions))
    parts: list[Any] = []
    last = 0
    for match in pattern.finditer(text):
        parts += [text[last : match.start()], substitutions[match.group(0)[2:-1]]]
        last = match.end()
    if not parts:
        return text
    parts.append(text[last:])
    return {"Fn::Join": ["", [p for p in parts if p != ""]]}


def _substitute_strings(value: Any, substitutions: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _split_substitutions(value, substitutions)
    if isinstance(value, list):
        return [_substitute_strings(v, substitutions) for v in value]
    if isinstance(value, dict):
        return {k: _substitute_strings(v, substitutions) for k, v in value.items()}
    return value


def _inline_definition(props: dict[str, Any], root: Path) -> None:
    """Give a state machine the ``DefinitionString`` moto reads, substitutions applied."""
    location = props.pop("DefinitionS3Location", None)
    if location is not None:
        if location.get("Bucket") != LOCAL_BUCKET:
            raise ValueError(f"DefinitionS3Location {location} is not a local file")
        props["DefinitionString"] = (root / location["Key"]).read_text(encoding="utf-8")
    elif "Definition" in props:
        props["DefinitionString"] = json.dumps(props.pop("Definition"), indent=2)
    substitutions = props.pop("DefinitionSubstitutions", None) or {}
    props["DefinitionString"] = _substitute_strings(props["DefinitionString"], substitutions)


# --------------------------------------------------------------------------- code


def zip_dir(path: Path) -> bytes:
    """A deterministic zip of a directory (what ``sam package`` would upload)."""
    if not path.is_dir():
        raise FileNotFoundError(f"code directory {path} does not exist")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(path)
            if file.is_dir() or _ZIP_SKIP_DIRS & set(relative.parts) or file.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(relative.as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, file.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _upload(s3_client: Any, bucket: str, logical_id: str, code_dir: Path) -> dict[str, str]:
    body = zip_dir(code_dir)
    key = f"local-code/{logical_id}-{hashlib.sha256(body).hexdigest()[:12]}.zip"
    s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    return {"S3Bucket": bucket, "S3Key": key}


def _local_key(location: Any) -> str | None:
    if isinstance(location, dict) and location.get("S3Bucket") == LOCAL_BUCKET:
        return location["S3Key"]
    return None


# --------------------------------------------------------------------------- prepare


def _moto_can_create(resource_type: str) -> bool:
    from moto.cloudformation.parsing import NULL_MODELS, get_model_map

    return resource_type not in NULL_MODELS and (
        resource_type.startswith("Custom::") or resource_type in get_model_map()
    )


def _drop_reason(resource_type: str) -> str | None:
    if resource_type.startswith("AWS::ApiGateway::"):
        return "API Gateway: evergreen_cli.local.api serves the API's routes instead"
    if resource_type in DEFERRED_TYPES or _moto_can_create(resource_type):
        return None
    return "not supported by moto's CloudFormation"


def prepare_for_moto(
    cfn: dict[str, Any], root: str | os.PathLike[str], s3_client: Any, staging_bucket: str
) -> Prepared:
    """Make translated CloudFormation creatable by moto; record every change.

    ``staging_bucket`` must exist in moto S3: code and layer zips go there.
    """
    root = Path(root)
    template = copy.deepcopy(cfn)
    resources: dict[str, dict[str, Any]] = template["Resources"]
    prepared = Prepared(template=template)

    # 1. Drop what moto cannot create, then (to a fixed point) what depends on it.
    dropped: dict[str, str] = {}
    for logical_id, resource in resources.items():
        reason = _drop_reason(resource["Type"])
        if reason:
            dropped[logical_id] = reason
    changed = True
    while changed:
        changed = False
        for logical_id, resource in resources.items():
            if logical_id in dropped:
                continue
            gone = sorted(references(resource.get("Properties", {})) & set(dropped))
            if gone:
                dropped[logical_id] = f"depends on dropped {', '.join(gone)}"
                changed = True
    for logical_id, reason in dropped.items():
        prepared.dropped.append(Dropped(logical_id, resources.pop(logical_id)["Type"], reason))
    for key, output in list(template.get("Outputs", {}).items()):
        gone = sorted(references(output) & set(dropped))
        if gone:
            del template["Outputs"][key]
            prepared.dropped.append(Dropped(key, "Output", f"depends on dropped {', '.join(gone)}"))
    for resource in resources.values():
        depends_on = resource.get("DependsOn")
        if depends_on is not None:
            kept = [d for d in ([depends_on] if isinstance(depends_on, str) else depends_on) if d not in dropped]
            resource["DependsOn"] = kept
            if not kept:
                del resource["DependsOn"]

    # 2. Defer alarms: created after the stack under a predictable name, which
    #    the rest of the template (e.g. an EventBridge rule on the alarm's ARN) uses.
    for logical_id in [lid for lid, r in resources.items() if r["Type"] in DEFERRED_TYPES]:
        alarm = resources.pop(logical_id)
        props = alarm.setdefault("Properties", {})
        name = props.setdefault("AlarmName", {"Fn::Sub": f"${{AWS::StackName}}-{logical_id}"})
        arn = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudwatch:", {"Ref": "AWS::Region"},
                                 ":", {"Ref": "AWS::AccountId"}, ":alarm:", name]]}
        prepared.deferred[logical_id] = alarm
        template["Resources"] = resources = _rewrite_refs(resources, logical_id, name, arn)
        if "Outputs" in template:
            template["Outputs"] = _rewrite_refs(template["Outputs"], logical_id, name, arn)
    template["Resources"] = resources

    # 3. Code, layers, definitions, bucket notifications.
    layer_dirs: dict[str, Path] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::LayerVersion":
            key = _local_key(resource["Properties"].get("Content"))
            if key is not None:
                layer_dirs[logical_id] = root / key
                resource["Properties"]["Content"] = _upload(s3_client, staging_bucket, logical_id, root / key)
    for logical_id, resource in resources.items():
        props = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function":
            key = _local_key(props.get("Code"))
            if key is None:
                continue  # inline ZipFile or a real S3 object: nothing local to run
            layers = props.pop("Layers", None)
            if layers:
                prepared.dropped.append(Dropped(logical_id, "Property Layers",
                                                "layers go on sys.path in-process instead"))
            dirs = tuple(layer_dirs[r["Ref"]] for r in layers or []
                         if isinstance(r, dict) and r.get("Ref") in layer_dirs)
            prepared.functions[logical_id] = FunctionSpec(logical_id, root / key, props["Handler"], dirs)
            props["Code"] = _upload(s3_client, staging_bucket, logical_id, root / key)
        elif resource["Type"] == "AWS::StepFunctions::StateMachine":
            _inline_definition(props, root)
            prepared.state_machines.append(logical_id)
        elif resource["Type"] == "AWS::S3::Bucket":
            ignored = {k: props[k] for k in _IGNORED_BUCKET_PROPERTIES if k in props}
            if ignored:
                prepared.buckets[logical_id] = ignored
    return prepared
