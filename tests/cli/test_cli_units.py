"""The CLI's parts that need no stack: errors as one line, finding the local stack through its state
file (and refusing a stale one), reading records and versions, matching an upload to its run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from evergreen_cli import app, cards, inference, logs, upload
from evergreen_cli.output import CliError
from evergreen_cli.target import resolve
from evergreen_cli.local import running
from tests.cli.conftest import free_port


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EVERGREEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EVERGREEN_STACK", raising=False)
    return tmp_path / "home"


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = app.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv,message", [
    (["models"], "evergreen: no stack to talk to: no local stack is up ("),
    (["--local", "runs"], "evergreen: no local stack is running (no "),
    (["predict"], "evergreen: predict: Missing argument 'record'. (see `evergreen predict --help`)"),
    (["rollback", "demo", "2"], "evergreen: rollback: Missing option '--reason'"),
    (["nope"], "evergreen: No such command 'nope'."),
    (["--stack", "a", "--local", "models"], "evergreen: give either --stack NAME or --local, not both"),
])
def test_every_error_is_one_line_on_stderr_with_a_non_zero_exit(capsys, argv, message):
    code, out, err = run_main(capsys, *argv)
    assert code != 0 and out == ""
    assert err.startswith(message) and err.count("\n") == 1, err


def test_the_installed_command_exits_non_zero_with_one_line(tmp_path):
    command = os.path.join(os.path.dirname(sys.executable), "evergreen")
    done = subprocess.run([command, "models", "--json"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "EVERGREEN_HOME": str(tmp_path)})
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("evergreen: no stack to talk to") and done.stderr.count("\n") == 1


def _state(pid: int, port: int) -> running.RunningStack:
    return running.RunningStack(pid=pid, endpoint_url=f"http://127.0.0.1:{port}", api_url="http://127.0.0.1:1",
                                api_key="k", region="us-east-1", stack_name="evergreen-local",
                                outputs={"StateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:m"})


def test_the_state_file_finds_a_running_stack_and_refuses_a_stale_one(home):
    import socket

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        path = running.write(_state(os.getpid(), port))
        assert path == home / "local-stack.json"
        target = resolve(None, False, None)  # the default when one is up
        assert (target.kind, target.endpoint_url, target.local_api) == ("local", f"http://127.0.0.1:{port}", ("http://127.0.0.1:1", "k"))

    running.write(_state(os.getpid(), free_port()))  # nothing listens there
    with pytest.raises(CliError, match=r"is stale: its endpoint http://127.0.0.1:\d+ does not answer"):
        resolve(None, True, None)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    running.write(_state(int(gone.stdout), port))
    with pytest.raises(CliError, match=rf"is stale: its process {int(gone.stdout)} is gone"):
        resolve(None, True, None)

    running.remove(os.getpid() + 1)  # another process's file is left alone
    assert path.exists()
    running.remove(int(gone.stdout))
    assert not path.exists()
    path.write_text("{not json")
    with pytest.raises(CliError, match="is not a local stack's state file"):
        resolve(None, True, None)


def test_records_are_pairs_sent_as_text_or_one_json_value():
    assert inference.parse_records(["tenure_months=3", "contract=month-to-month", "note=a=b"]) == (
        [{"tenure_months": "3", "contract": "month-to-month", "note": "a=b"}], True)
    assert inference.parse_records(['{"tenure_months": 3}']) == ([{"tenure_months": 3}], True)
    assert inference.parse_records(['[{"a": 1}, {"a": 2}]']) == ([{"a": 1}, {"a": 2}], False)
    for bad, why in (["tenure_months"], "feature=value pairs"), (["[1, 2]"], "JSON array of objects"), (["{x"], "not valid JSON"):
        with pytest.raises(CliError, match=why):
            inference.parse_records(bad)


def test_the_proxy_event_is_what_the_inference_handler_routes():
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    event = APIGatewayProxyEvent(inference.proxy_event("/feedback", '{"prediction_id": "p", "label": "yes"}'))
    assert (event.http_method, event.path, event.json_body) == ("POST", "/feedback", {"prediction_id": "p", "label": "yes"})


def test_versions_steps_durations_and_validation_messages():
    assert [cards.parse_version(v) for v in ("3", "v3", "V000003")] == [3, 3, 3]
    with pytest.raises(CliError, match="'v0' is not a version"):
        cards.parse_version("v0")
    assert [logs.step_name(n) for n in ("IngestFunction", "NextRungFunction", "InferenceFunction")] == ["ingest", "next-rung", "inference"]
    assert logs.parse_since("90m").total_seconds() == 5400 and logs.parse_since("2d").days == 2
    with pytest.raises(CliError, match="give a duration"):
        logs.parse_since("soon")


def test_an_upload_is_matched_to_the_run_its_event_started():
    event = {"detail": {"bucket": {"name": "data"}, "object": {"key": "uploads/demo/a.csv", "version-id": "v2", "etag": "e2"}}}
    assert upload.started_by(event, "data", "uploads/demo/a.csv", "v2", '"e2"')
    assert not upload.started_by(event, "data", "uploads/demo/a.csv", "v1", "e1")  # an earlier version's run
    assert not upload.started_by(event, "data", "uploads/demo/b.csv", "v2", "e2")
    unversioned = json.loads(json.dumps(event).replace('"v2"', '"null"'))  # moto's CloudFormation buckets
    assert upload.started_by(unversioned, "data", "uploads/demo/a.csv", None, '"e2"')
    assert not upload.started_by(unversioned, "data", "uploads/demo/a.csv", None, '"e1"')


def test_local_on_the_command_line_beats_the_stack_in_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("EVERGREEN_STACK", "evergreen")
    code, out, err = run_main(capsys, "--local", "models")
    assert code == 1 and err.startswith("evergreen: no local stack is running (no ")  # not "give either ... not both"


@pytest.fixture
def api_gateway():
    """A stand-in for a deployed API's URL: records each request, answers 200 with a prediction."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": json.loads(body)})
            answer = json.dumps({"model": "demo", "model_version": 3, "predictions": []}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    server.shutdown()
    server.server_close()


def test_a_deployed_api_is_called_with_the_stacks_api_key_or_signed_for_iam(api_gateway, monkeypatch):
    from moto import mock_aws

    from evergreen_cli.target import Target

    url, seen = api_gateway
    with mock_aws():
        monkeypatch.delenv("EVERGREEN_API_KEY", raising=False)
        key = Target("stack", "s", "us-east-1", {}).client("apigateway").create_api_key(name="k", value="the-api-key-of-the-stack-1", enabled=True)
        keyed = Target("stack", "s", "us-east-1", {"ApiUrl": url, "ApiKeyId": key["id"], "InferenceAuthMode": "API_KEY"})
        assert inference.call(keyed, "/predict", {"record": {"a": "1"}}) == (200, {"model": "demo", "model_version": 3, "predictions": []})
        assert seen[-1]["path"] == "/v1/predict" and seen[-1]["body"] == {"record": {"a": "1"}}
        assert seen[-1]["headers"]["x-api-key"] == "the-api-key-of-the-stack-1"

        signed = Target("stack", "s", "us-east-1", {"ApiUrl": url, "InferenceAuthMode": "IAM"})
        inference.call(signed, "/feedback", {"prediction_id": "p", "label": "yes"})
        authorization = seen[-1]["headers"]["authorization"]
        assert authorization.startswith("AWS4-HMAC-SHA256 Credential=") and "/us-east-1/execute-api/aws4_request" in authorization
        assert "x-api-key" not in seen[-1]["headers"]


def test_models_shows_a_canary_a_pin_and_a_firing_alarm(capsys):
    from evergreen_cli import models
    from evergreen_cli.target import Target

    row = {"model": "churn", "champion": {"version": 1, "family": "random_forest", "primary_metric": "accuracy", "test_score": 0.91},
           "challenger": {"version": 2, "rollout": {"mode": "canary", "share": 0.1}},
           "pin": {"reason": "quarter close", "actor": "ana"},
           "quality": {"latest": {"value": 0.612, "at": "2026-12-01T10:00:00+00:00"}, "alarm": {"state": "ALARM", "threshold": 0.7}},
           "drift": {"latest": None, "alarm": None}}
    models.render([row], Target("stack", "evergreen", "us-east-1", {}))
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "churn" in line)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells == ["churn", "v1 random_forest", "accuracy 0.9100", "v2 canary 10%", "yes: quarter close",
                     "0.612, alarm ALARM (fires below 0.7)", "no data (no alarm)"]


