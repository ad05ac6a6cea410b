"""The closed loop on streams: how fast the quality and drift alarms see a change, what a retrain
recovers, how often a stationary stream raises a false alarm; river's ADWIN side by side.

    .venv/bin/python benchmarks/bench_loop.py [--stationary-samples 15000] [--seed 11]

Each stream runs on its own in-process LocalStack (the real template.yaml and state machine on moto,
MonitorScheduleMinutes=1), with one model whose spec has logistic_regression C in [0.1, 1.0] and
hist_gradient_boosting max_iter in [50, 100] (learning_rate 0.1) and
monitoring: {quality_threshold: T, window_minutes: 5, min_labels: 200, min_predictions: 200,
cooldown_minutes: 30, retrain_data: feedback}. v1 is trained by an upload of make_churn(3000, seed)
(drift 0). T = 0.9 x the pre-drift accuracy, estimated before the stack starts by a scikit-learn
HistGradientBoostingClassifier fitted offline on that same upload and scored on 2,000 fresh pre-drift
samples (rounded down to 0.01), since promote puts the alarm from the spec.

The stream is served in batches of 100: /predict (invoke_api), then /feedback with the 100 labels
(none in stream b), then one tick = one simulated minute: tick_schedules(now) (the monitor) and
tick_alarms(now). When alarms go to ALARM, the executions they start are awaited before the next
batch. The clock is SIMULATED: every `datetime.now` the handlers read (prediction
and feedback timestamps, ingest's cooldown and retrain window, run records) and moto CloudWatch's
alarm timestamps are patched to the simulated clock, so the window and the cooldown are in stream
minutes, not wall seconds. Batch k is served at minute k + 1 s; its tick is at minute k + 1.

Streams (seeds fixed):
  a  concept drift: make_churn drift 0 for 2,000 labelled samples, then drift 1 for 3,000;
  b  covariate shift: 1,000 drift-0 predictions, then the same generator with every numeric feature
     x1.5 (the concept is a function of the unscaled inputs); no labels until the DRIFT alarm fires,
     then every batch is labelled. Reported: predictions from the shift until the drift alarm (and
     whether it fired before), labels from then until a retrain is promoted, and accuracy on 1,000
     fresh shifted samples at the alarm and at the end;
  c  stationary: make_churn drift 0 with 10% of labels flipped (seeded), for --stationary-samples.
Accuracies "before / after drift / after retrain" are measured on 1,000 fresh held-out samples of
the current concept through /predict (unlabelled, so they never enter the quality window): before =
v1 on drift 0 just before the drift; after drift = v1 on drift 1 at the drift; after retrain = the
champion on drift 1 at the end of the stream.
ADWIN: river.drift.ADWIN() (delta 0.002) fed the same 0/1 error stream (served prediction != label),
in order; samples from the drift to its first detection, and detections anywhere on the stationary
stream (and before the drift in stream a) are false.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]  # evergreen, evergreen_cli

from evergreen_cli.local.demo import _records  # noqa: E402
from evergreen.synthetic import make_churn  # noqa: E402

BATCH = 100
WINDOW_MINUTES, MIN_LABELS, COOLDOWN_MINUTES = 5, 200, 30
SPEC = """
name: {name}
target: churned
problem_type: classification
primary_metric: accuracy
promotion_margin: 0.01
min_rows: 100
split: {{validation: 0.2, test: 0.2, seed: 42}}
candidates:
  - family: logistic_regression
    grid: {{C: [0.1, 1.0]}}
  - family: hist_gradient_boosting
    grid: {{learning_rate: [0.1], max_iter: [50, 100]}}
monitoring:
  quality_threshold: {threshold}
  window_minutes: {window}
  min_labels: {min_labels}
  min_predictions: 200
  cooldown_minutes: {cooldown}
  retrain_data: feedback
