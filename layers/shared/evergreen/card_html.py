"""The model card as one self-contained HTML page (standard library only: Promote, which writes it,
runs on the shared layer alone).

``render(card)`` takes the card JSON Promote writes (evergreen.steps.promote.model_card) and returns
a page with no script and no external resource: its plots are inline SVG (evergreen.svg_plots), its
style one <style> element, and a Content-Security-Policy forbids scripts and every load, so a page
opened from S3 or a disk runs nothing and reaches nothing. Every text taken from the card is escaped
(html.escape): column names, class labels, categories and reasons come from uploaded data.

Sections, each a <section id="...">, in this order (SECTIONS): the promotion decision and its interval;
the metrics; the confusion matrix (classifiers); the ROC and precision-recall curves (binary); the
calibration curve (classifiers); the residuals and predicted against actual (regressors); permutation
importance; slices; fairness; the data profile; the data contract; the lineage. A plot that does not
apply to the model (a regressor's confusion matrix) is left out; a section that applies but whose
numbers the card lacks (a card written before they existed, a spec with no slices) says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from evergreen import svg_plots
from evergreen.svg_plots import Marker, Series, Whisker, fmt

SECTIONS = (
    ("decision", "Promotion decision"),
    ("metrics", "Metrics"),
    ("confusion", "Confusion matrix"),
    ("roc", "ROC curve"),
    ("pr", "Precision-recall curve"),
    ("calibration", "Calibration"),
    ("residuals", "Residuals"),
    ("predicted", "Predicted against actual"),
    ("importance", "Permutation importance"),
    ("slices", "Slices"),
    ("fairness", "Fairness"),
    ("profile", "Data profile"),
    ("contract", "Data contract"),
    ("lineage", "Lineage"),
)
PLOTS = frozenset({"confusion", "roc", "pr", "calibration", "residuals", "predicted", "importance"})  # half width
CSP = "default-src 'none'; style-src 'unsafe-inline'"
OTHER = "__other__"  # evergreen.monitoring.profile.OTHER (not imported: that module needs numpy)
TOP_VALUES = 5  # categories named per categorical column in the profile table
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2933;margin:0;background:#f5f7fa}
header,main{max-width:1180px;margin:0 auto;padding:0 20px}header{padding-top:18px}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(500px,1fr));gap:14px;align-items:start}
section{background:#fff;border:1px solid #d9dee3;border-radius:6px;padding:14px 18px}
section.wide{grid-column:1/-1}
h1{margin:0 0 4px;font-size:24px}h2{margin:0 0 10px;font-size:18px}h3{font-size:15px;margin:14px 0 6px}
nav{display:flex;flex-wrap:wrap;gap:4px 12px;margin:10px 0 14px}nav a{color:#1f6feb;text-decoration:none}
table{border-collapse:collapse;margin:6px 0 10px}
td,th{border-bottom:1px solid #e4e7eb;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{font-weight:600;color:#52606d}td.n{text-align:right;font-variant-numeric:tabular-nums}
svg{max-width:100%;height:auto}figure{margin:0}figcaption{color:#52606d;font-size:13px;max-width:440px}
.verdict{font-size:16px;font-weight:600}.yes{color:#1a7f37}.no{color:#d1242f}.muted{color:#7b8794}
code{font-size:12px;word-break:break-all}
"""


class Raw(str):
    """HTML made here (an SVG, a link), which tables and paragraphs insert as it is."""


def _t(value: object) -> str:
    return value if isinstance(value, Raw) else escape("" if value is None else str(value), quote=True)


