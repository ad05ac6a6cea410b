"""evergreen.card_html: the model card page Promote writes, rendered from a card that
evergreen.steps.promote.model_card builds out of real figures (evergreen.card_figures on a model's
answers), a real profile (evergreen.monitoring.profile) and the step results. Names, classes,
categories and reasons carry markup, as an upload can: it must come out as text."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from evergreen import card_figures, card_html, metrics, svg_plots
from evergreen.contracts import (
    ChampionScore,
    ColumnSchema,
    Decision,
    EvaluateResult,
    ExportResult,
    FairnessReport,
    Interval,
    ParityReport,
    PromoteInput,
    SliceScore,
    TrialResult,
)
from evergreen.data import Frame
from evergreen.monitoring.profile import profile
from evergreen.onnx_model import Prediction
from evergreen.spec import parse_spec
from evergreen.steps.promote import model_card
from tests.support.runs import run_context

HOSTILE_COLUMN = 'x"><script>alert(1)</script>'
HOSTILE_CLASS = "<b>yes</b>"
HOSTILE_CATEGORY = "<img src=x onerror=alert(2)>"
HOSTILE_REASON = "</section><script>alert(3)</script>"
PLOT_SECTIONS = {"confusion", "roc", "pr", "calibration", "residuals", "predicted", "importance"}


def card_of(kind: str, n: int = 400, seed: int = 0) -> dict:
    """A card as Promote writes it, of a binary, multiclass or regression model's answers on n rows."""
    rng = np.random.default_rng(seed)
    numeric, categorical = [HOSTILE_COLUMN, "tenure"], ["plan"]
    plan = rng.choice(["basic", "pro", HOSTILE_CATEGORY], n).astype(object)
    x = rng.normal(size=n)
    classes = {"binary": ["no", HOSTILE_CLASS], "multiclass": ["a", "b", "c"], "regression": None}[kind]
    if classes is None:
        y = 3 * x + rng.normal(size=n)
        said = Prediction(labels=3 * x)
    else:
        logits = np.c_[[x * (i - 1) for i in range(len(classes))]].T + rng.normal(size=(n, len(classes)))
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = np.array(classes, dtype=object)[[rng.choice(len(classes), p=p) for p in proba]]
        said = Prediction(labels=np.array(classes, dtype=object)[proba.argmax(axis=1)], probabilities=proba)
    schema = ColumnSchema(numeric=numeric, categorical=categorical, target="y",
                          problem_type="regression" if classes is None else "classification", classes=classes)
    metric = "rmse" if classes is None else "accuracy"
    frame = Frame(columns={HOSTILE_COLUMN: x.astype(np.float32), "tenure": rng.integers(1, 72, n).astype(np.float32),
                           "plan": plan}, target=y)
    importance = {"metric": metric, "rows": n, "repeats": 3, "seed": 42, "features": 3, "score": 0.8,
                  "top": [{"feature": HOSTILE_COLUMN, "mean": 0.31, "std": 0.02}, {"feature": "plan", "mean": 0.0,
                                                                                  "std": 0.001},
                          {"feature": "tenure", "mean": -0.004, "std": 0.003}]}
    spec = parse_spec(f"{{name: m, target: y, problem_type: {schema.problem_type}, primary_metric: {metric}}}")
    run = run_context()
    run = run.model_copy(update={"spec": spec, "dataset": run.dataset.model_copy(update={"columns": schema})})
    trial = TrialResult(candidate_id="c001", family="ridge" if classes is None else "logistic_regression",
                        params={"C": 1.0}, status="ok", metric=metric, validation_score=0.8, threshold=None)
    binary = kind == "binary"
    evaluation = EvaluateResult(
        metric=metric, higher_is_better=classes is not None, challenger=trial, challenger_test_score=0.81,
        baseline_test_score=0.5, margin=0.01,
        champion=ChampionScore(version=3, onnx_key="k", sha256="s", test_score=0.77),
        decision=Decision(promote=True, rule="ci", reason=f"better {HOSTILE_REASON}",
                          interval=Interval(estimate=0.04, low=0.012, high=0.07, confidence=0.95, resamples=1000,
                                            seed=42)),
        slices=[SliceScore(column="plan", slice=HOSTILE_CATEGORY, rows=130, challenger=0.8, champion=0.75)],
        fairness=[FairnessReport(column="plan", positive_class=HOSTILE_CLASS, min_rows=30,
                                 demographic_parity_difference=0.08, equal_opportunity_difference=0.05,
                                 groups={HOSTILE_CATEGORY: {"rows": 130, "positives": 60, "selection_rate": 0.4,
                                                            "true_positive_rate": 0.8}})] if binary else [],
        calibration=metrics.calibration(y, said.probabilities, classes) if classes else None,
        figures=card_figures.figures(y, said, classes, importance))
    export = ExportResult(passed=True, reason="parity", candidate=trial, onnx_key="runs/m/run-1/export/model.onnx",
                          sha256="f" * 64, size_bytes=2703, p50_ms=0.04,
                          parity=ParityReport(rows=500, tolerance=1e-4, max_abs_diff=1e-7, label_agreement=1.0,
                                              passed=True),
                          versions={"evergreen": "0.1.0", "python": "3.11.7", "numpy": "2.4.6",
                                    "scikit-learn": "1.9.1", "skl2onnx": "1.20.0", "onnxruntime": "1.32.0"})
    stored = {"report": {"raw": n + 7, "rows": n, "dropped": 7}, "profile": profile(frame, schema, 10)}
    card = model_card(PromoteInput(run=run, evaluation=evaluation, export=export), 4, stored)
    return json.loads(json.dumps(card, sort_keys=True, default=str))  # as Promote stores it (storage.put_json)


