"""LocalStack end to end on the fixture template (and on the real one once its functions exist)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from evergreen_cli.local import LocalStack, invoke_api, serve_api
from evergreen_cli.local.__main__ import instructions

from .conftest import FIXTURES, ROOT, free_port


@pytest.fixture
def stack():
    with LocalStack(FIXTURES, {"Greeting": "bonjour"}) as local:
        yield local


def _start(stack, payload):
    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=stack.outputs["MachineArn"], input=json.dumps(payload))["executionArn"]
    return stack.wait_for_execution(arn, timeout=30)


def test_stack_creates_every_function_and_state_machine_and_says_what_it_dropped(stack):
    assert set(stack.outputs) == {"BucketName", "MachineArn", "AlarmName", "AlarmArn"}  # ApiUrl needs the API
    assert stack.outputs["AlarmArn"].endswith(":alarm:" + stack.outputs["AlarmName"])
    names = {f["FunctionName"] for f in stack.client("lambda").list_functions()["Functions"]}
    assert names == {stack.resources["EchoFunction"], stack.resources["FailFunction"]}
    machines = stack.client("stepfunctions").list_state_machines()["stateMachines"]
    assert [m["stateMachineArn"] for m in machines] == [stack.outputs["MachineArn"]] == stack.state_machine_arns
    dropped = {d.logical_id: d.reason for d in stack.dropped}
    assert {"FixtureApi", "EchoFunctionEchoPermissionv1", "ApiUrl"} <= set(dropped)
    assert stack.resources["QualityAlarm"] == stack.outputs["AlarmName"]


def test_upload_starts_the_state_machine_which_runs_tasks_and_a_map_in_process(stack):
    s3 = stack.client("s3")
    bucket = stack.outputs["BucketName"]
    s3.put_object(Bucket=bucket, Key="elsewhere/x.csv", Body=b"a\n")  # outside the rule's prefix
    version = s3.put_object(Bucket=bucket, Key="uploads/m/data.csv", Body=b"a\n1\n")["VersionId"]
    execution = stack.wait_for_new_execution(0)
    result = stack.wait_for_execution(execution["executionArn"])
    assert result["status"] == "SUCCEEDED", result
    assert len(stack.list_executions()) == 1
    event = json.loads(result["input"])
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert event["detail"]["object"] == {**event["detail"]["object"], "key": "uploads/m/data.csv",
                                         "version-id": version}
    output = json.loads(result["output"])
    about = output["echo"]["about"]
    assert about["table"] == stack.resources["Table"] and about["greeting"] == "bonjour"
    assert about["log_level"] == "WARNING"
    assert [i["item"] for i in output["fan"]] == [1, 2, 3]
    assert output["flaky"] == {"ok": True, "attempts": 1}
    assert [i.function for i in stack.invocations].count("EchoFunction") == 4


def test_retry_then_catch_see_lambda_errors_as_on_aws(stack):
    flaky = _start(stack, {"mode": "flaky"})
    assert flaky["status"] == "SUCCEEDED" and json.loads(flaky["output"])["flaky"]["attempts"] == 2
    boom = _start(stack, {"mode": "boom"})
    assert boom["status"] == "SUCCEEDED"  # caught
    error = json.loads(boom["output"])["error"]
    assert error["Error"] == "ValueError"
    cause = json.loads(error["Cause"])
    assert cause["errorType"] == "ValueError" and cause["errorMessage"] == "boom"
    failures = [(i.function, i.error_type) for i in stack.invocations if i.error_type]
    assert failures == [("FailFunction", "FlakyError"), ("FailFunction", "ValueError")]


def test_alarm_tick_starts_the_state_machine_with_the_alarm_event(stack):
    cw = stack.client("cloudwatch")
    [first] = stack.tick_alarms()  # INSUFFICIENT_DATA (as created on AWS) -> OK: no run
    assert (first.previous, first.state) == ("INSUFFICIENT_DATA", "OK")
    cw.put_metric_data(Namespace="Fixture", MetricData=[
        {"MetricName": "Quality", "Dimensions": [{"Name": "Model", "Value": "m"}], "Value": 0.1}])
    assert stack.list_executions() == []
    [transition] = stack.tick_alarms()
    assert transition.state == "ALARM"
    execution = stack.wait_for_new_execution(0)
    event = json.loads(stack.wait_for_execution(execution["executionArn"])["input"])
    assert event["source"] == "aws.cloudwatch" and event["resources"] == [stack.outputs["AlarmArn"]]
    assert event["detail"]["alarmName"] == stack.outputs["AlarmName"]
    assert event["detail"]["state"]["value"] == "ALARM" and event["detail"]["previousState"]["value"] == "OK"
    assert event["detail"]["configuration"]["description"] == "Quality fell below 0.5"


def test_schedule_tick_invokes_the_templates_scheduled_function_with_the_aws_event(stack):
    [rule] = stack.schedules.rules()  # the disabled schedule of FailFunction is not there
    assert rule["ScheduleExpression"] == "rate(5 minutes)" and "EchoFunctionTick" in rule["Name"]
    stack.client("s3").put_object(Bucket=stack.outputs["BucketName"], Key="elsewhere/x.csv", Body=b"a\n")
    assert stack.invocations == []  # bus events never reach a scheduled rule's target

    [tick] = stack.tick_schedules()
    assert tick.error is None and tick.target_arn.endswith(":function:" + stack.resources["EchoFunction"])
    event = tick.payload["event"]
    assert (event["detail-type"], event["source"], event["resources"]) == ("Scheduled Event", "aws.events", [rule["Arn"]])
    assert tick.payload["about"]["table"] == stack.resources["Table"]  # the handler, with its template environment
    assert stack.tick_schedules() == []  # within the rate
    assert len(stack.tick_schedules(force=True)) == 1
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5, seconds=1)
    assert len(stack.tick_schedules(later)) == 1
    assert [i.function for i in stack.invocations] == ["EchoFunction"] * 3


def test_invoke_api_builds_the_proxy_event_and_guards_like_api_gateway(stack):
    status, body = invoke_api(stack, "POST", "/echo", {"record": {"x": 1}}, {"User-Agent": "test"})
    assert status == 200
    event = body["event"]
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/echo", "/echo", "POST")
    assert json.loads(event["body"]) == {"record": {"x": 1}} and event["isBase64Encoded"] is False
    assert event["headers"]["x-api-key"] == stack.api_key
    context = event["requestContext"]
    assert context["stage"] == "v1" and context["path"] == "/v1/echo" and context["requestId"]
    assert context["identity"]["sourceIp"] == "127.0.0.1" and context["identity"]["apiKey"] == stack.api_key

    status, body = invoke_api(stack, "GET", "/v1/items/42?x=1&x=2")
    assert status == 200 and body["event"]["pathParameters"] == {"item_id": "42"}
    assert body["event"]["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert body["event"]["queryStringParameters"] == {"x": "2"}

    assert invoke_api(stack, "POST", "/echo", {}, api_key=None) == (403, {"message": "Forbidden"})
    assert invoke_api(stack, "POST", "/echo", {}, {"x-api-key": "wrong"}) == (403, {"message": "Forbidden"})
    missing = (403, {"message": "Missing Authentication Token"})
    assert invoke_api(stack, "POST", "/nowhere", {}) == missing
    assert invoke_api(stack, "DELETE", "/echo", {}) == missing


def test_api_auth_follows_the_templates_condition():
    with LocalStack(FIXTURES, {"AuthMode": "IAM"}) as iam:
        assert invoke_api(iam, "POST", "/echo", {}, api_key=None) == (403, {"message": "Missing Authentication Token"})
        signed = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20261123/us-east-1/execute-api/aws4_request, "
                                   "SignedHeaders=host, Signature=00"}
        status, body = invoke_api(iam, "POST", "/echo", {}, signed, api_key=None)
        assert status == 200 and body["event"]["requestContext"]["identity"]["accessKey"] == "AKIDLOCAL"
        assert body["event"]["requestContext"]["identity"]["apiKey"] is None


def test_serve_api_answers_http_requests(stack):
    server = serve_api(stack, 0)
    try:
        assert server.server_address[0] == "127.0.0.1"

        def post(path, headers):
            request = urllib.request.Request(server.url + path, data=b'{"record": {}}', method="POST",
                                             headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return answer.status, json.loads(answer.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        status, body = post("/echo", {"x-api-key": stack.api_key, "Content-Type": "application/json"})
        assert status == 200 and body["event"]["body"] == '{"record": {}}'
        assert post("/echo", {}) == (403, {"message": "Forbidden"})
        assert post("/nope", {"x-api-key": stack.api_key}) == (403, {"message": "Missing Authentication Token"})
    finally:
        server.shutdown()
        server.server_close()


def test_the_aws_cli_works_against_server_mode(tmp_path):
    port = free_port()
    aws = str(Path(sys.executable).with_name("aws"))
    env = {"PATH": os.environ["PATH"], "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}

    def cli(*args):
        done = subprocess.run([aws, "--endpoint-url", f"http://localhost:{port}", *args],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    with LocalStack(FIXTURES, server_port=port) as stack:
        bucket = stack.outputs["BucketName"]
        assert bucket in cli("s3", "ls")
        (tmp_path / "data.csv").write_text("a\n1\n")
        cli("s3", "cp", str(tmp_path / "data.csv"), f"s3://{bucket}/uploads/m/data.csv")
        execution = stack.wait_for_new_execution(0)
        assert stack.wait_for_execution(execution["executionArn"])["status"] == "SUCCEEDED"
        listed = json.loads(cli("stepfunctions", "list-executions", "--state-machine-arn", stack.outputs["MachineArn"]))
        assert [e["status"] for e in listed["executions"]] == ["SUCCEEDED"]
        text = instructions(stack, "http://127.0.0.1:8080")
        assert f"aws --endpoint-url http://localhost:{port} s3 cp data.csv s3://{bucket}/uploads/" in text
        assert f"curl -X POST http://127.0.0.1:8080/echo -H 'x-api-key: {stack.api_key}'" in text
        assert "EchoFunctionTick" in text and "rate(5 minutes)" in text
        assert "Report page (versions and decisions, live quality and drift, alarms, trials, model cards): " \
               "http://127.0.0.1:8080/ui/" in text


def test_one_local_stack_at_a_time(stack):
    with pytest.raises(RuntimeError, match="another LocalStack"):
        LocalStack(FIXTURES).start()
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"


def test_stop_restores_the_environment():
    before = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "TABLE_NAME", "POWERTOOLS_LOG_LEVEL", "MOTO_PORT")}
    with LocalStack(FIXTURES):
        assert os.environ["TABLE_NAME"].startswith("evergreen-local-Table")
    assert {k: os.environ.get(k) for k in before} == before


FUNCTIONS = sorted(d.name for d in (ROOT / "functions").iterdir() if (d / "app.py").exists())


def test_the_real_template_starts_locally():
    with LocalStack(ROOT) as local:
        functions = {f["FunctionName"] for f in local.client("lambda").list_functions()["Functions"]}
        assert len(functions) == len(FUNCTIONS) == len(local.prepared.functions)
        assert local.outputs["StateMachineArn"] in local.state_machine_arns
        assert local.outputs["AlarmNamePrefix"] == local.stack_name and not local.alarms  # promote puts them
        assert "ApiUrl" not in local.outputs
        [schedule] = local.schedules.rules()
        assert schedule["ScheduleExpression"] == "rate(5 minutes)" and "MonitorFunctionSchedule" in schedule["Name"]
        # the alarms promote puts evaluate one schedule period
        assert int(local.lambdas.merged_environment()["MONITOR_PERIOD_SECONDS"]) == schedule["RateSeconds"]
        [tick] = local.tick_schedules()  # no champion yet: the monitor publishes nothing
        assert tick.error is None and tick.payload["models"] == []


def test_make_up_logs_the_monitors_summary_and_each_alarm_it_rearmed():
    from types import SimpleNamespace

    from evergreen_cli.local.__main__ import describe_invocation

    payload = {"models": [{"model_name": "cancer", "version": 1, "labels": 169, "quality": 0.231, "published": True,
                           "rearmed": "stk-drift-cancer: Evergreen monitor: 100% of the features still drift"}],
               "rollouts": [{"model_name": "cancer", "challenger_version": 2, "mode": "canary", "outcome": "rolled_back",
                             "reason": "live quality champion v1 0.9 on 30 labels, challenger v2 0.5 on 30 labels: worse"}]}
    lines = describe_invocation(SimpleNamespace(target_arn="arn:aws:lambda:us-east-1:1:function:Monitor",
                                                error=None, payload=payload))
    assert lines == ["[schedule] Monitor: 1 model(s) with a champion",
                     "[monitor] cancer v1: 169 labels, quality 0.231 (published)",
                     "[monitor] re-armed stk-drift-cancer: Evergreen monitor: 100% of the features still drift",
                     "[rollout] cancer v2 (canary): rolled back: live quality champion v1 0.9 on 30 labels, "
                     "challenger v2 0.5 on 30 labels: worse"]


@pytest.mark.parametrize("variables, ports", [([], (4566, 8080)), (["PORT=4600", "API_PORT=8181"], (4600, 8181)),
                                              (["API_PORT=8181"], (4566, 8181))])
def test_make_up_takes_the_ports_from_make(variables, ports):
    import shlex

    from evergreen_cli.local.__main__ import build_parser

    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "API_PORT", "MAKEFLAGS", "MAKELEVEL")}
    planned = subprocess.run(["make", "-n", "up", *variables], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    [command] = [line for line in planned.stdout.splitlines() if " -m evergreen_cli.local up" in line]
    argv = shlex.split(command)
    args = build_parser().parse_args(argv[argv.index("evergreen_cli.local") + 1:])
    assert (args.command, args.port, args.api_port) == ("up", *ports)


def test_up_and_demo_find_the_project_root_from_a_subdirectory_or_say_why_not(tmp_path, monkeypatch, capsys):
    from evergreen_cli.local.__main__ import main
    from evergreen_cli.local.stack import find_root

    assert find_root(ROOT / "functions" / "train") == find_root(ROOT) == ROOT
    monkeypatch.chdir(ROOT / "examples")
    assert find_root() == ROOT
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(f"no template.yaml in {tmp_path.resolve()} or its parents")):
        find_root()
    with pytest.raises(SystemExit) as exit_:
        main(["demo"])
    assert exit_.value.code == 2 and "pass --root" in capsys.readouterr().err
