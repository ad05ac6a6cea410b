"""Each shim of evergreen_cli.local.shims (one module per service) alone, on plain moto (no template)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from evergreen_cli.local.shims.cloudwatch import AlarmEvaluator, UnsupportedAlarm, create_alarms
from evergreen_cli.local.shims.dynamodb import SerialDynamoDB
from evergreen_cli.local.shims.events import (EventBridgeToStepFunctions, ScheduledRules, UnsupportedSchedule,
                                              rate_seconds, target_input)
from evergreen_cli.local.shims.lambda_ import EnvironmentConflict, InProcessLambda
from evergreen_cli.local.shims.s3 import configure_buckets
from evergreen_cli.local.shims.stepfunctions import DefaultExecutionName, register_state_machines
from evergreen_cli.local.template import FunctionSpec

from .conftest import FIXTURES, create_function

ECHO_ENV = {"TABLE_NAME": "t1", "GREETING": "hi", "POWERTOOLS_LOG_LEVEL": "INFO"}
FAIL_ENV = {"FAIL_MESSAGE": "it broke"}


def _specs(**names: str) -> dict[str, FunctionSpec]:
    return {name: FunctionSpec(name.title(), FIXTURES / "functions" / code, "app.handler", (FIXTURES / "layer",))
            for name, code in names.items()}


@pytest.fixture
def lambdas(aws):
    create_function(aws, "echo", "echo", ECHO_ENV)
    create_function(aws, "fail", "fail", FAIL_ENV)
    with InProcessLambda(_specs(echo="echo", fail="fail"), aws.client("lambda"),
                               {"POWERTOOLS_LOG_LEVEL": "WARNING"}) as shim:
        yield aws.client("lambda"), shim


def _invoke(client, name, event):
    answer = client.invoke(FunctionName=name, Payload=json.dumps(event))
    return answer.get("FunctionError"), json.loads(answer["Payload"].read())


# --------------------------------------------------------------------------- InProcessLambda


def test_lambda_runs_the_real_handler_with_a_lambda_context(lambdas):
    client, shim = lambdas
    error, payload = _invoke(client, "echo", {"input": {"items": [7]}})
    assert error is None
    about = payload["about"]
    assert payload["items"] == [7]
    assert about["table"] == "t1" and about["greeting"] == "hi" and about["layer"] == "helper-layer"
    assert about["function_name"] == "echo" and about["memory"] == 512
    assert about["arn"].endswith(":function:echo") and 0 < about["remaining_ms"] <= 7000
    assert about["log_level"] == "WARNING"  # the local override wins over the function's INFO
    [call] = shim.invocations
    assert (call.function, call.function_name, call.error_type) == ("Echo", "echo", None)
    assert call.request_id == about["request_id"]


def test_lambda_exception_is_an_unhandled_function_error(lambdas):
    client, shim = lambdas
    error, payload = _invoke(client, "fail", {"mode": "boom", "run_id": "r1"})
    assert error == "Unhandled"
    assert payload["errorType"] == "ValueError" and payload["errorMessage"] == "it broke"
    assert set(payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert all("fixtures/functions/fail/app.py" in frame for frame in payload["stackTrace"])
    assert shim.invocations[-1].error_type == "ValueError"


def test_lambda_runtime_errors_look_like_the_runtimes(aws):
    create_function(aws, "odd", "odd")
    create_function(aws, "broken", "odd")
    specs = {"odd": FunctionSpec("Odd", FIXTURES / "functions/odd", "app.handler"),
             "broken": FunctionSpec("Broken", FIXTURES / "functions/odd", "broken.handler")}
    client = aws.client("lambda")
    with InProcessLambda(specs, client):
        error, payload = _invoke(client, "odd", {})
        assert (error, payload["errorType"]) == ("Unhandled", "Runtime.MarshalError")
        error, payload = _invoke(client, "broken", {})
        assert (error, payload["errorType"]) == ("Unhandled", "Runtime.ImportModuleError")
        assert payload["errorMessage"].startswith("Unable to import module 'broken': No module named")


def test_lambda_environment_is_the_union_and_is_restored(aws):
    create_function(aws, "echo", "echo", ECHO_ENV)
    create_function(aws, "fail", "fail", FAIL_ENV)
    before = {k: os.environ.get(k) for k in ("TABLE_NAME", "GREETING", "FAIL_MESSAGE")}
    with InProcessLambda(_specs(echo="echo", fail="fail"), aws.client("lambda")):
        assert (os.environ["TABLE_NAME"], os.environ["FAIL_MESSAGE"]) == ("t1", "it broke")
    assert {k: os.environ.get(k) for k in before} == before
    assert not [m for m in sys.modules if m.startswith("_evergreen_local_")]
    assert str(FIXTURES / "layer") not in sys.path


def test_lambda_environment_conflict_is_a_clear_error(aws):
    create_function(aws, "echo", "echo", ECHO_ENV)
    create_function(aws, "fail", "fail", {**FAIL_ENV, "TABLE_NAME": "other"})
    shim = InProcessLambda(_specs(echo="echo", fail="fail"), aws.client("lambda"))
    with pytest.raises(EnvironmentConflict, match="TABLE_NAME is 't1' in echo but 'other' in fail"):
        shim.install()
    assert os.environ.get("TABLE_NAME") != "t1"


def test_lambda_not_in_the_map_keeps_motos_behaviour(lambdas, aws):
    client, _ = lambdas
    create_function(aws, "other", "echo")
    answer = client.invoke(FunctionName="other", Payload=b'{"a": 1}')
    assert json.loads(answer["Payload"].read()) == {"a": 1}  # moto's simple backend echoes


def test_lambda_concurrent_invocations_import_the_handler_once(lambdas):
    client, shim = lambdas
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _invoke(client, "echo", {"item": i}), range(24)))
    assert [r[1]["item"] for r in results] == list(range(24))
    assert len({r[1]["thread"] for r in results}) > 1
    assert [m for m in sys.modules if m.startswith("_evergreen_local_Echo")] == ["_evergreen_local_Echo_app"]
    assert len(shim.invocations) == 24


# --------------------------------------------------------------------------- EventBridge -> Step Functions


def test_eventbridge_rule_starts_an_execution_and_keeps_other_targets(aws):
    sfn, events, sqs = aws.client("stepfunctions"), aws.client("events"), aws.client("sqs")
    role = aws.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = sfn.create_state_machine(name="m", roleArn=role, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="rule", EventPattern=json.dumps({"source": ["fixture"]}))
    events.put_targets(Rule="rule", Targets=[{"Id": "sfn", "Arn": machine, "RoleArn": role},
                                             {"Id": "q", "Arn": queue_arn}])
    with EventBridgeToStepFunctions() as shim:
        events.put_events(Entries=[{"Source": "fixture", "DetailType": "Thing Happened", "Detail": '{"a": 1}'}])
        events.put_events(Entries=[{"Source": "other", "DetailType": "Thing Happened", "Detail": '{"a": 2}'}])
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    event = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert event["detail"] == {"a": 1} and event["source"] == "fixture"
    assert dt.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert [d.execution_arn for d in shim.deliveries] == [execution["executionArn"]]
    assert len(sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])) == 1


def test_target_input_follows_the_target_settings():
    event = {"detail": {"a": 1}, "source": "s"}
    assert target_input({"Arn": "x"}, event) is event
    assert target_input({"Arn": "x", "Input": '{"fixed": true}'}, event) == {"fixed": True}
    assert target_input({"Arn": "x", "InputPath": "$.detail"}, event) == {"a": 1}


def test_execution_without_a_name_gets_a_uuid(aws):
    sfn = aws.client("stepfunctions")
    role = aws.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = sfn.create_state_machine(name="m", roleArn=role, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    with DefaultExecutionName():
        arns = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(2)]
    assert len(set(arns)) == 2 and not any(a.endswith(":None") for a in arns)


# --------------------------------------------------------------------------- EventBridge schedules


T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)


def _queue(aws, name):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_scheduled_rule_invokes_its_lambda_in_process_with_the_scheduled_event_at_its_rate(lambdas, aws):
    client, shim = lambdas
    events = aws.client("events")
    echo = client.get_function(FunctionName="echo")["Configuration"]["FunctionArn"]
    rule = events.put_rule(Name="every-5", ScheduleExpression="rate(5 minutes)")["RuleArn"]
    events.put_targets(Rule="every-5", Targets=[{"Id": "echo", "Arn": echo}])
    events.put_rule(Name="paused", ScheduleExpression="rate(1 minute)", State="DISABLED")
    events.put_targets(Rule="paused", Targets=[{"Id": "echo", "Arn": echo}])
    events.put_rule(Name="pattern", EventPattern=json.dumps({"source": ["fixture"]}))
    events.put_targets(Rule="pattern", Targets=[{"Id": "echo", "Arn": echo}])
    ticker = ScheduledRules(events, client)
    assert [r["Name"] for r in ticker.rules()] == ["every-5"] and ticker.rules()[0]["RateSeconds"] == 300

    [first] = ticker.tick(T0)  # a rule that never fired fires on the first tick
    assert (first.rule, first.rule_arn, first.target_arn, first.error) == ("every-5", rule, echo, None)
    event = first.payload["event"]
    assert event == {"version": "0", "id": event["id"], "detail-type": "Scheduled Event", "source": "aws.events",
                     "account": "123456789012", "time": "2026-11-23T10:00:00Z", "region": "us-east-1",
                     "resources": [rule], "detail": {}}
    assert first.payload["about"]["function_name"] == "echo"  # the real handler, in this process
    assert [i.function for i in shim.invocations] == ["Echo"]

    assert ticker.tick(T0 + dt.timedelta(minutes=4, seconds=59)) == []  # the rate has not elapsed
    [forced] = ticker.tick(T0 + dt.timedelta(minutes=4, seconds=59), force=True)
    assert forced.payload["event"]["time"] == "2026-11-23T10:04:59Z" and forced.payload["event"]["id"] != event["id"]
    assert ticker.tick(T0 + dt.timedelta(minutes=9, seconds=58)) == []  # the rate counts from the forced run
    assert len(ticker.tick(T0 + dt.timedelta(minutes=9, seconds=59))) == 1
    assert len(shim.invocations) == 3


def test_scheduled_rule_reports_a_failing_function_and_undeliverable_targets(lambdas, aws):
    client, _ = lambdas
    events = aws.client("events")
    fail = client.get_function(FunctionName="fail")["Configuration"]["FunctionArn"]
    _, queue_arn = _queue(aws, "q")
    events.put_rule(Name="hourly", ScheduleExpression="rate(1 hour)")
    events.put_targets(Rule="hourly", Targets=[{"Id": "fail", "Arn": fail, "Input": json.dumps({"mode": "boom", "run_id": "s"})},
                                               {"Id": "q", "Arn": queue_arn}])
    failed, queued = ScheduledRules(events, client).tick(T0)
    assert failed.error == "Unhandled"
    assert failed.payload["errorType"] == "ValueError" and failed.payload["errorMessage"] == "it broke"
    assert queued.payload is None and queued.error == "only Lambda targets of scheduled rules are delivered locally"


def test_a_scheduled_rule_gets_no_bus_events(aws):
    """moto matches a rule without a pattern to every event on the bus; AWS never does."""
    events = aws.client("events")
    url, queue_arn = _queue(aws, "scheduled")
    events.put_rule(Name="scheduled", ScheduleExpression="rate(5 minutes)")
    events.put_targets(Rule="scheduled", Targets=[{"Id": "q", "Arn": queue_arn}])
    with EventBridgeToStepFunctions():
        events.put_events(Entries=[{"Source": "fixture", "DetailType": "Thing Happened", "Detail": "{}"}])
    assert aws.client("sqs").receive_message(QueueUrl=url).get("Messages", []) == []


@pytest.mark.parametrize(("expression", "seconds"), [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800)])
def test_rate_seconds(expression, seconds):
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize(("expression", "why"), [
    ("cron(0 12 * * ? *)", "only rate"), ("rate(1 minutes)", "not valid on AWS"), ("rate(5 minute)", "not valid on AWS")])
def test_schedules_the_local_ticker_cannot_fire_are_refused(expression, why):
    with pytest.raises(UnsupportedSchedule, match=why):
        rate_seconds(expression)


# --------------------------------------------------------------------------- CloudWatch alarms


ALARM = {"AlarmName": "quality", "Namespace": "Fixture", "MetricName": "Quality",
         "Dimensions": [{"Name": "Model", "Value": "m"}], "Statistic": "Average", "Period": 60,
         "EvaluationPeriods": 1, "Threshold": 0.7, "ComparisonOperator": "LessThanThreshold",
         "TreatMissingData": "notBreaching", "AlarmDescription": "quality fell"}


def test_alarm_tick_goes_to_alarm_and_emits_the_aws_event(aws):
    cw, events, sqs = aws.client("cloudwatch"), aws.client("events"), aws.client("sqs")
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="alarms", EventPattern=json.dumps({"source": ["aws.cloudwatch"]}))
    events.put_targets(Rule="alarms", Targets=[{"Id": "q", "Arn": queue_arn}])
    cw.put_metric_alarm(**ALARM)
    evaluator = AlarmEvaluator(cw, events)
    assert evaluator.tick() == []  # moto starts OK; no data, notBreaching: still OK
    cw.put_metric_data(Namespace="Fixture", MetricData=[
        {"MetricName": "Quality", "Dimensions": [{"Name": "Model", "Value": "m"}], "Value": v} for v in (0.2, 0.6)])
    cw.put_metric_data(Namespace="Fixture", MetricData=[{"MetricName": "Quality", "Value": 0.0}])  # other dims
    [transition] = evaluator.tick()
    assert (transition.previous, transition.state, transition.datapoints) == ("OK", "ALARM", (0.4,))
    assert evaluator.tick() == []
    alarm = cw.describe_alarms(AlarmNames=["quality"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    [message] = sqs.receive_message(QueueUrl=queue).get("Messages", [])
    event = json.loads(message["Body"])
    assert event["source"] == "aws.cloudwatch" and event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == [alarm["AlarmArn"]]
    detail = event["detail"]
    assert detail["alarmName"] == "quality"
    assert detail["state"]["value"] == "ALARM" and "0.4" in detail["state"]["reason"]
    assert dt.datetime.strptime(detail["state"]["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert detail["previousState"]["value"] == "OK"
    [metric] = detail["configuration"]["metrics"]
    assert metric["metricStat"] == {"metric": {"namespace": "Fixture", "name": "Quality", "dimensions": {"Model": "m"}},
                                    "period": 60, "stat": "Average"}


@pytest.mark.parametrize(("treat", "values", "state"), [
    ("notBreaching", [None, None], "OK"),
    ("breaching", [None, None], "ALARM"),
    ("missing", [None, None], "INSUFFICIENT_DATA"),
    ("ignore", [None, None], "OK"),  # keeps the current state
    ("missing", [0.1, None], "OK"),  # 1 of 2 needed
    ("breaching", [0.1, None], "ALARM"),
    ("notBreaching", [0.1, 0.2], "ALARM"),
    ("notBreaching", [0.9, 0.2], "OK"),
])
def test_alarm_decision_follows_treat_missing_data(treat, values, state):
    alarm = {**ALARM, "EvaluationPeriods": 2, "TreatMissingData": treat, "StateValue": "OK"}
    assert AlarmEvaluator.decide(alarm, values)[0] == state


def test_alarm_datapoints_to_alarm_m_out_of_n():
    alarm = {**ALARM, "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "StateValue": "OK"}
    assert AlarmEvaluator.decide(alarm, [0.1, 0.9, 0.2])[0] == "ALARM"
    assert AlarmEvaluator.decide(alarm, [0.1, 0.9, 0.9])[0] == "OK"


def test_metric_math_alarms_are_refused(aws):
    cw = aws.client("cloudwatch")
    cw.put_metric_alarm(AlarmName="math", EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
                        Metrics=[{"Id": "e1", "Expression": "m1 * 2", "ReturnData": True},
                                 {"Id": "m1", "ReturnData": False, "MetricStat": {"Metric": {
                                     "Namespace": "N", "MetricName": "M"}, "Period": 60, "Stat": "Sum"}}])
    with pytest.raises(UnsupportedAlarm, match="math: metric-math"):
        AlarmEvaluator(cw, aws.client("events")).tick()


def test_create_alarms_coerces_cfn_values_and_starts_insufficient(aws):
    cw = aws.client("cloudwatch")
    resource = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        **ALARM, "Period": "60", "EvaluationPeriods": "1", "Threshold": "0.7", "AlarmName": "from-cfn"}}
    assert create_alarms(cw, {"QualityAlarm": resource}, lambda v: v) == {"QualityAlarm": "from-cfn"}
    alarm = cw.describe_alarms(AlarmNames=["from-cfn"])["MetricAlarms"][0]
    assert (alarm["Period"], alarm["Threshold"], alarm["StateValue"]) == (60, 0.7, "INSUFFICIENT_DATA")


# --------------------------------------------------------------------------- DynamoDB


@pytest.fixture
def switch_often():
    """Threads switch every microsecond, so a race that needs an unlucky switch shows in a short test."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_dynamodb_answers_queries_beside_concurrent_writes(aws, switch_often):
    """Without the shim, moto's Query walks the table's dict while PutItem grows it ("dictionary changed
    size during iteration"): this test failed so in each of 3 runs without the shim."""
    client = aws.client("dynamodb")
    client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}])

    def write(n):
        for i in range(100):
            client.put_item(TableName="t", Item={"pk": {"S": "run"}, "sk": {"S": f"{n}-{i}"}})

    def read(_):
        return [client.query(TableName="t", KeyConditionExpression="pk = :p",
                             ExpressionAttributeValues={":p": {"S": "run"}})["Count"] for _ in range(100)]

    with SerialDynamoDB(), ThreadPoolExecutor(6) as pool:
        writes = [pool.submit(write, n) for n in range(3)]
        reads = [pool.submit(read, n) for n in range(3)]
        counts = [r.result() for r in reads]  # raises what a query raised
        [w.result() for w in writes]
        assert client.query(TableName="t", KeyConditionExpression="pk = :p",
                            ExpressionAttributeValues={":p": {"S": "run"}})["Count"] == 300
    assert all(seen == sorted(seen) for seen in counts)  # each saw the table between two writes, growing


