"""evergreen.search: strategies, rungs, budgets and the default space."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evergreen import search
from evergreen.contracts import TrialResult
from evergreen.spec import PARAMS, check_params, expand_candidates, parse_spec, strategy_of

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
BASE = """
name: m
target: y
problem_type: classification
primary_metric: accuracy
"""
SPACED = BASE + """
candidates:
  - family: logistic_regression
    space: {C: {log_uniform: [0.001, 100]}}
  - family: random_forest
    grid: {max_features: [sqrt, 0.5]}
    space: {n_estimators: {int: [10, 50]}, max_depth: {int: [2, 8]}}
"""


def trials_for(state, scores, gb_seconds=1.0, status="ok"):
    return [TrialResult(candidate_id=c.candidate_id, family=c.family, params=c.params, status=status, metric="accuracy",
                        validation_score=s if status == "ok" else None, gb_seconds=gb_seconds, rung=state.rung)
            for c, s in zip(state.candidates, scores, strict=True)]


def test_auto_is_grid_for_lists_random_for_spaces_and_halving_without_candidates():
    assert strategy_of(parse_spec(BASE + "candidates: [{family: logistic_regression, grid: {C: [1.0]}}]")) == "grid"
    assert strategy_of(parse_spec(SPACED)) == "random"
    assert strategy_of(parse_spec(BASE)) == "halving"


def test_a_random_search_draws_max_trials_distinct_configurations_within_their_ranges_for_a_seed():
    spec = parse_spec(SPACED + "search: {max_trials: 30}")
    space = search.candidate_space(spec, 5000, None)
    state = search.plan(spec, space, 5000, NOW)
    assert state.strategy == "random" and state.rungs == 1 and len(state.candidates) == 30
    assert state.sample_rows == 5000 and state.deadline == (NOW + timedelta(minutes=60)).isoformat()
    assert {c.family for c in state.candidates} == {"logistic_regression", "random_forest"}
    assert len({repr(sorted(c.params.items())) + c.family for c in state.candidates}) == 30
    for c in state.candidates:
        assert check_params(c.family, "classification", c.params) == []
        if c.family == "logistic_regression":
            assert 0.001 <= c.params["C"] <= 100
        else:
            assert 10 <= c.params["n_estimators"] <= 50 and c.params["max_features"] in ("sqrt", 0.5)
    assert search.plan(spec, space, 5000, NOW) == state  # the same seed draws the same search
    other = parse_spec(SPACED + "search: {max_trials: 30}\nsplit: {seed: 7}")
    assert search.plan(other, space, 5000, NOW).candidates != state.candidates


def test_halvings_first_sample_holds_enough_of_a_rare_class():
    spec = parse_spec(SPACED + "search: {strategy: halving, max_trials: 64, eta: 3, min_rows: 500, min_class_rows: 100}")
    assert search.plan(spec, spec.candidates, 16_000, NOW).rungs == 4  # 592, 1777, 5333, 16000 rows
    rare = search.plan(spec, spec.candidates, 16_000, NOW, rarest_share=0.025)
    assert (rare.rungs, rare.sample_rows) == (2, 5333)  # 100 / 2.5% = 4,000 rows at least: 133 positives
    assert search.plan(spec, spec.candidates, 16_000, NOW, rarest_share=0.5).rungs == 4  # balanced: min_rows rules


def test_a_small_discrete_space_gives_every_point_once():
    spec = parse_spec(BASE + "candidates: [{family: logistic_regression, grid: {C: [0.1, 1.0, 10.0]}}]\n"
                             "search: {strategy: random, max_trials: 10}")
    state = search.plan(spec, spec.candidates, 1000, NOW)
    assert sorted(c.params["C"] for c in state.candidates) == [0.1, 1.0, 10.0]


def test_a_grid_search_is_one_rung_of_every_grid_point():
    spec = parse_spec(BASE + "candidates: [{family: logistic_regression, grid: {C: [0.1, 1.0]}}]")
    state = search.plan(spec, spec.candidates, 400_000, NOW)
    assert state.candidates == expand_candidates(spec.candidates)
    assert state.sample_rows == 200_000 and state.rungs == 1


def test_halving_plans_rungs_whose_trials_fit_the_budget_and_whose_last_rung_is_the_search_sample():
    spec = parse_spec(SPACED + "search: {strategy: halving, max_trials: 40, eta: 3, min_rows: 500, sample_rows: 9000}")
    state = search.plan(spec, spec.candidates, 20_000, NOW)
    assert state.rungs == 3  # 9000 / 500 = 18 rows: log3(18) = 2.6 -> rungs on 1000, 3000, 9000 rows
    assert state.sample_rows == 1000
    n = len(state.candidates)
    assert n + search.survivors(n, 3, 1) + search.survivors(n, 3, 2) <= 40 < (n + 1) + search.survivors(n + 1, 3, 1) + search.survivors(n + 1, 3, 2)
    trained = 0
    while not state.done:
        scores = [i / 100 for i in range(len(state.candidates))]  # the last drawn scores best
        trials = trials_for(state, scores)
        trained += len(trials)
        best = trials[-1]
        state = search.next_state(spec, state, trials, 20_000, NOW)
        if not state.done:
            assert state.candidates[0].candidate_id == best.candidate_id  # the best go on
            assert state.sample_rows == {1: 3000, 2: 9000}[state.rung]
    assert trained <= 40 and state.rung == 2 and state.stopped is None
    assert state.trials == trained and state.gb_seconds == trained
    assert [t.rung for t in state.finalists] == [2] * len(state.finalists)


def test_halving_on_small_data_is_a_random_search_on_every_row():
    spec = parse_spec(BASE + "search: {strategy: halving, max_trials: 12, min_rows: 500}")
    state = search.plan(spec, search.candidate_space(spec, 800, None), 800, NOW)
    assert state.rungs == 1 and state.sample_rows == 800 and len(state.candidates) == 12


def test_the_compute_budget_ends_the_search_after_the_rung_that_spent_it():
    spec = parse_spec(SPACED + "search: {strategy: halving, max_trials: 40, sample_rows: 9000, max_gb_seconds: 10}")
    state = search.plan(spec, spec.candidates, 20_000, NOW)
    trials = trials_for(state, [0.5] * len(state.candidates), gb_seconds=1.0)
    end = search.next_state(spec, state, trials, 20_000, NOW)
    assert end.done and end.rung == 0 and end.candidates == []
    assert end.stopped.startswith("budget: the trials used") and "max_gb_seconds is 10" in end.stopped
    assert end.finalists == trials


def test_past_the_deadline_no_rung_follows_and_the_last_good_rung_supplies_the_finalists():
    spec = parse_spec(SPACED + "search: {strategy: halving, max_trials: 40, sample_rows: 9000, max_minutes: 5}")
    state = search.plan(spec, spec.candidates, 20_000, NOW)
    first = trials_for(state, [i / 100 for i in range(len(state.candidates))])
    second = search.next_state(spec, state, first, 20_000, NOW + timedelta(minutes=1))
    assert not second.done and second.rung == 1
    skipped = trials_for(second, [0] * len(second.candidates), status="skipped")
    end = search.next_state(spec, second, skipped, 20_000, NOW + timedelta(minutes=6))
    assert end.done and end.stopped == "budget: search.max_minutes (5) passed"
    assert end.finalists == [t for t in first if t.status == "ok"]
    assert end.trials == len(first)  # skipped trials did not train


@pytest.mark.parametrize("problem,shares,metric", [
    ("regression", None, "rmse"),
    ("classification", {"a": 0.5, "b": 0.5}, "accuracy"),
    ("classification", {"a": 0.74, "b": 0.26}, "accuracy"),
    ("classification", {"a": 0.98, "b": 0.02}, "balanced_accuracy"),
    ("classification", {str(i): 0.1 for i in range(10)}, "accuracy"),
    ("classification", {**{str(i): 0.108 for i in range(9)}, "9": 0.028}, "balanced_accuracy"),
])
def test_the_default_metric_is_balanced_accuracy_when_a_class_is_rare(problem, shares, metric):
    assert search.default_metric(problem, shares) == metric


@pytest.mark.parametrize("problem", ["classification", "regression"])
@pytest.mark.parametrize("rows", [300, 5_000_000])
def test_the_default_space_is_valid_for_every_family_it_names(problem, rows):
    shares = {"a": 0.97, "b": 0.03} if problem == "classification" else None
    space = search.default_space(problem, rows, shares)
    families = {c.family for c in space}
    assert families <= {f for f, (kinds, _) in PARAMS.items() if problem in kinds}
    assert ("random_forest" in families) == (rows <= search.FOREST_ROWS)
    spec = parse_spec(BASE.replace("classification", problem).replace("accuracy", "rmse" if problem == "regression" else "accuracy")
                      + "search: {max_trials: 50}")
    for c in search.plan(spec, space, rows, NOW).candidates:
        assert check_params(c.family, problem, c.params) == []
        if problem == "classification" and "class_weight" in PARAMS[c.family][1]:
            assert "class_weight" in c.params  # imbalanced: weighting is searched


@pytest.mark.parametrize("space,message", [
    ("{C: {log_uniform: [0, 1]}}", "a log-uniform range must be above 0"),
    ("{C: {int: [1, 10]}}", "C is a real number: declare uniform or log_uniform"),
    ("{C: {uniform: [2, 1]}}", "low must be below high"),
    ("{C: {normal: [0, 1]}}", "must be one of {log_uniform: [low, high]"),
    ("{C: {uniform: [1, 2000000]}}", "at most 1000000"),
    ("{max_iter: {uniform: [1, 10]}}", "max_iter is an integer: declare int"),
    ("{class_weight: {uniform: [0, 1]}}", "list them in `grid`"),
])
def test_bad_ranges_are_refused_naming_the_problem(space, message):
    with pytest.raises(ValueError, match="candidates\\[0\\].space"):
        parse_spec(BASE + f"candidates: [{{family: logistic_regression, space: {space}}}]")
    with pytest.raises(ValueError) as err:
        parse_spec(BASE + f"candidates: [{{family: logistic_regression, space: {space}}}]")
    assert message in str(err.value)


def test_a_grid_search_refuses_ranges():
    with pytest.raises(ValueError, match="a grid search takes `grid` lists only"):
        parse_spec(SPACED + "search: {strategy: grid}")
