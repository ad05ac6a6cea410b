"""`make demo`: the whole Evergreen loop, locally, from the real template.yaml and state machine.

The story: an upload trains and promotes v1; the inference handler serves it from ONNX; labels on
shifted data make the live quality the scheduled monitor computes fall; the quality alarm fires and
retrains on the new data; v2 beats v1 on the same test split and enters a canary (the spec's
promotion.rollout), answering half the requests; the monitor judges both on live labels and promotes
v2, each move in the registry's audit log; a worse challenger is rejected with its reason; a bad
upload fails with a clear reason while the champion keeps serving.

moto never fires schedules nor evaluates alarms, so the demo ticks them: each tick stands for one
schedule period (MonitorScheduleMinutes=1). The monitor Lambda runs on the scheduled event of that
minute and publishes each champion's window quality; the alarm is then evaluated over that minute.
Every quality printed is the monitor's own answer.

With DATA/TARGET the same story runs on the user's CSV; the "shift" is then simulated as a concept
change (classes rotated, or the regression target moved by three standard deviations).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np

from evergreen import csvfile
from evergreen.contracts import Interval
from evergreen.monitoring import alarms
from evergreen.spec import CandidateGrid, ModelSpec, default_spec, dump_spec, parse_spec

EXAMPLE_SPEC = Path("examples") / "churn" / "spec.yaml"  # under the project root


# ----------------------------------------------------------------------------- data for the story
@dataclass
class StoryData:
    spec: ModelSpec
    initial: bytes  # first upload
    live_before: list[tuple[dict, Any]]  # (record, truth) the way the world was
    live_after: list[tuple[dict, Any]]  # after the concept shifted
    weak_batch: bytes  # a later upload of fresh data from the shifted world...
    shift: str

    @property
    def weak_spec(self) -> ModelSpec:
        """...trained with a cheaper model than the champion's (a depth-1 tree): its challenger should lose."""
        return self.spec.model_copy(update={"candidates": [CandidateGrid(family="decision_tree", grid={"max_depth": [1]})]})


def example_data(root: Path, seed: int = 7) -> StoryData:
    from evergreen.synthetic import make_churn

    spec_path = root / EXAMPLE_SPEC
    spec = parse_spec(spec_path.read_text(), source=str(spec_path))
    before = _records(make_churn(200, seed=seed + 1, drift=0.0), spec.target)
    after = _records(make_churn(900, seed=seed + 2, drift=1.0), spec.target)
    weak = make_churn(600, seed=seed + 3, drift=1.0)
    return StoryData(spec, make_churn(3000, seed=seed, drift=0.0), before, after, weak,
                     "the churn drivers changed (concept drift, drift=1.0 in evergreen.synthetic)")


def user_data(path: Path, target: str, model: str) -> StoryData:
    raw = path.read_bytes()
    table = csvfile.read_table(raw, source=str(path))
    header, rows = table.header, table.rows(np.arange(table.n_rows))
    if target not in header:
        raise SystemExit(f"--target {target!r} is not a column of {path}; columns are {header}")
    t = header.index(target)
    values = [r[t] for r in rows if r[t].strip()]
    numeric = all(_is_number(v) for v in values)
    problem = "regression" if numeric and len(set(values)) > 20 else "classification"
    spec = default_spec(model, target, problem)
    rng = random.Random(0)
    rows = rows[:]
    rng.shuffle(rows)
    n = len(rows)
    train_rows, live_rows = rows[: int(n * 0.6)], rows[int(n * 0.6):]
    if problem == "classification":
        # the relationship changes for a segment (40% of the rows, by one feature), not everywhere: a
        # wholesale relabelling is what a flipped label column looks like, and Evergreen refuses to learn it
        classes = sorted(set(values))
        rotate = {c: classes[(i + 1) % len(classes)] for i, c in enumerate(classes)}
        column, changed = _segment(header, live_rows, t, share=0.4)
        shifted = [r[:t] + [rotate.get(r[t], r[t])] + r[t + 1:] if changed(r) else r for r in live_rows]
        shift = (f"labels rotated {dict(list(rotate.items())[:3])}... where {column} (40% of the rows) "
                 "(simulated concept change)")
    else:
        ys = [float(v) for v in values]
        mean = sum(ys) / len(ys)
        std = (sum((y - mean) ** 2 for y in ys) / len(ys)) ** 0.5 or 1.0
        shifted = [r[:t] + [repr(float(r[t]) + 3 * std) if r[t].strip() else r[t]] + r[t + 1:] for r in live_rows]
        shift = f"target moved by +3 std ({3 * std:.3g}) (simulated concept change)"
    half = len(live_rows) // 4
    to_csv = lambda rs: _csv(header, rs)  # noqa: E731
    return StoryData(spec, to_csv(train_rows), _records(to_csv(live_rows[:half]), target),
                     _records(to_csv(shifted[half:]), target),
                     to_csv(shifted[half:]), shift)  # the world since the shift, which v2 learned


