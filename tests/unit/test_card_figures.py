"""evergreen.card_figures: the model card's plot numbers, against scikit-learn's metrics (the tests may
import scikit-learn; the module may not) and against cases whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from evergreen import card_figures, export, metrics, training
from evergreen.card_figures import (
    CURVE_POINTS,
    MAX_CLASSES,
    OTHER,
    confusion,
    operating_point,
    permutation_importance,
    residuals,
    threshold_curves,
)
from evergreen.contracts import ColumnSchema
from evergreen.data import Frame, model_inputs
from evergreen.onnx_model import OnnxModel, Prediction
from evergreen.spec import Candidate


def scored_rows(n: int, seed: int, decimals: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(positive, score) of a useful but imperfect binary model; rounding the scores makes ties."""
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < 0.3
    score = 1 / (1 + np.exp(-(1.5 * positive + rng.normal(size=n))))
    return positive, (np.round(score, decimals) if decimals is not None else score)


def area(fpr: list[float], tpr: list[float]) -> float:
    return float(np.trapezoid(tpr, fpr))


@pytest.mark.parametrize("decimals", [None, 2])
def test_auc_and_average_precision_are_sklearns(decimals):
    positive, score = scored_rows(3000, 0, decimals)
    curves = threshold_curves(positive, score)
    assert curves["auc"] == pytest.approx(skm.roc_auc_score(positive, score), abs=1e-6)
    assert curves["auc"] == pytest.approx(metrics.score("roc_auc", np.where(positive, "b", "a"), None,
                                                        np.c_[1 - score, score], ["a", "b"]), abs=1e-6)
    assert curves["average_precision"] == pytest.approx(skm.average_precision_score(positive, score), abs=1e-6)
    assert curves["prevalence"] == pytest.approx(positive.mean(), abs=1e-6)
    assert (curves["rows"], curves["positives"]) == (3000, int(positive.sum()))


def test_a_perfect_classifiers_curve_encloses_an_area_of_one():
    positive = np.array([False] * 40 + [True] * 60)
    score = np.where(positive, 0.6, 0.4) + np.linspace(0, 0.3, 100)  # every positive above every negative
    curves = threshold_curves(positive, score)
    assert area(curves["fpr"], curves["tpr"]) == 1.0 and curves["auc"] == 1.0
    assert curves["average_precision"] == 1.0


def test_the_kept_points_lie_on_sklearns_curve_and_draw_it_faithfully():
    positive, score = scored_rows(5000, 1)
    curves = threshold_curves(positive, score)
    fpr, tpr, thresholds = skm.roc_curve(positive, score, drop_intermediate=False)
    assert len(curves["fpr"]) == CURVE_POINTS  # of 5,001 vertices
    assert (curves["fpr"][0], curves["tpr"][0], curves["threshold"][0]) == (0.0, 0.0, None)
    assert curves["precision"][0] == curves["precision"][1]  # the origin's is undefined: level with the first
    assert (curves["fpr"][-1], curves["tpr"][-1]) == (1.0, 1.0)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    at = {round(t, 6): (f, r) for t, f, r in zip(thresholds[1:], fpr[1:], tpr[1:])}
    for t, f, r, p in zip(curves["threshold"][1:], curves["fpr"][1:], curves["tpr"][1:], curves["precision"][1:]):
        assert at[t] == pytest.approx((f, r), abs=1e-6)
        true_positives, false_positives = at[t][1] * n_pos, at[t][0] * n_neg
        assert p == pytest.approx(true_positives / (true_positives + false_positives), abs=1e-6)
    # 50 of 5,001 vertices enclose the same area and stray from no vertex by more than 0.01
    assert area(curves["fpr"], curves["tpr"]) == pytest.approx(curves["auc"], abs=0.002)
    along, kept_along = (fpr + tpr) / 2, (np.array(curves["fpr"]) + np.array(curves["tpr"])) / 2
    drawn = np.c_[np.interp(along, kept_along, curves["fpr"]), np.interp(along, kept_along, curves["tpr"])]
    assert np.max(np.hypot(*(drawn - np.c_[fpr, tpr]).T)) < 0.01


def test_simplify_keeps_the_bends_of_a_polyline():
    x = np.linspace(0, 3, 301)
    corner = np.c_[x, np.minimum(x, 1) + np.maximum(x - 2, 0)]  # flat between bends at x = 1 and x = 2
    assert card_figures.simplify(corner, 4).tolist() == [0, 100, 200, 300]
    assert card_figures.simplify(corner, 10).tolist() == [0, 100, 200, 300]  # the rest lies on those lines
    assert card_figures.simplify(corner[:5], 10).tolist() == [0, 1, 2, 3, 4]
    assert card_figures.simplify(corner, 5, fixed=[150]).tolist() == [0, 100, 150, 200, 300]