# --------------------------------------------------------------------------- S3 buckets, state machines


def test_configure_buckets_turns_on_versioning_and_eventbridge_keeping_other_notifications(aws):
    s3, sqs, events = aws.client("s3"), aws.client("sqs"), aws.client("events")
    direct, via_events = (sqs.create_queue(QueueName=n)["QueueUrl"] for n in ("direct", "via-events"))
    arn = {q: sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
           for q in (direct, via_events)}
    events.put_rule(Name="s3", EventPattern=json.dumps({"source": ["aws.s3"]}))
    events.put_targets(Rule="s3", Targets=[{"Id": "q", "Arn": arn[via_events]}])
    s3.create_bucket(Bucket="bkt")
    s3.put_bucket_notification_configuration(Bucket="bkt", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn[direct], "Events": ["s3:ObjectCreated:*"]}]})
    configure_buckets(s3, {"bkt": {"VersioningConfiguration": {"Status": "Enabled"},
                                         "NotificationConfiguration": {"EventBridgeConfiguration": {
                                             "EventBridgeEnabled": True}}}})
    assert s3.get_bucket_versioning(Bucket="bkt")["Status"] == "Enabled"
    version = s3.put_object(Bucket="bkt", Key="uploads/x.csv", Body=b"a")["VersionId"]
    [message] = sqs.receive_message(QueueUrl=via_events)["Messages"]
    assert json.loads(message["Body"])["detail"]["object"]["version-id"] == version
    assert sqs.receive_message(QueueUrl=direct).get("Messages")  # the queue notification is still there


def test_register_state_machines_makes_cloudformations_machine_executable(aws):
    template = {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
            "DefinitionString": json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})}}}}
    cfn, sfn = aws.client("cloudformation"), aws.client("stepfunctions")
    cfn.create_stack(StackName="s", TemplateBody=json.dumps(template))
    arn = cfn.describe_stack_resource(StackName="s", LogicalResourceId="Machine")[
        "StackResourceDetail"]["PhysicalResourceId"]
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):  # the gap
        sfn.start_execution(stateMachineArn=arn, name="before")
    register_state_machines([arn])
    execution = sfn.start_execution(stateMachineArn=arn, name="after")["executionArn"]
    assert execution.startswith(arn.replace(":stateMachine:", ":execution:"))