def _segment(header: list[str], rows: list[list[str]], target: int, share: float):
    """(description, predicate) of a segment of about `share` of `rows`: the top values of the first
    numeric feature, else the commonest value of the first feature."""
    for j, name in enumerate(header):
        cells = [r[j] for r in rows]
        if j != target and all(_is_number(v) for v in cells if v.strip()) and any(v.strip() for v in cells):
            ordered = sorted(float(v) for v in cells if v.strip())
            cut = ordered[int(len(ordered) * (1 - share))]
            return f"{name} >= {cut:g}", lambda r, j=j: bool(r[j].strip()) and float(r[j]) >= cut
    j = 0 if target != 0 else 1
    common = max(set(r[j] for r in rows), key=[r[j] for r in rows].count)
    return f"{header[j]} = {common!r}", lambda r: r[j] == common


def _shift_numbers(record: dict) -> dict:
    """A covariate shift: every numeric value scaled by 3 and moved by 10."""
    return {k: v * 3 + 10 if isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in record.items()}


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


def _records(raw: bytes, target: str) -> list[tuple[dict, Any]]:
    reader = csv.DictReader(io.StringIO(raw.decode()))
    out = []
    for row in reader:
        truth = row.pop(target)
        out.append(({k: (None if v == "" else float(v) if _is_number(v) else v) for k, v in row.items()}, truth))
    return out


# ----------------------------------------------------------------------------- narration helpers
class Narrator:
    def __init__(self, out=None) -> None:
        self.out = out  # None: whatever sys.stdout is when printing
        self.t0 = time.monotonic()

    def chapter(self, title: str) -> None:
        print(f"\n== {title}", file=self.out, flush=True)

    def say(self, text: str) -> None:
        print(f"   [{time.monotonic() - self.t0:6.1f}s] {text}", file=self.out, flush=True)


def quality_alarm_name(outputs: dict, model: str) -> str:
    return alarms.alarm_name(outputs["AlarmNamePrefix"], alarms.QUALITY, model)


