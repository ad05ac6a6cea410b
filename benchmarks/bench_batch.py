"""Batch scoring at scale: an N-row CSV under score/ on the local stack, beside bare session.run on the same rows.

    .venv/bin/python benchmarks/bench_batch.py [--rows 1000000] [--train-rows 20000] [--chunk-rows 100000]

Data: bench_scale's `generate(n)` (20 feature columns: 10 float, 4 integer, 5 categorical of 3 to 2,000
values, 2% of cells empty; target y), cached under build/bench-scale/.

1. A champion is trained by the real pipeline on the file's first --train-rows rows (uploads/bench/),
   with one candidate: hist_gradient_boosting, 50 iterations.
2. The whole file is uploaded under score/bench/ and the batch state machine runs on moto, in this
   process (Plan, a Distributed Map of one child execution per chunk, Combine). Reported: the wall time
   from the upload call to SUCCEEDED (it includes moto storing the upload in this process, timed
   apart as "upload s"), the execution's own seconds (summary.json: its start to Combine's end), and
   each step's seconds summed over its invocations. The Map runs up to 10 chunks at once in threads,
   on this machine's cores (EVERGREEN_THREADS=1, one onnxruntime thread per session, as in Lambda).
3. Bare session.run: the champion's ONNX bytes in an InferenceSession with the same options, fed the
   same feeds (each chunk's rows read and coerced as the batch does, before the clock starts), in the
   same batches (evergreen.batch.SCORE_BATCH_ROWS rows a run), one after another in one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]  # evergreen, evergreen_cli
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("EVERGREEN_THREADS", "1")

from bench_scale import generate  # noqa: E402

SPEC = {
    "name": "bench", "target": "y", "problem_type": "classification", "primary_metric": "accuracy",
    "min_rows": 100, "candidates": [{"family": "hist_gradient_boosting",
                                     "grid": {"learning_rate": [0.1], "max_iter": [50]}}],
}


def head_rows(path: Path, rows: int) -> bytes:
    with open(path, "rb") as f:
        return b"".join(f.readline() for _ in range(rows + 1))


def bare_session_run(path: Path, onnx_bytes: bytes, columns: dict, chunk_rows: int) -> dict:
    """session.run alone over the file's rows: the feeds are built first, as the batch builds them."""
    from evergreen import batch
    from evergreen.csvfile import read_header
    from evergreen.onnx_model import OnnxModel

    raw = path.read_bytes()
    delimiter, line, names = read_header(raw[:1 << 16], source=str(path))
    start = batch.data_start(raw, line)
    planner = batch.ChunkPlanner(start, line + 1, chunk_rows)
    planner.feed(raw[start:])
    numeric, categorical = columns["numeric"], columns["categorical"]
    feeds, rows = [], 0
    for chunk in planner.chunks():
        chunk_rows_read = batch.unquoted_rows(names, raw[chunk.start:chunk.end], chunk.first_line, delimiter,
                                              categorical=categorical, source=str(path))
        chunk_feeds = batch.model_feeds(chunk_rows_read, numeric, categorical)
        n = len(chunk_feeds.row_ids)
        rows += n
        for i in range(0, n, batch.SCORE_BATCH_ROWS):
            feeds.append({k: v[i:i + batch.SCORE_BATCH_ROWS] for k, v in chunk_feeds.inputs.items()})
    del raw
    model = OnnxModel(onnx_bytes, numeric=numeric, categorical=categorical, classes=columns.get("classes"))
    session = model.session
    session.run(None, {k: v[:10] for k, v in feeds[0].items()})  # warm-up, as the champion check does
    started = time.perf_counter()
    for feed in feeds:
        session.run(None, feed)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "runs": len(feeds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args()

    from evergreen import registry
    from evergreen_cli.local.stack import LocalStack

    path = generate(args.rows)
    size_mb = path.stat().st_size / 1e6
    print(f"data: {path} ({args.rows:,} rows, {size_mb:.0f} MB)", flush=True)
    with LocalStack(root=ROOT, parameters={"ModelName": "bench", "BatchChunkRows": str(args.chunk_rows)},
                    stack_name="bench-batch") as stack:
        s3, bucket = stack.client("s3"), stack.outputs["DataBucketName"]
        s3.put_object(Bucket=bucket, Key="specs/bench.json", Body=json.dumps(SPEC).encode())
        known = len(stack.list_executions())
        s3.put_object(Bucket=bucket, Key="uploads/bench/sample.csv", Body=head_rows(path, args.train_rows))
        trained = stack.wait_for_execution(stack.wait_for_new_execution(known)["executionArn"], timeout=1800)
        if trained["status"] != "SUCCEEDED":
            raise SystemExit(f"training failed: {trained.get('error')}: {trained.get('cause')}")
        import boto3

        alias = registry.get_alias(boto3.resource("dynamodb", region_name=stack.region)
                                   .Table(stack.outputs["RegistryTableName"]), "bench")
        print(f"champion: v{alias['version']} {alias['family']} trained on {args.train_rows:,} rows", flush=True)

        body = path.read_bytes()
        known, calls = len(stack.list_executions()), len(stack.invocations)
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key="score/bench/data.csv", Body=body)
        upload = time.perf_counter() - started
        del body
        arn = stack.wait_for_new_execution(known, timeout=60)["executionArn"]
        execution = stack.wait_for_execution(arn, timeout=7200)
        wall = time.perf_counter() - started
        if execution["status"] != "SUCCEEDED":
            raise SystemExit(f"batch failed: {execution.get('error')}: {execution.get('cause')}")
        summary = json.loads(s3.get_object(Bucket=bucket, Key="scored/bench/data.csv/summary.json")["Body"].read())
        steps: dict[str, float] = {}
        for call in stack.invocations[calls:]:
            steps[call.function] = steps.get(call.function, 0.0) + call.duration_s
        onnx_bytes = s3.get_object(Bucket=stack.outputs["ArtifactsBucketName"], Key=alias["model_key"])["Body"].read()
        predictions = s3.head_object(Bucket=bucket, Key=summary["predictions_key"])["ContentLength"]

    bare = bare_session_run(path, onnx_bytes, alias["columns"], args.chunk_rows)
    execution_s = summary["seconds"]
    result = {"rows": args.rows, "mb": size_mb, "chunks": summary["chunks"], "chunk_rows": args.chunk_rows,
              "scored": summary["scored"], "rejected": summary["rejected"], "upload_s": upload, "wall_s": wall,
              "execution_s": execution_s, "rows_per_s_wall": summary["rows"] / wall,
              "rows_per_s_execution": summary["rows"] / execution_s, "steps_s": steps,
              "predictions_mb": predictions / 1e6, "bare": bare, "cpus": os.cpu_count()}
    print(json.dumps(result), flush=True)
    print("\n| rows | chunks | upload s | upload -> SUCCEEDED s | rows/s | execution s | rows/s | "
          "bare session.run s | rows/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.rows:,} | {summary['chunks']} | {upload:.1f} | {wall:.1f} | {result['rows_per_s_wall']:,.0f} | "
          f"{execution_s:.1f} | {result['rows_per_s_execution']:,.0f} | {bare['seconds']:.2f} | "
          f"{bare['rows_per_s']:,.0f} |")
    print("\nsteps (s, summed over invocations): "
          + ", ".join(f"{k.removesuffix('Function')} {v:.1f}" for k, v in steps.items()))

if __name__ == "__main__":
    main()
