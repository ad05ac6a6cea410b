"""Score one chunk of a batch: its byte range of the upload -> its part of predictions.csv and rejected.csv.

The model is the version Plan pinned, read from the registry's immutable version item (with its
decision threshold, when it is a binary classifier: the labels are made with it) and verified
by evergreen.serving.champion.champion_from_bytes (sha256 against the registry, no external data,
standard operator domains, inputs and outputs as the schema says) before any row is scored. Not
ModelCache: that one follows the champion alias, and a promotion during a batch must not give
its chunks two different models. A warm container keeps the last few verified models.

Batch predictions are not written to the prediction log (PredictionsTable): a million items per file
would cost more than the scoring and are not what the monitor judges live quality on. The rows and
their predictions are the CSV files themselves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from evergreen import batch, registry, storage
from evergreen.batch_contracts import ChunkResult, ScoreChunkInput
from evergreen.serving.champion import Champion, champion_from_bytes
from evergreen.steps import batch_files
from evergreen.storage import Stores


class PinnedChampions:
    """Verified models by (model, version), loaded once per warm container (the newest `keep` kept).
    Thread-safe: local Map iterations share one process."""

    def __init__(self, stores: Stores, keep: int = 2) -> None:
        self.stores = stores
        self.keep = keep
        self._loaded: OrderedDict[tuple[str, int], Champion] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: str, version: int) -> Champion:
        with self._lock:
            champion = self._loaded.get((model, version))
            if champion is None:
                champion = self._loaded[(model, version)] = self._load(model, version)
                while len(self._loaded) > self.keep:
                    self._loaded.popitem(last=False)
            return champion

    def _load(self, model: str, version: int) -> Champion:
        record = registry.get_version(self.stores.registry, model, version)
        if record is None:
            raise LookupError(f"model {model!r} has no registered version {version}")
        data = self.stores.get_bytes(self.stores.artifacts_bucket, str(record["model_key"]))
        return champion_from_bytes(model, record, data)


def run(inp: ScoreChunkInput, stores: Stores, champions: PinnedChampions) -> ChunkResult:
    plan, chunk = inp.plan, inp.chunk
    champion = champions.get(plan.model_name, plan.champion_version)
    source = f"s3://{plan.source.bucket}/{plan.source.key}"
    names = batch.header_names(batch_files.read_range(stores.s3, plan.source, 0, plan.data_start),
                               plan.delimiter, source)
    raw = batch_files.read_range(stores.s3, plan.source, chunk.start, chunk.end)
    if plan.quoted:
        rows = batch.quoted_rows(names, raw, chunk.first_line, plan.delimiter)
    else:
        rows = batch.unquoted_rows(names, raw, chunk.first_line, plan.delimiter,
                                   categorical=champion.categorical, source=source)
    del raw
    scored = batch.score_rows(rows, champion.model, champion.version, champion.numeric, champion.categorical)
    for kind, body in (("predictions", scored.predictions), ("rejected", scored.rejected)):
        if body:
            stores.put_bytes(plan.work_bucket, storage.part_key(plan.work_prefix, chunk.index, kind), body, "text/csv")
    return ChunkResult(index=chunk.index, scored=scored.scored_rows, rejected=scored.rejected_rows,
                       predictions_bytes=len(scored.predictions), rejected_bytes=len(scored.rejected))

