"""Data at scale: ingest parsing beside pandas.read_csv, and the local pipeline beside a plain loop.

    .venv/bin/python benchmarks/bench_scale.py [--rows 100000,1000000,5000000] [--repeat 2]
                                               [--pipeline-rows 30000,1000000]
    (an empty list skips that part: --rows "" runs the pipeline part only)

Data: `generate(n)` writes n rows x 20 columns plus the target: 10 float columns (4 decimals), 4
integer columns, 5 categorical columns of 3 / 12 / 50 / 400 / 2,000 values, 2% of every feature's
cells empty, and a binary target that depends on some of them (seed 0). Files are cached under
build/bench-scale/.

Ingest parsing (one fresh process per measurement, variants interleaved, --repeat rounds, medians):
  evergreen  evergreen.csvfile.read_table + schema.infer_schema + data.build_frame (what Ingest does
             before the split), text columns as Ingest reads them;
  pandas     pandas.read_csv(io.BytesIO(raw)) with its defaults.
Each process reads the file's bytes first; "peak MB" is the peak RSS minus the RSS once the bytes
are read (both variants import pandas and numpy before that point).

Pipeline (--pipeline-rows): the wall time from the upload to the execution's end on an in-process
LocalStack (the real template and state machine on moto; stack start-up excluded), beside a plain
loop that reads the same file with pandas, splits it 60/20/20 and fits the same candidates (the
same scikit-learn Pipelines) one after another, scoring each on validation and the best on test.
Both run with one thread per fit (EVERGREEN_THREADS=1 as the local stack sets it; OMP/BLAS 1).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "bench-scale"
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "EVERGREEN_THREADS": "1"}
CARDINALITIES = (3, 12, 50, 400, 2000)


def generate(n: int) -> Path:
    path = CACHE / f"mixed-{n}.csv"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    columns: dict[str, np.ndarray] = {}
    signal = np.zeros(n)
    for j in range(10):
        values = rng.normal(j, 1 + j, n)
        signal += values / (1 + j) * (1 if j % 2 else -1)
        columns[f"x{j}"] = values.round(4).astype(str)
    for j in range(4):
        values = rng.integers(0, 1000 * (j + 1), n)
        columns[f"i{j}"] = values.astype(str)
    for j, card in enumerate(CARDINALITIES):
        codes = rng.integers(0, card, n)
        signal += (codes % 3 == 0) * 0.5
        columns[f"c{j}"] = np.char.add("v", codes.astype(str))
    for name, values in columns.items():
        values[rng.random(n) < 0.02] = ""
    columns["y"] = np.where(signal + rng.normal(0, 1, n) > np.median(signal), "yes", "no")
    names = list(columns)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as out:
        out.write(",".join(names) + "\n")
        for start in range(0, n, 200_000):
            block = [columns[c][start:start + 200_000] for c in names]
            out.write("\n".join(",".join(row) for row in zip(*block)) + "\n")
    tmp.rename(path)
    return path


CHILD = r"""
import io, json, resource, sys, time
import numpy as np, pandas as pd
sys.path.insert(0, {shared!r})
from evergreen import csvfile, data, schema
from evergreen.spec import default_spec
raw = open({path!r}, "rb").read()
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
before = rss()
started = time.perf_counter()
if {variant!r} == "pandas":
    frame = pd.read_csv(io.BytesIO(raw))
    rows = len(frame)
