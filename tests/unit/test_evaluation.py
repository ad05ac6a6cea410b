import pytest

from evergreen.contracts import ChampionScore, Interval, ReferenceScore, TrialResult
from evergreen.evaluation import NoViableCandidate, decide, rank_trials


def trial(cid, score, status="ok"):
    return TrialResult(candidate_id=cid, family="f", params={}, status=status, metric="m",
                       validation_score=score, error=None if status == "ok" else "boom")


def champ(score, version=1):
    return ChampionScore(version=version, onnx_key="k", sha256="s", test_score=score)


def test_ranking_respects_direction_and_skips_failures():
    trials = [trial("a", 0.8), trial("b", None, "failed"), trial("c", 0.9), trial("d", 0.8)]
    assert [t.candidate_id for t in rank_trials(trials, True)] == ["c", "a", "d"]
    assert [t.candidate_id for t in rank_trials(trials, False)] == ["a", "d", "c"]


def test_all_failed_names_each_reason():
    with pytest.raises(NoViableCandidate, match="all 2 candidates failed: x .*boom"):
        rank_trials([trial("x", None, "failed"), trial("y", None, "failed")], True)


@pytest.mark.parametrize("hib,challenger,champion,margin,expected", [
    (True, 0.90, 0.85, 0.01, True),
    (True, 0.855, 0.85, 0.01, False),   # better, but not by the margin
    (True, 0.85, 0.85, 0.0, False),     # a tie never replaces the champion
    (False, 1.0, 1.2, 0.1, True),       # lower is better (rmse)
    (False, 1.15, 1.2, 0.1, False),
])
def test_promotion_needs_the_margin_over_the_champion(hib, challenger, champion, margin, expected):
    d = decide(metric="m", higher_is_better=hib, margin=margin, challenger=challenger, baseline=0.0 if hib else 99.0,
               champion=champ(champion))
    assert d.promote is expected
    assert "champion v1" in d.reason


def test_without_a_champion_the_baseline_is_the_bar():
    assert decide(metric="acc", higher_is_better=True, margin=0.01, challenger=0.7, baseline=0.6, champion=None).promote
    d = decide(metric="acc", higher_is_better=True, margin=0.01, challenger=0.6, baseline=0.6, champion=None)
    assert not d.promote and "trivial baseline" in d.reason and "no champion yet" in d.reason


def test_a_champion_that_cannot_score_is_never_replaced_on_the_baseline_bar():
    incomparable = ChampionScore(version=3, onnx_key="k", sha256="s", test_score=None, note="columns removed: ['x']")
    d = decide(metric="acc", higher_is_better=True, margin=0.0, challenger=0.99, baseline=0.5, champion=incomparable)
    assert not d.promote and "v3 cannot score this data (columns removed: ['x'])" in d.reason
    assert "no breaking contract change" in d.reason


def test_a_declared_breaking_change_is_judged_against_the_baseline():
    incomparable = ChampionScore(version=3, onnx_key="k", sha256="s", test_score=None, note="classes changed")
    d = decide(metric="acc", higher_is_better=True, margin=0.0, challenger=0.7, baseline=0.5, champion=incomparable,
               breaking=True)
    assert d.promote and "breaking contract change declared" in d.reason and "trivial baseline 0.5000" in d.reason
    d = decide(metric="acc", higher_is_better=True, margin=0.0, challenger=0.5, baseline=0.5, champion=incomparable,
               breaking=True)
    assert not d.promote


def test_a_crashed_trials_cause_is_reported_without_its_stack_trace():
    crashed = trial("x", None, "failed").model_copy(update={"error": '{"errorMessage": "Task timed out", '
                                                                     '"errorType": "Sandbox.Timedout", "stackTrace": ["  File /var/task/app.py"]}'})
    with pytest.raises(NoViableCandidate) as err:
        rank_trials([crashed], True)
    assert "Task timed out" in str(err.value) and "/var/task" not in str(err.value)


