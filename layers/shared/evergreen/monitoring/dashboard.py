"""Each model's widgets on the stack's CloudWatch dashboard. Pure: Promote reads and writes the dashboard.

The template's dashboard (template.yaml: Dashboard, ``<stack>-evergreen``) shows the stack: every
model's quality in one SEARCH graph, pipeline runs, Lambda errors and durations. Promote adds a model's
own row when the model is promoted and the row is missing (its first promotion, or after a stack update
rewrote the dashboard from the template), beside the alarms it puts:

  - a heading, ``Model <name>``;
  - quality: PredictionQuality (Average), with the quality alarm's threshold as its annotation;
  - drift: DriftedFeatureShare (Maximum), with the drift alarm's threshold;
  - predictions: PredictionCount (Sum) served, and LabelledPredictions (Maximum), the labels the
    monitor's window holds;
  - errors: ModelLoadFailure (the champion could not be loaded or verified), ImplausiblePredictions
    (inputs outside what training saw) and failed runs (RunOutcome with Outcome "failed"), each a Sum;
  - latency: PredictLatency p50 and p95, and ModelLatency p95 (onnxruntime alone), in milliseconds.

All in namespace Evergreen with the dimension Model (RunOutcome adds Outcome). A widget is the model's
when its title and metrics are these: ``missing_widgets`` compares them, whatever their place on the
grid, so a later promotion adds nothing twice and a widget a person moved stays where it is.
"""

from __future__ import annotations

from typing import Any

from evergreen.monitoring.alarms import DRIFT, QUALITY

GRID_WIDTH = 24  # CloudWatch's dashboard grid


def model_widgets(*, model: str, namespace: str, region: str, period_seconds: int,
                  alarm_arns: dict[str, str]) -> list[dict[str, Any]]:
    """The model's widgets, laid out from y=0 (`place` moves them below the dashboard's others).
    `alarm_arns`: {QUALITY | DRIFT: the alarm's ARN}, drawn as each metric's threshold."""

    def metric(name: str, **options: Any) -> list[Any]:
        return [namespace, name, "Model", model, *([options] if options else [])]

    def graph(x: int, y: int, width: int, title: str, metrics: list[list[Any]], **properties: Any) -> dict[str, Any]:
        return {"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": {
            "title": title, "region": region, "view": "timeSeries", "period": period_seconds, "metrics": metrics,
            **properties}}

    def alarm(kind: str) -> dict[str, Any]:
        return {"annotations": {"alarms": [alarm_arns[kind]]}} if alarm_arns.get(kind) else {}

    return [
        {"type": "text", "x": 0, "y": 0, "width": GRID_WIDTH, "height": 1,
         "properties": {"markdown": f"### Model {model}"}},
        graph(0, 1, 8, f"{model}: live quality (PredictionQuality)",
              [metric("PredictionQuality", stat="Average")], **alarm(QUALITY), yAxis={"left": {"min": 0, "max": 1}}),
        graph(8, 1, 8, f"{model}: drift (DriftedFeatureShare)",
              [metric("DriftedFeatureShare", stat="Maximum")], **alarm(DRIFT), yAxis={"left": {"min": 0, "max": 1}}),
        graph(16, 1, 8, f"{model}: predictions",
              [metric("PredictionCount", stat="Sum", label="served"),
               metric("LabelledPredictions", stat="Maximum", label="labelled in the monitor's window")]),
        graph(0, 7, 12, f"{model}: errors",
              [metric("ModelLoadFailure", stat="Sum", label="champion not loaded"),
               metric("ImplausiblePredictions", stat="Sum", label="implausible inputs"),
               [namespace, "RunOutcome", "Model", model, "Outcome", "failed", {"stat": "Sum", "label": "failed runs"}]]),
        graph(12, 7, 12, f"{model}: latency (ms)",
              [metric("PredictLatency", stat="p50", label="request p50"),
               metric("PredictLatency", stat="p95", label="request p95"),
               metric("ModelLatency", stat="p95", label="onnxruntime p95")]),
    ]


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same widget, wherever it is: its type, title (or text) and metrics."""
    pa, pb = a.get("properties") or {}, b.get("properties") or {}
    return (a.get("type") == b.get("type") and pa.get("title") == pb.get("title")
            and pa.get("markdown") == pb.get("markdown") and pa.get("metrics") == pb.get("metrics"))


def missing_widgets(body: dict[str, Any], widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `widgets` the dashboard `body` does not show yet."""
    present = body.get("widgets") or []
    return [w for w in widgets if not any(_same(w, p) for p in present)]


def place(body: dict[str, Any], widgets: list[dict[str, Any]]) -> dict[str, Any]:
    """`body` with `widgets` added below everything it shows (their layout kept, moved down)."""
    present = body.get("widgets") or []
    bottom = max((int(w.get("y", 0)) + int(w.get("height", 6)) for w in present), default=0)
    top = min((int(w.get("y", 0)) for w in widgets), default=0)
    return {**body, "widgets": [*present, *({**w, "y": bottom + int(w.get("y", 0)) - top} for w in widgets)]}