else:
    table = csvfile.read_table(raw, source="bench", text_columns=["y"])
    inferred = schema.infer_schema(table, default_spec("bench", "y", "classification"))
    rows = data.build_frame(table, inferred.schema).frame.n_rows
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "rows": rows, "peak_mb": peak - before}}))
"""


def parse_once(variant: str, path: Path) -> dict:
    code = CHILD.format(shared=str(ROOT / "layers" / "shared"), path=str(path), variant=variant)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **THREADS})
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_parsing(sizes: list[int], repeat: int) -> list[dict]:
    results = []
    for n in sizes:
        path = generate(n)
        runs: dict[str, list[dict]] = {"evergreen": [], "pandas": []}
        for _ in range(repeat):
            for variant in runs:  # interleaved
                runs[variant].append(parse_once(variant, path))
        med = {v: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_mb")} for v, rs in runs.items()}
        row = {"rows": n, "mb": path.stat().st_size / 2**20,
               "evergreen_s": med["evergreen"]["seconds"], "pandas_s": med["pandas"]["seconds"],
               "evergreen_rows_s": n / med["evergreen"]["seconds"], "pandas_rows_s": n / med["pandas"]["seconds"],
               "time_ratio": med["evergreen"]["seconds"] / med["pandas"]["seconds"],
               "evergreen_peak_mb": med["evergreen"]["peak_mb"], "pandas_peak_mb": med["pandas"]["peak_mb"],
               "peak_ratio": med["evergreen"]["peak_mb"] / med["pandas"]["peak_mb"]}
        print(json.dumps(row), flush=True)
        results.append(row)
    return results


def print_parsing(results: list[dict]) -> None:
    print("\n| rows | file MB | evergreen s | pandas s | evergreen rows/s | pandas rows/s | time ratio "
          "| evergreen peak MB | pandas peak MB | peak ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['rows']:,} | {r['mb']:.0f} | {r['evergreen_s']:.2f} | {r['pandas_s']:.2f} "
              f"| {r['evergreen_rows_s']:,.0f} | {r['pandas_rows_s']:,.0f} | {r['time_ratio']:.2f} "
              f"| {r['evergreen_peak_mb']:.0f} | {r['pandas_peak_mb']:.0f} | {r['peak_ratio']:.2f} |")


PIPELINE_SPEC = {
    "name": "scale", "target": "y", "problem_type": "classification", "primary_metric": "accuracy",
    "candidates": [
        {"family": "logistic_regression", "grid": {"C": [0.1, 1.0]}},
        {"family": "random_forest", "grid": {"n_estimators": [50], "max_depth": [12]}},
        {"family": "hist_gradient_boosting", "grid": {"learning_rate": [0.1], "max_iter": [100, 200]}},
    ],
}

PLAIN = r"""
import io, json, sys, time
started = time.perf_counter()
import numpy as np, pandas as pd
from sklearn.model_selection import train_test_split
sys.path.insert(0, {shared!r})
from evergreen import training
from evergreen.contracts import ColumnSchema
from evergreen.metrics import score
from evergreen.spec import ModelSpec, expand_candidates
spec = ModelSpec.model_validate(json.loads({spec!r}))
df = pd.read_csv({path!r})
df = df[df["y"].notna()]
categorical = [c for c in df.columns if c != "y" and not pd.api.types.is_numeric_dtype(df[c].dtype)]
numeric = [c for c in df.columns if c != "y" and c not in categorical]
for c in categorical:
    df[c] = df[c].fillna("").astype(object)
schema = ColumnSchema(numeric=numeric, categorical=categorical, target="y", problem_type="classification",
                      classes=sorted(df["y"].unique().tolist()))
X, y = df[numeric + categorical], df["y"].astype(str).to_numpy()
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.25, stratify=y_rest, random_state=0)
cats = [sorted(X_train[c][X_train[c] != ""].value_counts().index[:spec.data.max_categories].tolist()) for c in categorical]
best = None
for candidate in expand_candidates(spec):
    pipe = training.build_pipeline(candidate.family, candidate.params, schema, 0, cats)
    pipe.fit(X_train, y_train)
    val = score("accuracy", y_val, pipe.predict(X_val), None, schema.classes)
    if best is None or val > best[0]:
        best = (val, pipe)
