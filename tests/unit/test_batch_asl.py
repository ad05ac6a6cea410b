"""Lint statemachines/batch_scoring.asl.json against the template and the batch step contracts."""

from __future__ import annotations

import dataclasses
import re

import pytest

from evergreen import batch, batch_contracts, storage
from tests.support.asl import LAMBDA_ERRORS, TEMPLATE, check_map_children_policy, check_payload_matches_handler, check_transitions, machine

BATCH = machine("BatchScoringStateMachine")
MACHINE, ASL_TEXT, ASL = BATCH.properties, BATCH.text, BATCH.asl
MAP = ASL["States"]["ScoreChunks"]
INNER = MAP["ItemProcessor"]["States"]
TASKS = [(name, state) for name, state in ASL["States"].items() if state["Type"] == "Task"]
TASKS += [(f"ScoreChunks/{name}", state) for name, state in INNER.items() if state["Type"] == "Task"]


def test_every_transition_target_exists():
    check_transitions(ASL)


@pytest.mark.parametrize("name,state", TASKS, ids=[n for n, _ in TASKS])
def test_every_task_retries_lambda_errors_and_has_a_timeout(name, state):
    retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
    assert LAMBDA_ERRORS <= retried, f"{name} does not retry {LAMBDA_ERRORS - retried}"
    assert "TimeoutSeconds" in state


def test_failures_keep_the_input_and_end_in_a_fail_state_with_a_clean_cause():
    states = ASL["States"]
    for name, state in TASKS:
        if name.startswith("ScoreChunks/"):
            # a chunk that fails fails its child execution and so the Map: no row may go missing silently
            assert "Catch" not in state, name
            continue
        slot = "$.record_error" if name == "RecordFailure" else "$.error"
        assert state["Catch"] and all(c["ResultPath"] == slot for c in state["Catch"]), name
        assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), name
    assert any("States.ALL" in c["ErrorEquals"] and c["Next"] == "RecordFailure" for c in MAP["Catch"])
    assert states["RecordFailure"]["Next"] == "FailureKind"
    assert {c["Next"] for c in states["FailureKind"]["Choices"]} | {states["FailureKind"]["Default"]} == \
        {"StepFailed", "BatchFailed"}
    assert states["StepFailed"]["CausePath"] == states["BatchFailed"]["CausePath"] == "$.outcome.reason"
    assert states["FailureUnrecorded"]["ResultPath"] == "$.outcome" and states["FailureUnrecorded"]["Result"]["reason"]
    assert states[states["Combine"]["Next"]]["Type"] == "Succeed"


def test_uploads_that_are_not_data_and_repeated_events_end_skipped():
    from evergreen.steps import batch_plan

    skip = ASL["States"]["Plan"]["Catch"][0]
    assert set(skip["ErrorEquals"]) == {batch_plan.IgnoredUpload.__name__, batch_plan.AlreadyScored.__name__}
    assert ASL["States"][skip["Next"]]["Type"] == "Succeed"


def test_every_substitution_is_defined_and_used():
    used = set(re.findall(r"\$\{(\w+)\}", ASL_TEXT))
    assert used == set(MACHINE["DefinitionSubstitutions"])
    for value in MACHINE["DefinitionSubstitutions"].values():
        assert TEMPLATE["Resources"][value["Fn::GetAtt"][0]]["Type"] == "AWS::Serverless::Function"


@pytest.mark.parametrize("name,state", TASKS, ids=[n for n, _ in TASKS])
def test_task_payload_matches_the_handler_contract(name, state):
    check_payload_matches_handler(name, state, MACHINE, batch_contracts)


def test_the_map_is_distributed_over_the_manifest_plan_wrote():
    assert MAP["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    reader = MAP["ItemReader"]
    assert reader["Resource"] == "arn:aws:states:::s3:getObject" and reader["ReaderConfig"]["InputType"] == "JSON"
    assert reader["Parameters"] == {"Bucket.$": "$.plan.work_bucket", "Key.$": "$.plan.manifest_key"}
    assert {"work_bucket", "manifest_key"} <= set(batch_contracts.BatchPlan.model_fields)
    assert {k.removesuffix(".$") for k in MAP["ItemSelector"]} == set(batch_contracts.ScoreChunkInput.model_fields)
    assert MAP["ItemSelector"]["chunk.$"] == "$$.Map.Item.Value"
    assert 1 <= MAP["MaxConcurrency"] <= 10  # a new account's Lambda concurrency quota
    # the manifest's items are ChunkRefs, written from evergreen.batch.Chunk
    assert set(batch_contracts.ChunkRef.model_fields) == {f.name for f in dataclasses.fields(batch.Chunk)}
    # the Map's results stay within the 256 KB state: MAX_CHUNKS results of the largest counts
    widest = batch_contracts.ChunkResult(index=batch.MAX_CHUNKS, scored=10**7, rejected=10**7,
                                         predictions_bytes=10**10, rejected_bytes=10**10)
    assert batch.MAX_CHUNKS * len(widest.model_dump_json()) < 200_000


def test_the_slots_are_written_before_they_are_read():
    states = ASL["States"]
    assert states["Plan"]["Parameters"]["batch_id.$"] == "$$.Execution.Name"
    assert states["Plan"]["ResultPath"] == "$.plan" and MAP["ResultPath"] == "$.chunks"
    assert states["Combine"]["Parameters"] == {"plan.$": "$.plan", "chunks.$": "$.chunks",
                                               "started_at.$": "$$.Execution.StartTime"}


def test_only_uploads_under_score_start_a_batch_and_its_outputs_start_nothing():
    pattern = MACHINE["Events"]["ScoreUpload"]["Properties"]["Pattern"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": storage.SCORE_PREFIX}]
    for prefix in (storage.SCORED_PREFIX, "specs/"):
        assert not prefix.startswith(storage.SCORE_PREFIX)
    pipeline = TEMPLATE["Resources"]["PipelineStateMachine"]["Properties"]["Events"]["Upload"]["Properties"]["Pattern"]
    upload_prefix = pipeline["detail"]["object"]["key"][0]["prefix"]
    assert not storage.SCORED_PREFIX.startswith(upload_prefix) and not storage.SCORE_PREFIX.startswith(upload_prefix)


def test_the_distributed_map_may_start_children_of_its_own_machine_only():
    check_map_children_policy(MACHINE)
