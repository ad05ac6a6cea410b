"""Security properties of the CloudFormation that template.yaml becomes, in both InferenceAuthMode values.

No build needed: scripts/sam_transform.py turns template.yaml into plain CloudFormation offline
(AWS::LanguageExtensions resolved from the parameter values, then aws-sam-translator), the same
JSON `make lint` hands to checkov. Checked on that output, in API_KEY and in IAM mode:

- no API method is open: every method other than OPTIONS requires the stack's API key (API_KEY) or
  SigV4 (IAM). SAM writes a Serverless::Api's methods into the RestApi's OpenAPI body, not as
  AWS::ApiGateway::Method resources, so both places are checked (and at least one method must exist);
- no Allow statement of any IAM role or policy grants a wildcard action (`*`, `service:*`) or uses NotAction;
- every S3 bucket blocks public access (all four settings) and has default encryption;
- every DynamoDB table has point-in-time recovery;
- every log group has a retention.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
MODES = ["API_KEY", "IAM"]
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "x-amazon-apigateway-any-method"}


@cache
def cfn(mode: str) -> dict[str, Any]:
    """template.yaml as CloudFormation with InferenceAuthMode=mode (what `make lint` scans)."""
    from evergreen_cli.local import sam as offline_sam

    st = infra.load_script("sam_transform")
    return offline_sam.transform(offline_sam.load_template(TEMPLATE), {"InferenceAuthMode": mode},
                                 localize=lambda t: st.localize(t, TEMPLATE.parent))


def resources(mode: str, type_name: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in cfn(mode)["Resources"].items() if r.get("Type") == type_name}


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


# ---------------------------------------------------------------- API methods


def _openapi_operations(body: dict[str, Any]):
    for path, item in (body.get("paths") or {}).items():
        for method, operation in (item or {}).items():
            if method.lower() in HTTP_METHODS:
                yield path, method.lower(), operation or {}


def _operation_problem(mode: str, operation: dict[str, Any], definitions: dict[str, Any]) -> str | None:
    """Why this OpenAPI operation is open in `mode`, or None when every way in needs the mode's auth."""
    security = operation.get("security")
    if not security:
        return "no security requirement"
    for alternative in security:  # the alternatives are OR'ed: each one must require the auth
        if not alternative:
            return "an empty security alternative (anonymous access)"
        if mode == "API_KEY":
            ok = any(
                definitions.get(name, {}).get("type") == "apiKey"
                and definitions[name].get("in") == "header"
                and str(definitions[name].get("name", "")).lower() == "x-api-key"
                for name in alternative
            )
        else:
            ok = any(definitions.get(name, {}).get("x-amazon-apigateway-authtype") == "awsSigv4"
                     for name in alternative)
        if not ok:
            needed = "the API key" if mode == "API_KEY" else "SigV4"
            return f"security alternative {sorted(alternative)} does not require {needed}"
    return None


@pytest.mark.parametrize("mode", MODES)
def test_no_api_method_is_open(mode):
    checked, open_methods = [], []
    for lid, res in resources(mode, "AWS::ApiGateway::Method").items():
        props = res.get("Properties") or {}
        if str(props.get("HttpMethod", "")).upper() == "OPTIONS":
            continue
        checked.append(lid)
        if mode == "API_KEY" and not _is_true(props.get("ApiKeyRequired")):
            open_methods.append(f"{lid}: ApiKeyRequired is {props.get('ApiKeyRequired')!r}")
        if mode == "IAM" and props.get("AuthorizationType") != "AWS_IAM":
            open_methods.append(f"{lid}: AuthorizationType is {props.get('AuthorizationType')!r}")
    for lid, res in resources(mode, "AWS::ApiGateway::RestApi").items():
        body = (res.get("Properties") or {}).get("Body") or {}
        definitions = body.get("securityDefinitions") or {}
        for path, method, operation in _openapi_operations(body):
            if method == "options":
                continue
            checked.append(f"{lid} {method.upper()} {path}")
            problem = _operation_problem(mode, operation, definitions)
            if problem:
                open_methods.append(f"{lid} {method.upper()} {path}: {problem}")
    assert checked, f"no API method found in the {mode} template: the check would prove nothing"
    assert not open_methods, f"open API methods with InferenceAuthMode={mode}:\n" + "\n".join(open_methods)


