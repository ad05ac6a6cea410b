"""The built batch-scoring bundle on CPython 3.12: BatchScoreFunction's app.py on the built SharedLayer +
BatchLayer (trimmed and stripped) imports, parses a chunk with pandas' C parser and scores it with
onnxruntime, with the answers this venv gives. Run `make build` first; skipped without its output or
without a local CPython 3.12 (see tests/build/test_built_layers.py, whose helpers and fixtures it uses).
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.build.test_built_layers import (  # noqa: F401 - fixtures, used by name
    BUILT_TEMPLATE,
    ROOT,
    built,
    function_dir,
    lambda_runtime_packages,
    layer_dir,
    python312,
    python_dir,
    run_python,
)

pytestmark = [
    pytest.mark.build,
    pytest.mark.skipif(not BUILT_TEMPLATE.exists(),
                       reason=f"no sam build output: {BUILT_TEMPLATE.relative_to(ROOT)} not found (run `make build`)"),
]

_SCORE = """
    import base64, json, sys
    import app  # BatchScoreFunction's handler module, as Lambda imports it
    from evergreen import batch
    from evergreen.onnx_model import OnnxModel
    job = json.loads(open(sys.argv[1]).read())
    cols = job["columns"]
    model = OnnxModel(base64.b64decode(job["onnx"]), numeric=cols["numeric"], categorical=cols["categorical"],
                      classes=cols["classes"])
    rows = batch.unquoted_rows(job["names"], job["raw"].encode(), 2, ",", categorical=cols["categorical"],
                               source="test")
    scored = batch.score_rows(rows, model, 1, cols["numeric"], cols["categorical"])
    import onnxruntime, pandas
    print(json.dumps({"predictions": scored.predictions.decode(), "rejected": scored.rejected.decode(),
                      "pandas": pandas.__file__, "onnxruntime": onnxruntime.__file__, "app": app.__file__,
                      "sklearn": sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "scipy"))}))
"""


def test_a_chunk_is_scored_on_the_built_batch_layer_as_here(built, python312, lambda_runtime_packages, tmp_path):
    from evergreen import batch
    from evergreen.onnx_model import OnnxModel
    from tests.support.tiny_model import synthetic_records, train_classifier

    tiny = train_classifier(n=200)
    cols = tiny.columns
    names = ["id", *cols["numeric"], *cols["categorical"]]
    records = synthetic_records(50, seed=6)[0]
    lines = [",".join([str(i), *("" if r[c] is None else str(r[c]) for c in names[1:])]) for i, r in enumerate(records)]
    lines[7] = "7,forty,1,pro,north"
    lines[9] = "9,1,2"
    raw = "\n".join(lines) + "\n"
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"onnx": base64.b64encode(tiny.onnx_bytes).decode(), "columns": cols,
                               "names": names, "raw": raw}))

    code, shared, layer = (function_dir(built, "BatchScoreFunction"),
                           *(python_dir(layer_dir(built, lid)) for lid in ("SharedLayer", "BatchLayer")))
    result = run_python(python312, [code, shared, layer, lambda_runtime_packages], _SCORE, tmp_path, str(job))

    assert result["app"] == str(code / "app.py")
    assert result["pandas"].startswith(str(layer)) and result["onnxruntime"].startswith(str(layer))
    assert result["sklearn"] == []
    here = batch.score_rows(
        batch.unquoted_rows(names, raw.encode(), 2, ",", categorical=cols["categorical"], source="test"),
        OnnxModel(tiny.onnx_bytes, numeric=cols["numeric"], categorical=cols["categorical"], classes=cols["classes"]),
        1, cols["numeric"], cols["categorical"])
    assert result["rejected"] == here.rejected.decode() and result["rejected"].count("\n") == 2
    built_rows = [line.split(",") for line in result["predictions"].splitlines()]
    here_rows = [line.split(",") for line in here.predictions.decode().splitlines()]
    assert [r[:3] for r in built_rows] == [r[:3] for r in here_rows] and len(built_rows) == 48
    for a, b in zip(built_rows, here_rows, strict=True):
        assert max(abs(float(x) - float(y)) for x, y in zip(a[3:], b[3:], strict=True)) < 1e-6
