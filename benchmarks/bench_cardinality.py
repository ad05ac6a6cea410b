"""High-cardinality categoricals: fit time, peak memory, accuracy and ONNX size, capped vs uncapped one-hot.

    .venv/bin/python benchmarks/bench_cardinality.py [--repeat 3] [--timeout 240] [--memory-gb 8] [--threads 1]

Data (numpy, seeded): N=30,000 rows; 4 numeric columns, "plan" (5 values) and "merchant" with exactly D
distinct values, D in --distinct (default 200, 2,000, 20,000): one row of each value, the other N - D rows
drawn Zipf-like (p(rank k) ~ k^-1.1), so a few values are common and most are rare. ~2% of numeric and ~1%
of categorical cells are missing. The binary target "churned" is a logistic draw from 2 numeric columns,
"plan" and a random effect (normal, sd 1) for EVERY merchant value: the common values carry learnable
signal, and so do the mid-frequency ones a cap of 50 drops (the cap can only lose accuracy here).
The rows go through the ingest path as text: schema.infer_schema (which must keep "merchant": it is not
an identifier, under 90% distinct), data.build_frame, data.split_frame(0.2, 0.2, seed 42), so each
candidate is fitted on 18,000 rows and scored (accuracy) on 6,000.

Variants, per family of the default classification spec (logistic_regression C=1.0, random_forest
n_estimators=100 max_depth=8, hist_gradient_boosting max_iter=100):
  capped     training.fit_candidate(..., max_categories=50), the default (top 50 training values);
  uncapped   the same call with max_categories larger than any column's distinct count: every training
             value is one-hot encoded, as before issue 6.
Each fit runs in a fresh interpreter. Peak RSS is that of fit_candidate (fit + scoring the validation
split), as a whole process: after imports and loading the data the child resets its peak
(/proc/self/clear_refs 5) and reads its VmHWM when the fit returns (the parent reads it just before
killing a child; see proc_mb for why not ru_maxrss); the resident set at the reset (imports + data,
~146 MiB) is printed as "before fit". Each child has RLIMIT_AS = --memory-gb GiB (an allocation beyond
it raises MemoryError: "over 8 GiB") and a wall-clock limit of --timeout seconds from its start to the
end of fit_candidate (it is killed: "> 240 s"). After the fit, the child exports to ONNX
(evergreen.export.to_onnx) under a further --onnx-timeout and reports the size.
Threads are fixed in the child: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS = --threads,
and LOKY_MAX_CPU_COUNT = --threads, which is what the forests' n_jobs=-1 (set by
training.build_pipeline, left as it is) resolves to; the run prints the thread counts the children
actually had.
Order: every repeat runs each (D, family) capped and uncapped back to back, capped first in odd
repeats and uncapped first in even ones. A variant that hits the timeout or the memory limit is not
run again (the bound is the result). Figures are medians over repeats; ratios are uncapped / capped
within this run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_ROWS = 30_000
CAP = 50  # DataSpec().max_categories, the default
UNCAPPED = 10**9  # more than any column's distinct values: every training value is kept
ZIPF_EXPONENT = 1.1
PLANS = ("basic", "plus", "pro", "team", "enterprise")
FAMILIES = (  # the default classification spec's families, at one grid point each
    ("logistic_regression", {"C": 1.0}),
    ("random_forest", {"n_estimators": 100, "max_depth": 8}),
    ("hist_gradient_boosting", {"max_iter": 100}),
)


# --- data ---------------------------------------------------------------------------------------


def make_rows(distinct: int, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """Header and text rows (what csvfile.read_csv would give) with a `distinct`-valued "merchant"."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = N_ROWS
    x = rng.normal(size=(n, 4)).astype(np.float32)
    plan = rng.integers(0, len(PLANS), size=n)
    weights = 1.0 / np.arange(1, distinct + 1) ** ZIPF_EXPONENT
    ranks = np.concatenate([np.arange(distinct), rng.choice(distinct, size=n - distinct, p=weights / weights.sum())])
    once = np.arange(n) < distinct  # the row that guarantees each value is present: never made missing
    order = rng.permutation(n)
    ranks, once = ranks[order], once[order]
    codes = rng.permutation(distinct)  # value names do not follow frequency rank
    merchant_effect = rng.normal(0.0, 1.0, size=distinct)
    plan_effect = np.array([-0.6, -0.2, 0.0, 0.3, 0.7])
    logit = 0.9 * x[:, 0] - 0.6 * x[:, 1] + plan_effect[plan] + merchant_effect[ranks]
    churned = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    numeric_missing = rng.random((n, 4)) < 0.02
    plan_missing, merchant_missing = rng.random(n) < 0.01, (rng.random(n) < 0.01) & ~once

    header = ["x0", "x1", "x2", "x3", "plan", "merchant", "churned"]
    rows = []
    for i in range(n):
        row = ["" if numeric_missing[i, j] else repr(float(x[i, j])) for j in range(4)]
        row.append("" if plan_missing[i] else PLANS[plan[i]])
        row.append("" if merchant_missing[i] else f"m{codes[ranks[i]]:05d}")
        row.append("yes" if churned[i] else "no")
        rows.append(row)
    return header, rows