def test_the_served_operating_point_is_one_of_the_kept_points():
    positive, score = scored_rows(5000, 2)
    answered = score > 0.61  # the served labels: a threshold of these scores
    curves = threshold_curves(positive, score, answered=answered)
    point = curves["operating_point"]
    assert point == operating_point(positive, answered)
    kept = list(zip(curves["fpr"], curves["tpr"], curves["precision"]))
    assert (point["fpr"], point["tpr"], point["precision"]) in kept and len(kept) == CURVE_POINTS
    assert curves["threshold"][kept.index((point["fpr"], point["tpr"], point["precision"]))] == pytest.approx(
        score[answered].min(), abs=1e-6)


def test_no_curves_with_a_single_class():
    assert threshold_curves(np.zeros(10, dtype=bool), np.linspace(0, 1, 10)) is None


def test_the_operating_point_counts_the_answers():
    positive = np.array([True, True, True, False, False, False, False, False])
    answered = np.array([True, True, False, True, False, False, False, False])
    assert operating_point(positive, answered) == {"fpr": 0.2, "tpr": pytest.approx(2 / 3, abs=1e-6),
                                                   "precision": pytest.approx(2 / 3, abs=1e-6)}


def test_confusion_is_sklearns_and_diagonal_when_every_answer_is_right():
    rng = np.random.default_rng(2)
    classes = ["a", "b", "c"]
    y = rng.choice(classes, 500)
    said = np.where(rng.random(500) < 0.7, y, rng.choice(classes, 500))
    found = confusion(y, said, classes)
    assert found["classes"] == classes and found["folded"] == 0
    assert found["counts"] == skm.confusion_matrix(y, said, labels=classes).tolist()
    right = np.array(confusion(y, y, classes)["counts"])
    assert np.array_equal(right, np.diag(np.diag(right))) and right.trace() == 500


def test_confusion_folds_the_rarest_classes_beyond_the_cap():
    classes = [f"k{i:02d}" for i in range(MAX_CLASSES + 5)]
    y = np.repeat(classes, np.arange(len(classes)) + 1)  # k00 rarest, the last class commonest
    found = confusion(y, y, classes)
    assert found["folded"] == 6 and len(found["classes"]) == MAX_CLASSES and found["classes"][-1] == OTHER
    assert found["classes"][0] == "k06"  # k00..k05, the six rarest, are folded
    counts = np.array(found["counts"])
    assert counts.sum() == y.size and counts[-1, -1] == sum(range(1, 7))


def test_confusion_refuses_a_label_that_is_not_a_class():
    with pytest.raises(ValueError, match="not among the classes"):
        confusion(["a", "b"], ["a", "z"], ["a", "b"])


def test_residuals_summarize_the_errors():
    rng = np.random.default_rng(3)
    y = rng.normal(100, 20, 2000)
    predicted = y - rng.normal(2, 5, 2000)  # residuals: mean ~2, std ~5
    found = residuals(y, predicted)
    r = y - predicted
    assert found["mean"] == pytest.approx(r.mean(), abs=1e-6) and found["std"] == pytest.approx(r.std(), abs=1e-6)
    assert found["quantiles"]["0.5"] == pytest.approx(np.median(r), abs=1e-6)
    hist = found["histogram"]
    assert len(hist["counts"]) == 20 and sum(hist["counts"]) == 2000
    assert hist["beyond"] == np.sum((r < hist["edges"][0]) | (r > hist["edges"][-1])) == pytest.approx(20, abs=2)
    bins = found["by_prediction"]
    assert len(bins) == 20 and sum(b["rows"] for b in bins) == 2000
    assert all(b["actual_q10"] <= b["actual"] <= b["actual_q90"] for b in bins)
    assert np.all(np.diff([b["predicted"] for b in bins]) > 0)


