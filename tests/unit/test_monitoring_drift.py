"""evergreen.monitoring.drift: every statistic against a reference computed here with numpy and scipy.

scipy is only in the dev venv; the module under test must not need it (the monitor Lambda has no scipy).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import rel_entr

from evergreen import features
from evergreen.monitoring import drift
from evergreen.monitoring.profile import OTHER, categorical_summary, numeric_summary

EPS = 1e-4  # the module's stated epsilon, restated: a change of it must be deliberate


def reference_psi(expected, actual) -> float:
    """PSI as the symmetric KL divergence of the smoothed shares: sum rel_entr(a, e) + rel_entr(e, a)."""
    e, a = np.asarray(expected, float), np.asarray(actual, float)
    e = (e / e.sum() + EPS) / (1 + EPS * e.size)
    a = (a / a.sum() + EPS) / (1 + EPS * a.size)
    return float(np.sum(rel_entr(a, e) + rel_entr(e, a)))


def histogram(values, edges) -> np.ndarray:
    """Counts on `edges` with values outside them in the end bins (np.histogram on clipped values)."""
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    return np.histogram(np.clip(values, edges[0], edges[-1]), bins=np.asarray(edges, float))[0]


# ------------------------------------------------------------------------------------------- PSI
def test_the_stated_constants():
    assert drift.EPSILON == EPS
    assert (drift.MODERATE, drift.SIGNIFICANT) == (0.1, 0.2)
    assert drift.CONFIDENCE_EDGES == tuple(np.linspace(0, 1, 11).round(10))


def test_psi_is_the_symmetric_kl_divergence_of_the_smoothed_shares():
    rng = np.random.default_rng(0)
    for bins in (1, 2, 5, 10, 31):
        expected = rng.integers(0, 500, bins)
        expected[0] += 1  # never all zero
        actual = rng.integers(0, 500, bins)
        actual[-1] += 1
        assert drift.psi(expected, actual) == pytest.approx(reference_psi(expected, actual), rel=1e-12, abs=1e-15)
        assert drift.psi(expected, actual) == pytest.approx(drift.psi(actual, expected), rel=1e-12, abs=1e-15)
    assert drift.psi([5, 5, 0], [50, 50, 0]) == pytest.approx(0.0, abs=1e-15)
    # a bin empty on one side is finite: a new 1% category adds about 0.046, as the module says
    assert drift.psi([100, 0], [99, 1]) == pytest.approx(reference_psi([100, 0], [99, 1]))
    assert 0.04 < drift.psi([100, 0], [99, 1]) < 0.05
    with pytest.raises(ValueError):
        drift.psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        drift.psi([0, 0], [1, 2])


def test_psi_noise_under_no_drift_is_about_the_stated_floor_and_below_the_default_threshold():
    """E[PSI] ~ (B - 1) (1/n_live + 1/n_train) when nothing moved; with 200 live predictions (the default
    min_predictions) its 99th percentile is about 0.12 (chi-square(9) / 200), far below 0.2."""
    rng = np.random.default_rng(1)
    train = rng.normal(size=5000)
    edges = np.unique(np.quantile(train, np.linspace(0, 1, 11)))
    expected = histogram(train, edges)
    values = [drift.psi(expected, histogram(rng.normal(size=200), edges)) for _ in range(400)]
    floor = (len(expected) - 1) * (1 / 200 + 1 / 5000)
    assert np.mean(values) == pytest.approx(floor, rel=0.2)
    assert np.quantile(values, 0.99) == pytest.approx(21.67 / 200, rel=0.25)  # chi2.ppf(0.99, 9) = 21.67
    assert max(values) < drift.SIGNIFICANT


def test_psi_grows_with_the_shift_not_with_the_sample():
    """A p-value would go to 0 as n grows for the same small shift; PSI converges to the effect size."""
    rng = np.random.default_rng(2)
    train = rng.normal(size=20000)
    edges = np.unique(np.quantile(train, np.linspace(0, 1, 11)))
    expected = histogram(train, edges)
    small = [drift.psi(expected, histogram(rng.normal(0.05, 1, n), edges)) for n in (2000, 20000, 200000)]
    assert max(small) < drift.MODERATE  # a 0.05-sd shift never alarms, however many predictions
    large = drift.psi(expected, histogram(rng.normal(1.0, 1, 2000), edges))
    assert large > drift.SIGNIFICANT


# ------------------------------------------------------------------------------------------- features
def test_numeric_feature_psi_missing_and_out_of_range_against_numpy():
    rng = np.random.default_rng(3)
    train = rng.gamma(2.0, 10.0, 3000).astype(np.float32)
    train[:150] = np.nan
    summary = numeric_summary(train)
    live = (rng.gamma(2.0, 10.0, 500) * 1.6 + 5).astype(np.float32)
    live[:100] = np.nan
    live[100:110] = -3.0  # below the training min
    got = drift.numeric_drift("x", summary, live, threshold=0.2)

    present = live[~np.isnan(live)].astype(float)
    edges = summary["histogram"]["edges"]
    want = reference_psi(summary["histogram"]["counts"], histogram(present, edges))
    assert got.psi == pytest.approx(want, rel=1e-12)
    assert got.drifted == (want > 0.2) and got.drifted  # a 1.6x scale and +5 shift is significant
    assert (got.rows, got.present) == (500, 400)
    assert got.missing_rate == pytest.approx(100 / 500)
    assert got.training_missing_rate == pytest.approx(150 / 3000)
    assert got.missing_rate_increase == pytest.approx(100 / 500 - 150 / 3000)
    train_present = train[~np.isnan(train)]
    outside = np.sum((present < train_present.min()) | (present > train_present.max()))
    assert got.out_of_range == outside and got.out_of_range_rate == pytest.approx(outside / 400)
    assert got.unseen is None
    json.dumps(got.as_dict(), allow_nan=False)


def test_a_constant_training_column_has_one_bin_and_its_skew_shows_out_of_range():
    summary = numeric_summary(np.full(100, 2.0, np.float32))
    got = drift.numeric_drift("c", summary, np.array([2.0, 2.0, 7.0, np.nan], np.float32), threshold=0.2)
    assert got.psi == 0.0 and not got.drifted
    assert (got.out_of_range, got.present, got.missing_rate) == (1, 3, 0.25)


def test_a_feature_with_no_live_values_has_no_psi_but_its_missing_rate_counts():
    summary = numeric_summary(np.arange(100, dtype=np.float32))
    got = drift.numeric_drift("x", summary, np.full(20, np.nan, np.float32), threshold=0.2)
    assert (got.psi, got.drifted, got.present, got.missing_rate, got.out_of_range_rate) == (None, False, 0, 1.0, None)
    assert got.missing_rate_increase == 1.0


def test_categorical_psi_on_the_named_values_plus_one_bucket_for_everything_else():
    rng = np.random.default_rng(4)
    values = np.array([f"v{i}" for i in range(30)])
    weights = np.linspace(3, 1, 30) / np.linspace(3, 1, 30).sum()
    train = rng.choice(values, 4000, p=weights).astype(object)
    train[:200] = ""
    summary = categorical_summary(train, top=10)  # an open vocabulary: 20 values under __other__
    assert OTHER in summary["frequencies"]
    live = np.concatenate([rng.choice(values[::-1], 600, p=weights), ["brand-new"] * 50, [""] * 50]).astype(object)
    got = drift.categorical_drift("c", summary, live, threshold=0.2)

    named = [v for v in summary["frequencies"] if v != OTHER]
    expected = [summary["frequencies"][v] for v in named] + [summary["frequencies"][OTHER]]
    present = live[live != ""]
    actual = [int(np.sum(present == v)) for v in named] + [int(np.sum(~np.isin(present, named)))]
    assert got.psi == pytest.approx(reference_psi(expected, actual), rel=1e-12)
    assert got.drifted  # the order of popularity reversed
    assert (got.present, got.missing_rate) == (650, pytest.approx(50 / 700))
    assert got.training_missing_rate == pytest.approx(200 / 4000)
    assert got.unseen is None and got.unseen_rate is None  # open vocabulary: "unseen" cannot be told from "rare"


def test_unseen_categories_are_counted_only_when_the_profile_names_every_value():
    train = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20, dtype=object)
    summary = categorical_summary(train, top=10)
    assert OTHER not in summary["frequencies"]
    live = np.array(["a"] * 40 + ["b"] * 30 + ["z"] * 20 + ["y"] * 10 + [""] * 5, dtype=object)
    got = drift.categorical_drift("c", summary, live, threshold=0.2)
    assert (got.unseen, got.present) == (30, 100) and got.unseen_rate == pytest.approx(0.3)
    assert got.psi == pytest.approx(reference_psi([50, 30, 20, 0], [40, 30, 0, 30]), rel=1e-12)


def test_served_values_are_coerced_exactly_as_training_coerced_csv_cells():
    items = [{"features": {"n": " 1e3 ", "c": " pro "}}, {"features": {"n": "NA", "c": "N/A"}},
             {"features": {"n": 2.5, "c": 3}}, {"features": {"n": "oops"}}, {"features": {}}, {}]
    columns = drift.served_columns(items, ["n"], ["c"])
    numeric, _ = features.numeric_column([" 1e3 ", "NA", "2.5", "oops", "", ""])  # the CSV cells of the same values
    categorical, _ = features.categorical_column([" pro ", "N/A", "3", "", "", ""])
    np.testing.assert_array_equal(columns["n"], numeric)
    assert columns["n"].dtype == np.float32
    assert columns["c"].tolist() == categorical.tolist() == ["pro", "", "3", "", "", ""]


def test_input_drift_aggregates_against_numpy():
    rng = np.random.default_rng(5)
    n_train, n_live = 2000, 400
    train = {"a": rng.normal(0, 1, n_train).astype(np.float32), "b": rng.uniform(0, 10, n_train).astype(np.float32),
             "k": rng.choice(["x", "y", "z"], n_train).astype(object),
             "o": rng.choice([f"t{i}" for i in range(40)], n_train).astype(object)}
    train["b"][:100] = np.nan
    profile = {"numeric": {n: numeric_summary(train[n]) for n in ("a", "b")},
               "categorical": {n: categorical_summary(train[n], top=10) for n in ("k", "o")}}
    live = {"a": rng.normal(2, 1, n_live).astype(np.float32),  # drifted, some beyond the training max
            "b": rng.uniform(0, 10, n_live).astype(np.float32),  # stationary, more missing
            "k": rng.choice(["x", "y", "w"], n_live).astype(object),  # closed vocabulary, "w" unseen
            "o": rng.choice([f"t{i}" for i in range(40)], n_live).astype(object),  # open vocabulary
            "ignored": np.zeros(n_live, np.float32)}  # not in the profile: left out
    live["b"][:80] = np.nan
    got = drift.input_drift(profile, live, threshold=0.2)

    assert [f.name for f in got.features] == ["a", "b", "k", "o"]
    psis = {f.name: f.psi for f in got.features}
    assert psis["a"] > 0.2 and psis["b"] < 0.1 and psis["k"] > 0.2 and psis["o"] < 0.2
    assert got.drifted == ["a", "k"] and got.drifted_share == pytest.approx(2 / 4)
    rises = [80 / n_live - 100 / n_train, 0.0 - 0.0, 0.0, 0.0]
    assert got.missing_rate_increase == pytest.approx(max(rises))
    assert got.unseen_category_rate == pytest.approx(np.mean(live["k"] == "w"))
    present = {n: live[n][~np.isnan(live[n])] for n in ("a", "b")}
    outside = sum(int(np.sum((present[n] < np.nanmin(train[n])) | (present[n] > np.nanmax(train[n])))) for n in ("a", "b"))
    assert outside > 0
    assert got.out_of_range_rate == pytest.approx(outside / (present["a"].size + present["b"].size))


def test_aggregates_without_anything_to_aggregate():
    empty = drift.InputDrift([])
    assert (empty.drifted_share, empty.missing_rate_increase, empty.unseen_category_rate, empty.out_of_range_rate) == (
        None, None, None, None)
    fewer = drift.input_drift({"numeric": {"a": numeric_summary(np.array([np.nan, 1, 2, 3], np.float32))}},
                              {"a": np.array([1, 2], np.float32)}, threshold=0.2)
    assert fewer.missing_rate_increase == 0.0  # less missing than in training is no increase


# ------------------------------------------------------------------------------------------- predictions
def test_classification_prediction_profile_and_its_confidence_table_against_numpy():
    rng = np.random.default_rng(6)
    classes = ["no", "yes", "maybe"]
    n = 3000
    raw = rng.dirichlet([0.6, 0.6, 0.6], n).astype(np.float32)
    raw[:3] = [[0.5, 0.25, 0.25], [np.float32(0.9), 0.05, 0.05], [1.0, 0.0, 0.0]]  # confidences on the edges
    labels = np.array(classes)[raw.argmax(axis=1)]
    targets = np.where(rng.random(n) < raw.max(axis=1), labels, rng.choice(classes, n))
    got = drift.prediction_profile(labels, raw, classes, targets)
    json.dumps(got, allow_nan=False)

    assert got["rows"] == n
    assert got["classes"] == {c: int(np.sum(labels == c)) for c in classes}
    conf = raw.max(axis=1)
    edges32 = np.linspace(0, 1, 11).astype(np.float32)
    counts = np.histogram(conf, bins=edges32)[0]  # float32 on both sides, as the module bins
    assert got["confidence"]["edges"] == [i / 10 for i in range(11)]
    assert got["confidence"]["counts"] == counts.tolist()
    which = np.clip(np.digitize(conf, edges32) - 1, 0, 9)
    accuracy = [float(np.mean((labels == targets)[which == b])) if np.any(which == b) else None for b in range(10)]
    assert got["confidence"]["accuracy"] == pytest.approx(accuracy)
    assert got["confidence"]["accuracy"][0] is None and got["confidence"]["accuracy"][1] is None  # max-prob >= 1/3
    assert which[0] == 5 and which[1] == 9 and which[2] == 9  # 0.5 opens bin 5; 0.9 and 1.0 are in the last bin


def test_regression_prediction_profile_is_a_histogram_over_the_deciles():
    rng = np.random.default_rng(7)
    predicted = rng.lognormal(3, 0.5, 1000).astype(np.float32).astype(np.float64)
    got = drift.prediction_profile(predicted, None, None, predicted)
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, 11)))
    assert got["edges"] == pytest.approx(edges.tolist(), rel=1e-15)
    assert got["counts"] == np.histogram(predicted, bins=edges)[0].tolist()
    assert got["rows"] == 1000 and "confidence" not in got


def test_prediction_drift_against_the_prediction_profile():
    rng = np.random.default_rng(8)
    reference = {"rows": 1000, "classes": {"no": 700, "yes": 300}, "confidence": None}
    served = list(rng.choice(["no", "yes"], 400, p=[0.4, 0.6]))
    assert drift.prediction_drift(reference, served) == pytest.approx(
        reference_psi([700, 300, 0], [served.count("no"), served.count("yes"), 0]), rel=1e-12)

    test_predictions = rng.normal(50, 10, 1000).astype(np.float32).astype(np.float64)
    profile = drift.prediction_profile(test_predictions, None, None, test_predictions)
    served = [float(str(np.float32(v))) for v in rng.normal(58, 10, 300)]  # as the log keeps them
    served[0] = "not a number"  # a value that cannot be read is left out
    values = np.asarray(served[1:], np.float32).astype(float)
    want = reference_psi(profile["counts"], histogram(values, profile["edges"]))
    assert drift.prediction_drift(profile, served) == pytest.approx(want, rel=1e-12)
    assert drift.prediction_drift({"rows": 0}, served) is None
    assert drift.prediction_drift(reference, []) is None


def test_a_served_probability_lands_in_the_bin_export_put_it_in():
    """The log keeps float(str(float32)): 0.9 there is float32(0.9) at export, which binned it in float32."""
    p = np.float32(0.9)
    logged = float(str(p))
    assert logged != float(p)  # 0.9 vs 0.8999999761581421: binned in float64 they would part
    assert drift.confidence_bins([logged]).tolist() == drift.confidence_bins([p]).tolist() == [9]


def test_estimated_quality_is_the_mean_test_accuracy_of_each_predictions_bin():
    table = {"edges": [i / 10 for i in range(11)], "accuracy": [None] * 5 + [0.55, 0.6, 0.72, 0.81, 0.97],
             "counts": [0] * 5 + [10, 20, 30, 40, 50]}
    rng = np.random.default_rng(9)
    confidences = list(rng.uniform(0.5, 1.0, 500))
    confidences += [0.42, float("nan")]  # an empty bin counts as its own confidence; NaN is left out
    bins = np.clip(np.digitize(np.asarray(confidences[:-1], np.float32), np.linspace(0, 1, 11).astype(np.float32)) - 1, 0, 9)
    per = [table["accuracy"][b] if table["accuracy"][b] is not None else float(np.float32(c))
           for b, c in zip(bins, confidences[:-1], strict=True)]
    assert drift.estimated_quality(table, confidences) == pytest.approx(float(np.mean(per)), rel=1e-12)
    assert drift.estimated_quality(table, [float("nan")]) is None


def test_max_probability_of_a_logged_prediction():
    assert drift.max_probability({"probabilities": {"no": 0.25, "yes": 0.75}}) == 0.75
    assert np.isnan(drift.max_probability({"prediction": 3.0}))


def test_the_module_needs_neither_scipy_nor_scikit_learn():
    code = ("import sys; sys.modules['scipy'] = None; sys.modules['sklearn'] = None; "
            "import evergreen.monitoring.drift, evergreen.steps.monitor")
    subprocess.run([sys.executable, "-c", code], check=True)
