"""Rollout, rollback and pinning on moto: the aliases' audited moves (evergreen.aliases), serving a
canary or a shadow (evergreen.serving), the monitor's verdict on live labels (evergreen.steps.rollouts)
and the admin actions (evergreen.admin), with real ONNX models."""

from __future__ import annotations

from typing import Any

import pytest

from evergreen import admin, aliases, registry
from evergreen.serving import predict
from evergreen.serving.champion import ModelCache
from evergreen.serving.feedback import record_feedback
from evergreen.serving.requests import parse_feedback_request, parse_predict_request
from evergreen.steps import rollouts
from evergreen.onnx_model import sha256_hex
from evergreen.storage import Stores, model_key
from tests.support import tiny_model
from tests.support.infra import moto_stores

MODEL = "churn"


@pytest.fixture(scope="module")
def models() -> tuple[tiny_model.TinyModel, tiny_model.TinyModel]:
    return tiny_model.train_binary_classifier(seed=0), tiny_model.train_binary_classifier(seed=1)


@pytest.fixture
def stores(monkeypatch):
    yield from moto_stores(monkeypatch)


def record(stores: Stores, model: tiny_model.TinyModel, version: int) -> dict[str, Any]:
    """Upload the model's bytes and give the record Promote would register."""
    key = model_key(MODEL, version)
    stores.put_bytes(stores.artifacts_bucket, key, model.onnx_bytes)
    return {"model_key": key, "sha256": sha256_hex(model.onnx_bytes), "columns": model.columns, "primary_metric": "accuracy",
            "test_score": 0.9, "run_id": f"run-{version}", "decision": {"promote": True, "reason": "better"}}


def start(stores: Stores, models, mode: str, share: float = 0.5, min_labels: int = 20) -> None:
    """v1 champion, v2 its challenger in `mode`."""
    registry.register_champion(stores.registry, MODEL, 1, record(stores, models[0], 1), expected_version=None)
    aliases.enter_rollout(stores.registry, MODEL, 2, record(stores, models[1], 2), champion_version=1, mode=mode,
                          share=share, min_labels=min_labels, tolerance=0.0)