def test_both_modes_serve_the_same_routes():
    """The IAM check covers the same methods as the API_KEY one (a route lost in one mode is not 'secured')."""
    def routes(mode):
        return sorted((path, method) for res in resources(mode, "AWS::ApiGateway::RestApi").values()
                      for path, method, _ in _openapi_operations((res.get("Properties") or {}).get("Body") or {}))

    assert routes("API_KEY") == routes("IAM")
    assert ("/predict", "post") in routes("API_KEY")
    assert ("/feedback", "post") in routes("API_KEY")


# ---------------------------------------------------------------- IAM


def _statements(document: Any):
    if not isinstance(document, dict):
        return
    statements = document.get("Statement") or []
    yield from [statements] if isinstance(statements, dict) else statements


def _policy_documents(mode: str):
    """(where, policy document) for every inline policy of a role and every IAM policy resource."""
    for lid, res in resources(mode, "AWS::IAM::Role").items():
        for i, policy in enumerate((res.get("Properties") or {}).get("Policies") or []):
            yield f"{lid} Policies[{i}] {policy.get('PolicyName', '')}", policy.get("PolicyDocument")
    for type_name in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for lid, res in resources(mode, type_name).items():
            yield lid, (res.get("Properties") or {}).get("PolicyDocument")


def _is_wildcard(action: Any) -> bool:
    return isinstance(action, str) and (action.strip() == "*" or action.strip().endswith(":*"))


@pytest.mark.parametrize("mode", MODES)
def test_no_iam_statement_allows_a_wildcard_action(mode):
    found, bad = 0, []
    for where, document in _policy_documents(mode):
        for statement in _statements(document):
            found += 1
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                bad.append(f"{where}: Allow with NotAction {statement['NotAction']!r}")
            actions = statement.get("Action", [])
            for action in [actions] if isinstance(actions, str) else actions:
                if _is_wildcard(action):
                    bad.append(f"{where}: Allow {action!r}")
    assert found, "no inline IAM policy statement found: the check would prove nothing"
    assert not bad, "wildcard actions:\n" + "\n".join(bad)


# ---------------------------------------------------------------- storage and logs


@pytest.mark.parametrize("mode", MODES)
def test_every_bucket_blocks_public_access_and_is_encrypted(mode):
    buckets = resources(mode, "AWS::S3::Bucket")
    assert buckets
    bad = []
    for lid, res in buckets.items():
        props = res.get("Properties") or {}
        block = props.get("PublicAccessBlockConfiguration") or {}
        for setting in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if not _is_true(block.get(setting)):
                bad.append(f"{lid}: PublicAccessBlockConfiguration.{setting} is {block.get(setting)!r}")
        rules = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or []
        if not any((rule.get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for rule in rules):
            bad.append(f"{lid}: no default encryption (BucketEncryption)")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("mode", MODES)
def test_every_table_has_point_in_time_recovery(mode):
    tables = resources(mode, "AWS::DynamoDB::Table")
    assert tables
    bad = [lid for lid, res in tables.items()
           if not _is_true(((res.get("Properties") or {}).get("PointInTimeRecoverySpecification") or {})
                           .get("PointInTimeRecoveryEnabled"))]
    assert not bad, f"tables without point-in-time recovery: {bad}"


@pytest.mark.parametrize("mode", MODES)
def test_every_log_group_has_a_retention(mode):
    groups = resources(mode, "AWS::Logs::LogGroup")
    assert groups
    bad = [lid for lid, res in groups.items()
           if (res.get("Properties") or {}).get("RetentionInDays") in (None, "", {"Ref": "AWS::NoValue"})]
    assert not bad, f"log groups kept forever (no RetentionInDays): {bad}"
