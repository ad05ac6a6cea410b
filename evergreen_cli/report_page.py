"""A model's report as one self-contained HTML page: what `evergreen report` writes and /ui/ serves.

``render(data, card_links)`` takes evergreen_cli.report_data.gather's data and returns a page built as
the model card is (evergreen.card_html): no script and no external resource, its plots inline SVG
(evergreen.svg_plots), its style one <style> element, the card's Content-Security-Policy, and every
text from the stack (model names, reasons, parameters, actors) escaped. ``card_links`` maps a version
to the href of its card page (relative: files written beside the report, or /ui/cards/...).

Sections, each a <section id="...">: now (aliases, pin, alarms), versions and decisions (a plot of every
run's challenger score, the versions and the runs), live quality, drift, predictions and labels, alarms
and retrains, the trials of the last run, the model cards, the audit log. Times on the plots' x axes
are minutes, hours or days relative to the report's time, 0 being that time (Clock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from evergreen import svg_plots
from evergreen.card_html import CSP, STYLE, Raw, figure, pairs, table
from evergreen.monitoring.alarms import DRIFT, QUALITY
from evergreen.svg_plots import Marker, Series, fmt

SECTIONS = (
    ("now", "Now"),
    ("timeline", "Versions and decisions"),
    ("quality", "Live quality"),
    ("drift", "Drift"),
    ("traffic", "Predictions and labels"),
    ("alarms", "Alarms and retrains"),
    ("trials", "Trials of the last run"),
    ("cards", "Model cards"),
    ("audit", "Audit log"),
)
PLOTS = frozenset({"quality", "drift", "traffic"})  # half width
OUTCOME_COLORS = {"PROMOTED": "#1a7f37", "REJECTED": "#9a6700"}
EXTRA_STYLE = ".PROMOTED,.OK{color:#1a7f37}.REJECTED{color:#9a6700}.FAILED,.ALARM{color:#d1242f}a{color:#1f6feb}"


def _t(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _time(iso: str | None) -> datetime | None:
    if not iso:
        return None
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def when(iso: str | None) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM:SS UTC' ('' for None)."""
    moment = _time(iso)
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Clock:
    """Times as x values relative to the report's time: in minutes when they are all within two hours
    of it, in days when one is more than three days away, else in hours."""

    def __init__(self, now: str, times: Sequence[str | None]):
        self.now = _time(now) or datetime.now(UTC)
        span = max((abs(self.hours(t)) for t in times if t), default=0.0)
        self.unit, self.divisor = ("minutes", 1 / 60) if span <= 2 else ("days", 24.0) if span > 72 else ("hours", 1.0)

    def hours(self, iso: str) -> float:
        return ((_time(iso) or self.now) - self.now).total_seconds() / 3600

    def x(self, iso: str) -> float:
        return self.hours(iso) / self.divisor

    @property
    def label(self) -> str:
        return f"{self.unit} relative to the report (0 = {self.now:%Y-%m-%d %H:%M} UTC)"


def _status(status: str | None) -> Raw:
    return Raw(f'<span class="{_t(status)}">{_t(status)}</span>')


def _link(href: str, text: str) -> Raw:
    return Raw(f'<a href="{_t(href)}">{_t(text)}</a>')


def _missing(text: str) -> str:
    return f'<p class="muted">{_t(text)}</p>'


# --- sections: each takes the data (and the card links) and returns its body --------------------------


def now(data: dict, _: Mapping[int, str]) -> str:
    aliases, by_version = data["aliases"], {v["version"]: v for v in data["versions"]}

    def named(alias: str) -> str:
        number = aliases.get(alias)
        if number is None:
            return "none"
        v = by_version.get(number) or {}
        return f"v{number} {v.get('family') or ''}, {v.get('metric') or ''} {fmt(v.get('test_score'))} on its test split"

    pin = data.get("pin")
    rows: list[tuple[str, object]] = [("champion", named("champion")), ("challenger (rollout)", named("challenger")),
                                      ("previous champion", named("previous")),
                                      ("pinned", f"v{pin.get('version')} by {pin.get('actor')}: {pin.get('reason')}" if pin else "no")]
    for kind, title in ((QUALITY, "quality alarm"), (DRIFT, "drift alarm")):
        alarm = data["alarms"].get(kind)
        rows.append((title, Raw(f"{_status(alarm['state'])} since {_t(when(alarm['since']))}") if alarm else "none"))
    counts: dict[str, int] = {}
    for run in data["runs"]:
        counts[str(run["status"])] = counts.get(str(run["status"]), 0) + 1
    rows.append(("runs", ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items())) or "none"))
    return pairs(rows)


