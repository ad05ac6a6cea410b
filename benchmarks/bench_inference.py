"""Serving latency: Evergreen's /predict path vs bare onnxruntime, and vs the scikit-learn Pipeline it came from.

    .venv/bin/python benchmarks/bench_inference.py [--repeat 2000] [--models logistic_regression,...] [--no-cold]
    .venv/bin/python benchmarks/bench_inference.py --quick      # CI: 200 iterations, no cold start

Warm: per model and per batch of 1 and of 100 records, the variants run interleaved in one loop (each
iteration calls each variant once, the first to go rotating; scikit-learn every 4th iteration), and
each figure is the median of its calls:
  serving   the request body (JSON text) -> requests.parse_json_body + parse_predict_request ->
            predict.predict with the champion in memory: feeds through evergreen.features,
            OnnxModel.run, plausibility flags from the champion's data contract, the response dict,
            and the prediction log items converted for DynamoDB (storage.to_dynamo) and handed to a
            batch_writer that sends nothing. Not included: the API Gateway event and Powertools
            routing, metrics, the response's JSON text, the DynamoDB call itself.
  bare      champion.model.session.run(None, feeds): the same onnxruntime session on the same feeds,
            built once beforehand from the same body
  sklearn   Pipeline.predict_proba on the same records as one object array (pandas is not installed
            here, so it gets no DataFrame: FACTS.md)
One thread everywhere: the session is OnnxModel's (intra_op_num_threads=1, inter_op_num_threads=1), and
OMP/OpenBLAS/MKL are set to 1 thread before numpy loads. The targets are serving <= 3x bare for one
record and <= 2x for 100.

Models: one candidate of each family of the default classification spec (the smaller ones), fitted on
tests/support/tiny_model.py's data (2 numeric + 2 categorical columns, 3 classes, 2000 rows) and exported
to ONNX as the tests do: logistic_regression (C=1), random_forest (100 trees, max_depth 8),
hist_gradient_boosting (100 iterations). Records: 1 or 100 of synthetic_records(seed=1), a few with
missing values, each with a customer_id the model ignores (and the log keeps).
Cold (fresh interpreters, median of 3): import + load the first model + first prediction, each stack.
Absolute times are noisy on a shared 2-vCPU box; quote the ratios, measured in the same run.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy, scikit-learn or onnxruntime load their thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCHES = (1, 100)
TARGETS = {1: 3.0, 100: 2.0}  # serving / bare session.run, at most
SKLEARN_EVERY = 4


def estimators() -> dict[str, Callable[[], Any]]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    return {
        "logistic_regression": lambda: LogisticRegression(C=1.0, max_iter=200, random_state=0),
        "random_forest": lambda: RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0),
        "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(max_iter=100, random_state=0),
    }


def interleaved(variants: dict[str, Callable[[], Any]], repeat: int, every: dict[str, int],
                warmup: int) -> dict[str, list[float]]:
    """µs per call of each variant, from one loop where the variants take turns (medians compare like with like)."""
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + repeat):
        turn = i % len(names)
        for name in names[turn:] + names[:turn]:
            if i % every.get(name, 1):
                continue
            start = time.perf_counter_ns()
            variants[name]()
            elapsed = (time.perf_counter_ns() - start) / 1000
            if i >= warmup:
                samples[name].append(elapsed)
    return samples


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
    parser.add_argument("--repeat", type=int, default=2000,
                        help=f"loop iterations per model and batch size (scikit-learn runs every {SKLEARN_EVERY}th)")
    parser.add_argument("--models", default=",".join(estimators()), help="comma-separated, from: %(default)s")
    parser.add_argument("--no-cold", action="store_true", help="skip the fresh-process measurements")
    parser.add_argument("--quick", action="store_true", help="CI: --repeat 200 --no-cold")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.no_cold = 200, True

    import dataclasses

    import numpy as np
    import onnxruntime
    import sklearn

    from evergreen.onnx_model import sha256_hex
    from evergreen.serving import champion, feeds, plausibility, predict, requests
    from tests.support.tiny_model import contract_document, synthetic_records, train_classifier

    class InMemory:  # the ModelCache method predict.predict calls
        def __init__(self, served: champion.Champion) -> None:
            self.served = served

        def get(self, model_name: str) -> champion.Champion:
            return self.served

    class NoWrite:  # a PredictionsTable whose batch_writer sends nothing
        def batch_writer(self) -> NoWrite:
            return self

        def __enter__(self) -> NoWrite:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def put_item(self, Item: dict[str, Any]) -> None:
            return None

    records, _, _ = synthetic_records(max(BATCHES), seed=1)
    records = [{**r, "customer_id": f"c-{1000 + i}"} for i, r in enumerate(records)]  # a field the model ignores
    bodies = {n: json.dumps({"record": records[0]} if n == 1 else {"records": records[:n]}) for n in BATCHES}

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"scikit-learn {sklearn.__version__}, {os.cpu_count()} CPUs, one thread each; "
          f"{args.repeat} iterations per row of the table (scikit-learn: every {SKLEARN_EVERY}th)")
    print(f"{'model':<24}{'rows':>5}{'serving µs':>12}{'bare run µs':>13}{'serving/bare':>14}{'target':>8}"
          f"{'sklearn µs':>12}{'sklearn/serving':>17}")
    results: dict[str, Any] = {"repeat": args.repeat, "models": {}}
    first = None
    for name in args.models.split(","):
        model = train_classifier(seed=0, n=2000, estimator=estimators()[name]())
        first = first or model
        alias = {"columns": model.columns, "sha256": sha256_hex(model.onnx_bytes), "version": 1,
                 "model_key": f"models/{name}/v000001/model.onnx"}
        served = champion.champion_from_bytes(name.replace("_", "-"), alias, model.onnx_bytes)
        served = dataclasses.replace(served, plausibility=plausibility.from_contract(
            contract_document(model), served.numeric, served.categorical, served.problem_type))
        cache, table = InMemory(served), NoWrite()
        for n in BATCHES:
            body = bodies[n]
            prebuilt = feeds.build_feeds(records[:n], served.numeric, served.categorical)
            inputs = {"numeric": prebuilt.numeric, "categorical": prebuilt.categorical}
            matrix = model.matrix(records[:n])
            k = len(served.numeric)
            matrix[:, :k] = matrix[:, :k].astype(np.float32)

            def serving() -> dict[str, Any]:
                request = requests.parse_predict_request(requests.parse_json_body(body), served.model_name)
                return predict.predict(request, cache, table).body

            variants = {
                "serving": serving,
                "bare": lambda: served.model.session.run(None, inputs),
                "sklearn": lambda: model.pipeline.predict_proba(matrix),
            }
            got = [list(p["probabilities"].values()) for p in serving()["predictions"]]
            assert np.allclose(got, variants["sklearn"](), atol=1e-5), f"{name}: ONNX and scikit-learn disagree"
            samples = interleaved(variants, args.repeat, {"sklearn": SKLEARN_EVERY}, warmup=max(args.repeat // 10, 20))
            med = {v: statistics.median(s) for v, s in samples.items()}
            ratio, speedup = med["serving"] / med["bare"], med["sklearn"] / med["serving"]
            print(f"{name:<24}{n:>5}{med['serving']:>12.1f}{med['bare']:>13.1f}{ratio:>13.2f}x{TARGETS[n]:>7.0f}x"
                  f"{med['sklearn']:>12.1f}{speedup:>16.1f}x")
            results["models"].setdefault(name, {})[n] = {
                "serving_us": round(med["serving"], 1), "bare_run_us": round(med["bare"], 1),
                "sklearn_us": round(med["sklearn"], 1), "serving_over_bare": round(ratio, 2),
                "sklearn_over_serving": round(speedup, 1), "within_target": ratio <= TARGETS[n],
            }

    if not args.no_cold and first is not None:
        import joblib

        with tempfile.TemporaryDirectory() as tmp:
            onnx_file, pipe_file = Path(tmp, "model.onnx"), Path(tmp, "pipeline.joblib")
            onnx_file.write_bytes(first.onnx_bytes)
            joblib.dump(first.pipeline, pipe_file)
            argv = (json.dumps(first.columns), json.dumps(records[0]))
            results["cold_onnx_s"] = round(cold(COLD_ONNX, str(onnx_file), *argv), 3)
            results["cold_sklearn_s"] = round(cold(COLD_SKLEARN, str(pipe_file), *argv), 3)
        print(f"cold, fresh process to first prediction ({args.models.split(',')[0]}, median of 3):")
        print(f"  serving   {results['cold_onnx_s']:.2f} s   (numpy + onnx + onnxruntime + evergreen.serving)")
        print(f"  sklearn   {results['cold_sklearn_s']:.2f} s   (joblib + scikit-learn + scipy)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