def _is_number(value: object) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _cell(value: object, align: bool = True) -> str:
    """A table cell: a number formatted (right-aligned in a column of them), text escaped, Raw as it is."""
    if _is_number(value):
        return f'<td class="n">{_t(fmt(value))}</td>' if align else f"<td>{_t(fmt(value))}</td>"
    return f"<td>{_t(value)}</td>"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A table: numbers formatted and right-aligned, text escaped, Raw cells as they are."""
    head = "".join(f"<th>{_t(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pairs(rows: Sequence[tuple[str, object]]) -> str:
    """A two-column table of names and values."""
    body = "".join(f"<tr><th>{_t(k)}</th>{_cell(v, align=False)}</tr>" for k, v in rows)
    return f"<table><tbody>{body}</tbody></table>"


def figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_t(caption)}</figcaption></figure>"


def _missing(what: str) -> str:
    return f'<p class="muted">{_t(what)}</p>'


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# --- sections: each takes the card and returns its body, or None when it does not apply --------------


def decision(card: dict) -> str:
    d = card.get("decision") or {}
    verdict = ('<p class="verdict yes">Promoted</p>' if d.get("promote")
               else '<p class="verdict no">Not promoted</p>')
    parts = [verdict, f"<p>{_t(d.get('reason'))}</p>"]
    interval = d.get("interval")
    if interval:
        margin = card.get("margin") or 0.0
        incumbent = (card.get("scores") or {}).get("champion_before")
        against = f"champion v{incumbent['version']}" if incumbent and incumbent.get("test_score") is not None \
            else "the trivial baseline"
        caption = (f"Improvement of {card.get('metric')} over {against} on the test split: "
                   f"{interval['estimate']:+.4f}, {interval['confidence']:.0%} interval "
                   f"[{interval['low']:+.4f}, {interval['high']:+.4f}] ({interval['resamples']} paired bootstrap "
                   f"resamples, seed {interval['seed']}); {d.get('rule')} rule, margin {fmt(margin)}.")
        parts.append(figure(svg_plots.interval_plot(
            "Improvement over the incumbent and its interval", interval["estimate"], interval["low"],
            interval["high"], margin=margin, x_label=f"improvement in {card.get('metric')} (positive: better)"),
            caption))
    else:
        parts.append(_missing("No interval: the margin rule decided on the test split's difference alone."))
    if d.get("blocked_by"):
        parts.append("<h3>Blocked by</h3><ul>" + "".join(f"<li>{_t(b)}</li>" for b in d["blocked_by"]) + "</ul>")
    return "".join(parts)


def metrics(card: dict) -> str:
    scores, metric = card.get("scores") or {}, card.get("metric")
    champion = scores.get("champion_before")
    champion_text = ("none (first version)" if not champion else
                     f"v{champion['version']}: {fmt(champion.get('test_score'))}"
                     + (f" ({champion['note']})" if champion.get("note") else ""))
    better = "higher is better" if card.get("higher_is_better") else "lower is better"
    rows = [(f"{metric}, test split (served ONNX)", scores.get("test_onnx")),
            (f"{metric}, validation", scores.get("validation")),
            (f"{metric}, trivial baseline on test", scores.get("baseline")),
            ("champion before, on the same test split", champion_text),
            ("decision threshold (binary)", card.get("threshold"))]
    parity, serving = card.get("parity") or {}, card.get("serving") or {}
    agreement = (f", label agreement {fmt(parity['label_agreement'])}"
                 if parity.get("label_agreement") is not None else "")
    parity_text = (f"max abs diff {fmt(parity.get('max_abs_diff'))} on {fmt(parity.get('rows'))} rows "
                   f"(tolerance {fmt(parity.get('tolerance'))}){agreement}") if parity else None
    serving_text = (f"{fmt(serving.get('size_bytes'))} bytes, one row in {fmt(serving.get('p50_ms'))} ms "
                    "(median)") if serving else None
    rows += [("ONNX parity with scikit-learn", parity_text), ("served artifact", serving_text)]
    candidate = card.get("candidate") or {}
    rows += [("candidate", f"{candidate.get('candidate_id')} ({candidate.get('family')})"),
             ("parameters as fitted", _json(candidate.get("fitted_params") or candidate.get("params")))]
    return f"<p>Primary metric <b>{_t(metric)}</b> ({better}).</p>" + pairs(rows)


def confusion(card: dict) -> str | None:
    if _kind(card) == "regression":
        return None
    found = _figure(card, "confusion")
    if not found:
        return _missing("The card holds no confusion matrix.")
    folded = f" {found['folded']} rarer classes are folded into one." if found.get("folded") else ""
    total = sum(sum(row) for row in found["counts"])
    return figure(svg_plots.heatmap("Confusion matrix of the test split", found["classes"], found["classes"],
                                    found["counts"], x_label="answered class", y_label="true class"),
                  f"{total:,} test rows; each cell's shade is its share of the true class's rows.{folded}")


def _kind(card: dict) -> str:
    """One of "binary", "multiclass", "regression"."""
    columns = card.get("columns") or {}
    if columns.get("problem_type") == "regression":
        return "regression"
    return "binary" if len(columns.get("classes") or []) == 2 else "multiclass"


def _figure(card: dict, key: str) -> dict | None:
    return (card.get("figures") or {}).get(key)


def _threshold_curve(card: dict, name: str, x: str, y: str, reference: Callable[[dict], Series], *,
                     x_label: str, y_label: str, legend: str, caption: Callable[[dict, dict], str]) -> str | None:
    """A binary classifier's curve of `y` against `x` (keys of the card's curves and operating point),
    beside `reference` (what knowing nothing draws), with the served threshold's dot on it."""
    if _kind(card) != "binary":
        return None
    curves = _figure(card, "curves")
    if not curves:
        return _missing(f"No {name}: the test split holds a single class, or the card none.")
    point = curves.get("operating_point") or {}
    markers = ([Marker(point[x], point[y], "the served decision threshold")]
               if point.get(x) is not None and point.get(y) is not None else [])
    svg = svg_plots.line_plot(f"{name}, positive class {curves['positive_class']}",
                              [Series(name, curves[x], curves[y]), reference(curves)], x_label=x_label,
                              y_label=y_label, x_range=(0.0, 1.0), y_range=(0.0, 1.0), markers=markers, legend=legend)
    return figure(svg, caption(curves, point))


