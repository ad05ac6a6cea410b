"""A model promoted through the real steps, in process on moto-backed storage: Ingest, every Train of
every rung, NextRung, RefitWinner, Export, Evaluate and Promote, called as the state machine calls
them (tests/unit/test_asl.py checks that chain against the ASL). What Promote wrote is what a test of
the model card reads."""

from __future__ import annotations

from evergreen.contracts import (
    EvaluateInput,
    ExportInput,
    IngestInput,
    NextRungInput,
    PromoteInput,
    PromoteResult,
    RefitInput,
    TrainInput,
)
from evergreen.steps import evaluate, export_onnx, ingest, next_rung, promote, refit, train
from evergreen.storage import Stores


def promote_through_the_steps(stores: Stores, model: str, spec: str, body: bytes,
                              run_id: str = "run-1") -> PromoteResult:
    """Put `spec` (YAML) and upload `body` (CSV) for `model` (the S3 event of the upload starts the run),
    run the pipeline's steps on them and
    return what Promote returned. AssertionError when Evaluate does not promote (with its reason)."""
    stores.put_bytes(stores.data_bucket, f"specs/{model}.yaml", spec.encode())
    key = f"uploads/{model}/data.csv"
    put = stores.s3.put_object(Bucket=stores.data_bucket, Key=key, Body=body, ContentType="text/csv")
    event = {"detail-type": "Object Created", "source": "aws.s3", "detail": {  # as EventBridge delivers it
        "bucket": {"name": stores.data_bucket},
        "object": {"key": key, "size": len(body), "etag": put["ETag"].strip('"'), "version-id": put.get("VersionId")}}}
    run = ingest.run(IngestInput(run_id=run_id, event=event), stores)
    while not run.search.done:
        for item in stores.get_json(run.dataset.bucket, run.search.items_key):
            train.run(TrainInput(run_id=run.run_id, model_name=model, spec=run.spec, dataset=run.dataset,
                                 candidate=item, rung=run.search.rung, sample_rows=run.search.sample_rows,
                                 deadline=run.search.deadline), stores)
        run = run.model_copy(update={"search": next_rung.run(NextRungInput(run=run), stores)})
    trials = refit.run(RefitInput(run=run, trials=run.search.finalists), stores)
    exported = export_onnx.run(ExportInput(run=run, trials=trials), stores)
    evaluation = evaluate.run(EvaluateInput(run=run, export=exported), stores)
    assert evaluation.decision.promote, evaluation.decision.reason
    return promote.run(PromoteInput(run=run, evaluation=evaluation, export=exported), stores)


def regression_csv(n: int, seed: int) -> bytes:
    """`n` rows of a regression data set as CSV: price from size, rooms and district, plus noise; age and
    noise play no part in it."""
    import numpy as np

    rng = np.random.default_rng(seed)
    size, rooms = rng.uniform(30, 200, n), rng.integers(1, 7, n)
    district = rng.choice(["north", "south", "east", "west"], n)
    price = 2.5 * size + 15 * rooms + np.select([district == "north", district == "south"], [80, -40], 0) \
        + rng.normal(0, 25, n)
    lines = ["size,rooms,age,noise,district,price"]
    lines += [f"{s:.1f},{r},{a},{z:.4f},{d},{p:.2f}" for s, r, a, z, d, p in
              zip(size, rooms, rng.integers(0, 80, n), rng.normal(size=n), district, price)]
    return ("\n".join(lines) + "\n").encode()
