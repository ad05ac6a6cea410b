"""evergreen_cli.local.template: load, translate and prepare the SAM template for moto."""

from __future__ import annotations

import json
import shutil
import zipfile
from io import BytesIO

import pytest

from evergreen_cli.local.sam import load_template
from evergreen_cli.local.template import (
    LOCAL_BUCKET,
    _split_substitutions,
    prepare_for_moto,
    references,
    translate,
    zip_dir,
)

from .conftest import FIXTURES, ROOT


@pytest.fixture
def project(tmp_path):
    """The real template, ASL and layers, with stub function dirs where the real ones are missing."""
    for name in ("template.yaml", "statemachines", "layers"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    for resource in load_template(ROOT / "template.yaml")["Resources"].values():
        code = resource.get("Properties", {}).get("CodeUri")
        if resource["Type"] == "AWS::Serverless::Function" and code:
            (tmp_path / code).mkdir(parents=True, exist_ok=True)
            (tmp_path / code / "app.py").write_text("def handler(event, context):\n    return event\n")
    return tmp_path


def test_load_template_reads_short_tags():
    sam = load_template(FIXTURES / "template.yaml")
    machine = sam["Resources"]["Machine"]["Properties"]
    assert machine["DefinitionSubstitutions"]["EchoArn"] == {"Fn::GetAtt": ["EchoFunction", "Arn"]}
    assert sam["Globals"]["Function"]["Environment"]["Variables"]["TABLE_NAME"] == {"Ref": "Table"}
    assert sam["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"].startswith("https://${FixtureApi}")


def test_translate_is_offline_and_keeps_local_paths_as_placeholders():
    cfn = translate(load_template(ROOT / "template.yaml"), {"ModelName": "churn"})
    types = {r["Type"] for r in cfn["Resources"].values()}
    assert not [t for t in types if t.startswith("AWS::Serverless::")]
    assert cfn["Resources"]["TrainFunction"]["Properties"]["Code"] == {"S3Bucket": LOCAL_BUCKET,
                                                                       "S3Key": "functions/train"}
    machine = cfn["Resources"]["PipelineStateMachine"]["Properties"]
    assert machine["DefinitionS3Location"] == {"Bucket": LOCAL_BUCKET, "Key": "statemachines/pipeline.asl.json"}


def test_prepare_the_real_template(project, aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="staging")
    sam = load_template(project / "template.yaml")
    prepared = prepare_for_moto(translate(sam, {}), project, s3, "staging")
    resources = prepared.template["Resources"]

    # Every function and state machine of the SAM template is there, with its code.
    functions = {k for k, r in sam["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert set(prepared.functions) == functions
    assert {k for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"} == functions
    assert prepared.functions["ExportFunction"].code_dir == project / "functions/export_onnx"
    assert prepared.functions["InferenceFunction"].layer_dirs == (project / "layers/shared", project / "layers/serving")
    for logical_id in functions:
        code = resources[logical_id]["Properties"]["Code"]
        assert code["S3Bucket"] == "staging" and "Layers" not in resources[logical_id]["Properties"]
        with zipfile.ZipFile(BytesIO(s3.get_object(Bucket="staging", Key=code["S3Key"])["Body"].read())) as z:
            assert "app.py" in z.namelist()
    assert sorted(prepared.state_machines) == sorted(
        k for k, r in sam["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine")

    # The definition is inline, substituted by Fn::Join (which keeps "$$.").
    definition = resources["PipelineStateMachine"]["Properties"]
    assert "DefinitionSubstitutions" not in definition and "DefinitionS3Location" not in definition
    parts = definition["DefinitionString"]["Fn::Join"][1]
    assert {"Fn::GetAtt": ["IngestFunction", "Arn"]} in parts
    assert any('"$$.Execution.Name"' in p for p in parts if isinstance(p, str))

    # Dropped: the API (and what needs it), what moto cannot create; all recorded.
    dropped = {d.logical_id: d for d in prepared.dropped}
    assert not [t for t in (r["Type"] for r in resources.values()) if t.startswith("AWS::ApiGateway::")]
    for logical_id in ("InferenceApi", "InferenceApiUsagePlan", "InferenceApiApiKey", "DataBucketPolicy",
                       "NotificationSubscription", "InferenceFunctionPredictPermissionv1", "ApiUrl"):
        assert logical_id in dropped, logical_id
    assert dropped["InferenceFunctionPredictPermissionv1"].reason == "depends on dropped InferenceApi"
    assert dropped["ApiUrl"].kind == "Output" and "ApiUrl" not in prepared.template["Outputs"]
    assert "DataBucketName" in prepared.template["Outputs"]

    # No alarm in the template (promote puts each model's); the rule matches them by name prefix.
    assert list(prepared.deferred) == []
    pattern = resources["PipelineStateMachineModelAlarm"]["Properties"]["EventPattern"]
    assert pattern["detail"]["alarmName"] == [{"prefix": {"Fn::Sub": "${AWS::StackName}-quality-"}},
                                              {"prefix": {"Fn::Sub": "${AWS::StackName}-drift-"}}]
    assert set(prepared.buckets) == {"DataBucket", "ArtifactsBucket"}
    assert prepared.buckets["DataBucket"]["NotificationConfiguration"]["EventBridgeConfiguration"]


def test_missing_code_dir_is_a_clear_error(project, aws):
    shutil.rmtree(project / "functions/train")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="staging")
    with pytest.raises(FileNotFoundError, match="functions/train"):
        prepare_for_moto(translate(load_template(project / "template.yaml"), {}), project, s3, "staging")


def test_substitutions_by_join_keep_double_dollar_where_motos_sub_does_not():
    from moto.cloudformation.parsing import clean_json

    asl = '{"run_id.$": "$$.Execution.Name", "Resource": "${Fn}", "Other": "${Unknown}"}'
    joined = _split_substitutions(asl, {"Fn": {"Ref": "Arn"}})
    assert joined == {"Fn::Join": ["", ['{"run_id.$": "$$.Execution.Name", "Resource": "', {"Ref": "Arn"},
                                        '", "Other": "${Unknown}"}']]}
    resolved = clean_json(joined, {"Arn": "arn:fn"})
    assert json.loads(resolved)["run_id.$"] == "$$.Execution.Name"
    # What FACTS suggests (Fn::Sub with a variable map) loses the "$$" in moto:
    broken = clean_json({"Fn::Sub": ['{"run_id.$": "$$.Execution.Name", "Resource": "${Fn}"}', {"Fn": "arn:fn"}]}, {})
    assert json.loads(broken) == {"run_id.$": "$.Execution.Name", "Resource": "arn:fn"}


def test_references_sees_ref_getatt_and_sub():
    value = {"A": {"Ref": "X"}, "B": [{"Fn::GetAtt": "Y.Arn"}], "C": {"Fn::Sub": "${Z.Arn}-${AWS::Region}-${V}"},
             "D": {"Fn::Sub": ["${V}", {"V": {"Ref": "W"}}]}}
    assert references(value) == {"X", "Y", "Z", "V", "W"}  # pseudo parameters are no resources


def test_zip_dir_is_deterministic_and_skips_caches(tmp_path):
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "app.py").write_text("x = 1\n")
    first = zip_dir(tmp_path)
    assert first == zip_dir(tmp_path)
    assert zipfile.ZipFile(BytesIO(first)).namelist() == ["app.py"]


@pytest.mark.parametrize("mode, scheme", [("API_KEY", "api_key"), ("IAM", "AWS_IAM")])
def test_the_local_stack_translates_either_auth_mode_as_aws_does(mode, scheme):
    """One translator (evergreen_cli.local.sam) for the local stack and the scanners: AWS::LanguageExtensions
    resolves the template's Fn::If on InferenceAuthMode before the SAM transform, as CloudFormation does."""
    cfn = translate(load_template(ROOT / "template.yaml"), {"InferenceAuthMode": mode})
    body = cfn["Resources"]["InferenceApi"]["Properties"]["Body"]
    assert {path: item["post"]["security"] for path, item in body["paths"].items()} == {
        "/predict": [{scheme: []}], "/feedback": [{scheme: []}]}