def ask(stores: Stores, cache: ModelCache, records: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    """One /predict per record -> the response bodies."""
    return [predict.predict(parse_predict_request({"record": r, **extra}, MODEL), cache, stores.predictions).body
            for r in records]


def cache_of(stores: Stores) -> ModelCache:
    return ModelCache(registry=stores.registry, s3=stores.s3, bucket=stores.artifacts_bucket, ttl_seconds=0)


def label_all(stores: Stores, bodies: list[dict[str, Any]], right_version: int) -> None:
    """Feedback on every prediction: the answer of `right_version` is right, any other answer wrong."""
    items = []
    for body in bodies:
        p = body["predictions"][0]
        wrong = "no" if p["prediction"] == "yes" else "yes"
        items.append({"prediction_id": p["prediction_id"], "label": p["prediction"] if body["model_version"] == right_version else wrong})
    for i in range(0, len(items), 100):
        record_feedback(parse_feedback_request({"feedback": items[i:i + 100]}), stores.predictions)


def test_every_move_is_one_audited_transaction(stores, models):
    start(stores, models, "canary")
    log = registry.audit_log(stores.registry, MODEL)
    assert [e["changes"] for e in reversed(log)] == [
        [{"alias": "champion", "from": None, "to": 1}],
        [{"alias": "challenger", "from": None, "to": 2}],
    ]
    assert "v2 enters canary beside champion v1 (50% of requests)" in log[0]["reason"]
    assert registry.get_alias(stores.registry, MODEL)["version"] == 1


def test_a_canary_answers_its_share_by_request_key_and_always_the_same_way(stores, models):
    start(stores, models, "canary", share=0.3)
    cache = cache_of(stores)
    records, _, _ = tiny_model.synthetic_records(400, seed=5)
    versions = [b["model_version"] for b in ask(stores, cache, records)]
    share = versions.count(2) / len(versions)
    assert 0.22 < share < 0.38, share  # 400 requests: the binomial spread around 0.3 is ~0.023
    again = [b["model_version"] for b in ask(stores, cache, records[:50])]
    assert again == versions[:50]  # the records are the key: the same request, the same model
    keyed = {b["model_version"] for b in ask(stores, cache, records[:40], request_key="user-7")}
    assert len(keyed) == 1  # one request key, one model, whatever the records


def test_in_shadow_the_champion_answers_and_the_challengers_answer_is_logged(stores, models):
    start(stores, models, "shadow")
    bodies = ask(stores, cache_of(stores), tiny_model.synthetic_records(30, seed=6)[0])
    assert {b["model_version"] for b in bodies} == {1}
    logged = stores.predictions.get_item(Key={"prediction_id": bodies[0]["predictions"][0]["prediction_id"]})["Item"]
    assert logged["model_version"] == 1 and logged["shadow"]["model_version"] == 2
    assert logged["shadow"]["prediction"] in ("no", "yes") and set(logged["shadow"]["probabilities"]) == {"no", "yes"}


@pytest.mark.parametrize("mode", ["canary", "shadow"])
def test_a_worse_challenger_is_rolled_back_and_a_better_one_promoted_on_live_labels(stores, models, mode):
    start(stores, models, mode, min_labels=20)
    cache = cache_of(stores)
    records = tiny_model.synthetic_records(120, seed=7)[0]
    bodies = ask(stores, cache, records[:60])
    assert rollouts.run(stores)[0].outcome == "waiting"  # no label yet
    # the champion's answers are right (in shadow it answered all: the challenger is wrong where they differ)
    label_all(stores, bodies, right_version=1)
    verdict = rollouts.run(stores)[0]
    assert verdict.outcome == "rolled_back" and verdict.challenger_quality < 1.0 == verdict.champion_quality, verdict
    assert registry.get_alias(stores.registry, MODEL, registry.CHALLENGER) is None
    assert registry.get_alias(stores.registry, MODEL)["version"] == 1  # the champion served throughout
    assert "challenger v2 rolled back: live quality champion v1 1.0000" in registry.audit_log(stores.registry, MODEL)[0]["reason"]

    aliases.enter_rollout(stores.registry, MODEL, 3, record(stores, models[1], 3), champion_version=1, mode="canary",
                          share=0.5, min_labels=20, tolerance=0.0)
    bodies = ask(stores, cache, records[60:])
    assert {b["model_version"] for b in bodies} == {1, 3}
    label_all(stores, bodies, right_version=3)
    verdict = rollouts.run(stores)[0]
    assert verdict.outcome == "promoted" and verdict.challenger_quality == 1.0, verdict
    champion = registry.get_alias(stores.registry, MODEL)
    assert champion["version"] == 3 and "rollout" not in champion
    assert registry.get_alias(stores.registry, MODEL, registry.PREVIOUS)["version"] == 1
    assert {b["model_version"] for b in ask(stores, cache, records[:20])} == {3}
    assert [e["actor"] for e in registry.audit_log(stores.registry, MODEL)[:2]] == ["monitor", "pipeline"]


def test_a_pinned_model_is_not_promoted_automatically_but_a_worse_challenger_still_goes(stores, models):
    start(stores, models, "canary", min_labels=20)
    admin.run(admin.AdminRequest(action="pin", model=MODEL, reason="quarter close", actor="ana"), stores)
    with pytest.raises(admin.AdminError, match="already pinned at champion v1 by ana \\(quarter close\\)"):
        admin.run(admin.AdminRequest(action="pin", model=MODEL, reason="again"), stores)
    with pytest.raises(registry.AliasesChanged, match="not pinned"):  # the pipeline cannot move the champion
        registry.register_champion(stores.registry, MODEL, 9, record(stores, models[1], 9), expected_version=1)
    bodies = ask(stores, cache_of(stores), tiny_model.synthetic_records(100, seed=8)[0])
    label_all(stores, bodies, right_version=2)
    verdict = rollouts.run(stores)[0]
    assert verdict.outcome == "waiting" and "pinned (quarter close)" in verdict.reason
    assert registry.get_alias(stores.registry, MODEL)["version"] == 1
    admin.run(admin.AdminRequest(action="unpin", model=MODEL, reason="closed", actor="ana"), stores)
    assert rollouts.run(stores)[0].outcome == "promoted"


def test_rollback_goes_to_a_verified_version_with_its_reason(stores, models):
    start(stores, models, "canary")
    admin.run(admin.AdminRequest(action="promote", model=MODEL, reason="looks good", actor="ana"), stores)
    assert registry.get_alias(stores.registry, MODEL)["version"] == 2
    out = admin.run(admin.AdminRequest(action="rollback", model=MODEL, version=1, reason="v2 mislabels returns",
                                       actor="ana"), stores)
    assert out["audit"]["reason"] == "rollback of champion v2 -> v1: v2 mislabels returns"
    assert out["audit"]["changes"] == [{"alias": "champion", "from": 2, "to": 1}, {"alias": "previous", "from": 1, "to": 2}]
    assert registry.get_alias(stores.registry, MODEL)["version"] == 1
    assert registry.get_alias(stores.registry, MODEL, registry.PREVIOUS)["version"] == 2
    status = admin.run(admin.AdminRequest(action="status", model=MODEL), stores)
    assert status["champion"]["version"] == 1 and status["audit"][0]["actor"] == "ana"


def test_rollback_is_refused_for_a_missing_or_unverified_version(stores, models):
    start(stores, models, "canary")
    refuse = lambda version: admin.run(admin.AdminRequest(  # noqa: E731
        action="rollback", model=MODEL, version=version, reason="try"), stores)
    with pytest.raises(admin.AdminError, match="has no version 7"):
        refuse(7)
    stores.put_bytes(stores.artifacts_bucket, model_key(MODEL, 2), b"not the registered bytes")
    with pytest.raises(admin.AdminError, match="v2 of 'churn' .* is unverified: .*sha256"):
        refuse(2)
    stores.s3.delete_object(Bucket=stores.artifacts_bucket, Key=model_key(MODEL, 2))
    with pytest.raises(admin.AdminError, match="unverified: its artifact cannot be read"):
        refuse(2)
    registry.move(stores.registry, MODEL, {}, expected={}, reason="test", actor="t",
                  register={**record(stores, models[0], 5), "version": 5, "decision": {"promote": False}})
    with pytest.raises(admin.AdminError, match="v5 of 'churn' is unverified: .*no promotion decision"):
        refuse(5)
    assert registry.get_alias(stores.registry, MODEL)["version"] == 1  # nothing moved
    with pytest.raises(admin.AdminError, match="^invalid request: rollback needs a reason"):
        admin.parse_request({"action": "rollback", "model": MODEL, "version": 1})
    with pytest.raises(admin.AdminError, match="^invalid request: action: Input should be 'rollback'"):
        admin.parse_request({"action": "delete", "model": MODEL, "reason": "x"})