test = score("accuracy", y_test, best[1].predict(X_test), None, schema.classes)
print(json.dumps({{"seconds": time.perf_counter() - started, "test_accuracy": test}}))
"""


def plain_loop(path: Path) -> dict:
    code = PLAIN.format(shared=str(ROOT / "layers" / "shared"), path=str(path), spec=json.dumps(PIPELINE_SPEC))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


LINEAR_SPEC = {**PIPELINE_SPEC, "candidates": [{"family": "logistic_regression", "grid": {"C": [0.1, 1.0]}}]}


def local_pipeline(path: Path, spec: dict = PIPELINE_SPEC, memory: dict[str, str] | None = None) -> dict:
    """Upload -> end of the execution on an in-process LocalStack (start-up excluded), in a child
    process so its memory and threads are its own. A thread samples the process's RSS every 20 ms;
    a step's peak is the highest RSS during its invocations minus the RSS when the first one started
    (the Map's trials overlap: theirs is the peak of all of them together)."""
    code = f"""
import json, sys, threading, time
from pathlib import Path
sys.path[:0] = [{str(ROOT / "layers" / "shared")!r}, {str(ROOT)!r}]  # evergreen, evergreen_cli
from evergreen_cli.local.stack import LocalStack
samples = []
def sample():
    while True:
        samples.append((time.time(), int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20))
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
with LocalStack(root=Path({str(ROOT)!r}), stack_name="bench-scale", parameters={memory or {}!r}) as stack:
    s3, bucket = stack.client("s3"), stack.outputs["DataBucketName"]
    s3.put_object(Bucket=bucket, Key="specs/scale.json", Body=json.dumps({spec!r}).encode())
    body = Path({str(path)!r}).read_bytes()
    known = len(stack.list_executions())
    started = time.perf_counter()
    s3.put_object(Bucket=bucket, Key="uploads/scale/data.csv", Body=body)
    del body
    arn = stack.wait_for_new_execution(known, timeout=60)["executionArn"]
    execution = stack.wait_for_execution(arn, timeout=7200)
    seconds = time.perf_counter() - started
    steps, peaks = {{}}, {{}}
    windows = {{}}
    for inv in stack.invocations:
        steps[inv.function] = steps.get(inv.function, 0) + inv.duration_s
        first, last = windows.get(inv.function, (inv.started_at, inv.started_at + inv.duration_s))
        windows[inv.function] = (min(first, inv.started_at), max(last, inv.started_at + inv.duration_s))
    for name, (first, last) in windows.items():
        inside = [rss for t, rss in samples if first <= t <= last]
        before = [rss for t, rss in samples if t <= first]
        if inside and before:
            peaks[name] = max(inside) - before[-1]
    events = stack.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    from evergreen import registry
    import boto3
    registry_table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["RegistryTableName"])
    alias = registry.get_alias(registry_table, "scale") or {{}}
    print(json.dumps({{"seconds": seconds, "status": execution["status"], "steps": steps, "peak_mb": peaks,
                      "states": entered, "test_score": alias.get("test_score"), "family": alias.get("family")}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_pipeline(sizes: list[int]) -> list[dict]:
    results = []
    for n in sizes:
        path = generate(n)
        ours, plain = local_pipeline(path), plain_loop(path)
        row = {"rows": n, "pipeline_s": ours["seconds"], "status": ours["status"], "steps": ours["steps"],
               "peak_mb": ours["peak_mb"], "test_accuracy": ours["test_score"], "family": ours["family"],
               "refit": "SageMaker (local shim)" if "RefitOnSageMaker" in ours["states"] else "RefitWinner",
               "plain_s": plain["seconds"], "plain_test_accuracy": plain["test_accuracy"],
               "ratio": ours["seconds"] / plain["seconds"]}
        print(json.dumps(row), flush=True)
        results.append(row)
    return results


def bench_lambda_path(sizes: list[int], memory: dict[str, str]) -> None:
    """Upload -> champion of a linear-only spec (its refit fits Lambda: evergreen.sagemaker_refit.plan)
    with the template's memory parameters set to `memory`: each step's seconds and peak MB."""
    print("\n| rows | status | refit by | wall s | step: s summed (peak MB above the step's start) | memory parameters |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        out = local_pipeline(generate(n), LINEAR_SPEC, memory)
        refit = "SageMaker" if "RefitOnSageMaker" in out["states"] else "RefitWinner (Lambda)"
        steps = ", ".join(f"{k.removesuffix('Function')} {v:.1f} ({out['peak_mb'].get(k, 0):.0f})" for k, v in out["steps"].items())
        params = ", ".join(f"{k} {v}" for k, v in memory.items()) or "the template's defaults"
        print(f"| {n:,} | {out['status']} | {refit} | {out['seconds']:.0f} | {steps} | {params} |", flush=True)


def print_pipeline(results: list[dict]) -> None:
    print("\n| rows | local pipeline s | plain loop s | ratio | champion (family, test accuracy) | plain loop's best, test accuracy "
          "| winner's full fit | per step: s summed over invocations (peak MB above the step's start) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        steps = ", ".join(f"{k.removesuffix('Function')} {v:.1f} ({r['peak_mb'].get(k, 0):.0f})" for k, v in r["steps"].items())
        print(f"| {r['rows']:,} | {r['pipeline_s']:.1f} ({r['status']}) | {r['plain_s']:.1f} | {r['ratio']:.2f} "
              f"| {r['family']}, {r['test_accuracy']:.4f} | {r['plain_test_accuracy']:.4f} | {r['refit']} | {steps} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="100000,1000000,5000000")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--pipeline-rows", default="30000,1000000")
    parser.add_argument("--lambda-path-rows", default="", help="e.g. 5000000: a linear-only spec upload -> champion")
    parser.add_argument("--memory", default="", help="template memory parameters for --lambda-path-rows, e.g. "
                        "TrainMemorySize=10240 (default: the template's defaults)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.rows.split(",") if s]
    started = time.perf_counter()
    if sizes:
        print_parsing(bench_parsing(sizes, args.repeat))
    pipeline_sizes = [int(s) for s in args.pipeline_rows.split(",") if s]
    if pipeline_sizes:
        print_pipeline(bench_pipeline(pipeline_sizes))
    lambda_sizes = [int(s) for s in args.lambda_path_rows.split(",") if s]
    if lambda_sizes:
        bench_lambda_path(lambda_sizes, dict(item.split("=") for item in args.memory.split(",") if item))
    print(f"\n({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
