"""Lint the pipeline state machine against the template and the step contracts (cfn-lint does not look inside ASL)."""

from __future__ import annotations

import json
import re

import pytest

from evergreen import contracts
from tests.support.asl import LAMBDA_ERRORS, TEMPLATE, all_states, check_map_children_policy, check_payload_matches_handler, check_transitions, machine

PIPELINE = machine("PipelineStateMachine")
SM, ASL_TEXT, ASL = PIPELINE.properties, PIPELINE.text, PIPELINE.asl
STATES = all_states(ASL)
TASKS = [(n, s) for n, s, _ in STATES if s["Type"] == "Task" and s["Resource"].startswith("${")]  # our Lambdas
SERVICE_TASKS = [(n, s) for n, s, _ in STATES if s["Type"] == "Task" and not s["Resource"].startswith("${")]


def test_every_transition_target_exists():
    check_transitions(ASL)


@pytest.mark.parametrize("name,state", TASKS, ids=[n for n, _ in TASKS])
def test_every_task_retries_lambda_errors_and_catches(name, state):
    retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
    assert LAMBDA_ERRORS <= retried, f"{name} does not retry {LAMBDA_ERRORS - retried}"
    assert state.get("Catch"), f"{name} has no Catch"
    assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"])
    # Catch keeps the input: the error goes to the $.error slot (RecordFailure keeps the original error there)
    slot = "$.record_error" if name == "RecordFailure" else "$.error"
    assert all(c.get("ResultPath") == slot for c in state["Catch"]), f"{name}: Catch must write {slot} only"
    assert "TimeoutSeconds" in state


