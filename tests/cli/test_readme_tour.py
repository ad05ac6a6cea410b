"""The README's CLI tour, word for word, against a running local stack, as a user runs it.

`evergreen up` (which runs what `make up` runs, `python -m evergreen_cli.local up`; on free ports here, so
a developer's own `make up` is not disturbed) is started as its own process; the README's tour block runs in bash, in a fresh
folder holding the checkout's `.venv` and `examples` (so `data.csv` is written there, not in the
repo); every `evergreen` command finds the stack through the state file `up` wrote. Then the same
stack gets a second version and is rolled back to v1 through `evergreen rollback`, and a rollback
to a version that does not exist is refused in one line. Stopping `up` removes its state file.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from evergreen_cli.local import running
from evergreen.synthetic import make_churn
from tests.cli.conftest import free_port
from tests.support.infra import ROOT

pytestmark = pytest.mark.e2e

TOUR_HEADING = "## A tour with the `evergreen` command"
EVERGREEN = os.path.join(os.path.dirname(sys.executable), "evergreen")


def tour_block() -> str:
    """The first ```bash block after the tour's heading in README.md."""
    readme = (ROOT / "README.md").read_text()
    assert TOUR_HEADING in readme, "the README's tour section is gone"
    after = readme[readme.index(TOUR_HEADING):]
    found = re.search(r"```bash\n(.*?)```", after, re.S)
    assert found, "the tour has no bash block"
    return found.group(1)


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    """`evergreen up` in its own process; yields the environment that finds it."""
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EVERGREEN_", "MOTO_"))}
    env["EVERGREEN_HOME"] = str(home)
    log = open(home / "up.log", "w")
    process = subprocess.Popen([EVERGREEN, "up", "--port", str(free_port()),
                                "--api-port", str(free_port()), "--workers", "0", "--tick-interval", "3600"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    state = home / running.STATE_FILE
    deadline = time.monotonic() + 180
    while not state.exists():
        assert process.poll() is None, (home / "up.log").read_text()
        assert time.monotonic() < deadline, "evergreen up did not start in 180 s"
        time.sleep(0.5)
    try:
        yield env
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
    assert not state.exists(), "up left its state file behind"
    assert process.returncode == 0, (home / "up.log").read_text()


def evergreen(env, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([EVERGREEN, *argv], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_the_readme_tour_word_for_word_then_a_rollback(up, tmp_path):
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", tour_block()], cwd=tmp_path, env=up,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    out = done.stdout
    assert (tmp_path / "data.csv").exists()
    [run_id] = re.findall(r"^run (\S+) started: evergreen watch \1$", out, re.M)
    assert re.search(r"^✓ Ingest\s+\d", out, re.M) and re.search(r"^✓ Promote\s+\d", out, re.M)
    assert re.search(r"^PROMOTED in [\d.]+ s: v1 promoted: no champion yet: ", out, re.M)
    assert re.search(r"│ demo\s+│ v1 \w+", out)  # models: the champion
    assert "demo v1 answered:" in out  # predict
    assert re.search(r"^label 'yes' recorded for prediction [0-9a-f]{32}: the prediction was (right|wrong)$", out, re.M)
    assert re.search(r"^demo v1: \w+ from run " + run_id, out, re.M)  # card
    assert done.stderr == ""

    [model] = json.loads(evergreen(up, "models", "--json").stdout)
    assert model["champion"]["version"] == 1 and model["champion"]["run_id"] == run_id
    detail = json.loads(evergreen(up, "run", run_id, "--json").stdout)
    assert detail["status"] == "PROMOTED" and detail["summary"]["leaderboard"][0]["rank"] == 1

    (tmp_path / "shifted.csv").write_bytes(make_churn(3000, seed=5, drift=1.0))
    uploaded = json.loads(evergreen(up, "upload", str(tmp_path / "shifted.csv"), "--model", "demo", "--json").stdout)
    second = json.loads(evergreen(up, "watch", uploaded["run_id"], "--json").stdout)
    assert second["status"] == "PROMOTED" and second["reason"].startswith("v2 promoted: "), second["reason"]

    rolled = evergreen(up, "rollback", "demo", "1", "--reason", "v2 mislabels returns")
    assert rolled.stdout.startswith("demo: champion v2 -> v1")
    [model] = json.loads(evergreen(up, "models", "--json").stdout)
    assert model["champion"]["version"] == 1
    answer = json.loads(evergreen(up, "predict", "--model", "demo", "tenure_months=3", "--json").stdout)
    assert answer["model_version"] == 1
    refused = evergreen(up, "rollback", "demo", "9", "--reason", "typo", check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == "evergreen: rollback refused: model 'demo' has no version 9: nothing was registered under it\n"
    no_logs = evergreen(up, "logs", check=False)
    assert no_logs.returncode == 1 and no_logs.stderr.startswith("evergreen: the local stack keeps no CloudWatch Logs")
