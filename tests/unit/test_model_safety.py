"""Safe model files: only our own train outputs are unpickled; ONNX graphs are checked before loading."""

from __future__ import annotations

import pytest

from evergreen.onnx_model import ModelIntegrityError, check_model_bytes, sha256_hex
from evergreen.steps.common import load_pipeline
from tests.support.tiny_model import train_classifier


class NoStores:
    artifacts_bucket = "artifacts"

    def get_bytes(self, *_):  # pragma: no cover - must never be reached
        raise AssertionError("read bytes it should have refused")


@pytest.mark.parametrize("key", ["uploads/demo/model.joblib", "models/demo/v000001/model.onnx", "datasets/x/train.csv"])
def test_only_train_outputs_are_ever_unpickled(key):
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_pipeline(NoStores(), key)


def test_external_data_and_wrong_hash_are_refused():
    import onnx

    data = train_classifier().onnx_bytes
    check_model_bytes(data, sha256_hex(data))  # the real model passes
    with pytest.raises(ModelIntegrityError, match="does not match the registered"):
        check_model_bytes(data, "0" * 64)

    model = onnx.load_model_from_string(data)
    init = model.graph.initializer[0]
    init.data_location = onnx.TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    with pytest.raises(ModelIntegrityError, match="external data"):
        check_model_bytes(model.SerializeToString(), None)