def roc(card: dict) -> str | None:
    return _threshold_curve(
        card, "ROC curve", "fpr", "tpr", lambda _: Series("chance", [0.0, 1.0], [0.0, 1.0], dashed=True),
        x_label="false positive rate", y_label="true positive rate", legend="lower right",
        caption=lambda curves, point: (
            f"Positive class {curves['positive_class']}: area under the curve {fmt(curves['auc'])} on "
            f"{curves['rows']:,} test rows ({curves['positives']:,} positive). The dot: the served threshold "
            f"(false positive rate {fmt(point.get('fpr'))}, true positive rate {fmt(point.get('tpr'))})."))


def pr(card: dict) -> str | None:
    return _threshold_curve(
        card, "precision-recall curve", "tpr", "precision",
        lambda curves: Series("no skill (prevalence)", [0.0, 1.0], [curves["prevalence"]] * 2, dashed=True),
        x_label="recall", y_label="precision", legend="lower left",
        caption=lambda curves, point: (
            f"Average precision {fmt(curves['average_precision'])}; prevalence {fmt(curves['prevalence'])}. The "
            f"dot: the served threshold (recall {fmt(point.get('tpr'))}, precision {fmt(point.get('precision'))})."))


def calibration(card: dict) -> str | None:
    if _kind(card) == "regression":
        return None
    found = card.get("calibration")
    if not found or not found.get("bins"):
        return _missing("The card holds no calibration curve.")
    bins = found["bins"]
    svg = svg_plots.line_plot(
        f"Calibration: {found['of']}",
        [Series("observed", [b["confidence"] for b in bins], [b["frequency"] for b in bins], dots=True),
         Series("perfectly calibrated", [0.0, 1.0], [0.0, 1.0], dashed=True)],
        x_label=f"mean predicted {found['of']}", y_label="observed frequency", x_range=(0.0, 1.0), y_range=(0.0, 1.0))
    rows = ", ".join(f"{b['rows']:,}" for b in bins)
    return figure(svg, f"Expected calibration error {fmt(found['expected_calibration_error'])} over {len(bins)} "
                       f"bins of {found['of']} (rows per bin: {rows}).")


def residuals(card: dict) -> str | None:
    if _kind(card) != "regression":
        return None
    found = _figure(card, "residuals")
    if not found:
        return _missing("The card holds no residuals.")
    hist, q = found["histogram"], found["quantiles"]
    svg = svg_plots.histogram("Residuals (actual minus predicted) on the test split", hist["edges"], hist["counts"],
                              x_label="actual minus predicted", mark=0.0)
    return figure(svg, f"{found['rows']:,} test rows: mean {fmt(found['mean'])}, standard deviation "
                       f"{fmt(found['std'])}, median {fmt(q.get('0.5'))}, 5%-95% [{fmt(q.get('0.05'))}, "
                       f"{fmt(q.get('0.95'))}], "
                       f"min {fmt(q.get('0'))}, max {fmt(q.get('1'))}; {hist['beyond']:,} beyond the plotted range "
                       "are counted in the end bars.")


def predicted(card: dict) -> str | None:
    if _kind(card) != "regression":
        return None
    found = _figure(card, "residuals")
    if not found or not found.get("by_prediction"):
        return _missing("The card holds no predicted-against-actual bins.")
    bins, (low, high) = found["by_prediction"], found["range"]
    svg = svg_plots.line_plot(
        "Predicted against actual, binned by prediction",
        [Series("mean actual per bin", [b["predicted"] for b in bins], [b["actual"] for b in bins], dots=True),
         Series("perfect prediction", [low, high], [low, high], dashed=True)],
        x_label="predicted", y_label="actual", x_range=svg_plots.padded([low, high]),
        y_range=svg_plots.padded([low, high]),
        whiskers=[Whisker(b["predicted"], b["actual_q10"], b["actual_q90"]) for b in bins], legend="upper left")
    return figure(svg, f"The test rows in {len(bins)} bins of the prediction (quantiles): each dot the bin's mean "
                       "prediction and mean actual value, its bar the actual values' 10%-90% range.")