def timeline(data: dict, card_links: Mapping[int, str]) -> str:
    runs = [r for r in data["runs"] if r.get("challenger_test_score") is not None and r.get("started_at")]
    parts = []
    if runs:
        clock = Clock(data["generated_at"], [r["started_at"] for r in runs])
        series = [Series(outcome.lower(), [clock.x(r["started_at"]) for r in chosen],
                         [r["challenger_test_score"] for r in chosen], line=False, color=OUTCOME_COLORS[outcome])
                  for outcome in OUTCOME_COLORS if (chosen := [r for r in runs if r["status"] == outcome])]
        metric = runs[0].get("metric") or "score"
        xs, ys = [x for s in series for x in s.xs], [y for s in series for y in s.ys]
        low, high = svg_plots.padded(ys)
        svg = svg_plots.line_plot(f"{metric} of each run's challenger on its test split", series, x_label=clock.label,
                                  y_label=f"{metric} (test split)", x_range=svg_plots.padded(xs, include=[0.0]),
                                  y_range=(low, high + (high - low) * 0.3), legend="upper left")  # room for the legend
        parts.append(figure(svg, f"Each run that reached Evaluate: its challenger's {metric} on the test split, "
                                 "green when it was promoted, amber when the champion was kept."))
    else:
        parts.append(_missing("No run reached Evaluate yet: no score to plot."))
    versions = [(f"v{v['version']}", when(v["registered_at"]), v["family"], v["test_score"],
                 ", ".join(a for a, n in data["aliases"].items() if n == v["version"]), v["reason"],
                 _link(card_links[v["version"]], "card") if v["version"] in card_links else "")
                for v in reversed(data["versions"])]
    parts.append("<h3>Versions, newest first</h3>" + (
        table(["version", "registered", "family", "test score", "alias", "why it was promoted", "card"], versions)
        if versions else _missing("No version registered yet.")))
    rows = [(when(r["started_at"]), r["run_id"], r["trigger"], _status(r["status"]),
             f"v{r['version']}" if r.get("version") else "", r.get("challenger_test_score"),
             (f"v{r['champion_before']['version']}: {fmt(r['champion_before']['test_score'])}"
              if r.get("champion_before") else ""), r.get("reason"))
            for r in data["runs"]]
    parts.append(f"<h3>Runs, newest first ({len(rows)})</h3>" + table(
        ["started", "run", "trigger", "outcome", "version", "challenger score", "champion before", "decision"], rows))
    return "".join(parts)


def _series_plot(data: dict, metric: str, title: str, y_label: str, kind: str | None, what: str) -> str:
    """One of the monitor's series over the report's days, with its alarm's threshold (dashed) and the
    retrains alarms started (red dots on the threshold line)."""
    points = data["metrics"]["series"].get(metric) or []
    if not points:
        return _missing(f"No {metric} datapoint in the last {fmt(data['days'])} days: {what}")
    alarm = data["alarms"].get(kind) if kind else None
    retrains = [r for r in data["retrains"] if r.get("started_at")]
    clock = Clock(data["generated_at"], [p["at"] for p in points] + [r["started_at"] for r in retrains])
    xs, ys = [clock.x(p["at"]) for p in points], [p["value"] for p in points]
    x_range = svg_plots.padded(xs + [clock.x(r["started_at"]) for r in retrains], include=[0.0])
    threshold = alarm.get("threshold") if alarm else None
    series = [Series(metric, xs, ys, dots=True)]
    if threshold is not None:
        series.append(Series(f"alarm threshold {fmt(threshold)}", list(x_range), [threshold, threshold], dashed=True))
    bounded = all(0.0 <= y <= 1.0 for y in ys)
    y_range = (0.0, 1.0) if bounded and kind else svg_plots.padded(ys, include=[0.0])
    markers = ([Marker(clock.x(r["started_at"]), threshold, f"retrain {r['run_id']} started {when(r['started_at'])}: "
                                                             f"{r['status']}: {r.get('reason') or ''}") for r in retrains]
               if threshold is not None else [])
    svg = svg_plots.line_plot(title, series, x_label=clock.label, y_label=y_label, x_range=x_range, y_range=y_range,
                              markers=markers, legend="upper left" if metric == "DriftedFeatureShare" else "lower left")
    latest = points[-1]
    period = data["metrics"]["period"]
    caption = (f"{len(points)} datapoints of the monitor in the last {fmt(data['days'])} days, one per "
               f"{fmt(period / 60)} min; the latest {fmt(latest['value'])} at {when(latest['at'])}.")
    if alarm:
        fires = "below" if kind == QUALITY else "at or above"
        caption += f" The dashed line: the alarm's threshold (it fires {fires} {fmt(threshold)})."
    if markers:
        caption += (" The red dot: the retrain an alarm started." if len(markers) == 1 else
                    f" Red dots: the {len(markers)} retrains alarms started.")
    return figure(svg, caption)