def test_run_shows_a_failed_state_its_error_and_a_cost_it_could_not_read(capsys):
    from evergreen_cli import runs

    detail = {"run_id": "r1", "model": "churn", "status": "FAILED", "trigger": "upload", "execution_status": "FAILED",
              "source": {"bucket": "b", "key": "uploads/churn/x.csv"}, "started_at": "2026-12-01T10:00:00+00:00",
              "seconds": 3.5, "reason": "DataError: s3://b/uploads/churn/x.csv: file is not UTF-8 text",
              "states": [{"name": "Ingest", "type": "Task", "entered": "2026-12-01T10:00:00+00:00",
                          "exited": "2026-12-01T10:00:02+00:00", "seconds": 2.0, "attempts": 3,
                          "error": "DataError file is not UTF-8 text"}],
              "summary": {"cost": {"error": "AccessDeniedException: not authorized"}}}
    runs.render_run(detail)
    out = capsys.readouterr().out
    assert "Run r1  model churn  FAILED  (upload s3://b/uploads/churn/x.csv)" in out
    ingest = next(line for line in out.splitlines() if "Ingest" in line)
    assert [c.strip() for c in ingest.split("│")[1:-1]][4:] == ["2.0 s", "3", "DataError file is not UTF-8 text"]
    assert "Outcome: FAILED: DataError: s3://b/uploads/churn/x.csv: file is not UTF-8 text" in out
    assert "Cost: not known (AccessDeniedException: not authorized)" in out
