"""`make demo DATA=... TARGET=...`: the whole story on a user's own CSV (here a regression data set
that ships with scikit-learn). The demo itself checks every milestone and exits non-zero on a miss."""

from __future__ import annotations

import argparse
import csv

import pytest

from evergreen_cli.local import demo
from tests.support.infra import ROOT

pytestmark = pytest.mark.e2e


def test_the_demo_runs_on_a_users_own_csv(tmp_path, capsys, monkeypatch):
    from sklearn.datasets import load_diabetes

    monkeypatch.setenv("CHAMPION_TTL_SECONDS", "0")
    data = load_diabetes()
    path = tmp_path / "diabetes.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*data.feature_names, "progression"])
        writer.writerows([*(f"{v:.6g}" for v in x), y] for x, y in zip(data.data, data.target))

    assert demo.run(argparse.Namespace(data=path, target="progression", model="diabetes", verbose=False,
                                       root=ROOT)) == 0
    out = capsys.readouterr().out
    assert "regression, metric rmse" in out
    assert "v1 promoted: no champion yet" in out
    assert "monitor: PredictionQuality" in out  # the quality the alarm reads is the scheduled monitor's
    assert "OK -> ALARM" in out and "(trigger: alarm)" in out
    assert "ALARM -> OK" in out and "v2's live quality on shifted traffic" in out
    assert "v2 promoted to canary beside champion v1 (the monitor ends the rollout on live labels): challenger rmse" in out
    assert "rollout of v2 (canary) promoted: live quality champion v1" in out  # the monitor's verdict
    assert "audit " in out and "monitor: v2 promoted from canary" in out
    assert "REJECTED: not promoted" in out
    assert "FAILED: DataError: " in out and "target column 'progression' not found" in out
    assert "inference still answers from v2" in out
    assert "monitor: DriftedFeatureShare" in out and "drift-diabetes: OK -> ALARM" in out  # inputs alone
    # the drift alarm starts a retrain (then, once labels arrive, again if the champion still drifts)
    assert "on the shifted inputs: v2 mean absolute error" in out and "-> v3 mean absolute error" in out


def test_data_and_target_go_together():
    with pytest.raises(SystemExit, match="go together"):
        demo.run(argparse.Namespace(data=None, target="y", model="m", verbose=False, root=ROOT))