def quality(data: dict, _: Mapping[int, str]) -> str:
    return _series_plot(data, "PredictionQuality", "Live quality (PredictionQuality)", "quality", QUALITY,
                        "the monitor publishes it once its window holds the spec's min_labels labels.")


def drift(data: dict, _: Mapping[int, str]) -> str:
    return _series_plot(data, "DriftedFeatureShare", "Share of drifted features (DriftedFeatureShare)",
                        "share of features", DRIFT, "the monitor publishes it once the window holds served predictions.")


def traffic(data: dict, _: Mapping[int, str]) -> str:
    series = data["metrics"]["series"]
    served, labelled = series.get("PredictionCount") or [], series.get("LabelledPredictions") or []
    if not served and not labelled:
        return _missing(f"No prediction served or labelled in the last {fmt(data['days'])} days.")
    clock = Clock(data["generated_at"], [p["at"] for p in served + labelled])
    lines = [Series(name, [clock.x(p["at"]) for p in found], [p["value"] for p in found], dots=True)
             for name, found in (("served per period", served), ("labelled in the monitor's window", labelled)) if found]
    xs, ys = [x for s in lines for x in s.xs], [y for s in lines for y in s.ys]
    svg = svg_plots.line_plot("Predictions served and labelled", lines, x_label=clock.label, y_label="predictions",
                              x_range=svg_plots.padded(xs, include=[0.0]), y_range=svg_plots.padded(ys, include=[0.0]),
                              legend="upper left")
    said = (f"PredictionCount per {fmt(data['metrics']['period'] / 60)} min ({fmt(sum(p['value'] for p in served))} in all)"
            if served else "no PredictionCount datapoint in these days")
    return figure(svg, f"Served: {said}. Labelled: the labelled predictions the monitor's window held "
                       "(LabelledPredictions).")


def alarms(data: dict, _: Mapping[int, str]) -> str:
    rows = [(a["name"], a["metric"], _status(a["state"]), a["threshold"], when(a["since"]), a["reason"])
            for a in (data["alarms"].get(QUALITY), data["alarms"].get(DRIFT)) if a]
    parts = [table(["alarm", "metric", "state", "threshold", "since", "why"], rows) if rows else
             _missing("The model has no alarms: Promote puts them at its first promotion.")]
    retrains = [(when(r["started_at"]), r["run_id"], _status(r["status"]), f"v{r['version']}" if r.get("version") else "",
                 r.get("reason")) for r in data["retrains"]]
    parts.append(f"<h3>Retrains started by an alarm ({len(retrains)})</h3>" + (
        table(["started", "run", "outcome", "version", "reason"], retrains) if retrains else
        _missing(f"No retrain started by an alarm among the model's {len(data['runs'])} newest runs.")))
    return "".join(parts)