def test_residuals_of_a_constant_error_and_a_constant_prediction():
    found = residuals([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert found["mean"] == 0.0 and found["std"] == 0.0 and sum(found["histogram"]["counts"]) == 3
    flat = residuals([1.0, 2.0, 3.0, 4.0], [2.5] * 4)
    assert flat["by_prediction"] == [{"rows": 4, "predicted": 2.5, "actual": 2.5, "actual_q10": 1.3, "actual_q90": 3.7}]


def reads_only(column: int):
    """A model of the feeds that answers "b" when numeric column `column` is positive, whatever else."""
    def predict(feeds):
        hit = feeds["numeric"][:, column] > 0
        return Prediction(labels=np.where(hit, "b", "a").astype(object),
                          probabilities=np.c_[~hit, hit].astype(np.float32))
    return predict


def feeds_of(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 2)).astype(np.float32)
    categorical = rng.choice(["p", "q"], size=(n, 1)).astype(object)
    return {"numeric": numeric, "categorical": categorical}, np.where(numeric[:, 0] > 0, "b", "a")


NAMES = {"numeric": ["used", "ignored"], "categorical": ["also_ignored"]}


def test_a_column_the_model_ignores_has_no_importance():
    feeds, y = feeds_of(2000, 4)
    found = permutation_importance(reads_only(0), feeds, NAMES, y, "accuracy", ["a", "b"], seed=7)
    by_name = {f["feature"]: f for f in found["top"]}
    assert found["score"] == 1.0 and found["features"] == 3 and found["rows"] == 2000
    assert by_name["ignored"]["mean"] == by_name["also_ignored"]["mean"] == 0.0
    assert by_name["used"]["mean"] == pytest.approx(0.5, abs=0.05)  # shuffled, half the answers stay right
    assert found["top"][0]["feature"] == "used"
    assert found == permutation_importance(reads_only(0), feeds, NAMES, y, "accuracy", ["a", "b"], seed=7)


def test_importance_is_positive_when_a_lower_is_better_metric_worsens():
    feeds, _ = feeds_of(1000, 5)
    y = 3.0 * feeds["numeric"][:, 0]

    def regressor(these):
        return Prediction(labels=3.0 * these["numeric"][:, 0].astype(np.float64))

    found = permutation_importance(regressor, feeds, NAMES, y, "rmse", None, seed=0)
    by_name = {f["feature"]: f["mean"] for f in found["top"]}
    assert found["score"] == 0.0 and by_name["used"] > 3.0 and by_name["ignored"] == 0.0


def test_importance_samples_the_rows_and_keeps_the_top():
    feeds, y = feeds_of(5000, 6)
    found = permutation_importance(reads_only(1), feeds, NAMES, y, "accuracy", ["a", "b"], seed=1, max_rows=300, top=2)
    assert found["rows"] == 300 and len(found["top"]) == 2 and found["features"] == 3


def test_importance_says_why_when_the_metric_is_undefined():
    feeds, _ = feeds_of(50, 7)
    found = permutation_importance(reads_only(0), feeds, NAMES, np.full(50, "b"), "roc_auc", ["a", "b"], seed=0)
    assert "single class" in found["error"] and found["top"] == []


def test_importance_of_a_served_onnx_model():
    """A logistic regression on (signal, noise, colour) where only signal decides: shuffling it costs
    about half the accuracy; shuffling noise or colour costs nothing measurable."""
    rng = np.random.default_rng(8)
    n = 3000
    signal, noise = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "blue"], n).astype(object)
    y = np.where(signal > 0, "yes", "no").astype(object)
    frame = Frame(columns={"signal": signal.astype(np.float32), "noise": noise.astype(np.float32), "colour": colour},
                  target=y)
    schema = ColumnSchema(numeric=["signal", "noise"], categorical=["colour"], target="y",
                          problem_type="classification", classes=["no", "yes"])
    pipeline, _ = training.fit_pipeline(Candidate(candidate_id="c", family="logistic_regression", params={}), frame,
                                        schema, random_state=0)
    model = OnnxModel(export.to_onnx(pipeline, schema), numeric=schema.numeric, categorical=schema.categorical,
                      classes=schema.classes)
    found = permutation_importance(lambda f: model.run(f.get("numeric"), f.get("categorical")),
                                   model_inputs(frame, schema), {"numeric": schema.numeric, "categorical": ["colour"]},
                                   y, "accuracy", schema.classes, seed=0)
    by_name = {f["feature"]: f["mean"] for f in found["top"]}
    assert found["score"] > 0.98 and by_name["signal"] > 0.4
    assert abs(by_name["noise"]) < 0.02 and abs(by_name["colour"]) < 0.02


def test_figures_stay_small_whatever_the_test_split():
    """What travels in the Step Functions state (256 KB for all of it) does not grow with the rows."""
    positive, score = scored_rows(200_000, 9)
    y = np.where(positive, "yes", "no")
    said = Prediction(labels=np.where(score > 0.5, "yes", "no"), probabilities=np.c_[1 - score, score])
    importance = {"top": [{"feature": f"feature_{i:02d}", "mean": 0.123456, "std": 0.012345} for i in range(20)]}
    binary = card_figures.figures(y, said, ["no", "yes"], importance)
    assert set(binary) == {"kind", "confusion", "importance", "curves"}
    assert binary["curves"]["positive_class"] == "yes" and binary["curves"]["operating_point"]["tpr"] is not None
    assert len(json.dumps(binary)) < 8_000
    regression = card_figures.figures(score * 100, Prediction(labels=score * 90), None, importance)
    assert set(regression) == {"kind", "residuals", "importance"} and len(json.dumps(regression)) < 8_000
    multiclass = card_figures.figures(np.array(["a", "b", "c"] * 10), Prediction(labels=np.array(["a", "b", "c"] * 10),
                                      probabilities=np.full((30, 3), 1 / 3)), ["a", "b", "c"], importance)
    assert "curves" not in multiclass and multiclass["confusion"]["counts"] == [[10, 0, 0], [0, 10, 0], [0, 0, 10]]