def prepare(distinct: int, directory: Path) -> dict:
    """Ingest the rows as the pipeline does; pickle (train, validation, schema) for the children."""
    from collections import Counter

    from evergreen.data import build_frame, split_frame
    from evergreen.schema import infer_schema
    from evergreen.spec import default_spec

    header, rows = make_rows(distinct)
    inferred = infer_schema(header, rows, default_spec("bench", "churned", "classification"))
    schema = inferred.schema
    assert "merchant" in schema.categorical, (inferred.notices, schema)
    frame = build_frame(header, rows, schema).frame
    train, validation, _test = split_frame(frame, 0.2, 0.2, 42, classification=True)
    path = directory / f"frames-{distinct}.pickle"
    path.write_bytes(pickle.dumps((train, validation, schema)))
    counts = Counter(v for v in train.columns["merchant"].tolist() if v)
    distinct = [len({v for v in train.columns[name].tolist() if v}) for name in schema.categorical]
    present = sum(counts.values())
    top = sum(c for _, c in counts.most_common(CAP))
    val_known = sum(1 for v in validation.columns["merchant"].tolist() if v in counts)
    return {
        "path": str(path),
        "distinct_in_upload": len({r[5] for r in rows if r[5]}),
        "distinct_share": len({r[5] for r in rows if r[5]}) / sum(1 for r in rows if r[5]),
        "distinct_in_train": len(counts),
        "train_rows_in_top50": top / present,
        "validation_rows_seen_in_train": val_known / validation.n_rows,
        "onehot_capped": sum(min(d, CAP) for d in distinct),  # what vocabularies() keeps, all columns
        "onehot_uncapped": sum(distinct),
        "train_rows": train.n_rows,
        "validation_rows": validation.n_rows,
        "notices": inferred.notices,
    }


# --- one fit, in a fresh interpreter --------------------------------------------------------------