def test_a_challenger_no_better_than_guessing_on_the_champions_data_is_implausible():
    flipped = ReferenceScore(dataset_version="ds-1", challenger_score=0.04, baseline_score=0.62)
    d = decide(metric="accuracy", higher_is_better=True, margin=0.01, challenger=0.96, baseline=0.6,
               champion=champ(0.04), reference=flipped)
    assert not d.promote and d.reason.startswith("implausible challenger") and "ds-1" in d.reason
    drifted = ReferenceScore(dataset_version="ds-1", challenger_score=0.66, baseline_score=0.62)
    assert decide(metric="accuracy", higher_is_better=True, margin=0.01, challenger=0.85, baseline=0.6,
                  champion=champ(0.65), reference=drifted).promote  # a real concept change still gets through
    worse = ReferenceScore(dataset_version="ds-1", challenger_score=0.9, baseline_score=0.7)  # log loss: lower is better
    assert not decide(metric="log_loss", higher_is_better=False, margin=0.0, challenger=0.2, baseline=0.7,
                      champion=champ(0.5), reference=worse).promote
    # the inputs moved on from the champion's split (a covariate shift): that split gates nothing
    moved = flipped.model_copy(update={"drifted_feature_share": 0.75, "applies": False})
    assert decide(metric="accuracy", higher_is_better=True, margin=0.01, challenger=0.96, baseline=0.6,
                  champion=champ(0.5), reference=moved).promote


@pytest.mark.parametrize("share,reference_rows,train_rows,applies", [
    (None, 500, 500, True),     # no drift measured: the gate judges
    (0.1, 500, 500, True),      # inputs as before
    (0.4, 500, 500, False),     # the old split drifted: it no longer says what is plausible
    (0.4, 114, 500, True),      # ... but drift on 114 rows is noise (the hostile 100-row flipped upload)
    (0.967, 500, 60, True),     # ... and so is a profile of 60 training rows
    (0.4, 200, 200, False),     # at the monitor's floor, drift counts
])
def test_drift_switches_the_reference_gate_off_only_on_enough_rows(share, reference_rows, train_rows, applies):
    from evergreen.evaluation import reference_gate_applies

    assert reference_gate_applies(share, 0.3, reference_rows, train_rows, min_rows=200) is applies


def interval(estimate: float, low: float, high: float) -> Interval:
    return Interval(estimate=estimate, low=low, high=high, confidence=0.95, resamples=1000, seed=0)


@pytest.mark.parametrize("gain,low,margin,expected", [
    (0.03, 0.012, 0.01, True),     # the whole interval clears the margin
    (0.03, 0.008, 0.01, False),    # the estimate does, the interval's low end does not
    (0.01, -0.004, 0.0, False),    # a gain inside the noise: the interval holds zero
    (0.02, 0.001, 0.0, True),
])
def test_the_ci_rule_needs_the_intervals_low_end_above_the_margin(gain, low, margin, expected):
    d = decide(metric="accuracy", higher_is_better=True, margin=margin, challenger=0.80 + gain, baseline=0.5,
               champion=champ(0.80), rule="ci", interval=interval(gain, low, gain + 0.02))
    assert d.promote is expected and d.rule == "ci" and d.interval.low == low
    assert f"95% interval [{low:+.4f}, {gain + 0.02:+.4f}]" in d.reason  # the reason prints the interval
    assert "ci rule" in d.reason


def test_the_margin_rule_promotes_what_the_ci_rule_calls_noise():
    noise = interval(0.01, -0.004, 0.024)
    args = dict(metric="accuracy", higher_is_better=True, margin=0.0, challenger=0.81, baseline=0.5,
                champion=champ(0.80), interval=noise)
    assert decide(**args, rule="margin").promote and not decide(**args, rule="ci").promote


def test_the_ci_rule_without_an_interval_is_an_error():
    with pytest.raises(ValueError, match="needs the improvement's interval"):
        decide(metric="accuracy", higher_is_better=True, margin=0.0, challenger=0.9, baseline=0.5, champion=None,
               rule="ci")
