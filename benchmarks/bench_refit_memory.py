"""Peak memory of one fit per model-matrix cell: what evergreen.sagemaker_refit.BYTES_PER_CELL is set from.

    .venv/bin/python benchmarks/bench_refit_memory.py [--rows 100000,300000] [--families logistic_regression,...]

Each (family, rows) runs in a fresh process: bench_scale's 1M-row file is read as Ingest reads it,
`rows` training rows and 20,000 validation rows are sampled (data.sample_frame), and
training.fit_candidate fits the family with one thread (EVERGREEN_THREADS=1). A thread samples the
RSS every 10 ms; the figure is the peak above the RSS once the splits were in memory. Model
columns are the numeric columns plus the one-hot width (data.max_categories 50 per categorical).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import ROOT, generate  # noqa: E402

PARAMS = {"logistic_regression": {"C": 1.0}, "hist_gradient_boosting": {"max_iter": 100},
          "random_forest": {"n_estimators": 50, "max_depth": 12}}

CHILD = r"""
import gc, json, sys, threading, time
sys.path.insert(0, {shared!r})
from evergreen import csvfile, data, schema, training
from evergreen.spec import Candidate, default_spec
spec = default_spec("bench", "y", "classification")
table = csvfile.read_table(open({path!r}, "rb").read(), source="bench", text_columns=["y"])
columns = schema.infer_schema(table, spec).schema
frame = data.build_frame(table, columns).frame
del table
train, validation = data.sample_frame(frame, {rows}, 0, True), data.sample_frame(frame, 20000, 1, True)
del frame
gc.collect()
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
base, peak = rss(), [0.0]
def watch():
    while True:
        peak[0] = max(peak[0], rss())
        time.sleep(0.01)
threading.Thread(target=watch, daemon=True).start()
started = time.perf_counter()
training.fit_candidate(Candidate(candidate_id="c", family={family!r}, params={params!r}), train, validation, columns,
                       "accuracy", 0, spec.data.max_categories)
seconds = time.perf_counter() - started
width = len(columns.numeric) + sum(len(v) for v in training.vocabularies(train, columns, spec.data.max_categories))
print(json.dumps({{"family": {family!r}, "rows": {rows}, "model_columns": width, "peak_mb": peak[0] - base,
                  "bytes_per_cell": (peak[0] - base) * 2**20 / ({rows} * width), "fit_s": seconds}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="100000,300000")
    parser.add_argument("--families", default=",".join(PARAMS))
    args = parser.parse_args()
    path = generate(1_000_000)
    env = {**os.environ, "EVERGREEN_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    print("| family | rows | model columns | peak MB above the splits | bytes per model cell | fit s |")
    print("|---|---|---|---|---|---|")
    for family in args.families.split(","):
        for rows in (int(r) for r in args.rows.split(",")):
            code = CHILD.format(shared=str(ROOT / "layers" / "shared"), path=str(path), rows=rows, family=family,
                                params=PARAMS[family])
            out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                            env=env).stdout.strip().splitlines()[-1])
            print(f"| {family} | {rows:,} | {out['model_columns']} | {out['peak_mb']:.0f} | "
                  f"{out['bytes_per_cell']:.1f} | {out['fit_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