def sections(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', page)


def section(page: str, key: str) -> str:
    return page.split(f'<section id="{key}"', 1)[1].split("</section>", 1)[0]


@pytest.mark.parametrize(("kind", "absent"), [
    ("binary", {"residuals", "predicted"}),
    ("multiclass", {"roc", "pr", "residuals", "predicted"}),
    ("regression", {"confusion", "roc", "pr", "calibration"}),
])
def test_every_section_that_applies_is_present_in_order(kind, absent):
    page = card_html.render(card_of(kind))
    assert sections(page) == [key for key, _ in card_html.SECTIONS if key not in absent]
    for key in PLOT_SECTIONS - absent:
        assert re.search(r"<svg .*?<(polyline|rect|path|circle) .*?</svg>", section(page, key)), key
    nav = re.findall(r'<a href="#([^"]+)"', page)
    assert nav == sections(page)


def test_every_text_from_the_card_is_escaped():
    page = card_html.render(card_of("binary"))
    for raw in (HOSTILE_COLUMN, HOSTILE_CLASS, HOSTILE_CATEGORY, HOSTILE_REASON, "<script", "<img"):
        assert raw not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # importance, profile, contract
    assert "&lt;img src=x onerror=alert(2)&gt;" in section(page, "slices")
    assert "&lt;img src=x onerror=alert(2)&gt;" in section(page, "fairness")
    assert "&lt;b&gt;yes&lt;/b&gt;" in section(page, "confusion") and "&lt;b&gt;yes&lt;/b&gt;" in section(page, "roc")
    assert "better &lt;/section&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in section(page, "decision")


class Markup(HTMLParser):
    """The tags and attributes of a page, and whether every element is closed where it opened."""

    VOID = frozenset({"meta"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.errors: list[str] = []
        self.tags: set[str] = set()
        self.attributes: dict[str, set[str]] = {}

    def handle_starttag(self, tag, attrs):
        self._saw(tag, attrs)
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):  # <line .../>
        self._saw(tag, attrs)

    def _saw(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.setdefault(name, set()).add(value)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.open[-1] if self.open else None}>")
        else:
            self.open.pop()


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "nav", "a", "main",
             "section", "figure", "figcaption", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "b", "code"}
SVG_TAGS = {"svg", "title", "line", "text", "rect", "polyline", "circle", "path"}


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_the_page_is_well_formed_and_self_contained(kind):
    page = card_html.render(card_of(kind))
    markup = Markup()
    markup.feed(page)
    assert markup.errors == [] and markup.open == []
    assert page.startswith("<!DOCTYPE html>") and markup.attributes["content"] >= {card_html.CSP}
    # nothing that runs or loads: no script, no frame, no image, no handler; links within the page only
    assert markup.tags <= PAGE_TAGS | SVG_TAGS
    assert not [name for name in markup.attributes if name.startswith("on") or name in {"src", "srcset", "action"}]
    assert markup.attributes["href"] <= {f"#{key}" for key, _ in card_html.SECTIONS}
    assert markup.attributes["xmlns"] == {"http://www.w3.org/2000/svg"}  # a namespace, nothing fetched
    assert not re.search(r"url\(|@import", page)


def test_the_numbers_on_the_page_are_the_cards():
    card = card_of("binary")
    page = card_html.render(card)
    curves = card["figures"]["curves"]
    assert f"area under the curve {svg_plots.fmt(curves['auc'])}" in section(page, "roc")
    assert f"Average precision {svg_plots.fmt(curves['average_precision'])}" in section(page, "pr")
    interval = "+0.0400, 95% interval [+0.0120, +0.0700] (1000 paired bootstrap resamples, seed 42)"
    assert interval in section(page, "decision")
    assert "champion v3" in section(page, "decision") and "v3" in section(page, "lineage")
    for package, version in card["lineage"]["versions"].items():
        assert f"<td>{package}</td><td>{version}</td>" in section(page, "lineage")
    cells = re.findall(r"<rect [^>]*><title>true ", section(page, "confusion"))
    assert len(cells) == 4
    assert section(page, "importance").count("<rect ") == 3  # one bar per feature
    numeric = card["profile"]["numeric"]
    assert section(page, "profile").count("<svg ") == len(numeric)  # a histogram per numeric column
    assert "fewer than" not in section(page, "fairness")  # the one group has 130 rows, above 30


def test_a_card_without_figures_says_what_it_lacks():
    card = card_of("binary")
    for key in ("figures", "calibration"):
        card[key] = None
    page = card_html.render(card)
    assert sections(page) == [key for key, _ in card_html.SECTIONS if key not in {"residuals", "predicted"}]
    assert "The card holds no confusion matrix." in section(page, "confusion")
    assert "No ROC curve" in section(page, "roc") and "holds no permutation importance" in section(page, "importance")


def test_ticks_are_round_and_inside_the_range():
    assert svg_plots.ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg_plots.ticks(-93.06, 73.37) == [-50.0, 0.0, 50.0]
    assert svg_plots.ticks(3.0, 3.0) == [3.0]


def test_promote_can_render_without_numpy():
    """Promote runs on the shared layer, which has no numpy: the page must not need it."""
    code = ("import sys; sys.modules['numpy'] = None; import json; from evergreen import card_html; "
            "print(len(card_html.render(json.loads(sys.stdin.read()))))")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(card_of("binary")), capture_output=True,
                         text=True, check=True)
    assert int(out.stdout) > 10_000
