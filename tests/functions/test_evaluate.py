"""Evaluate, the step that decides, on moto-backed storage: the challenger's exported ONNX model and
the champion's served one on the same test rows, the paired bootstrap rule (promotion.rule ci) and the
slice gate. The models are small trees on (x, region) whose disagreements the tests place exactly."""

from __future__ import annotations

import numpy as np
import pytest

from evergreen import export, registry, splits, training
from evergreen.contracts import ColumnSchema, DatasetRef, EvaluateInput, ExportResult, RunContext, TrialResult
from evergreen.data import Frame
from evergreen.onnx_model import sha256_hex
from evergreen.spec import Candidate, parse_spec
from evergreen.steps import evaluate
from evergreen.storage import Stores
from tests.support.infra import moto_stores
from tests.support.runs import run_context

SCHEMA = ColumnSchema(numeric=["x"], categorical=["region"], target="y", problem_type="classification",
                      classes=["no", "yes"])


@pytest.fixture
def stores(monkeypatch):
    yield from moto_stores(monkeypatch)


def frame(x, region, y) -> Frame:
    return Frame(columns={"x": np.asarray(x, dtype=np.float32), "region": np.asarray(region, dtype=object)},
                 target=np.asarray(y, dtype=object))


def rule_frame(n: int, seed: int, south_cut: float = 0.0, cut: float = 0.0, south_share: float = 0.2) -> Frame:
    """x ~ N(0, 1); y is "yes" above `cut` in the north and above `south_cut` in the south."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    region = np.where(rng.random(n) < south_share, "south", "north")
    y = np.where(x > np.where(region == "south", south_cut, cut), "yes", "no")
    return frame(x, region, y)


def onnx_of(train: Frame, depth: int) -> bytes:
    pipeline, _ = training.fit_pipeline(Candidate(candidate_id="c", family="decision_tree", params={"max_depth": depth}),
                                        train, SCHEMA, random_state=0)
    return export.to_onnx(pipeline, SCHEMA)


def judge(stores: Stores, spec_text: str, test: Frame, challenger: bytes, champion: bytes | None):
    """Evaluate on `test`, the challenger exported, `champion` (if any) registered as v1."""
    spec = parse_spec("{name: m, target: y, problem_type: classification, primary_metric: accuracy, "
                      "candidates: [{family: decision_tree}], " + spec_text + "}")
    keys = {part: f"datasets/m/ds-1/{part}.npz" for part in ("train", "validation", "test")}
    for part in keys:  # the training split: the baseline's priors and the numeric slices' quantiles
        stores.put_bytes(stores.artifacts_bucket, keys[part], splits.to_bytes(splits.arrays_of(test, SCHEMA)))
    dataset = DatasetRef(version="ds-1", bucket=stores.artifacts_bucket, train_key=keys["train"],
                         validation_key=keys["validation"], test_key=keys["test"], profile_key="p",
                         rows={"train": test.n_rows, "validation": test.n_rows, "test": test.n_rows}, columns=SCHEMA)
    run: RunContext = run_context().model_copy(update={"spec": spec, "dataset": dataset})
    if champion is not None and registry.get_alias(stores.registry, "m") is None:
        stores.put_bytes(stores.artifacts_bucket, "models/m/v000001/model.onnx", champion)
        registry.register_champion(stores.registry, "m", 1, {
            "model_key": "models/m/v000001/model.onnx", "sha256": sha256_hex(champion),
            "columns": SCHEMA.model_dump()}, expected_version=None)
    stores.put_bytes(stores.artifacts_bucket, "runs/m/run-1/model.onnx", challenger)
    exported = ExportResult(passed=True, reason="parity", onnx_key="runs/m/run-1/model.onnx",
                            sha256=sha256_hex(challenger), size_bytes=len(challenger),
                            candidate=TrialResult(candidate_id="c001", family="decision_tree", params={}, status="ok",
                                                  metric="accuracy", validation_score=0.9))
    return evaluate.run(EvaluateInput(run=run, export=exported), stores)


@pytest.fixture(scope="module")
def stumps() -> tuple[bytes, bytes]:
    """(champion answering yes above x = 0.3, challenger answering yes above x = 0.1)."""
    return onnx_of(rule_frame(4000, 1, 0.3, 0.3), 1), onnx_of(rule_frame(4000, 2, 0.1, 0.1), 1)


def disagreements(for_challenger: int, for_champion: int, agreed: int = 300) -> Frame:
    """`agreed` rows both stumps answer right (|x| >= 1), and rows at x = 0.2, where the challenger says
    yes and the champion no: labelled yes, the challenger is right; labelled no, the champion is."""
    rng = np.random.default_rng(0)
    x = np.concatenate([np.where(rng.random(agreed) < 0.5, -1.0, 1.0) * (1 + rng.random(agreed)),
                        np.full(for_challenger + for_champion, 0.2)])
    y = np.concatenate([np.where(x[:agreed] > 0, "yes", "no"), ["yes"] * for_challenger + ["no"] * for_champion])
    return frame(x, np.full(x.size, "north"), y)


def test_with_ci_a_gain_inside_the_noise_is_rejected_with_its_interval(stores, stumps):
    champion, challenger = stumps
    result = judge(stores, "promotion_margin: 0.0", disagreements(6, 3), challenger, champion)
    decision = result.decision
    assert result.challenger_test_score > result.champion.test_score  # 3 rows better, of 309
    assert not decision.promote and decision.rule == "ci"
    interval = decision.interval
    assert interval.estimate == pytest.approx(3 / 309) and interval.low < 0 < interval.high
    assert interval.resamples == 1000 and interval.seed == 42 and interval.confidence == 0.95
    assert interval.describe() in decision.reason and "not promoted" in decision.reason
    # the margin rule would have taken it
    assert judge(stores, "promotion_margin: 0.0, promotion: {rule: margin}", disagreements(6, 3), challenger,
                 champion).decision.promote


def test_with_ci_a_clearly_better_challenger_is_promoted(stores, stumps):
    champion, challenger = stumps
    decision = judge(stores, "promotion_margin: 0.01", disagreements(40, 2), challenger, champion).decision
    assert decision.promote and decision.interval.low > 0.01 and "promoted (ci rule" in decision.reason


def test_a_challenger_better_on_average_but_worse_on_a_declared_slice_is_blocked(stores):
    # the world: yes above 0 everywhere. The champion learned 0.3 everywhere (wrong on 0 < x < 0.3);
    # the challenger learned the north right and the south wrong (yes above 1.5 there)
    test = rule_frame(4000, 3)
    champion = onnx_of(rule_frame(4000, 4, 0.3, 0.3), 3)
    challenger = onnx_of(rule_frame(4000, 5, south_cut=1.5), 3)
    spec = "promotion_margin: 0.0, promotion: {slices: [region, x], slice_tolerance: 0.05, min_slice_rows: 30}"
    result = judge(stores, spec, test, challenger, champion)
    assert result.challenger_test_score > result.champion.test_score + 0.02
    assert result.decision.interval.low > 0  # the rule alone would promote
    south = next(s for s in result.slices if (s.column, s.slice) == ("region", "south"))
    assert south.champion - south.challenger > 0.2 and south.rows > 600
    assert not result.decision.promote
    # the south, and the x buckets above 0 where its wrong answers fall; never the north
    blocked = result.decision.blocked_by
    [block] = [b for b in blocked if b.startswith("slice region=")]
    assert block.startswith(f"slice region=south ({south.rows} test rows): challenger accuracy {south.challenger:.4f} "
                            f"vs champion {south.champion:.4f}")
    assert all(b.startswith("slice x=[") for b in blocked if b is not block)
    assert "tolerance 0.05" in block and block in result.decision.reason
    # numeric slices: quartiles of the training split, stated in the slice names
    assert [s.slice for s in result.slices if s.column == "x"][0].startswith("[-inf, ")
    assert sum(s.rows for s in result.slices if s.column == "x") == test.n_rows
    # undeclared, the same challenger is promoted
    assert judge(stores, "promotion_margin: 0.0", test, challenger, champion).decision.promote


def test_the_fairness_report_and_its_gate(stores):
    test = rule_frame(4000, 3)
    challenger = onnx_of(rule_frame(4000, 5, south_cut=1.5), 3)  # answers yes less often in the south
    reported = judge(stores, "promotion: {sensitive: [region]}", test, challenger, None)
    [report] = reported.fairness
    north, south = report.groups["north"], report.groups["south"]
    assert report.positive_class == "yes"
    assert report.demographic_parity_difference == pytest.approx(north["selection_rate"] - south["selection_rate"])
    assert report.equal_opportunity_difference == pytest.approx(north["true_positive_rate"]
                                                                - south["true_positive_rate"])
    assert report.equal_opportunity_difference > 0.5
    assert reported.decision.promote  # reported, not gated
    gated = judge(stores, "promotion: {sensitive: [region], max_equal_opportunity_difference: 0.2}", test,
                  challenger, None).decision
    assert not gated.promote
    assert gated.blocked_by[0].startswith(f"equal opportunity difference on region is "
                                          f"{report.equal_opportunity_difference:.4f}, above the maximum 0.2")