def proc_mb(field: str, pid: int | str = "self") -> float:
    """VmHWM (peak resident set) or VmRSS (resident now) of a process, MiB, from /proc/<pid>/status.

    Not ru_maxrss: a child's ru_maxrss starts at its PARENT's peak when subprocess spawns it with vfork
    (the kernel carries the old mm's high-water mark across exec), so every child here would read at
    least the ~210 MB this parent reaches; VmHWM is the child's own address space only."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def rss_mb() -> float:
    return proc_mb("VmHWM")


def current_rss_mb() -> float:
    return proc_mb("VmRSS")


def reset_peak() -> bool:
    """Reset the peak RSS (Linux >= 4.0: clear_refs 5), so VmHWM after the fit is the fit's own
    peak rather than a high-water mark left by imports and unpickling."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def child(config: dict) -> None:
    limit = int(config["memory_gb"] * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import joblib
    from threadpoolctl import threadpool_info

    from evergreen import training
    from evergreen.spec import Candidate

    with open(config["frames"], "rb") as f:
        train, validation, schema = pickle.load(f)
    candidate = Candidate(candidate_id="c000", family=config["family"], params=config["params"])
    gc.collect()
    reset = reset_peak()
    before = current_rss_mb()
    try:
        result = training.fit_candidate(candidate, train, validation, schema, "accuracy", 0,
                                        max_categories=config["max_categories"])
    except MemoryError:
        emit({"status": "memory", "rss_mb": rss_mb(), "before_fit_mb": before, "peak_reset": reset})
        return
    onehot = result.pipeline.named_steps["prep"].named_transformers_["categorical"].named_steps["onehot"]
    threads = sorted({(i["user_api"], i["num_threads"]) for i in threadpool_info()})
    emit({"status": "ok", "fit_s": result.fit_seconds, "accuracy": result.validation_score, "rss_mb": rss_mb(),
          "before_fit_mb": before, "peak_reset": reset, "onehot_width": int(sum(len(c) for c in onehot.categories_)),
          "n_jobs_minus_1": joblib.effective_n_jobs(-1), "threadpools": threads})
    if config["onnx"]:
        from evergreen import export  # after the fit: skl2onnx and onnx are not part of the training footprint

        started = time.perf_counter()
        try:
            size = len(export.to_onnx(result.pipeline, schema))
        except MemoryError:
            emit({"onnx_status": "memory"})
            return
        emit({"onnx_status": "ok", "onnx_mb": size / 1e6, "onnx_s": time.perf_counter() - started})


def run_child(config: dict, args: argparse.Namespace, workdir: Path) -> dict:
    """One fit in a fresh interpreter; {"status": ok | timeout | memory | error, ...}."""
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "LOKY_MAX_CPU_COUNT": threads, "PYTHONDONTWRITEBYTECODE": "1"}
    out_path, err_path = workdir / "child.out", workdir / "child.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(config)], stdout=out, stderr=err,
                                env=env, start_new_session=True)
    started = time.perf_counter()
    deadline = started + args.timeout
    record: dict = {}
    killed = None
    while True:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        lines = [json.loads(line) for line in out_path.read_text().splitlines() if line.startswith("{")]
        for line in lines:
            record.update(line)
        if pid:
            break
        now = time.perf_counter()
        if "status" in record and deadline == started + args.timeout:
            deadline = now + args.onnx_timeout  # the fit is in; the ONNX export gets its own allowance
        if now > deadline:
            killed = "fit" if "status" not in record else "onnx"
            peak_at_kill = proc_mb("VmHWM", proc.pid)
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status = os.waitpid(proc.pid, 0)
            break
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
    record["wall_s"] = time.perf_counter() - started
    if killed == "fit":
        record["status"] = "timeout"
        record["rss_mb"] = peak_at_kill
    elif killed == "onnx":
        record["onnx_status"] = "timeout"
    if "status" not in record:
        tail = err_path.read_text().strip().splitlines()[-3:]
        record["status"] = "memory" if any("MemoryError" in t for t in tail) else "error"
        record["error"] = " | ".join(tail)
    return record


