"""evergreen.monitoring.profile: the training profile (drift baseline, contract vocabularies)."""

import json

import numpy as np

from evergreen.contracts import ColumnSchema
from evergreen.data import Frame
from evergreen.monitoring.profile import OTHER, bin_counts, profile


# --- profile ----------------------------------------------------------------------------------


def test_profile_is_json_safe_and_complete():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500).astype(np.float32)
    x[:50] = np.nan
    cats = np.array([f"v{i % 30}" if i % 7 else "" for i in range(500)], dtype=object)
    frame = Frame(columns={"x": x, "const": np.full(500, 2.0, np.float32), "c": cats},
                  target=np.array(["yes", "no"] * 250, dtype=object))
    schema = ColumnSchema(numeric=["x", "const"], categorical=["c"], target="y", problem_type="classification",
                          classes=["no", "yes"])
    prof = profile(frame, schema, top=20)
    json.dumps(prof, allow_nan=False)
    px = prof["numeric"]["x"]
    assert px["count"] == 450 and px["missing"] == 50
    assert len(px["quantiles"]) == 11 and px["quantiles"][0] == px["min"] and px["quantiles"][-1] == px["max"]
    assert px["histogram"]["edges"] == sorted(set(px["quantiles"]))
    assert sum(px["histogram"]["counts"]) == 450 and len(px["histogram"]["counts"]) == 10
    assert abs(px["mean"] - float(np.nanmean(x))) < 1e-6
    assert prof["numeric"]["const"]["histogram"] == {"edges": [2.0], "counts": [500]}
    pc = prof["categorical"]["c"]
    assert pc["missing"] == sum(1 for i in range(500) if i % 7 == 0)
    assert len(pc["frequencies"]) == 21 and OTHER in pc["frequencies"]
    assert sum(pc["frequencies"].values()) == pc["count"]
    assert prof["target"] == {"counts": {"no": 250, "yes": 250}}


def test_bin_counts_puts_out_of_range_values_in_end_bins():
    assert bin_counts(np.array([-5.0, 0.5, 1.5, 2.0, 9.0, np.nan]), [0.0, 1.0, 2.0]) == [2, 3]
