"""The search: which candidate configurations train, on how many rows, rung after rung, within a budget.

A search is a list of rungs; the state machine trains each rung as one Distributed Map (TrainRung) and
NextRung (`next_state`) reads its trials and plans the next. A rung's configurations go to S3 (Ingest
and NextRung write them, the Map's ItemReader reads them) and its trials to the experiments table
(each Train records its own, NextRung reads them there): neither travels in the state, so the 256 KB
payload does not bound a search. What does travel is the search's `shortlist` of finalists, at most
FINALISTS trials and the best of each other family, whatever the search's size. Grid and random
searches are one rung on the search sample (spec.search.sample_rows). Successive halving (Jamieson & Talwalkar 2016; what
scikit-learn's HalvingRandomSearchCV does) draws as many configurations as max_trials allows, trains
them on a small sample, and sends the best 1/eta of each rung on to a sample eta times larger; its
last rung trains on the search sample, so the finalists' scores compare like with like.

The budget (spec.search):
  - max_trials: the plan never holds more (every rung counted; spec.MAX_TRIALS says why it is capped);
  - max_minutes: past the deadline no trial starts (Train skips it) and no rung follows;
  - max_gb_seconds: once the run's trials have used that much compute, no trial starts and no rung
    follows. A trial that has started runs to its end, so a search can overshoot by the trials in flight.
A search stopped by its budget goes on with the best trials of the last rung that has any.

A spec with no candidates gets `default_space`: every family that exports with parity, over ranges
chosen from the data's size and class balance.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from evergreen.contracts import ColumnSchema, SearchState, TrialResult
from evergreen.evaluation import rank_trials
from evergreen.spec import (
    Candidate,
    CandidateGrid,
    ModelSpec,
    expand_candidates,
    strategy_of,
)

# the data is imbalanced when its rarest class has under this share of its fair 1/k share (binary: 25%)
IMBALANCED_SHARE = 0.5
# forests grow with the rows; past this many training rows the default space leaves them out (the
# sample they fit on is capped, but their ONNX size and load time are not: FACTS)
FOREST_ROWS = 1_000_000
# the finalists a search hands on (to RefitWinner, Evaluate and Export, in the state: about 1 KB each, and
# the state holds them up to three times) are at most this many of the best trials, and the best of each
# family not among them (Export falls back along the ranking when a conversion fails parity, and a
# family's conversions tend to fail together)
FINALISTS = 20


def default_metric(problem_type: str, class_shares: dict[str, float] | None) -> str:
    """The primary metric for a spec that names none: rmse for regression; for classification,
    balanced accuracy when the classes are imbalanced (a majority-class model scores 0.5 on it, not
    the majority's share, and the decision threshold can be tuned for it), else accuracy."""
    if problem_type == "regression":
        return "rmse"
    return "balanced_accuracy" if imbalanced(class_shares or {}) else "accuracy"


def imbalanced(class_shares: dict[str, float]) -> bool:
    """True when the rarest class holds under IMBALANCED_SHARE of the share it would have if balanced."""
    return bool(class_shares) and min(class_shares.values()) < IMBALANCED_SHARE / len(class_shares)


def default_space(problem_type: str, train_rows: int, class_shares: dict[str, float] | None) -> list[CandidateGrid]:
    """Every family that exports with parity (FACTS), over ranges that suit most tabular data.

    Forests are capped at 150 trees of depth 16 (about 2-10 MB of ONNX, a few ms per row), boosting at
    300 iterations of 63 leaves. Imbalanced classes add class_weight (None or balanced) to every
    family that takes it. Above FOREST_ROWS training rows the forests are left out."""
    weights = {"class_weight": [None, "balanced"]} if problem_type == "classification" and imbalanced(class_shares or {}) else {}
    linear = ("logistic_regression", {"C": {"log_uniform": [0.001, 100.0]}}) if problem_type == "classification" \
        else ("ridge", {"alpha": {"log_uniform": [0.001, 1000.0]}})
    forest_space = {"n_estimators": {"int": [50, 150]}, "max_depth": {"int": [4, 16]},
                    "min_samples_leaf": {"int": [1, 20]}}
    forest_grid = {"max_features": ["sqrt", 0.5, 1.0], **weights}
    out = [CandidateGrid(family=linear[0], space=linear[1], grid=dict(weights))]
    if train_rows <= FOREST_ROWS:
        out += [CandidateGrid(family="random_forest", space=forest_space, grid=forest_grid),
                CandidateGrid(family="extra_trees", space=forest_space, grid=forest_grid)]
    out.append(CandidateGrid(family="hist_gradient_boosting", grid=dict(weights), space={
        "learning_rate": {"log_uniform": [0.02, 0.3]}, "max_iter": {"int": [50, 300]},
        "max_leaf_nodes": {"int": [8, 63]}, "min_samples_leaf": {"int": [5, 60]},
        "l2_regularization": {"log_uniform": [0.0001, 10.0]}}))
    return out


def candidate_space(spec: ModelSpec, train_rows: int, class_shares: dict[str, float] | None) -> list[CandidateGrid]:
    """What the search draws from: the spec's candidates, or the default space when it names none."""
    return list(spec.candidates) or default_space(spec.problem_type, train_rows, class_shares)


def plan(spec: ModelSpec, space: list[CandidateGrid], train_rows: int, started: datetime,
         rarest_share: float | None = None) -> SearchState:
    """The first rung: every grid point (grid), or max_trials draws (random), or the first rung of
    successive halving, whose size leaves room in max_trials for every later rung. `rarest_share`
    (a classifier's rarest class's share of the rows) sets halving's first sample large enough to
    hold search.min_class_rows rows of it."""
    budget, seed = spec.search, spec.split.seed
    search_rows = min(train_rows, budget.sample_rows)
    strategy = strategy_of(spec)
    deadline = (started + timedelta(minutes=budget.max_minutes)).isoformat()
    if strategy == "grid":
        return SearchState(strategy="grid", candidates=expand_candidates(space), sample_rows=search_rows, deadline=deadline)
    rungs = 1
    if strategy == "halving":
        first = max(budget.min_rows, math.ceil(budget.min_class_rows / rarest_share) if rarest_share else 0)
        rungs = max(1, 1 + math.floor(math.log(max(search_rows / first, 1.0), budget.eta)))
        while rungs > 1 and first_rung_size(budget.max_trials, budget.eta, rungs) < budget.eta ** (rungs - 1):
            rungs -= 1  # too few trials for this many rungs: each rung must leave at least one
    size = first_rung_size(budget.max_trials, budget.eta, rungs)
    return SearchState(strategy=strategy, rungs=rungs, candidates=draw(space, size, seed),
                       sample_rows=rung_rows(search_rows, budget.eta, rungs, 0), deadline=deadline)


def first_rung_size(max_trials: int, eta: int, rungs: int) -> int:
    """The most configurations n a first rung can hold so that n + ceil(n/eta) + ... over `rungs`
    rungs stays within max_trials."""
    n = max_trials
    while n > 1 and sum(survivors(n, eta, r) for r in range(rungs)) > max_trials:
        n -= 1
    return n


def survivors(n: int, eta: int, rung: int) -> int:
    """How many of a first rung of n configurations train in `rung` (the best ceil(n / eta^rung))."""
    return max(1, math.ceil(n / eta ** rung))


def rung_rows(search_rows: int, eta: int, rungs: int, rung: int) -> int:
    """A rung's sample: the search sample for the last rung, eta times fewer rows for each rung before it."""
    return max(1, search_rows // eta ** (rungs - 1 - rung))


def next_state(spec: ModelSpec, state: SearchState, trials: list[TrialResult], train_rows: int,
               now: datetime) -> SearchState:
    """After a rung: the next rung's best 1/eta of this one's, or the end of the search (its plan done,
    or a budget spent), with the finalists the winner is chosen from."""
    budget = spec.search
    done_trials = state.trials + sum(1 for t in trials if t.status != "skipped")
    spent = state.gb_seconds + sum(t.gb_seconds or 0.0 for t in trials)
    ranked = rank_trials_or_none(trials, spec.higher_is_better)
    stopped = budget_spent(spec, now, state.deadline, spent)
    last = state.rung + 1 >= state.rungs
    if last or stopped or not ranked:
        finalists = trials if ranked or not state.finalists else state.finalists
        if not ranked and state.rung > 0:
            stopped = stopped or f"no trial of rung {state.rung} succeeded"
        return state.model_copy(update={
            "candidates": [], "trials": done_trials, "gb_seconds": round(spent, 3), "done": True,
            "stopped": None if last and not stopped else stopped, "finalists": finalists})
    keep = survivors(len(state.candidates), budget.eta, state.rung + 1)
    by_id = {c.candidate_id: c for c in state.candidates}
    following = [by_id[t.candidate_id] for t in ranked[:keep]]
    search_rows = min(train_rows, budget.sample_rows)
    return state.model_copy(update={
        "rung": state.rung + 1, "candidates": following, "trials": done_trials, "gb_seconds": round(spent, 3),
        "sample_rows": rung_rows(search_rows, budget.eta, state.rungs, state.rung + 1),
        # the best of this rung so far, should the next one be cut off by the budget before any trial ends
        "finalists": [t for t in trials if t.status == "ok"]})


def shortlist(trials: list[TrialResult], higher_is_better: bool, keep: int = FINALISTS) -> list[TrialResult]:
    """The finalists that travel in the state. Up to `keep` trials: all of them, as they are. More: the
    best `keep` successful ones, best first, then the best of each family not among them; with none
    successful, the first `keep` (their errors say why the run fails). Every trial keeps its record."""
    if len(trials) <= keep:
        return trials
    ranked = rank_trials_or_none(trials, higher_is_better)
    if not ranked:
        return trials[:keep]
    picked, families = ranked[:keep], {t.family for t in ranked[:keep]}
    for trial in ranked[keep:]:
        if trial.family not in families:
            picked.append(trial)
            families.add(trial.family)
    return picked


def rank_trials_or_none(trials: list[TrialResult], higher_is_better: bool) -> list[TrialResult]:
    """The ok trials, best first; none when no trial succeeded."""
    return rank_trials(trials, higher_is_better) if any(t.status == "ok" and t.validation_score is not None
                                                        for t in trials) else []


def budget_spent(spec: ModelSpec, now: datetime, deadline: str, gb_seconds: float) -> str | None:
    """Why no further trial may start (time or compute), or None while the budget lasts."""
    budget = spec.search
    if now >= datetime.fromisoformat(deadline):
        return f"budget: search.max_minutes ({budget.max_minutes:g}) passed"
    if budget.max_gb_seconds is not None and gb_seconds >= budget.max_gb_seconds:
        return f"budget: the trials used {gb_seconds:.1f} GB-s, search.max_gb_seconds is {budget.max_gb_seconds:g}"
    return None


def draw(space: list[CandidateGrid], n: int, seed: int) -> list[Candidate]:
    """n distinct configurations, the families taking turns, each hyperparameter drawn from its grid
    list (uniformly) or its range; fewer when the space holds fewer distinct points. Deterministic for
    a seed (Python's Mersenne Twister: this module stays numpy-free for NextRung's shared layer)."""
    rng = random.Random(seed)
    out: list[Candidate] = []
    seen: set[str] = set()
    misses = 0
    while len(out) < n and misses < 50 * n:
        family = space[(len(out) + misses) % len(space)]
        params = {name: _pick(rng, values) for name, values in sorted(family.grid.items())}
        params |= {name: _sample(rng, declared) for name, declared in sorted(family.space.items())}
        key = repr((family.family, sorted(params.items(), key=lambda kv: kv[0])))
        if key in seen:
            misses += 1
            continue
        seen.add(key)
        out.append(Candidate(candidate_id=f"c{len(out):03d}", family=family.family, params=params))
    return out


def _pick(rng: random.Random, values: list[Any]) -> Any:
    return values[rng.randrange(len(values))]


def _sample(rng: random.Random, declared: dict[str, list[Any]]) -> int | float:
    """One draw from {kind: [low, high]} (both ends included), floats rounded to 4 significant digits."""
    (kind, (low, high)), = declared.items()
    if kind == "int":
        return rng.randint(low, high)
    value = math.exp(rng.uniform(math.log(low), math.log(high))) if kind == "log_uniform" else rng.uniform(low, high)
    return min(max(float(f"{value:.4g}"), low), high)


def resolved_spec(spec: ModelSpec, schema: ColumnSchema, shares: dict[str, float] | None) -> ModelSpec:
    """The run's spec with its primary metric chosen from the data (for a spec that names none)."""
    return spec.model_copy(update={"primary_metric": default_metric(schema.problem_type, shares)})