def trials(data: dict, _: Mapping[int, str]) -> str:
    run = data.get("last_run")
    if not run:
        return _missing("No run has trained yet.")
    found, metric = run["trials"], run.get("metric") or "score"
    scored = [t for t in found if t.get("status") == "ok" and t.get("validation_score") is not None]
    parts = [f"<p>Run <code>{_t(run['run_id'])}</code> ({_t(run.get('trigger'))}, started {_t(when(run.get('started_at')))}), "
             f"{_status(run.get('status'))}: {len(found)} trials, {len(scored)} scored.</p>"]
    if scored:
        svg = svg_plots.bar_chart(f"Validation {metric} of each trial", [f"{t['trial_id'] or t['candidate_id']} {t['family']}"
                                                                        for t in scored],
                                  [t["validation_score"] for t in scored], [t.get("cv_std") for t in scored],
                                  x_label=f"validation {metric} (± its cross-validation spread)")
        parts.append(figure(svg, f"The scored trials, best first as the run ranked them (the last rung first)."))
    rows = [(t.get("rank") or "", t["trial_id"] or t["candidate_id"], t["family"], t.get("rung"),
             ", ".join(f"{k}={v}" for k, v in sorted((t.get("fitted_params") or {}).items()) if k != "threads"),
             t.get("validation_score"), t.get("cv_std"), t.get("fit_seconds"), t.get("gb_seconds"), _status(t["status"].upper()),
             t.get("onnx_bytes"))
            for t in found]
    parts.append(table(["rank", "trial", "family", "rung", "parameters", f"validation {metric}", "cv ±", "fit s", "GB-s",
                        "status", "ONNX bytes"], rows))
    return "".join(parts)


def cards(data: dict, card_links: Mapping[int, str]) -> str:
    if not data["versions"]:
        return _missing("No version, no card.")
    rows = []
    for v in reversed(data["versions"]):
        name = f"{data['model']} v{v['version']}"
        rows.append(f"<li>{_link(card_links[v['version']], name)}</li>" if v["version"] in card_links
                    else f"<li>{_t(name)}: <span class=\"muted\">no card page</span></li>")
    return "<p>Each version's model card: what it is, how it scored, why it was promoted.</p><ul>" + "".join(rows) + "</ul>"


def audit(data: dict, _: Mapping[int, str]) -> str:
    def change(c: dict) -> str:
        if "pin" in c:
            return "pinned" if c["pin"] else "unpinned"
        return f"{c.get('alias')}: {'none' if c.get('from') is None else 'v' + str(c['from'])} -> " \
               f"{'none' if c.get('to') is None else 'v' + str(c['to'])}"

    rows = [(when(e.get("at")), e.get("actor"), "; ".join(change(c) for c in e.get("changes") or []), e.get("reason"))
            for e in data["audit"]]
    return table(["when", "who", "moves", "why"], rows) if rows else _missing("No move of an alias yet.")


BUILDERS = {"now": now, "timeline": timeline, "quality": quality, "drift": drift, "traffic": traffic,
            "alarms": alarms, "trials": trials, "cards": cards, "audit": audit}


def card_href(prefix: str, model: str, version: int) -> str:
    """A version's card page under `prefix` (a relative folder): <prefix>/<model>/v<N>.html."""
    return f"{prefix}/{quote(model, safe='')}/v{version}.html"


def render(data: dict[str, Any], card_links: Mapping[int, str], models: Sequence[tuple[str, str]] = ()) -> str:
    """The report page (see the module doc); `models`: (name, href) of the stack's models, for a nav."""
    title = f"Evergreen report: {data['model']}"
    nav = "".join(f'<a href="#{key}">{_t(heading)}</a>' for key, heading in SECTIONS)
    others = ('<nav id="models">Models: ' + "".join(_link(href, name) for name, href in models) + "</nav>"
              if models else "")
    main = "".join(f'<section id="{key}" class="{"plot" if key in PLOTS else "wide"}"><h2>{_t(heading)}</h2>'
                   f"{BUILDERS[key](data, card_links)}</section>" for key, heading in SECTIONS)
    summary = f"{data['where']}; generated {when(data['generated_at'])}; the last {fmt(data['days'])} days of metrics"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_t(title)}</title><style>{STYLE}{EXTRA_STYLE}</style></head>"
            f"<body><header><h1>{_t(title)}</h1><p>{_t(summary)}</p>{others}<nav>{nav}</nav></header>"
            f"<main>{main}</main></body></html>\n")
