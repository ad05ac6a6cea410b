"""AutoML against tuned scikit-learn: the pipeline's default search beside HistGradientBoosting with
defaults and a RandomizedSearchCV given the same trial budget, on the same splits (issue 9, item 6).

    .venv/bin/python benchmarks/bench_automl.py [--datasets breast_cancer,wine,digits,diabetes,rare,mixed]
                                                [--trials N] [--rows 100000] [--rare-rows 20000] [--cv 5]
                                                [--repeats 3]
    (make bench-automl ARGS="...")

Data sets (CSV files cached under build/bench-automl/data/, the mixed one under build/bench-scale/):
  breast_cancer, wine, digits  scikit-learn's bundled classification sets (the target as its class name);
  diabetes                     scikit-learn's bundled regression set;
  rare                         evergreen.synthetic.make_rare(--rare-rows, seed 0): 2.5% positives;
  mixed                        benchmarks/bench_scale.py's generate(--rows): 10 float, 4 integer and 5
                               categorical columns (3 to 2,000 values), 2% of cells empty, binary target.

Per data set, one after the other, never two at once:
  1. Pipeline (a child process): an in-process LocalStack (the real template and state machine on moto;
     stack start-up excluded) gets a spec that names no candidates: name, target and problem_type only,
     plus search.max_trials when --trials is given. So the AutoML defaults apply: the default space
     (evergreen.search.default_space), the default strategy (successive halving), the default metric.
     Wall time is from the upload to the execution's end; the pipeline and RandomizedSearchCV are each
     timed --repeats times, alternately, and their medians compared (scores are deterministic). Recorded: status, the champion's family and
     test score (the registry's champion alias: its ONNX model on the test split, with the tuned
     threshold for a binary classifier), the metric the run chose, the trials (records of the run, the
     winner's refit left out), the states entered, and the failure cause if any. The run's splits (its
     DatasetRef's train/validation/test .npz) are copied out.
  2. References (another child process) on those exact splits, read with evergreen.splits and fed as
     evergreen.data.model_matrix:
       - HGB defaults: training.build_pipeline("hist_gradient_boosting", {}, ...) (Evergreen's
         preprocessing: raw numerics, one-hot categoricals over the train+validation vocabulary capped at
         the spec's data.max_categories), fitted on train+validation, scored on test;
       - RandomizedSearchCV over the pipeline's default space for this data (same families and ranges;
         each family's preprocessing from build_pipeline, swapped in with its model), n_iter = the trial
         budget, cv folds (stratified for classification), scoring = the run's metric, refit on
         train+validation, scored on test. Classifiers answer by argmax: no tuned threshold.
       - the majority-class predictor (balanced accuracy, and the run's metric) on test.
     Scores use evergreen.metrics.score, as the pipeline does.
Threads: every child runs with OMP/OpenBLAS/MKL threads 1 and EVERGREEN_THREADS=1. The pipeline's Map
runs up to 4 trials at once; the local stack runs Train, RefitWinner and Export in one worker process
per core (evergreen_cli.local.lambda_processes), so RandomizedSearchCV gets the same cores: n_jobs = the
machine's CPU count (joblib's processes, one thread each).

Output: a JSON line per data set, then a markdown table; all rows to build/bench-automl/results.json.
Acceptance (issue 9): the champion within 0.5 points (accuracy-like) or 2% (RMSE) of RandomizedSearchCV,
better on at least half of the data sets, and its wall time at most 1.5x RandomizedSearchCV's; on the
rare-class set, balanced accuracy at least 0.1 above the majority-class predictor's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "layers" / "shared"
OUT = ROOT / "build" / "bench-automl"
DATA = OUT / "data"
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "EVERGREEN_THREADS": "1"}
DATASETS = ("breast_cancer", "wine", "digits", "diabetes", "rare", "mixed")
SCORING = {"accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy", "f1_macro": "f1_macro",
           "roc_auc": "roc_auc_ovr", "log_loss": "neg_log_loss", "rmse": "neg_root_mean_squared_error",
           "mae": "neg_mean_absolute_error", "r2": "r2"}
LOWER_IS_BETTER = {"rmse", "mae", "log_loss"}
SCORE_TOLERANCE_POINTS = 0.5  # accuracy-like metrics: within 0.5 points (0.005)
RMSE_TOLERANCE_PCT = 2.0
WALL_RATIO = 1.5
RARE_MARGIN = 0.1


# --------------------------------------------------------------------------- data

def dataset_csv(name: str, rows: int, rare_rows: int) -> tuple[Path, str, str]:
    """(CSV path, target column, problem type) of a data set, written once."""
    if name == "mixed":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_scale import generate

        return generate(rows), "y", "classification"
    DATA.mkdir(parents=True, exist_ok=True)
    if name == "rare":
        path = DATA / f"rare-{rare_rows}.csv"
        if not path.exists():
            sys.path.insert(0, str(SHARED))
            from evergreen.synthetic import make_rare

            path.write_bytes(make_rare(rare_rows, seed=0))
        return path, "fraud", "classification"
    import sklearn.datasets

    loader = getattr(sklearn.datasets, f"load_{name}")
    regression = name == "diabetes"
    path = DATA / f"{name}.csv"
    if not path.exists():
        bunch = loader(as_frame=True)
        frame = bunch.frame.copy()
        if not regression:  # the class names as the target (diabetes' target is already a number)
            frame["target"] = [str(bunch.target_names[i]) for i in bunch.target]
        frame.to_csv(path, index=False)
    return path, "target", "regression" if regression else "classification"


# --------------------------------------------------------------------------- the pipeline (child)

def child_pipeline(args: dict) -> dict:
    sys.path[:0] = [str(SHARED), str(ROOT)]  # evergreen, evergreen_cli
    import boto3

    from evergreen import registry, run_records, tracking
    from evergreen_cli.local.stack import LocalStack

    name, out_dir = args["model"], Path(args["out_dir"])
    # the Map's trials in worker processes, one per core, as Lambda runs each in its own environment
    with LocalStack(root=ROOT, stack_name="bench-automl", server_port=free_port(),
                    lambda_processes=os.cpu_count() or 1) as stack:
        s3, bucket = stack.client("s3"), stack.outputs["DataBucketName"]
        s3.put_object(Bucket=bucket, Key=f"specs/{name}.json", Body=json.dumps(args["spec"]).encode())
        body = Path(args["csv"]).read_bytes()
        known = len(stack.list_executions())
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=f"uploads/{name}/data.csv", Body=body)
        del body
        arn = stack.wait_for_new_execution(known, timeout=120)["executionArn"]
        execution = stack.wait_for_execution(arn, timeout=6 * 3600, poll=0.2)
        seconds = time.perf_counter() - started

        sfn = stack.client("stepfunctions")
        events, token = [], None
        while True:
            page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {}))
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                break
        entered: dict[str, int] = {}
        for e in events:
            if "stateEnteredEventDetails" in e:
                state = e["stateEnteredEventDetails"]["name"]
                entered[state] = entered.get(state, 0) + 1
        state = json.loads(execution.get("output") or "{}")
        run = state.get("run")
        if not run:  # failed: the last state output that carries the run context
            for e in reversed(events):
                output = (e.get("stateExitedEventDetails") or {}).get("output")
                if output and '"run"' in output:
                    run = json.loads(output).get("run")
                    if run:
                        state = {**json.loads(output), **state}
                        break
        failures = [{"type": e["type"], **{k: v for k, v in d.items() if k in ("error", "cause")}}
                    for e in events for key, d in e.items()
                    if key.endswith("FailedEventDetails") and isinstance(d, dict)]

        dynamodb = boto3.resource("dynamodb", region_name=stack.region)
        alias = registry.get_alias(dynamodb.Table(stack.outputs["RegistryTableName"]), name) or {}
        experiments = dynamodb.Table(stack.outputs["ExperimentsTableName"])
        records, run_item = [], {}
        if run:
            records = run_records.run_trials(experiments, run["run_id"])
            item = experiments.get_item(Key={"run_id": run["run_id"], "sk": "run"}).get("Item")
            run_item = json.loads(json.dumps(item or {}, default=str))
        trials = [r for r in records if not r["candidate_id"].endswith(tracking.REFIT_SUFFIX)]
        rungs: dict[str, dict] = {}
        for r in trials:
            rung = rungs.setdefault(str(r.get("rung", 0)), {"trials": 0, "ok": 0, "trained_rows": set()})
            rung["trials"] += 1
            rung["ok"] += r["status"] == "ok"
            if r.get("trained_rows"):
                rung["trained_rows"].add(int(r["trained_rows"]))
        for rung in rungs.values():
            rung["trained_rows"] = sorted(rung["trained_rows"])

        if run:  # the exact splits the run trained, validated and tested on
            out_dir.mkdir(parents=True, exist_ok=True)
            dataset = run["dataset"]
            for part in ("train", "validation", "test"):
                key = dataset[f"{part}_key"]
                raw = s3.get_object(Bucket=dataset["bucket"], Key=key)["Body"].read()
                (out_dir / f"{part}{Path(key).suffix}").write_bytes(raw)
        evaluation, export = state.get("evaluation") or {}, state.get("export") or {}
        return {
            "seconds": seconds, "status": execution["status"], "execution_error": execution.get("error"),
            "execution_cause": execution.get("cause"), "failures": failures[-5:], "states": entered,
            "run_status": run_item.get("status"), "run_reason": run_item.get("reason"),
            "family": alias.get("family"), "params": alias.get("params"), "test_score": alias.get("test_score"),
            "threshold": alias.get("threshold"), "alias_metric": alias.get("primary_metric"),
            "run_metric": ((run or {}).get("spec") or {}).get("primary_metric"),
            "evaluation_metric": evaluation.get("metric"),
            "challenger_test_score": evaluation.get("challenger_test_score"),
            "baseline_test_score": evaluation.get("baseline_test_score"),
            "decision": (evaluation.get("decision") or {}).get("reason"), "onnx_bytes": export.get("size_bytes"),
            "search": {k: v for k, v in ((run or {}).get("search") or {}).items() if k not in ("candidates", "finalists")},
            "trials": {"records": len(trials), "ok": sum(r["status"] == "ok" for r in trials),
                       "failed": sum(r["status"] == "failed" for r in trials),
                       "skipped": sum(r["status"] == "skipped" for r in trials), "rungs": rungs},
            "trial_errors": sorted({str(r.get("error"))[:200] for r in trials if r["status"] == "failed"})[:5],
            "refit_rows": [r.get("trained_rows") for r in records if r["candidate_id"].endswith(tracking.REFIT_SUFFIX)],
            "dataset": (run or {}).get("dataset"), "spec": (run or {}).get("spec"),
            "steps": _steps(stack.invocations), "code": str(Path(sys.modules["evergreen"].__file__).parents[1]),
        }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _steps(invocations) -> dict[str, float]:
    steps: dict[str, float] = {}
    for inv in invocations:
        steps[inv.function] = round(steps.get(inv.function, 0.0) + inv.duration_s, 2)
    return steps


# --------------------------------------------------------------------------- the references (child)

def child_references(args: dict) -> dict:
    sys.path.insert(0, str(SHARED))
    import numpy as np
    from scipy.stats import loguniform, randint, uniform
    from sklearn.model_selection import KFold, RandomizedSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from threadpoolctl import threadpool_limits

    from evergreen import data, metrics, search, splits, training
    from evergreen.contracts import DatasetRef
    from evergreen.spec import ModelSpec

    dataset = DatasetRef.model_validate(args["dataset"])
    spec = ModelSpec.model_validate(args["spec"])
    schema, metric, seed = dataset.columns, spec.primary_metric, spec.split.seed
    split_dir = Path(args["split_dir"])
    parts = {}
    for part in ("train", "validation", "test"):
        key = getattr(dataset, f"{part}_key")
        parts[part] = splits.read_split((split_dir / f"{part}{Path(key).suffix}").read_bytes(), schema, source=key)
    train, validation, test = parts["train"], parts["validation"], parts["test"]
    full = data.Frame(columns={n: np.concatenate([train.columns[n], validation.columns[n]]) for n in train.columns},
                      target=np.concatenate([train.target, validation.target]))
    classification = schema.problem_type == "classification"
    X = data.model_matrix(full, schema)
    y = full.target.astype(str).astype(object) if classification else full.target.astype(np.float64)
    categories = training.vocabularies(full, schema, spec.data.max_categories) if schema.categorical else None
    shares = data.class_shares(train) if classification else None
    out: dict = {"rows": {"train": train.n_rows, "validation": validation.n_rows, "test": test.n_rows},
                 "model_columns": X.shape[1], "metric": metric}

    def test_score(estimator) -> float:
        labels, proba = training.predict(estimator, test, schema)  # argmax for classifiers
        return metrics.score(metric, test.target, labels, proba, schema.classes)

    with threadpool_limits(limits=1):
        hgb = training.build_pipeline("hist_gradient_boosting", {}, schema, seed, categories)
        started = time.perf_counter()
        hgb.fit(X, y)
        out["hgb_test"] = test_score(hgb)
        out["hgb_seconds"] = time.perf_counter() - started

        space = search.default_space(schema.problem_type, train.n_rows, shares)
        distributions, built = [], {}
        for grid in space:
            pipe = training.build_pipeline(grid.family, {}, schema, seed, categories)
            built[grid.family] = pipe
            point: dict = {"prep": [pipe.named_steps["prep"]], "model": [pipe.named_steps["model"]]}
            for param, declared in grid.space.items():
                (kind, (low, high)), = declared.items()
                if kind == "log_uniform":
                    point[f"model__{param}"] = loguniform(low, high)
                elif kind == "int":
                    point[f"model__{param}"] = randint(low, high + 1)
                elif kind == "uniform":
                    point[f"model__{param}"] = uniform(low, high - low)
                else:
                    raise ValueError(f"{grid.family}.{param}: unknown space {kind!r}")
            for param, values in grid.grid.items():
                point[f"model__{param}"] = list(values)
            distributions.append(point)
        first = built[space[0].family]
        base = Pipeline([("prep", first.named_steps["prep"]), ("model", first.named_steps["model"])])
        cv = (StratifiedKFold if classification else KFold)(n_splits=args["cv"], shuffle=True, random_state=seed)
        rs = RandomizedSearchCV(base, distributions, n_iter=args["trials"], scoring=SCORING[metric], cv=cv,
                                refit=True, n_jobs=os.cpu_count(), random_state=seed)
        started = time.perf_counter()
        rs.fit(X, y)
        out["rscv_test"] = test_score(rs.best_estimator_)
        out["rscv_seconds"] = time.perf_counter() - started
    results = rs.cv_results_
    best = rs.best_params_
    out["rscv_best"] = {"family": type(best["model"]).__name__,
                        **{k.removeprefix("model__"): (v if isinstance(v, (int, float, str)) or v is None else str(v))
                           for k, v in best.items() if k.startswith("model__")}}
    out["rscv_cv_score"] = float(rs.best_score_)
    out["rscv_failed_fits"] = int(np.sum(np.isnan(results["mean_test_score"])))
    out["rscv_families"] = {}
    for model in results["param_model"]:
        family = type(model).__name__
        out["rscv_families"][family] = out["rscv_families"].get(family, 0) + 1
    out["space"] = [g.model_dump() for g in space]
    if classification:
        y_full = full.target.astype(str)
        labels, counts = np.unique(y_full, return_counts=True)
        majority = np.full(test.n_rows, labels[np.argmax(counts)], dtype=object)
        out["majority_balanced_accuracy"] = metrics.score("balanced_accuracy", test.target, majority, None, schema.classes)
        out["test_class_shares"] = data.class_shares(test)
    out["baseline_test"] = metrics.baseline_score(metric, full.target, test.target, schema.classes)
    out["code"] = str(Path(sys.modules["evergreen"].__file__).parents[1])
    return out


# --------------------------------------------------------------------------- the parent

def run_child(kind: str, args: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, json.dumps(args)], capture_output=True,
                          text=True, env={**os.environ, **THREADS})
    if proc.returncode:
        raise RuntimeError(f"{kind} child failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_dataset(name: str, args: argparse.Namespace) -> dict:
    path, target, problem_type = dataset_csv(name, args.rows, args.rare_rows)
    model = name.replace("_", "-")
    spec: dict = {"name": model, "target": target, "problem_type": problem_type}
    if args.trials is not None:
        spec["search"] = {"max_trials": args.trials}
    out_dir = OUT / name
    with open(path, "rb") as f:
        n_rows = sum(1 for _ in f) - 1
    row: dict = {"dataset": name, "csv": str(path.relative_to(ROOT)), "rows": n_rows, "spec": spec}
    pipeline_args = {"model": model, "csv": str(path), "spec": spec, "out_dir": str(out_dir / "splits")}
    ours = run_child("pipeline", pipeline_args)
    row["pipeline"] = {k: v for k, v in ours.items() if k not in ("dataset", "spec")}
    if not ours.get("dataset") or not ours.get("spec"):
        row["error"] = "the run produced no dataset (Ingest failed): no references"
        return row
    budget = ours["spec"]["search"]["max_trials"]
    ref_args = {"dataset": ours["dataset"], "spec": ours["spec"], "split_dir": str(out_dir / "splits"),
                "trials": budget, "cv": args.cv}
    refs = run_child("references", ref_args)
    # the machine is shared: the two timed again, alternately, and compared by their medians
    walls, ref_walls = [ours["seconds"]], [refs["rscv_seconds"]]
    for _ in range(args.repeats - 1):
        walls.append(run_child("pipeline", pipeline_args)["seconds"])
        ref_walls.append(run_child("references", ref_args)["rscv_seconds"])
    row["pipeline"]["seconds_each"], refs["rscv_seconds_each"] = walls, ref_walls
    row["pipeline"]["seconds"], refs["rscv_seconds"] = statistics.median(walls), statistics.median(ref_walls)
    row["references"] = refs
    row["trial_budget"] = budget
    row["metric"] = ours["spec"]["primary_metric"]
    row.update(judge(row))
    return row


def judge(row: dict) -> dict:
    """The differences against RandomizedSearchCV and the acceptance checks."""
    metric, ours, refs = row["metric"], row["pipeline"], row["references"]
    score = ours["test_score"]
    out: dict = {}
    if score is None:
        return {"score_ok": False, "better": False, "wall_ok": False, "wall_ratio": ours["seconds"] / refs["rscv_seconds"]}
    ref = refs["rscv_test"]
    if metric in LOWER_IS_BETTER:  # % of the reference's error; negative: the champion's error is lower
        out["diff"] = (score - ref) / ref * 100
        out["diff_unit"] = "%"
        out["score_ok"] = out["diff"] <= RMSE_TOLERANCE_PCT
        out["better"] = score < ref
    else:  # points (0.01 of the metric); positive: the champion scores higher
        out["diff"] = (score - ref) * 100
        out["diff_unit"] = "pts"
        out["score_ok"] = out["diff"] >= -SCORE_TOLERANCE_POINTS
        out["better"] = score > ref
    out["wall_ratio"] = ours["seconds"] / refs["rscv_seconds"]
    out["wall_ok"] = out["wall_ratio"] <= WALL_RATIO
    if "majority_balanced_accuracy" in refs and metric == "balanced_accuracy":
        out["above_majority"] = score - refs["majority_balanced_accuracy"]
    return out


def fmt(value, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def print_table(rows: list[dict]) -> None:
    print("\n| data set | rows | metric | trials (budget) | champion family | champion test | HGB defaults test "
          "| RandomizedSearchCV test | champion − RSCV | pipeline wall s | HGB wall s | RSCV wall s | ratio (pipeline / RSCV) "
          "| score within tolerance | wall ≤ 1.5× |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p, refs = r["pipeline"], r.get("references")
        if not refs:
            print(f"| {r['dataset']} | {r['rows']:,} | – | – | {p['status']}: {p.get('execution_error')} | – | – | – | – "
                  f"| {p['seconds']:.1f} | – | – | – | no | no |")
            continue
        diff = "–" if "diff" not in r else f"{r['diff']:+.2f} {r['diff_unit']}"
        status = "" if p["status"] == "SUCCEEDED" and p.get("run_status") == "PROMOTED" else f" ({p['status']}, {p.get('run_status')})"
        print(f"| {r['dataset']} | {r['rows']:,} | {r['metric']} | {p['trials']['records']} ({r['trial_budget']}) "
              f"| {p['family']}{status} | {fmt(p['test_score'])} | {fmt(refs['hgb_test'])} | {fmt(refs['rscv_test'])} "
              f"| {diff} | {p['seconds']:.1f} | {refs['hgb_seconds']:.1f} | {refs['rscv_seconds']:.1f} "
              f"| {r['wall_ratio']:.2f} | {'yes' if r['score_ok'] else 'no'} | {'yes' if r['wall_ok'] else 'no'} |")
    judged = [r for r in rows if r.get("references")]
    better = sum(bool(r.get("better")) for r in judged)
    print(f"\nBetter than RandomizedSearchCV on {better} of {len(judged)} (acceptance: at least half); "
          f"within tolerance on {sum(bool(r.get('score_ok')) for r in judged)} of {len(judged)}; "
          f"wall ≤ {WALL_RATIO}× on {sum(bool(r.get('wall_ok')) for r in judged)} of {len(judged)}.")
    for r in judged:
        if "above_majority" in r:
            print(f"{r['dataset']}: champion balanced accuracy {fmt(r['pipeline']['test_score'])} vs the majority class's "
                  f"{fmt(r['references']['majority_balanced_accuracy'])}: {r['above_majority']:+.4f} "
                  f"(acceptance: ≥ +{RARE_MARGIN}); served threshold {r['pipeline'].get('threshold')}")


def git_state() -> dict:
    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child = {"pipeline": child_pipeline, "references": child_references}[sys.argv[2]]
        print(json.dumps(child(json.loads(sys.argv[3])), default=str))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated, of {', '.join(DATASETS)}")
    parser.add_argument("--trials", type=int, default=None,
                        help="search.max_trials for the pipeline and n_iter for RandomizedSearchCV (default: the spec's, 64)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the mixed data set")
    parser.add_argument("--rare-rows", type=int, default=20_000, help="rows of the rare-class data set")
    parser.add_argument("--cv", type=int, default=5, help="RandomizedSearchCV's folds")
    parser.add_argument("--repeats", type=int, default=3,
                        help="times the pipeline and RandomizedSearchCV are each timed, alternately (medians compared)")
    args = parser.parse_args()
    names = [n for n in args.datasets.split(",") if n]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"unknown data sets {unknown}; known: {', '.join(DATASETS)}")
    started = time.perf_counter()
    rows = []
    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "started": datetime.now(UTC).isoformat(),
            "git": git_state(), "root": str(ROOT), "cpus": os.cpu_count()}
    for name in names:
        row = bench_dataset(name, args)
        print(json.dumps(row, default=str), flush=True)
        rows.append(row)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "results.json").write_text(json.dumps({**meta, "rows": rows}, indent=1, default=str))
    print_table(rows)
    total = time.perf_counter() - started
    meta["seconds"] = total
    (OUT / "results.json").write_text(json.dumps({**meta, "rows": rows}, indent=1, default=str))
    print(f"\n({total:.0f} s in all; results in {(OUT / 'results.json').relative_to(ROOT)})")


if __name__ == "__main__":
    main()