# --- the run --------------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def cell(runs: list[dict], key: str, fmt: str, args: argparse.Namespace) -> str:
    ok = [r[key] for r in runs if r.get("status") == "ok" and r.get(key) is not None]
    if ok:
        return format(statistics.median(ok), fmt)
    statuses = {r["status"] for r in runs}
    if key == "onnx_mb" and "ok" in statuses:
        onnx = {r.get("onnx_status") for r in runs}
        return "export timed out" if "timeout" in onnx else "export over memory" if "memory" in onnx else "–"
    if "timeout" in statuses:
        if key == "rss_mb":  # the peak reached by the time the child was killed
            return f"≥ {max(r['rss_mb'] for r in runs if r['status'] == 'timeout'):.0f} at kill"
        return f"> {args.timeout:.0f} s" if key == "fit_s" else "–"
    if "memory" in statuses:
        return f"over {args.memory_gb:g} GiB" if key == "rss_mb" else "–"
    return "error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--distinct", type=int, nargs="+", default=[200, 2_000, 20_000])
    parser.add_argument("--families", nargs="+", default=[f for f, _ in FAMILIES])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per fit (child start to fitted)")
    parser.add_argument("--onnx-timeout", type=float, default=120.0, help="further seconds for the ONNX export")
    parser.add_argument("--memory-gb", type=float, default=8.0, help="RLIMIT_AS of each child, GiB")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads and n_jobs=-1 in each child")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    import numpy as np
    import onnxruntime  # noqa: F401  (version line only)
    import skl2onnx
    import sklearn

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
          f"skl2onnx {skl2onnx.__version__}, {os.cpu_count()} CPUs; per child: {args.threads} thread(s), "
          f"RLIMIT_AS {args.memory_gb:g} GiB, timeout {args.timeout:.0f} s", flush=True)
    total_started = time.perf_counter()
    families = [(f, p) for f, p in FAMILIES if f in args.families]
    results: dict[tuple[int, str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = {}
        for d in args.distinct:
            started = time.perf_counter()
            data[d] = prepare(d, workdir)
            info = data[d]
            print(f"D={d}: {info['distinct_in_upload']} distinct in the upload ({info['distinct_share']:.0%} of rows: "
                  f"kept by infer_schema), {info['distinct_in_train']} in train; top {CAP} cover "
                  f"{info['train_rows_in_top50']:.0%} of train rows; {info['validation_rows_seen_in_train']:.0%} of "
                  f"validation rows have a value seen in train ({time.perf_counter() - started:.1f} s to ingest)",
                  flush=True)
        for repeat in range(args.repeat):
            for d in args.distinct:
                for family, params in families:
                    variants = [("capped", CAP), ("uncapped", UNCAPPED)]
                    if repeat % 2:
                        variants.reverse()
                    for variant, max_categories in variants:
                        runs = results.setdefault((d, family, variant), [])
                        if any(r["status"] in ("timeout", "memory") for r in runs):
                            continue  # a bound already; running it again only costs time
                        config = {"frames": data[d]["path"], "family": family, "params": params,
                                  "max_categories": max_categories, "memory_gb": args.memory_gb,
                                  "onnx": not args.no_onnx}
                        record = run_child(config, args, workdir)
                        runs.append(record)
                        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()
                                 if k not in ("threadpools",)}
                        print(f"  r{repeat + 1} D={d:<6} {family:<23} {variant:<8} {json.dumps(shown)}", flush=True)
        threads_seen = {json.dumps([r.get("n_jobs_minus_1"), r.get("threadpools")]) for runs in results.values()
                        for r in runs if r.get("status") == "ok"}
        print(f"threads in the children (n_jobs=-1 resolves to, threadpools): {sorted(threads_seen)}")

    print(f"\nmedians over up to {args.repeat} runs (a variant that hit a limit ran once); "
          f"total {time.perf_counter() - total_started:.0f} s\n")
    before = [r["before_fit_mb"] for runs in results.values() for r in runs if "before_fit_mb" in r]
    resets = {r.get("peak_reset") for runs in results.values() for r in runs if "peak_reset" in r}
    print(f"resident before fit (imports + data): {min(before):.0f}-{max(before):.0f} MiB; "
          f"peak reset before fit: {sorted(resets)}\n")
    print("| D | family | one-hot columns capped / uncapped | fit s capped | fit s uncapped | ratio | "
          "peak RSS MiB capped | peak RSS MiB uncapped | ratio | accuracy capped | accuracy uncapped | "
          "ONNX MB capped | ONNX MB uncapped |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary = []
    for d in args.distinct:
        for family, _ in families:
            capped, uncapped = results[(d, family, "capped")], results[(d, family, "uncapped")]
            widths = [data[d]["onehot_capped"], data[d]["onehot_uncapped"]]
            for width, runs in zip(widths, (capped, uncapped)):  # what the fitted encoders had
                assert all(r["onehot_width"] == width for r in runs if "onehot_width" in r), (width, runs)
            ratios = []
            for key in ("fit_s", "rss_mb"):
                a = median([r[key] for r in capped if r.get("status") == "ok"])
                b = median([r[key] for r in uncapped if r.get("status") == "ok"])
                ratios.append(f"{b / a:.1f}×" if a and b else "–")
            print(f"| {d:,} | {family} | {widths[0]:,} / {widths[1]:,} | {cell(capped, 'fit_s', '.1f', args)} | "
                  f"{cell(uncapped, 'fit_s', '.1f', args)} | {ratios[0]} | {cell(capped, 'rss_mb', '.0f', args)} | "
                  f"{cell(uncapped, 'rss_mb', '.0f', args)} | {ratios[1]} | {cell(capped, 'accuracy', '.4f', args)} | "
                  f"{cell(uncapped, 'accuracy', '.4f', args)} | {cell(capped, 'onnx_mb', '.3f', args)} | "
                  f"{cell(uncapped, 'onnx_mb', '.3f', args)} |")
            summary.append({"distinct": d, "family": family, "capped": capped, "uncapped": uncapped})
    print(json.dumps({"data": {d: {k: v for k, v in info.items() if k != "path"} for d, info in data.items()},
                      "runs": summary}, default=str))


if __name__ == "__main__":
    main()