def importance(card: dict) -> str:
    found = _figure(card, "importance")
    if not found:
        return _missing("The card holds no permutation importance.")
    if found.get("error"):
        return _missing(f"Permutation importance could not be computed: {found['error']}")
    top = found["top"]
    svg = svg_plots.bar_chart("Permutation importance on the test split", [f["feature"] for f in top],
                              [f["mean"] for f in top], [f["std"] for f in top],
                              x_label=f"drop in {found['metric']} when the feature is shuffled")
    shown = f"the {len(top)} largest of {found['features']} features" if len(top) < found["features"] else \
        f"all {found['features']} features"
    return figure(svg, f"How much {found['metric']} ({fmt(found.get('score'))} as served) worsens when one feature's "
                       f"values are shuffled among the rows: mean and standard deviation of {found['repeats']} "
                       f"shuffles on {found['rows']:,} test rows (seed {found['seed']}); {shown}. Near zero: the "
                       "model does not rely on it.")


def slices(card: dict) -> str:
    found = card.get("slices") or []
    if not found:
        return _missing("No slice columns in the spec (promotion.slices).")
    rows = [(s["column"], s["slice"], s["rows"], s.get("challenger"), s.get("champion"),
             None if s.get("challenger") is None or s.get("champion") is None else s["challenger"] - s["champion"])
            for s in found]
    return (f"<p>{_t(card.get('metric'))} of this version and of the champion it replaces on each slice of the test "
            "split.</p>" + table(["column", "slice", "rows", "this version", "champion before", "difference"], rows))


def fairness(card: dict) -> str:
    found = card.get("fairness") or []
    if not found:
        return _missing("No sensitive columns in the spec (promotion.sensitive)." if _kind(card) == "binary" else
                        "Measured for binary classifiers only: selection and true positive rates need a positive "
                        "class.")
    parts = []
    for report in found:
        groups = [(name, g["rows"], g["positives"], g["selection_rate"], g.get("true_positive_rate"),
                   "" if g["rows"] >= report["min_rows"] else f"fewer than {report['min_rows']} rows: not counted")
                  for name, g in report["groups"].items()]
        parts.append(
            f"<h3>{_t(report['column'])}</h3><p>Positive class {_t(report['positive_class'])}: demographic parity "
            f"difference {_t(fmt(report.get('demographic_parity_difference')))}, equal opportunity difference "
            f"{_t(fmt(report.get('equal_opportunity_difference')))}.</p>"
            + table(["group", "rows", "positive rows", "selection rate", "true positive rate", ""], groups))
    return "".join(parts)


def profile(card: dict) -> str:
    found = card.get("profile") or {}
    if not found.get("numeric") and not found.get("categorical"):
        return _missing(f"The card holds no profile of the training split (profile {found.get('key')}).")
    report = found.get("report") or {}
    parts = [(f"<p>The training split: {_t(fmt(found.get('rows')))} rows. The upload had "
              f"{_t(fmt(report.get('raw')))} rows; {_t(fmt(report.get('dropped')))} were left out (missing or "
              f"invalid target). Profile: <code>{_t(found.get('key'))}</code>.</p>")]
    numeric = []
    for name, s in (found.get("numeric") or {}).items():
        q, hist = s.get("quantiles") or [None] * 11, s.get("histogram") or {}
        spark = (Raw(svg_plots.sparkline_histogram(f"histogram of {name}", hist["edges"], hist["counts"]))
                 if hist.get("counts") else "")
        numeric.append((name, s.get("count"), s.get("missing"), s.get("mean"), s.get("std"), s.get("min"), q[5],
                        s.get("max"), spark))
    if numeric:
        parts.append("<h3>Numeric features</h3>" + table(
            ["column", "count", "missing", "mean", "std", "min", "median", "max", "histogram"], numeric))
    categorical = []
    for name, s in (found.get("categorical") or {}).items():
        # commonest first (the card's JSON is written with sorted keys); the profile's "__other__" is the rest
        ranked = sorted((s.get("frequencies") or {}).items(), key=lambda kv: (kv[0] == OTHER, -kv[1], kv[0]))
        top = [("(others)" if value == OTHER else value, count) for value, count in ranked[:TOP_VALUES]]
        categorical.append((name, s.get("count"), s.get("missing"), s.get("distinct"),
                            ", ".join(f"{value} ({count:,})" for value, count in top)))
    if categorical:
        parts.append("<h3>Categorical features</h3>" + table(
            ["column", "count", "missing", "distinct", f"commonest {TOP_VALUES}"], categorical))
    target = found.get("target") or {}
    if "counts" in target:
        parts.append("<h3>Target</h3>" + table(["class", "rows"], list(target["counts"].items())))
    elif target:
        parts.append("<h3>Target</h3>" + pairs([(k, target.get(k)) for k in ("count", "mean", "std", "min", "max")]))
    return "".join(parts)