"""
NUMERIC = ("tenure_months", "monthly_charges", "support_calls", "data_usage_gb", "days_since_login", "age")


# ----------------------------------------------------------------------------- the simulated clock
class Clock:
    now = datetime(2026, 1, 1, tzinfo=UTC)


class SimDatetime(datetime):
    @classmethod
    def now(cls, tz=None):  # noqa: ANN001, ANN206
        return Clock.now.astimezone(tz) if tz else Clock.now.replace(tzinfo=None)


def patch_clock() -> None:
    import moto.cloudwatch.models as cw_models

    from evergreen import storage
    from evergreen.serving import feedback, predict
    from evergreen.steps import ingest, monitor

    for module in (storage, feedback, predict, ingest, monitor):
        module.datetime = SimDatetime
    cw_models.utcnow = lambda: Clock.now.replace(tzinfo=None)


# ----------------------------------------------------------------------------- data
def flip_labels(raw: bytes, rate: float, seed: int) -> bytes:
    rows = list(csv.reader(io.StringIO(raw.decode())))
    rng = np.random.default_rng(seed)
    flips = rng.random(len(rows) - 1) < rate
    for row, flip in zip(rows[1:], flips):
        if flip:
            row[-1] = "no" if row[-1] == "yes" else "yes"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def scaled(record: dict, factor: float = 1.5) -> dict:
    return {k: (v * factor if k in NUMERIC and isinstance(v, float) else v) for k, v in record.items()}


def to_matrix(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    cats = {"contract": ("month-to-month", "one-year", "two-year"),
            "payment_method": ("card", "bank_transfer", "electronic_check", "mailed_check")}
    x = [[float(r[c]) if r[c] else np.nan for c in NUMERIC]
         + [float(r[c] == v) for c, vs in cats.items() for v in vs] for r in rows]
    return np.array(x), np.array([r["churned"] == "yes" for r in rows])


def offline_accuracy(train: bytes, test: bytes) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = to_matrix(train)
    xt, yt = to_matrix(test)
    return float((HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(x, y).predict(xt) == yt).mean())


# ----------------------------------------------------------------------------- one stream on one stack
class Loop:
    def __init__(self, stack: Any, model: str) -> None:
        from evergreen_cli.local.demo import quality_alarm_name
        from evergreen.monitoring import alarms

        self.stack, self.model = stack, model
        self.quality_alarm = quality_alarm_name(stack.outputs, model)
        self.drift_alarm = self.quality_alarm.replace(f"-{alarms.QUALITY}-", f"-{alarms.DRIFT}-")
        self.minute = 0
        self.start = Clock.now
        self.events: list[dict] = []
        self.errors: list[int] = []  # 0/1, every labelled prediction, in order
        self.retrains: list[dict] = []

    def api(self, method: str, path: str, body: dict) -> dict:
        from evergreen_cli.local.api import invoke_api

        status, out = invoke_api(self.stack, method, path, body)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {out}")
        return out

    def train_v1(self, spec: str, upload: bytes) -> dict:
        s3, bucket = self.stack.client("s3"), self.stack.outputs["DataBucketName"]
        s3.put_object(Bucket=bucket, Key=f"specs/{self.model}.yaml", Body=spec.encode())
        known = len(self.stack.list_executions())
        s3.put_object(Bucket=bucket, Key=f"uploads/{self.model}/v1.csv", Body=upload)
        execution = self.stack.wait_for_execution(self.stack.wait_for_new_execution(known)["executionArn"], timeout=600)
        if execution["status"] != "SUCCEEDED":
            raise RuntimeError(f"v1 did not train: {execution}")
        return execution

    def accuracy(self, pairs: list[tuple[dict, Any]]) -> tuple[float, int]:
        right, version = 0, None
        for i in range(0, len(pairs), BATCH):
            chunk = pairs[i:i + BATCH]
            out = self.api("POST", "/predict", {"model": self.model, "records": [r for r, _ in chunk]})
            version = out["model_version"]
            right += sum(p["prediction"] == t for p, (_, t) in zip(out["predictions"], chunk))
        return right / len(pairs), version

    def batch(self, chunk: list[tuple[dict, Any]], label: bool = True) -> dict:
        """Serve (and label) one batch at minute + 1 s, then tick at the next minute."""
        Clock.now = self.start + timedelta(minutes=self.minute, seconds=1)
        out = self.api("POST", "/predict", {"model": self.model, "records": [r for r, _ in chunk]})
        if label:
            fb = self.api("POST", "/feedback", {"feedback": [
                {"prediction_id": p["prediction_id"], "label": t} for p, (_, t) in zip(out["predictions"], chunk)]})
            if fb["accepted"] != len(chunk):
                raise RuntimeError(f"/feedback accepted {fb['accepted']} of {len(chunk)}")
            self.errors += [int(p["prediction"] != t) for p, (_, t) in zip(out["predictions"], chunk)]
        self.minute += 1
        Clock.now = self.start + timedelta(minutes=self.minute)
        known = len(self.stack.list_executions())
        runs = self.stack.tick_schedules(Clock.now)
        if len(runs) != 1 or runs[0].error:
            raise RuntimeError(f"the monitor did not run once: {runs}")
        [summary] = [m for m in runs[0].payload["models"] if m["model_name"] == self.model]
        changes = [c for c in self.stack.tick_alarms(Clock.now) if c.alarm_name in (self.quality_alarm, self.drift_alarm)]
        tick = {"minute": self.minute, "labels": len(self.errors), "version": out["model_version"],
                "quality": summary.get("quality"), "drift_share": (summary.get("drift") or {}).get("drifted_feature_share"),
                "changes": [(("quality" if c.alarm_name == self.quality_alarm else "drift"), c.state) for c in changes]}
        if tick["changes"]:
            self.events.append(tick)
        fired = [kind for kind, state in tick["changes"] if state == "ALARM"]
        if fired:  # each ALARM starts one execution: await them before the next batch
            self.stack.wait_for_new_execution(known + len(fired) - 1, timeout=30)
            for execution in self.stack.list_executions()[known:]:
                done = self.stack.wait_for_execution(execution["executionArn"], timeout=600)
                rec = self.run_record(done["name"])
                self.retrains.append({"minute": self.minute, "labels": len(self.errors), "alarms": fired,
                                      "status": rec.get("status"), "reason": str(rec.get("reason"))[:200]})
        return tick

    def run_record(self, run_id: str) -> dict:
        import boto3

        from evergreen.storage import from_dynamo

        table = boto3.resource("dynamodb", region_name=self.stack.region).Table(self.stack.outputs["ExperimentsTableName"])
        return from_dynamo(table.get_item(Key={"run_id": run_id, "sk": "run"}).get("Item") or {})


def adwin_detections(errors: list[int]) -> list[int]:
    from river.drift import ADWIN

    detector, found = ADWIN(), []
    for i, e in enumerate(errors):
        detector.update(e)
        if detector.drift_detected:
            found.append(i)
    return found


def with_stack(name: str, fn: Any) -> dict:
    from evergreen_cli.local.stack import LocalStack

    Clock.now = datetime(2026, 1, 1, tzinfo=UTC)
    with LocalStack(root=ROOT, parameters={"ModelName": name, "MonitorScheduleMinutes": "1"},
                    stack_name=f"bench-{name}") as stack:
        patch_clock()
        started = time.monotonic()
        result = fn(Loop(stack, name))
        result["seconds"] = round(time.monotonic() - started, 1)
        return result


def spec(name: str, threshold: float) -> str:
    return SPEC.format(name=name, threshold=threshold, window=WINDOW_MINUTES, min_labels=MIN_LABELS,
                       cooldown=COOLDOWN_MINUTES)


def floor2(x: float) -> float:
    return float(np.floor(x * 100) / 100)


# ----------------------------------------------------------------------------- streams
def stream_concept(seed: int, before_n: int, after_n: int) -> dict:
    upload = make_churn(3000, seed=seed)
    pre = offline_accuracy(upload, make_churn(2000, seed=seed + 50))
    threshold = floor2(0.9 * pre)
    live = _records(make_churn(before_n, seed=seed + 1), "churned") + _records(make_churn(after_n, seed=seed + 2, drift=1.0), "churned")
    hold_before = _records(make_churn(1000, seed=seed + 3), "churned")
    hold_after = _records(make_churn(1000, seed=seed + 4, drift=1.0), "churned")

    def run(loop: Loop) -> dict:
        loop.train_v1(spec("concept", threshold), upload)
        acc: dict[str, Any] = {}
        for i in range(0, len(live), BATCH):
            if i == before_n:
                acc["before"], _ = loop.accuracy(hold_before)
                acc["after_drift"], _ = loop.accuracy(hold_after)
                quality_before_drift = [e for e in loop.events if ("quality", "ALARM") in e["changes"]]
            loop.batch(live[i:i + BATCH])
        acc["after_retrain"], acc["final_version"] = loop.accuracy(hold_after)
        first = next((e for e in loop.events if ("quality", "ALARM") in e["changes"] and e["labels"] > before_n), None)
        adwin = adwin_detections(loop.errors)
        adwin_after = [d for d in adwin if d >= before_n]
        return {"stream": "a concept drift", "threshold": threshold, "offline_pre_drift_accuracy": round(pre, 4),
                "labels_drift_to_quality_alarm": (first["labels"] - before_n) if first else None,
                "false_quality_alarms_before_drift": len(quality_before_drift),
                "retrains": loop.retrains, "retrains_per_drift": sum(r["status"] == "PROMOTED" for r in loop.retrains),
                "retrain_runs_started": len(loop.retrains),
                "accuracy": {k: round(v, 4) if isinstance(v, float) else v for k, v in acc.items()},
                "adwin_samples_drift_to_detection": (adwin_after[0] - before_n + 1) if adwin_after else None,
                "adwin_false_before_drift": sum(d < before_n for d in adwin), "adwin_detections": adwin,
                "alarm_events": loop.events}

    return with_stack("concept", run)


def stream_covariate(seed: int, before_n: int, after_n: int) -> dict:
    upload = make_churn(3000, seed=seed)
    threshold = floor2(0.9 * offline_accuracy(upload, make_churn(2000, seed=seed + 50)))
    base = _records(make_churn(before_n + after_n, seed=seed + 5), "churned")
    live = base[:before_n] + [(scaled(r), t) for r, t in base[before_n:]]
    hold_shifted = [(scaled(r), t) for r, t in _records(make_churn(1000, seed=seed + 7), "churned")]

    def run(loop: Loop) -> dict:
        loop.train_v1(spec("covariate", threshold), upload)
        served, fired, acc = 0, None, {}
        for i in range(0, len(live), BATCH):
            labelled = fired is not None and served >= before_n  # labels start to arrive after the drift alarm
            tick = loop.batch(live[i:i + BATCH], label=labelled)
            served += len(live[i:i + BATCH])
            if ("drift", "ALARM") in tick["changes"] and fired is None:
                fired = served
                acc["at_alarm"], _ = loop.accuracy(hold_shifted)
                if served <= before_n:
                    break
            if any(r["status"] == "PROMOTED" for r in loop.retrains):
                break
        acc["after_retrain"], acc["final_version"] = loop.accuracy(hold_shifted)
        promoted = next((r for r in loop.retrains if r["status"] == "PROMOTED"), None)
        return {"stream": "b covariate shift (numeric x1.5)", "threshold": threshold,
                "predictions_shift_to_drift_alarm": (fired - before_n) if fired and fired > before_n else None,
                "drift_alarm_before_shift": bool(fired and fired <= before_n),
                "labels_before_drift_alarm": 0, "labels_alarm_to_promoted_retrain": promoted["labels"] if promoted else None,
                "retrains": loop.retrains, "accuracy": {k: round(v, 4) if isinstance(v, float) else v for k, v in acc.items()},
                "alarm_events": loop.events}

    return with_stack("covariate", run)


def stream_stationary(seed: int, n: int) -> dict:
    upload = flip_labels(make_churn(3000, seed=seed), 0.1, seed)
    pre = offline_accuracy(upload, flip_labels(make_churn(2000, seed=seed + 50), 0.1, seed + 50))
    threshold = floor2(0.9 * pre)
    live = _records(flip_labels(make_churn(n, seed=seed + 6), 0.1, seed + 6), "churned")

    def run(loop: Loop) -> dict:
        loop.train_v1(spec("stationary", threshold), upload)
        qualities, t0 = [], time.monotonic()
        for i in range(0, len(live), BATCH):
            tick = loop.batch(live[i:i + BATCH])
            if tick["quality"] is not None:
                qualities.append(tick["quality"])
            if (i // BATCH + 1) % 50 == 0:  # progress, for long runs
                alarms_so_far = sum(("quality", "ALARM") in e["changes"] for e in loop.events)
                print(f"   stationary: {len(loop.errors):,} labelled, {alarms_so_far} quality alarms, "
                      f"{time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
        adwin = adwin_detections(loop.errors)
        return {"stream": "c stationary (10% labels flipped)", "threshold": threshold, "offline_accuracy": round(pre, 4),
                "labelled_samples": len(loop.errors), "served_accuracy": round(1 - float(np.mean(loop.errors)), 4),
                "window_quality_min": round(min(qualities), 4) if qualities else None,
                "false_quality_alarms": sum(("quality", "ALARM") in e["changes"] for e in loop.events),
                "false_drift_alarms": sum(("drift", "ALARM") in e["changes"] for e in loop.events),
                "retrain_runs_started": len(loop.retrains), "adwin_false_detections": len(adwin),
                "adwin_detections": adwin[:50], "alarm_events": loop.events[:50]}

    return with_stack("stationary", run)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--stationary-samples", type=int, default=15_000,
                        help="labelled samples of stream c (default 15,000; the target is 50,000)")
    parser.add_argument("--streams", default="abc", help="which streams to run (default: abc)")
    args = parser.parse_args()
    os.environ.setdefault("CHAMPION_TTL_SECONDS", "0")
    import logging

    logging.disable(logging.WARNING)
    t0 = time.monotonic()
    results = []
    # Powertools Metrics flushes its EMF JSON to stdout once a metric holds 100 values, even with
    # POWERTOOLS_METRICS_DISABLED: the handlers' stdout goes to /dev/null, the table stays readable
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        if "a" in args.streams:
            results.append(stream_concept(args.seed, 2000, 3000))
        if "b" in args.streams:
            results.append(stream_covariate(args.seed, 1000, 3000))
        if "c" in args.streams:
            results.append(stream_stationary(args.seed, args.stationary_samples))
    for r in results:
        print(f"\n== {r['stream']} (quality_threshold {r['threshold']}, window {WINDOW_MINUTES} min = "
              f"{WINDOW_MINUTES * BATCH} predictions, min_labels {MIN_LABELS}, cooldown {COOLDOWN_MINUTES} min; "
              f"{r['seconds']} s)")
        for e in r.get("alarm_events", [])[:12]:
            print(f"   minute {e['minute']:>4} labels {e['labels']:>6} v{e['version']} quality {e['quality']} "
                  f"drift share {e['drift_share']}: {e['changes']}")
        for t in r.get("retrains", []):
            print(f"   retrain at minute {t['minute']} ({t['labels']} labels): {t['status']}: {t['reason']}")
    print("\n| stream | Evergreen | river ADWIN (same 0/1 error stream) |\n|---|---|---|")
    for r in results:
        if r["stream"].startswith("a"):
            a = r["accuracy"]
            print(f"| a: labelled samples from drift to alarm | {r['labels_drift_to_quality_alarm']} (quality alarm) | "
                  f"{r['adwin_samples_drift_to_detection']} |")
            print(f"| a: false alarms before drift (2,000 samples) | {r['false_quality_alarms_before_drift']} | {r['adwin_false_before_drift']} |")
            print(f"| a: retrains promoted / trained / runs started | {r['retrains_per_drift']} / "
                  f"{sum(t['status'] != 'SKIPPED' for t in r['retrains'])} / {r['retrain_runs_started']} | n/a |")
            print(f"| a: accuracy before / after drift / after retrain (v{a['final_version']}) | "
                  f"{a['before']:.3f} / {a['after_drift']:.3f} / {a['after_retrain']:.3f} | n/a |")
        elif r["stream"].startswith("b"):
            a = r["accuracy"]
            print(f"| b: predictions from shift to DRIFT alarm, 0 labels | {r['predictions_shift_to_drift_alarm']}"
                  f"{' (fired before the shift!)' if r['drift_alarm_before_shift'] else ''} | n/a (needs labels) |")
            print(f"| b: labels after the drift alarm until a retrain is promoted | "
                  f"{r['labels_alarm_to_promoted_retrain']} | n/a |")
            print(f"| b: accuracy on shifted inputs at the alarm / after the retrain (v{a.get('final_version')}) | "
                  f"{a.get('at_alarm', float('nan')):.3f} / {a['after_retrain']:.3f} | n/a |")
        else:
            print(f"| c: false alarms on {r['labelled_samples']:,} stationary labelled samples (served acc "
                  f"{r['served_accuracy']:.3f}) | {r['false_quality_alarms']} quality, {r['false_drift_alarms']} drift "
                  f"(min window quality {r['window_quality_min']}) | {r['adwin_false_detections']} |")
    print(f"\ntotal {time.monotonic() - t0:.0f} s")
    print(json.dumps({"benchmark": "loop", "seed": args.seed, "results": [
        {k: v for k, v in r.items() if k not in ("alarm_events",)} for r in results]}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