def test_the_sagemaker_training_job_is_the_one_service_task_besides_the_crash_record_and_takes_what_prepare_builds():
    import botocore.session

    from evergreen import sagemaker_refit
    from tests.support.runs import run_context

    [(name, state)] = [(n, s) for n, s in SERVICE_TASKS if "sagemaker" in s["Resource"]]
    assert {s["Resource"] for _, s in SERVICE_TASKS} == {state["Resource"], "arn:aws:states:::dynamodb:putItem"}
    assert state["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]) and "TimeoutSeconds" in state
    assert all(c.get("ResultPath") == "$.error" for c in state["Catch"])
    operation = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateTrainingJob")
    keys = {k.removesuffix(".$") for k in state["Parameters"]}
    assert set(operation.input_shape.required_members) <= keys <= set(operation.input_shape.members)
    trial = contracts.TrialResult(candidate_id="c", family="logistic_regression", params={}, status="ok",
                                  metric="accuracy", validation_score=1.0)
    prepared = {**sagemaker_refit.job_request(run_context(), trial, "s3://b/code.tar.gz", "s3://b/out/"),
                "RoleArn": "r", "AlgorithmSpecification": {}}  # as steps.refit.prepare_sagemaker returns it
    assert {v.removeprefix("$.sagemaker.") for v in state["Parameters"].values()} == set(prepared) == keys


def test_every_substitution_is_defined_and_used():
    used = set(re.findall(r"\$\{(\w+)\}", ASL_TEXT))
    defined = set(SM["DefinitionSubstitutions"])
    assert used == defined, f"undefined: {used - defined}; unused: {defined - used}"
    for var, value in SM["DefinitionSubstitutions"].items():
        if var == "ExperimentsTableName":  # TrialCrashed's putItem
            assert value == {"Ref": "ExperimentsTable"}
            continue
        logical_id = value["Fn::GetAtt"][0]
        assert TEMPLATE["Resources"][logical_id]["Type"] == "AWS::Serverless::Function", var


def test_failures_end_in_a_fail_state_and_successes_in_succeed():
    states = ASL["States"]
    assert states["RecordFailure"]["Next"] == "FailureKind"
    assert {c["Next"] for c in states["FailureKind"]["Choices"]} | {states["FailureKind"]["Default"]} == {"StepFailed", "RunFailed"}
    assert states["RunFailed"]["Type"] == states["StepFailed"]["Type"] == "Fail"
    for name in ("RecordPromotion", "RecordRejection"):
        assert states[states[name]["Next"]]["Type"] == "Succeed"
    # nothing that moves the champion is reachable from a failure
    assert "Promote" not in json.dumps(states["RecordFailure"])
    # the execution's cause is FinishRun's clean reason, never Lambda's cause with its stack trace
    assert states["RunFailed"]["CausePath"] == states["StepFailed"]["CausePath"] == "$.outcome.reason"
    assert states["RecordFailure"]["Catch"][0]["Next"] == "FailureUnrecorded"
    assert states["FailureUnrecorded"]["ResultPath"] == "$.outcome" and states["FailureUnrecorded"]["Result"]["reason"]


def test_repeated_events_and_objects_that_are_not_data_end_skipped_without_an_alert():
    from evergreen.steps import ingest

    states = ASL["States"]
    first = states["Ingest"]["Catch"][0]
    assert set(first["ErrorEquals"]) == {ingest.DuplicateUpload.__name__, ingest.IgnoredUpload.__name__,
                                         ingest.RetrainSkipped.__name__}
    skip = states[first["Next"]]
    assert skip["Parameters"]["outcome"] == "skipped" and states[skip["Next"]]["Type"] == "Succeed"


@pytest.mark.parametrize("name,state", TASKS, ids=[n for n, _ in TASKS])
def test_task_payload_matches_the_handler_contract(name, state):
    check_payload_matches_handler(name, state, SM, contracts)


def test_slots_are_produced_before_they_are_read():
    """Walk the main path in order: every $.slot a Task reads was written by an earlier ResultPath."""
    produced = {"$"}
    order = ["Ingest", "TrainRung", "NextRung", "RefitWinner", "Export", "Evaluate", "Promote", "RecordPromotion"]
    for name in order:
        state = ASL["States"][name]
        params = state.get("Parameters") or state.get("ItemSelector") or {}
        params = {**params, **(state.get("ItemReader") or {}).get("Parameters", {})}
        for value in params.values():
            if isinstance(value, str) and value.startswith("$.") :
                slot = "$." + value[2:].split(".")[0]
                assert slot in produced, f"{name} reads {value} before anything writes {slot}"
        produced.add(state["ResultPath"])
    assert {"$.run", "$.trials", "$.run.search", "$.evaluation", "$.export", "$.promotion"} <= produced


def test_the_search_loops_over_rungs_until_next_rung_ends_it():
    states = ASL["States"]
    assert states["Ingest"]["Next"] == "TrainRung" and states["TrainRung"]["Next"] == "NextRung"
    # the rung's configurations come from S3 (Ingest and NextRung write them), its trials go to the
    # experiments table: neither travels in the state, nor does the Map's result
    assert "ItemsPath" not in states["TrainRung"]
    assert states["TrainRung"]["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket.$": "$.run.dataset.bucket", "Key.$": "$.run.search.items_key"}}
    assert states["TrainRung"]["ResultPath"] is None
    assert states["NextRung"]["Parameters"] == {"run.$": "$.run"}
    assert states["NextRung"]["ResultPath"] == "$.run.search" and states["NextRung"]["Next"] == "SearchDone"
    [done] = states["SearchDone"]["Choices"]
    assert done == {"Variable": "$.run.search.done", "BooleanEquals": True, "Next": "RefitWhere"}
    assert states["SearchDone"]["Default"] == "TrainRung"
    for name in ("RefitWinner", "PrepareSageMakerRefit", "CollectSageMakerRefit"):
        assert states[name]["Parameters"]["trials.$"] == "$.run.search.finalists"


