"""Pure evaluation logic: rank trials, and decide promotion (numpy-free, no I/O)."""

from __future__ import annotations

from evergreen.contracts import ChampionScore, Decision, Interval, ReferenceScore, TrialResult
from evergreen.errors import clean_cause


class NoViableCandidate(RuntimeError):
    """Every candidate failed; the run fails and the champion keeps serving."""


def rank_trials(trials: list[TrialResult], higher_is_better: bool) -> list[TrialResult]:
    ok = [t for t in trials if t.status == "ok" and t.validation_score is not None]
    if not ok:
        reasons = "; ".join(f"{t.candidate_id} ({t.family}): {clean_cause(t.error) or 'no score'}" for t in trials)
        reasons = reasons or "no candidates"
        raise NoViableCandidate(f"all {len(trials)} candidates failed: {reasons}")
    # stable: ties keep spec order, so the simpler (earlier-listed) candidate wins
    return sorted(ok, key=lambda t: -t.validation_score if higher_is_better else t.validation_score)


def reference_gate_applies(drifted_share: float | None, drift_share: float, reference_rows: int, train_rows: int,
                           min_rows: int) -> bool:
    """Whether the plausibility gate judges the challenger on the champion's old test split: not when
    that split's inputs drifted (drifted_share at least the spec's drift_share: the old split no longer
    says what is plausible), unless either side has fewer than `min_rows` rows (monitoring.min_predictions,
    the monitor's own floor for drift): on a few dozen rows PSI is noise, and a hostile upload of 100
    rows with flipped labels passed the gate that way."""
    if drifted_share is None or min(reference_rows, train_rows) < min_rows:
        return True
    return drifted_share < drift_share


def improvement(challenger: float, incumbent: float, higher_is_better: bool) -> float:
    """How much better the challenger is, in the metric's own units (positive = better)."""
    return challenger - incumbent if higher_is_better else incumbent - challenger


def decide(*, metric: str, higher_is_better: bool, margin: float, challenger: float, baseline: float,
           champion: ChampionScore | None, breaking: bool = False, reference: ReferenceScore | None = None,
           rule: str = "margin", interval: Interval | None = None, blocks: list[str] | None = None) -> Decision:
    """Promote only when better than the incumbent: the champion on the same test split; the trivial
    baseline only with no champion yet, or for a breaking contract change the spec declares
    (`breaking`); a champion that cannot score the data is never replaced otherwise.
    Better means (spec.promotion.rule): "margin", the improvement is positive and at least `margin`;
    "ci", the lower bound of its paired bootstrap interval against the incumbent (`interval`) is above
    `margin`, so a gain inside the test split's noise is not enough.
    Plausibility: a challenger that is no better than the trivial baseline on the champion's own
    test split (`reference`) learned labels that contradict the champion's data (a flipped or wrong
    label column wins on its own test split): it is never promoted, unless the inputs moved on from
    that split (`reference.applies` False: a covariate shift, which the old split cannot judge).
    Gates: a challenger that would be promoted is not when a gate refused it (`blocks`: the slice,
    fairness and sanity gates' reasons, each with its numbers)."""
    if rule == "ci" and interval is None:
        raise ValueError("the ci rule needs the improvement's interval")
    if reference is not None and reference.applies and improvement(reference.challenger_score, reference.baseline_score, higher_is_better) <= 0:
        return Decision(promote=False, rule=rule, interval=interval, reason=(
            f"implausible challenger: its {metric} on the test split champion v{champion.version if champion else '?'} "
            f"was validated on (dataset {reference.dataset_version}) is {reference.challenger_score:.4f}, no better "
            f"than the trivial baseline {reference.baseline_score:.4f}: it learned nothing that holds on the data the "
            "champion was validated on (wrong or flipped labels?)"))
    if champion is not None and champion.test_score is None and not breaking:
        return Decision(promote=False, rule=rule, interval=interval, reason=(
            f"champion v{champion.version} cannot score this data ({champion.note}) and the spec declares no breaking "
            "contract change: a champion is only replaced by a challenger that beats it"))
    if champion is not None and champion.test_score is not None:
        incumbent, name, context = champion.test_score, f"champion v{champion.version}", ""
    else:
        incumbent, name = baseline, "the trivial baseline"
        context = ("no champion yet: " if champion is None else
                   f"breaking contract change declared in the spec (champion v{champion.version}: {champion.note}): ")
    gain = improvement(challenger, incumbent, higher_is_better)
    if rule == "ci":
        verdict = gain > 0 and interval.low > margin
        bar = f"the lower bound of the improvement's interval must beat the margin {margin:g}"
        evidence = f"improvement {interval.describe()}"
    else:
        verdict = gain > 0 and gain >= margin
        bar = f"the improvement must reach the margin {margin:g}"
        evidence = f"difference {gain:+.4f}"
    relation = "beats" if verdict else "does not beat"
    blocks = list(blocks or [])
    outcome = "promoted" if verdict and not blocks else "not promoted"
    gates = f"; blocked by the gates: {'; '.join(blocks)}" if blocks else ""
    return Decision(promote=verdict and not blocks, rule=rule, interval=interval, blocked_by=blocks, reason=(
        f"{context}challenger {metric} {challenger:.4f} {relation} {name} {incumbent:.4f} on the same test split: "
        f"{outcome} ({rule} rule: {bar}; {evidence}){gates}"))
