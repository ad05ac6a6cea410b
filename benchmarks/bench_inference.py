"""One-row latency: Evergreen's serving hot path (onnxruntime) vs the scikit-learn Pipeline it came from.

    .venv/bin/python benchmarks/bench_inference.py [--repeat 2000] [--no-cold]

Warm (in one process, same model, same record, medians of --repeat calls):
  serving   JSON body -> parse -> feeds (numpy, no DataFrame) -> onnxruntime -> response dict,
            i.e. evergreen.serving minus the DynamoDB write and the API Gateway envelope
  onnx      OnnxModel.run alone on prebuilt feeds
  sklearn   dict -> 1-row object array -> Pipeline.predict_proba (pandas is not installed here,
            so the scikit-learn reference gets an object array rather than a DataFrame; with a
            DataFrame it is slower still: FACTS.md)
Cold (fresh interpreters, median of 3): import + load the model + first prediction, each stack.

The model is tests/support/tiny_model.py's classifier (2 numeric + 2 categorical columns,
LogisticRegression), exported to ONNX exactly as the tests do. Absolute times are noisy on a
shared 2-vCPU box; the ratio measured in the same run is the number to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECORD = {"age": 42, "income": "58000.5", "plan": "pro", "region": "north", "customer_id": "c-1001"}


def timed(fn, repeat: int, warmup: int = 50) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - start) / 1000)  # µs
    return out


def summary(name: str, samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=10)
    row = {"median_us": statistics.median(samples), "p10_us": q[0], "p90_us": q[-1], "n": len(samples)}
    print(f"  {name:<9} median {row['median_us']:9.1f} µs   p10 {row['p10_us']:9.1f}   p90 {row['p90_us']:9.1f}   (n={len(samples)})")
    return row


COLD_ONNX = """
import time; t = time.perf_counter()
import json, sys
from evergreen.serving import feeds
from evergreen.onnx_model import OnnxModel, sha256_hex
data = open(sys.argv[1], "rb").read(); columns = json.loads(sys.argv[2])
model = OnnxModel(data, numeric=columns["numeric"], categorical=columns["categorical"], classes=columns["classes"],
                  expected_sha256=sha256_hex(data))
f = feeds.build_feeds([json.loads(sys.argv[3])], columns["numeric"], columns["categorical"])
out = model.run(f.numeric, f.categorical)
print(time.perf_counter() - t, "sklearn" in sys.modules)
"""

COLD_SKLEARN = """
import time; t = time.perf_counter()
import json, sys
import joblib, numpy as np
pipe = joblib.load(sys.argv[1]); columns = json.loads(sys.argv[2]); r = json.loads(sys.argv[3])
row = [np.float32(np.nan if r.get(c) in (None, "") else float(r[c])) for c in columns["numeric"]]
row += ["" if r.get(c) is None else str(r[c]) for c in columns["categorical"]]
pipe.predict_proba(np.array([row], dtype=object))
print(time.perf_counter() - t, "sklearn" in sys.modules)
"""


def cold(script: str, *args: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        times.append(float(proc.stdout.split()[0]))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000, help="timed calls per variant (sklearn gets a quarter)")
    parser.add_argument("--no-cold", action="store_true", help="skip the fresh-process measurements")
    args = parser.parse_args()

    import numpy as np
    import onnxruntime
    import sklearn

    from datetime import UTC, datetime

    from evergreen.onnx_model import OnnxModel, sha256_hex
    from evergreen.serving import feeds, predict, requests
    from tests.support.tiny_model import train_classifier

    tiny = train_classifier(seed=0)
    cols = tiny.columns
    model = OnnxModel(tiny.onnx_bytes, numeric=cols["numeric"], categorical=cols["categorical"],
                      classes=cols["classes"], expected_sha256=sha256_hex(tiny.onnx_bytes))

    class Champion:  # the attributes of evergreen.serving.champion.Champion that the hot path reads
        model_name, version, problem_type, regression_tolerance = "demo", 1, "classification", None
        classes = tuple(cols["classes"])
        numeric, categorical = tuple(cols["numeric"]), tuple(cols["categorical"])

    champion = Champion()
    body = json.dumps({"record": RECORD})

    def serving_path():
        request = requests.parse_predict_request(requests.parse_json_body(body), "demo")
        f = feeds.build_feeds(request.records, champion.numeric, champion.categorical, single=request.single)
        out = model.run(f.numeric, f.categorical)
        predictions, _items = predict.format_predictions(champion, out.labels, out.probabilities, f.received,
                                                         datetime.now(UTC))
        return {"model": "demo", "model_version": 1, "predictions": predictions, "ignored_fields": f.ignored_fields}

    prebuilt = feeds.build_feeds([RECORD], cols["numeric"], cols["categorical"])

    def onnx_only():
        return model.run(prebuilt.numeric, prebuilt.categorical)

    def sklearn_path():
        r = RECORD
        row = [np.float32(np.nan if r.get(c) in (None, "") else float(r[c])) for c in cols["numeric"]]
        row += ["" if r.get(c) is None else str(r[c]) for c in cols["categorical"]]
        return tiny.pipeline.predict_proba(np.array([row], dtype=object))

    # same answer before timing anything
    ref = sklearn_path()[0]
    got = serving_path()["predictions"][0]["probabilities"]
    assert np.allclose(list(got.values()), ref, atol=1e-5), (got, ref)

    try:
        import pandas  # noqa: F401
        has_pandas = True
    except ImportError:
        has_pandas = False
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"scikit-learn {sklearn.__version__}, pandas {'installed' if has_pandas else 'not installed'}, "
          f"{os.cpu_count()} CPUs")
    print("warm, one row (µs):")
    results = {
        "serving": summary("serving", timed(serving_path, args.repeat)),
        "onnx": summary("onnx", timed(onnx_only, args.repeat)),
        "sklearn": summary("sklearn", timed(sklearn_path, max(args.repeat // 4, 50), warmup=20)),
    }
    ratio = results["sklearn"]["median_us"] / results["serving"]["median_us"]
    print(f"  ratio    scikit-learn / serving hot path = {ratio:.1f}x (medians, this run)")
    results["ratio_sklearn_over_serving"] = ratio

    if not args.no_cold:
        import joblib

        with tempfile.TemporaryDirectory() as tmp:
            onnx_file, pipe_file = Path(tmp, "model.onnx"), Path(tmp, "pipeline.joblib")
            onnx_file.write_bytes(tiny.onnx_bytes)
            joblib.dump(tiny.pipeline, pipe_file)
            argv = (json.dumps(cols), json.dumps(RECORD))
            results["cold_onnx_s"] = cold(COLD_ONNX, str(onnx_file), *argv)
            results["cold_sklearn_s"] = cold(COLD_SKLEARN, str(pipe_file), *argv)
        print("cold, fresh process to first prediction (median of 3):")
        print(f"  serving   {results['cold_onnx_s']:.2f} s   (numpy + onnx + onnxruntime + evergreen.serving)")
        print(f"  sklearn   {results['cold_sklearn_s']:.2f} s   (joblib + scikit-learn + scipy)")
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in results.items()}, default=str))


if __name__ == "__main__":
    main()
