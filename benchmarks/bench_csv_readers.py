"""The CSV readers considered for ingest, on bench_scale's 1M-row file: seconds and MB above the bytes.

    python benchmarks/bench_csv_readers.py [--rows 1000000] [reader ...]

Run it with a Python that has the candidates (they are not Evergreen's dependencies), e.g.
    python3 -m venv /tmp/readers && /tmp/readers/bin/pip install numpy==2.4.6 pandas==3.1.1 polars pyarrow duckdb
    /tmp/readers/bin/python benchmarks/bench_csv_readers.py
Each reader runs in its own process (OMP_NUM_THREADS=1) on the file's bytes already in memory; "MB" is
the peak RSS above the RSS once the bytes were read. The file is made by bench_scale.generate (run
`make bench-scale` once, or this script makes it with numpy).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import generate  # noqa: E402

READERS = {
    "pandas": "import pandas as pd; out = pd.read_csv(io.BytesIO(raw))",
    "polars": "import polars as pl; out = pl.read_csv(io.BytesIO(raw))",
    "pyarrow": "import pyarrow.csv as pc; out = pc.read_csv(io.BytesIO(raw))",
    "duckdb": "import duckdb; out = duckdb.sql(f\"select * from read_csv_auto('{path}')\").fetchnumpy()",
    "csv": "import csv; out = list(zip(*list(csv.reader(io.StringIO(raw.decode())))[1:]))",
}

CHILD = r"""
import io, json, resource, time
path = {path!r}
raw = open(path, "rb").read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
{code}
print(json.dumps({{"seconds": time.perf_counter() - started,
                  "mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("readers", nargs="*", default=list(READERS))
    args = parser.parse_args()
    path = generate(args.rows)
    print("| reader | s | MB above the bytes |\n|---|---|---|")
    for name in args.readers:
        done = subprocess.run([sys.executable, "-c", CHILD.format(path=str(path), code=READERS[name])],
                              capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode:
            print(f"| {name} | not installed or failed: {done.stderr.strip().splitlines()[-1][:80]} | |")
            continue
        out = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {name} | {out['seconds']:.2f} | {out['mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
