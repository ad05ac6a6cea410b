"""The SAM transform, offline: what CloudFormation does to template.yaml before it creates anything.

One translator for the local stack (evergreen_cli.local.template, which then makes the result creatable
by moto) and for the scanners (scripts/sam_transform.py, which writes it for checkov and cfn-lint):

1. ``resolve_language_extensions``: with `Transform: [AWS::LanguageExtensions, ...]` (template.yaml
   has it), what that transform does on CloudFormation for this template: the Conditions are
   evaluated from the parameter values and each `Fn::If` replaced by the chosen branch (dropping
   AWS::NoValue), so the SAM transform sees e.g. InferenceAuthMode=IAM as AWS would;
2. aws-sam-translator's transform, with its bundled managed-policy map (no IAM call, no network).

The caller rewrites local CodeUri / ContentUri / DefinitionUri paths first (``localize``): the local
stack to paths it zips into moto's S3, the scanners to placeholder S3 locations.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

NO_VALUE = {"Ref": "AWS::NoValue"}


def load_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (short tags such as ``!Ref``, ``!GetAtt a.b``)."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(Path(path).read_text(encoding="utf-8"))


class BundledManagedPolicies:
    """Managed policy name -> ARN from the translator's bundled map: no IAM call, no credentials."""

    def load(self) -> dict[str, str]:
        from samtranslator.internal.managed_policies import get_bundled_managed_policy_map

        return dict(get_bundled_managed_policy_map("aws") or {})


def uses_language_extensions(sam: dict[str, Any]) -> bool:
    transforms = sam.get("Transform", [])
    return "AWS::LanguageExtensions" in ([transforms] if isinstance(transforms, str) else transforms)


def parameter_values(sam: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    values = {name: spec.get("Default") for name, spec in (sam.get("Parameters") or {}).items()}
    values.update(overrides or {})
    return values


def evaluate_condition(expr: Any, conditions: dict[str, Any], params: dict[str, Any]) -> Any:
    """Value of a condition expression over parameter values (Fn::Equals/Not/And/Or, Condition, Ref)."""
    if isinstance(expr, dict) and len(expr) == 1:
        (fn, arg), = expr.items()
        if fn == "Ref":
            if arg not in params:
                raise ValueError(f"condition refers to {arg!r}, which is not a parameter")
            return params[arg]
        if fn == "Condition":
            return evaluate_condition(conditions[arg], conditions, params)
        if fn == "Fn::Equals":
            a, b = (evaluate_condition(x, conditions, params) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not evaluate_condition(arg[0], conditions, params)
        if fn == "Fn::And":
            return all(evaluate_condition(x, conditions, params) for x in arg)
        if fn == "Fn::Or":
            return any(evaluate_condition(x, conditions, params) for x in arg)
        raise ValueError(f"unsupported function in a condition: {fn}")
    return expr


def _resolve_ifs(value: Any, truth: dict[str, bool]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Fn::If"} and value["Fn::If"][0] in truth:
            name, when_true, when_false = value["Fn::If"]
            return _resolve_ifs(when_true if truth[name] else when_false, truth)
        out = {k: _resolve_ifs(v, truth) for k, v in value.items()}
        return {k: v for k, v in out.items() if v != NO_VALUE}
    if isinstance(value, list):
        return [v for v in (_resolve_ifs(x, truth) for x in value) if v != NO_VALUE]
    return value


def resolve_language_extensions(sam: dict[str, Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resolve every Fn::If on a condition the parameter values decide (as AWS::LanguageExtensions)."""
    if not uses_language_extensions(sam):
        return sam
    conditions = sam.get("Conditions") or {}
    params = parameter_values(sam, parameters)
    truth = {name: bool(evaluate_condition(expr, conditions, params)) for name, expr in conditions.items()}
    resolved = copy.deepcopy(sam)
    for section in ("Globals", "Resources", "Outputs"):
        if section in resolved:
            resolved[section] = _resolve_ifs(resolved[section], truth)
    resolved["Transform"] = "AWS::Serverless-2016-10-31"
    return resolved


def transform(sam: dict[str, Any], parameters: dict[str, Any] | None = None,
              localize: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """template.yaml's dict -> the CloudFormation template AWS would create (see the module docstring)."""
    from samtranslator.translator.transform import transform as sam_transform

    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)  # "unpublished metrics" at exit
    resolved = resolve_language_extensions(sam, parameters)
    resolved = localize(copy.deepcopy(resolved)) if localize else copy.deepcopy(resolved)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator needs a region, no call made
    return sam_transform(resolved, dict(parameters or {}), BundledManagedPolicies())