def contract(card: dict) -> str:
    found, columns = card.get("contract") or {}, card.get("columns") or {}
    numeric = (card.get("profile") or {}).get("numeric") or {}
    rows = [("contract version", found.get("version")),
            ("previous version", found.get("previous") if found.get("previous") is not None else "none"),
            ("breaking change declared", "yes" if found.get("breaking") else "no"),
            ("recorded at", Raw(f"<code>{_t(found.get('key'))}</code>")),
            ("target", f"{columns.get('target')} ({columns.get('problem_type')})"),
            ("classes", ", ".join(columns.get("classes") or []) or "none (regression)")]
    parts = [pairs(rows)]
    features = [(name, "number", (numeric.get(name) or {}).get("min"), (numeric.get(name) or {}).get("max"))
                for name in columns.get("numeric") or []]
    features += [(name, "category", "", "") for name in columns.get("categorical") or []]
    parts.append("<h3>Features</h3>" + table(["column", "type", "training min", "training max"], features))
    for title, key in (("Changes", "changes"), ("Notices", "notices")):
        if found.get(key):
            parts.append(f"<h3>{title}</h3><ul>" + "".join(f"<li>{_t(v)}</li>" for v in found[key]) + "</ul>")
    return "".join(parts)


def lineage(card: dict) -> str:
    found, dataset, source = card.get("lineage") or {}, card.get("dataset") or {}, card.get("source") or {}
    parent = found.get("parent_version")
    origin = (f"s3://{source.get('bucket')}/{source.get('key')} (version {source.get('version_id') or '-'})"
              if source else "none recorded")
    rows = [("model", f"{card.get('model_name')} v{card.get('version')}"),
            ("run id", found.get("run_id", card.get("run_id"))), ("trigger", found.get("trigger", card.get("trigger"))),
            ("source", origin), ("dataset version", found.get("dataset_version", dataset.get("version"))),
            ("rows per split", ", ".join(f"{k} {v:,}" for k, v in (dataset.get("rows") or {}).items())),
            ("parent version", f"v{parent}" if parent is not None else "none (first version)"),
            ("contract version", found.get("contract_version")), ("card written", found.get("written_at"))]
    versions = found.get("versions") or {}
    library_rows = [(name, version or "not installed") for name, version in versions.items()]
    return pairs(rows) + ("<h3>Versions the model was fitted and converted with (the training layer's)</h3>"
                          + table(["package", "version"], library_rows) if library_rows
                          else _missing("The card records no library versions."))


BUILDERS: dict[str, Callable[[dict], str | None]] = {
    "decision": decision, "metrics": metrics, "confusion": confusion, "roc": roc, "pr": pr,
    "calibration": calibration, "residuals": residuals, "predicted": predicted, "importance": importance,
    "slices": slices, "fairness": fairness, "profile": profile, "contract": contract, "lineage": lineage,
}


def render(card: dict) -> str:
    """The card as one HTML page (see the module doc)."""
    title = f"Model card: {card.get('model_name')} v{card.get('version')}"
    sections = []
    for key, heading in SECTIONS:
        body = BUILDERS[key](card)
        if body is not None:
            sections.append((key, heading, body))
    nav = "".join(f'<a href="#{key}">{_t(heading)}</a>' for key, heading, _ in sections)
    main = "".join(f'<section id="{key}" class="{"plot" if key in PLOTS else "wide"}"><h2>{_t(heading)}</h2>{body}'
                   "</section>" for key, heading, body in sections)
    columns = card.get("columns") or {}
    summary = (f"{columns.get('problem_type')} of {columns.get('target')}, "
               f"{(card.get('candidate') or {}).get('family')}, run {card.get('run_id')}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_t(title)}</title><style>{STYLE}</style></head>"
            f"<body><header><h1>{_t(title)}</h1><p>{_t(summary)}</p><nav>{nav}</nav></header>"
            f"<main>{main}</main></body></html>\n")