class Story:
    def __init__(self, stack: Any, story: StoryData, narrator: Narrator) -> None:
        self.stack, self.d, self.n = stack, story, narrator
        self.s3 = stack.client("s3")
        self.sfn = stack.client("stepfunctions")
        self.ddb = stack.client("dynamodb")
        self.out = stack.outputs
        self.model = story.spec.name
        self.seen: set[str] = set()
        self.alarm_name = quality_alarm_name(stack.outputs, self.model)  # put by promote from the spec
        self.start = self.clock = datetime.now(UTC)

    def alarm(self) -> dict:
        return self.stack.client("cloudwatch").describe_alarms(AlarmNames=[self.alarm_name])["MetricAlarms"][0]

    @property
    def period(self) -> timedelta:
        return timedelta(seconds=int(self.alarm()["Period"]))  # = the monitor's schedule (template.yaml)

    @property
    def threshold(self) -> float:
        return float(self.alarm()["Threshold"])  # = the spec's monitoring.quality_threshold

    # -- pipeline
    def upload(self, name: str, body: bytes) -> str:
        key = f"uploads/{self.model}/{name}"
        self.s3.put_object(Bucket=self.out["DataBucketName"], Key=key, Body=body)
        return key

    def next_execution(self, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.sfn.list_executions(stateMachineArn=self.out["StateMachineArn"])["executions"]
            new = [e for e in runs if e["executionArn"] not in self.seen]
            if new:
                arn = new[0]["executionArn"]
                self.seen.add(arn)
                return self.stack.wait_for_execution(arn, timeout=deadline - time.monotonic())
            time.sleep(0.1)
        raise TimeoutError("no execution started")

    def run_record(self, run_id: str) -> dict:
        from evergreen.storage import from_dynamo

        table = boto3.resource("dynamodb", region_name=self.stack.region).Table(self.out["ExperimentsTableName"])
        item = table.get_item(Key={"run_id": run_id, "sk": "run"}).get("Item") or {}
        trials = table.query(KeyConditionExpression="run_id = :r AND begins_with(sk, :t)",
                             ExpressionAttributeValues={":r": run_id, ":t": "trial#"})["Items"]
        return from_dynamo({**item, "trials": trials})

    def report_run(self, execution: dict) -> dict:
        run_id = execution["name"]
        rec = self.run_record(run_id)
        summary = rec.get("summary") or {}
        self.n.say(f"execution {run_id} {execution['status']} (trigger: {rec.get('trigger')})")
        if rec.get("trials"):
            self.n.say(f"{len(rec['trials'])} trials on dataset {summary.get('dataset_version')} {summary.get('rows')}:")
            for t in sorted(rec["trials"], key=lambda t: t["candidate_id"]):
                score = f"{t['validation_score']:.4f}" if t.get("validation_score") is not None else t.get("error")
                self.n.say(f"   {t['candidate_id']} {t['family']:<24} {json.dumps(t['params']):<40} "
                           f"val {t['metric']}={score} fit {t.get('fit_seconds') or 0:.2f}s")
        exp = summary.get("export") or {}
        if exp.get("reason"):
            self.n.say(f"export: {exp['reason']}")
        interval = (summary.get("decision") or {}).get("interval")
        if interval:
            self.n.say(f"improvement over the incumbent: {Interval.model_validate(interval).describe()}")
        self.n.say(f"outcome: {rec.get('status')}: {rec.get('reason')}")
        return rec

    # -- serving
    def predict(self, records: list[dict]) -> dict:
        from evergreen_cli.local.api import invoke_api

        status, body = invoke_api(self.stack, "POST", "/predict", {"model": self.model, "records": records})
        if status != 200:
            raise RuntimeError(f"/predict answered {status}: {body}")
        return body

    def feedback(self, items: list[dict]) -> dict:
        from evergreen_cli.local.api import invoke_api

        status, body = invoke_api(self.stack, "POST", "/feedback", {"feedback": items})
        if status != 200:
            raise RuntimeError(f"/feedback answered {status}: {body}")
        return body

    def serve_and_label(self, pairs: list[tuple[dict, Any]], batch: int = 100) -> set[int]:
        """Predict every record, then post its ground truth (one label each); returns the versions that served.

        Quality is not read here: the monitor computes it from the stored labels (see `tick`).
        """
        versions: set[int] = set()
        for i in range(0, len(pairs), batch):
            chunk = pairs[i:i + batch]
            out = self.predict([r for r, _ in chunk])
            versions.add(out["model_version"])
            fb = self.feedback([{"prediction_id": p["prediction_id"], "label": truth}
                                for p, (_, truth) in zip(out["predictions"], chunk)])
            if fb["accepted"] != len(chunk):
                raise RuntimeError(f"/feedback accepted {fb['accepted']} of {len(chunk)} labels: {fb}")
        return versions

    def feedback_all(self, predictions: list[dict], pairs: list[tuple[dict, Any]]) -> None:
        """The ground truth of each prediction, 100 labels a request."""
        items = [{"prediction_id": p["prediction_id"], "label": truth} for p, (_, truth) in zip(predictions, pairs)]
        for i in range(0, len(items), 100):
            fb = self.feedback(items[i:i + 100])
            if fb["accepted"] != len(items[i:i + 100]):
                raise RuntimeError(f"/feedback accepted {fb['accepted']} of {len(items[i:i + 100])} labels: {fb}")

    def served_quality(self, pairs: list[tuple[dict, Any]]) -> tuple[float, int, str]:
        """(quality, the version that served, how it reads) of fresh predictions, no feedback sent:
        accuracy for a classifier, minus the mean absolute error for a regressor (higher is better)."""
        right, errors, version = 0, 0.0, 0
        for i in range(0, len(pairs), 100):
            out = self.predict([r for r, _ in pairs[i:i + 100]])
            for p, (_, truth) in zip(out["predictions"], pairs[i:i + 100]):
                right += p["prediction"] == truth
                errors += abs(float(p["prediction"]) - float(truth)) if self.d.spec.problem_type == "regression" else 0
            version = out["model_version"]
        if self.d.spec.problem_type == "regression":
            return -errors / len(pairs), version, f"mean absolute error {errors / len(pairs):.4g}"
        return right / len(pairs), version, f"accuracy {right / len(pairs):.3f}"

    @property
    def registry_table(self) -> Any:
        return boto3.resource("dynamodb", region_name=self.stack.region).Table(self.out["RegistryTableName"])

    def champion(self, alias: str = "champion") -> int | None:
        from evergreen import registry

        item = registry.get_alias(self.registry_table, self.model, alias)
        return item["version"] if item else None

    def challenger(self) -> int | None:
        return self.champion("challenger")

    def audit_log(self) -> list[dict]:
        from evergreen import registry

        return registry.audit_log(self.registry_table, self.model)

    def tick(self) -> tuple[dict, list[Any]]:
        """One schedule period: the monitor runs on its scheduled event, then the alarm is evaluated.

        Returns the monitor's summary for this model and the alarm's state changes.
        """
        self.clock = max(self.clock + self.period, datetime.now(UTC))  # never behind the predictions' clock
        runs = self.stack.tick_schedules(self.clock)  # due: one period has passed since the last run
        answers = [r.payload for r in runs if isinstance(r.payload, dict) and "models" in r.payload]
        if len(answers) != 1 or any(r.error for r in runs):
            raise RuntimeError(f"the monitor did not run once: {runs}")
        [answer] = answers
        [summary] = [m for m in answer["models"] if m["model_name"] == self.model]
        minute = f"+{(self.clock - self.start).total_seconds() / 60:.0f} min"
        if summary["published"]:
            window = datetime.fromisoformat(answer["window_end"]) - datetime.fromisoformat(answer["window_start"])
            other = f" ({summary['other_versions']} of earlier versions not counted)" if summary["other_versions"] else ""
            self.n.say(f"[{minute}] monitor: PredictionQuality {summary['quality']:.3f} = v{summary['version']}'s "
                       f"{summary['labels']} labelled predictions of the last {window.total_seconds() / 60:g} min{other}")
        else:
            self.n.say(f"[{minute}] monitor: v{summary['version']}: {summary['reason']} (quality not published)")
        for r in answer.get("rollouts") or []:
            self.n.say(f"[{minute}] monitor: rollout of v{r['challenger_version']} ({r['mode']}) "
                       f"{r['outcome'].replace('_', ' ')}: {r['reason']}")
        changes = [c for c in self.stack.tick_alarms(self.clock) if c.alarm_name == self.alarm_name]
        for change in changes:
            self.n.say(f"[{minute}] alarm {change.alarm_name}: {change.previous} -> {change.state} ({change.reason})")
        return summary, changes

    def tick_both(self) -> tuple[dict, list[Any]]:
        """One schedule period: the monitor's summary of this model and both its alarms' changes."""
        self.clock = max(self.clock + self.period, datetime.now(UTC))
        runs = self.stack.tick_schedules(self.clock)
        [answer] = [r.payload for r in runs if isinstance(r.payload, dict) and "models" in r.payload]
        [summary] = [m for m in answer["models"] if m["model_name"] == self.model]
        names = {self.alarm_name, self.alarm_name.replace(f"-{alarms.QUALITY}-", f"-{alarms.DRIFT}-")}
        if summary.get("rearmed"):
            self.n.say(f"monitor re-armed {summary['rearmed']}")
        return summary, [c for c in self.stack.tick_alarms(self.clock) if c.alarm_name in names]

    def tick_until(self, wanted: str, traffic: list[tuple[dict, Any]] | None = None, max_ticks: int = 20) -> dict:
        """Tick (monitor, then alarm) until the alarm reaches `wanted`; labelled traffic keeps flowing meanwhile.

        Returns the monitor's last summary (the quality that moved the alarm).
        """
        pending = list(traffic or [])
        for _ in range(max_ticks):
            if pending:
                versions = self.serve_and_label(pending[:100])
                self.n.say(f"{len(pending[:100])} more predictions, each labelled (served by v{sorted(versions)})")
                pending = pending[100:]
            summary, changes = self.tick()
            # moto creates an alarm in OK (CloudWatch: INSUFFICIENT_DATA), so OK may need no transition
            if any(change.state == wanted for change in changes) or (
                    summary["published"] and self.alarm()["StateValue"] == wanted):
                return summary
        raise TimeoutError(f"the alarm did not reach {wanted} in {max_ticks} ticks")


def tell(stack: Any, story: StoryData, narrator: Narrator) -> None:
    s, n = Story(stack, story, narrator), narrator
    bucket = stack.outputs["DataBucketName"]

    n.chapter("1. A user uploads a CSV: S3 -> EventBridge -> Step Functions")
    s.s3.put_object(Bucket=bucket, Key=f"specs/{s.model}.yaml", Body=dump_spec(story.spec).encode())
    n.say(f"spec at s3://{bucket}/specs/{s.model}.yaml: target {story.spec.target!r}, "
          f"{story.spec.problem_type}, metric {story.spec.primary_metric}, margin {story.spec.promotion_margin}; "
          "monitoring.cooldown_minutes 0, since this story puts hours of traffic into a minute (default 60)")
    key = s.upload("initial.csv", story.initial)
    n.say(f"uploaded s3://{bucket}/{key} ({len(story.initial):,} bytes)")
    first = s.report_run(s.next_execution())
    _expect(first.get("status") == "PROMOTED" and s.champion() == 1, "the first upload did not promote v1", first)

    n.chapter("2. The inference handler serves v1 from ONNX (onnxruntime, no scikit-learn)")
    sample = s.predict([r for r, _ in story.live_before[:3]])
    for p in sample["predictions"]:
        probs = ", ".join(f"{k}={v:.3f}" for k, v in (p.get("probabilities") or {}).items())
        n.say(f"prediction {p['prediction_id'][:8]}… -> {p['prediction']!r} {probs} (model v{sample['model_version']})")
    versions = s.serve_and_label(story.live_before)
    n.say(f"{len(story.live_before)} predictions before the shift, each labelled via /feedback (served by v{sorted(versions)})")
    n.say(f"moto fires no schedules: each tick below is one {s.period.total_seconds() / 60:g}-minute run of the "
          f"monitor, then the alarm (threshold {s.threshold:g})")
    before = s.tick_until("OK")

    n.chapter(f"3. The world shifts: {story.shift}")
    s.serve_and_label(story.live_after)
    n.say(f"{len(story.live_after)} predictions after the shift, each labelled via /feedback")

    n.chapter("4. The monitor sees quality fall; the alarm fires and starts retraining on the new data")
    canary = story.spec.model_copy(update={"promotion": story.spec.promotion.model_copy(
        update={"rollout": "canary", "canary_share": 0.5})})
    s.s3.put_object(Bucket=bucket, Key=f"specs/{s.model}.yaml", Body=dump_spec(canary).encode())
    n.say("spec now: promotion.rollout canary, canary_share 0.5: a promoted challenger first answers half the "
          "requests, beside the champion, until live labels judge it")
    after = s.tick_until("ALARM", traffic=story.live_after[::-1])
    _expect(after["quality"] < before["quality"], "quality did not fall after the shift",
            {"before": before, "after": after})
    second = s.report_run(s.next_execution())
    _expect(second.get("trigger") == "alarm", "the alarm did not start the retraining run", second)
    _expect(second.get("status") == "PROMOTED" and s.champion() == 1 and s.challenger() == 2,
            "v2 did not enter canary beside v1", second)

    n.chapter("5. Canary: v2 answers half the requests; the monitor judges v1 and v2 on live labels")
    versions = s.serve_and_label(story.live_after[:200], batch=2)
    n.say(f"{min(200, len(story.live_after))} shifted predictions, 2 records a request, each labelled "
          f"(answered by v{sorted(versions)}: the request key picks the model)")
    recovered = s.tick_until("OK", traffic=story.live_after[200:] + story.live_after[:200] * 3)
    n.say(f"v2's live quality on shifted traffic {recovered['quality']:.3f} (v1's was {after['quality']:.3f})")
    _expect(recovered["version"] == 2 and recovered["quality"] > after["quality"] and s.challenger() is None,
            "the canary did not end with v2 as champion", {"v1": after, "v2": recovered})
    for entry in reversed(s.audit_log()[:3]):
        n.say(f"audit {entry['at']} {entry['actor']}: {entry['reason']}")
    s.s3.put_object(Bucket=bucket, Key=f"specs/{s.model}.yaml", Body=dump_spec(story.spec).encode())

    n.chapter("6. A later run tries a cheaper model (a depth-1 tree) on fresh data: it must not replace v2")
    s.s3.put_object(Bucket=bucket, Key=f"specs/{s.model}.yaml", Body=dump_spec(story.weak_spec).encode())
    s.upload("fresh-batch.csv", story.weak_batch)
    third = s.report_run(s.next_execution())
    s.s3.put_object(Bucket=bucket, Key=f"specs/{s.model}.yaml", Body=dump_spec(story.spec).encode())
    _expect(third.get("status") == "REJECTED" and s.champion() == 2, "the worse challenger was not rejected", third)

    n.chapter("7. Bad uploads fail clearly; the champion keeps serving")
    s.upload("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    bad = s.report_run(s.next_execution())
    header = story.initial.split(b"\n", 1)[0].decode()
    cols = [c for c in header.split(",") if c != story.spec.target]
    s.upload("no-target.csv", _csv(cols, [["1"] * len(cols)] * 100))
    missing = s.report_run(s.next_execution())
    _expect(bad.get("status") == "FAILED" and missing.get("status") == "FAILED", "bad uploads did not fail", bad)
    still = s.predict([story.live_after[0][0]])
    n.say(f"inference still answers from v{still['model_version']} (champion v{s.champion()})")
    _expect(still["model_version"] == 2, "the champion changed after failed runs", still)

    n.chapter("8. The inputs shift, before any label: the drift alarm fires; retraining follows once labels arrive")
    pairs = [(_shift_numbers(record), truth) for record, truth in (story.live_after * 3)[:1000]]
    if all(shifted == original for (shifted, _), (original, _) in zip(pairs, story.live_after * 3)):
        n.say("the data has no numeric feature to shift: skipped")
    else:
        served = [p for i in range(0, len(pairs), 100) for p in s.predict([r for r, _ in pairs[i:i + 100]])["predictions"]]
        flagged = sum(bool(p.get("flags")) for p in served)
        n.say(f"{len(served)} predictions of inputs scaled x3 + 10, no labels: {flagged} answered with plausibility flags")
        summary, changes = s.tick_both()
        drift = summary["drift"]
        top = sorted(drift["features"].items(), key=lambda kv: -(kv[1].get("psi") or 0))[:3]
        n.say(f"monitor: DriftedFeatureShare {drift['drifted_feature_share']:.2f} (PSI above "
              f"{drift['drift_threshold']:g}: " + ", ".join(f"{k} {v['psi']:.2f}" for k, v in top) + "), "
              f"OutOfRangeRate {drift['out_of_range_rate']:.2f}, PredictionDrift {drift['prediction_drift']:.2f}")
        for change in changes:
            n.say(f"alarm {change.alarm_name}: {change.previous} -> {change.state} ({change.reason})")
        _expect(any(c.state == "ALARM" and "-drift-" in c.alarm_name for c in changes), "the drift alarm did not fire", drift)
        before = s.served_quality(pairs[:300])
        n.say("each ALARM starts a run; this one has no label of the shifted inputs yet, so it learns from the "
              "labels it has (and is promoted only if better)")
        for _ in [c for c in changes if c.state == "ALARM"]:
            s.report_run(s.next_execution())  # its retrain has no label of the shifted inputs yet
        s.feedback_all(served, pairs)
        n.say(f"{len(served)} labels of the shifted inputs arrive via /feedback")
        for _ in range(5):
            summary, changes = s.tick_both()
            for change in changes:
                n.say(f"alarm {change.alarm_name}: {change.previous} -> {change.state} ({change.reason})")
            runs = [s.report_run(s.next_execution()) for c in changes if c.state == "ALARM"]
            if any(r.get("status") == "PROMOTED" for r in runs):
                break
        after = s.served_quality(pairs[:300])
        n.say(f"on the shifted inputs: v{before[1]} {before[2]} -> v{after[1]} {after[2]}")
        _expect(after[1] > before[1] and after[0] > before[0], "no retrain learned the shifted inputs",
                {"before": before, "after": after})

    n.chapter("Done: the loop closed without a person")
    n.say(f"registry: champion v{s.champion()}; raw uploads kept in s3://{bucket}/uploads/{s.model}/ (versioned)")


def _expect(ok: bool, message: str, context: Any) -> None:
    if not ok:
        raise SystemExit(f"demo failed: {message}: {json.dumps(context, default=str)[:2000]}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, help="your CSV (default: the bundled churn example)")
    parser.add_argument("--target", help="the target column of --data")
    parser.add_argument("--model", default="demo", help="model name (default: demo)")
    parser.add_argument("--verbose", action="store_true", help="show the handlers' logs")


def run(args: argparse.Namespace) -> int:
    if bool(args.data) != bool(args.target):
        raise SystemExit("--data and --target go together (make demo DATA=path.csv TARGET=column)")
    story = user_data(args.data, args.target, args.model) if args.data else example_data(args.root)
    if not args.data and args.model != story.spec.name:
        story.spec = story.spec.model_copy(update={"name": args.model})
    # the story puts hours of traffic into a minute: no cooldown between retrains (the default is 60 min)
    story.spec = story.spec.model_copy(update={"monitoring": story.spec.monitoring.model_copy(update={"cooldown_minutes": 0})})

    import os

    os.environ.setdefault("CHAMPION_TTL_SECONDS", "0")  # the demo moves fast: re-read the alias every request
    from evergreen_cli.local.stack import LocalStack

    narrator = Narrator()
    narrator.chapter("0. Local stack: template.yaml -> aws-sam-translator -> CloudFormation on moto")
    with LocalStack(root=args.root, parameters={"ModelName": story.spec.name, "MonitorScheduleMinutes": "1"},
                    verbose=args.verbose) as stack:
        narrator.say(f"{len(stack.resources)} resources created; not created locally: "
                     f"{', '.join(sorted({d.kind for d in stack.dropped}))} (served or bridged by the local runtime)")
        narrator.say(f"state machine {stack.outputs['StateMachineArn'].rsplit(':', 1)[-1]} runs on moto's own interpreter; "
                     "Lambda tasks call the handlers in functions/ in-process")
        for rule in stack.schedules.rules():
            narrator.say(f"scheduled rule {rule['Name'].removeprefix(stack.stack_name + '-')} "
                         f"({rule['ScheduleExpression']}): moto never fires it, the demo ticks it")
        tell(stack, story, narrator)
    return 0
