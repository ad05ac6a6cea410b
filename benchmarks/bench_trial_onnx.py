"""What an ONNX conversion per trial costs beside the trial's fit: whether Train can record every
trial's ONNX size (TrialResult.onnx_bytes) or only the exported winner's.

    .venv/bin/python benchmarks/bench_trial_onnx.py [--rows 10000,50000]

For each size, one fresh process with one thread (EVERGREEN_THREADS=1, as the local stack runs): bench_scale's
mixed data (10 float, 4 int, 5 categorical columns of 3-2,000 values, 2% missing) is read as Ingest
reads it, `rows` training rows and 5,000 validation rows are sampled, and every candidate of the default
classification spec (evergreen.spec.default_spec) is fitted with training.fit_candidate, then converted
with export.to_onnx. Printed per candidate: fit s, conversion s, conversion / fit, ONNX MB, the peak RSS
above the RSS before the conversion (sampled every 5 ms); and once per
process the first `import skl2onnx` (a Train cold start pays it once).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import ROOT, THREADS, generate  # noqa: E402

CHILD = r"""
import json, sys, threading, time
import numpy as np
sys.path.insert(0, {shared!r})
from evergreen import csvfile, data, schema, training
from evergreen.spec import default_spec, expand_candidates
spec = default_spec("bench", "y", "classification")
table = csvfile.read_table(open({path!r}, "rb").read(), source="bench", text_columns=["y"])
columns = schema.infer_schema(table, spec).schema
frame = data.build_frame(table, columns).frame
train, validation = data.sample_frame(frame.take(np.arange(5000, frame.n_rows)), {rows}, 0, True), frame.take(np.arange(5000))
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
peak = [0.0]
def watch():
    while True:
        peak[0] = max(peak[0], rss())
        time.sleep(0.005)
threading.Thread(target=watch, daemon=True).start()
started = time.perf_counter()
from evergreen import export
print(json.dumps({{"import_export_s": time.perf_counter() - started}}), flush=True)
for candidate in expand_candidates(spec.candidates):
    fit = training.fit_candidate(candidate, train, validation, columns, spec.primary_metric, 0, spec.data.max_categories)
    base = peak[0] = rss()
    started = time.perf_counter()
    onnx = export.to_onnx(fit.pipeline, columns)
    convert = time.perf_counter() - started
    time.sleep(0.01)
    print(json.dumps({{"candidate": candidate.candidate_id, "family": candidate.family, "params": candidate.params,
                      "rows": {rows}, "fit_s": fit.fit_seconds, "convert_s": convert, "onnx_mb": len(onnx) / 2**20,
                      "convert_peak_mb": peak[0] - base}}),
          flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="10000,50000")
    args = parser.parse_args()
    env = {**os.environ, **THREADS}
    print(f"{'rows':>7} {'candidate':<60} {'fit s':>7} {'onnx s':>7} {'onnx/fit':>8} {'ONNX MB':>8} {'+RSS MB':>8}")
    for rows in map(int, args.rows.split(",")):
        path = generate(max(rows + 5000, 30000))
        code = CHILD.format(shared=str(ROOT / "layers" / "shared"), path=str(path), rows=rows)
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
        for line in out.splitlines():
            row = json.loads(line)
            if "import_export_s" in row:
                print(f"{rows:>7} first import of evergreen.export (skl2onnx, onnx, onnxruntime): {row['import_export_s']:.2f} s")
                continue
            name = f"{row['candidate']} {row['family']} {json.dumps(row['params'], separators=(',', ':'))}"
            print(f"{rows:>7} {name:<60} {row['fit_s']:>7.2f} {row['convert_s']:>7.3f} "
                  f"{row['convert_s'] / row['fit_s']:>8.2f} {row['onnx_mb']:>8.2f} {row['convert_peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