def test_map_is_distributed_bounded_and_iterations_cannot_fail_the_run():
    train = ASL["States"]["TrainRung"]
    # STANDARD children: moto runs them, EXPRESS it does not (FACTS); and a trial may take 15 minutes
    assert train["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert 1 <= train["MaxConcurrency"] <= 10  # a new account's Lambda concurrency is 10
    # a failed child never fails the Map (moto ignores the setting; AWS would fail the Map without it).
    # A float: moto's ASL parser refuses an integer here ("no viable alternative at input")
    assert train["ToleratedFailurePercentage"] == 100.0 and isinstance(train["ToleratedFailurePercentage"], float)
    inner = train["ItemProcessor"]["States"]
    assert inner["Train"]["ResultSelector"] == {"status.$": "$.status"}  # a child's output stays tiny
    assert inner["Train"]["Catch"][0]["Next"] == "TrialCrashed"
    crashed = inner["TrialCrashed"]
    assert crashed["Resource"] == "arn:aws:states:::dynamodb:putItem"
    assert crashed["Parameters"]["TableName"] == "${ExperimentsTableName}"
    assert crashed["Parameters"]["Item"]["sk"] == {"S.$": "States.Format('crash#{}#{}', $.rung, $.candidate.candidate_id)"}
    assert crashed["Catch"][0]["Next"] == "CrashUnrecorded" and inner["CrashUnrecorded"]["Type"] == "Pass"


def test_the_state_machine_role_lets_the_map_start_its_children_and_read_its_items():
    statements = check_map_children_policy(SM)
    [items] = [s for s in statements if s["Action"] == ["s3:GetObject"]]
    assert items["Resource"] == {"Fn::Sub": "${ArtifactsBucket.Arn}/runs/*/search/*"}
    [crash] = [s for s in statements if s["Action"] == ["dynamodb:PutItem"]]
    assert crash["Resource"] == {"Fn::GetAtt": ["ExperimentsTable", "Arn"]}


def test_execution_name_is_the_run_id():
    assert ASL["States"]["Ingest"]["Parameters"]["run_id.$"] == "$$.Execution.Name"


def test_finish_run_can_read_what_the_run_cost():
    """FinishRun gets the execution's ARN for its history, may read the memory of every function the
    pipeline's own states invoke (its own it reads from its context) and knows the Map's child state,
    whose invocations the trial records time (evergreen.steps.finish_run.run_cost)."""
    from evergreen.steps import finish_run

    finishers = [s for _, s in TASKS if s["Resource"] == "${FinishRunFunctionArn}"]
    assert finishers and all(s["Parameters"]["execution_arn.$"] == "$$.Execution.Id" for s in finishers)
    [child] = [n for n, s, _ in STATES if n.startswith("TrainRung/") and s["Type"] == "Task" and s["Resource"].startswith("${")]
    assert child == f"TrainRung/{finish_run.TRIALS_STEP}"
    invoked = {s["Resource"][2:-1] for n, s in TASKS if "/" not in n} - {"FinishRunFunctionArn"}
    policy = TEMPLATE["Resources"]["FinishRunFunction"]["Properties"]["Policies"]
    statements = [s for p in policy if "Statement" in p for s in p["Statement"]]
    [memory] = [s for s in statements if s["Action"] == ["lambda:GetFunctionConfiguration"]]
    assert {f"{r['Fn::GetAtt'][0]}Arn" for r in memory["Resource"]} == invoked
    [history] = [s for s in statements if s["Action"] == ["states:GetExecutionHistory"]]
    [map_runs] = [s for s in statements if s["Action"] == ["states:DescribeMapRun"]]
    name = SM["Name"]["Fn::Sub"]
    assert history["Resource"]["Fn::Sub"].endswith(f":execution:{name}:*")
    assert map_runs["Resource"]["Fn::Sub"].endswith(f":mapRun:{name}/*")


def test_an_upload_that_finds_its_model_busy_waits_for_it():
    from evergreen.steps import ingest

    [wait] = [r for r in ASL["States"]["Ingest"]["Retry"] if r["ErrorEquals"] == [ingest.RunInProgress.__name__]]
    assert wait["IntervalSeconds"] * wait["MaxAttempts"] >= 15 * 60  # up to 20 min: longer than a typical run
