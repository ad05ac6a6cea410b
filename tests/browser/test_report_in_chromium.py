"""The report page in a real browser, made from a real run of the local stack (the template on moto):

- churn v1 is promoted from an upload (two trials); the monitor's earlier datapoints say quality was
  0.9 for half an hour (put as it puts them); then 400 predictions of a shifted world are labelled through
  the API, the monitor (its scheduled handler) publishes their quality, the quality alarm fires and its
  retrain promotes v2; an upload that is not data fails;
- `evergreen --stack NAME report --model churn --output ... --json` writes the page and the two card
  pages beside it (an unknown model or too many --days: one line, exit 1); headless Chromium (tests/support/browser.py) lays out a measuring copy: each plot
  is an <svg> of its size with a dot per datapoint, run and retrain, a bar per trial; the text holds
  the versions, the decisions' reasons, the runs and the trials; every link to a card resolves;
- the page as it is renders with nothing on the console, in a screenshot (build/screenshots/report.png);
- the local stack's API server answers GET /ui/ with the same page (HTTP 200, text/html, the CSP as a
  header) and the cards at /ui/cards/churn/v<N>.html, without an API key;
- the two promotions gave the template's own dashboard churn's row of widgets, once.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evergreen_cli import app
from evergreen_cli.report_page import SECTIONS
from evergreen_cli.local.api import invoke_api, serve_api
from evergreen_cli.local.demo import _records, quality_alarm_name
from evergreen.synthetic import make_churn
from tests.support.browser import (
    CSP,
    MEASURED,
    SCREENSHOTS,
    WIDTH,
    browse,
    console_lines,
    drawn,
    measured,
    png_size,
)
from tests.support.specs import churn_spec
from tests.support.stacks import named_stack

pytestmark = pytest.mark.e2e

STACK = "evergreen-report"
SPEC = churn_spec("churn", "  - family: logistic_regression\n    grid: {C: [0.1, 1.0]}\n")
EARLIER = [0.91, 0.9, 0.92, 0.89, 0.9, 0.91]  # the monitor's quality, one datapoint a period before the shift


def upload(stack, name: str, body: bytes) -> dict:
    known = len(stack.list_executions())
    stack.client("s3").put_object(Bucket=stack.outputs["DataBucketName"], Key=f"uploads/churn/{name}", Body=body)
    return stack.wait_for_execution(stack.wait_for_new_execution(known)["executionArn"], timeout=300)


def label_shifted(stack, n: int, seed: int) -> None:
    """`n` predictions of the shifted world, each labelled with its truth through the API."""
    shifted = _records(make_churn(n, seed=seed, drift=1.0), "churned")
    for i in range(0, n, 100):
        chunk = shifted[i:i + 100]
        status, out = invoke_api(stack, "POST", "/predict", {"model": "churn", "records": [r for r, _ in chunk]})
        assert status == 200, out
        status, fb = invoke_api(stack, "POST", "/feedback", {"feedback": [
            {"prediction_id": p["prediction_id"], "label": truth} for p, (_, truth) in zip(out["predictions"], chunk)]})
        assert status == 200 and fb["accepted"] == len(chunk)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with named_stack(STACK, tmp_path_factory.mktemp("home")) as s:
        s.client("s3").put_object(Bucket=s.outputs["DataBucketName"], Key="specs/churn.yaml", Body=SPEC.encode())
        yield s


@pytest.fixture(scope="module")
def story(stack) -> dict:
    """The runs above; what the report must show."""
    assert upload(stack, "v1.csv", make_churn(600, seed=1))["status"] == "SUCCEEDED"
    cloudwatch, now = stack.client("cloudwatch"), datetime.now(UTC)
    period = cloudwatch.describe_alarms(AlarmNames=[quality_alarm_name(stack.outputs, "churn")])["MetricAlarms"][0]["Period"]
    cloudwatch.put_metric_data(Namespace="Evergreen", MetricData=[
        {"MetricName": name, "Dimensions": [{"Name": "Model", "Value": "churn"}], "Value": value,
         "Timestamp": now - timedelta(seconds=period * (len(EARLIER) - i))}
        for i, quality in enumerate(EARLIER) for name, value in (("PredictionQuality", quality), ("DriftedFeatureShare", 0.0))])
    label_shifted(stack, 400, seed=8)
    known = len(stack.list_executions())
    [tick] = stack.tick_schedules(now, force=True)  # moto never fires schedules: one scheduled run of the monitor
    [summary] = [m for m in tick.payload["models"] if m["model_name"] == "churn"]
    assert summary["published"] and summary["quality"] < 0.7, summary
    assert "ALARM" in {t.state for t in stack.tick_alarms(now)}
    retrain = stack.wait_for_execution(stack.wait_for_new_execution(known)["executionArn"], timeout=300)
    assert retrain["status"] == "SUCCEEDED"
    failed = upload(stack, "photo.png.csv", b"\x89PNG\r\n\x1a\n\x00\x00 not data")
    assert failed["status"] == "FAILED"
    return {"quality": summary["quality"], "retrain": retrain["name"], "failed": failed["name"]}


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = app.main(["--stack", STACK, *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def written(stack, story, tmp_path_factory) -> dict:
    """What `evergreen report --json` answered; its page is at ["path"]."""
    code, out, err = cli("report", "--model", "churn", "--output", str(tmp_path_factory.mktemp("report") / "report.html"),
                         "--json")
    assert code == 0 and err == "", err
    return json.loads(out)


def test_the_report_command_says_what_it_wrote_or_why_not_in_one_line(story, tmp_path):
    code, out, err = cli("report", "--model", "churn", "--output", str(tmp_path / "churn.html"))
    assert (code, err) == (0, "") and out == (f"wrote {tmp_path / 'churn.html'} (2 versions, 3 runs, 2 model cards "
                                              "beside it in churn-cards/)\n")
    assert sorted(p.name for p in (tmp_path / "churn-cards" / "churn").iterdir()) == ["v1.html", "v2.html"]
    assert cli("report", "--model", "nope") == (1, "", f"evergreen: no model 'nope' in stack '{STACK}': it has no "
                                                      "version and no run (`evergreen models` lists the models with a champion)\n")
    assert cli("report", "--model", "churn", "--days", "30")[::2] == (
        1, "evergreen: --days 30: give more than 0 and at most 15 (CloudWatch keeps 1-minute datapoints 15 days)\n")


def test_the_report_command_writes_the_page_and_the_cards_beside_it(written, story):
    data, page = written["report"], Path(written["path"]).read_text()
    assert [v["version"] for v in data["versions"]] == [1, 2] and data["aliases"]["champion"] == 2
    runs = {r["run_id"]: r for r in data["runs"]}
    assert [r["status"] for r in data["runs"]] == ["FAILED", "PROMOTED", "PROMOTED"]
    assert runs[story["retrain"]]["trigger"] == "alarm" and runs[story["retrain"]]["version"] == 2
    assert [r["run_id"] for r in data["retrains"]] == [story["retrain"]]
    assert data["last_run"]["run_id"] == story["retrain"] and len(data["last_run"]["trials"]) == 2
    assert [p["value"] for p in data["metrics"]["series"]["PredictionQuality"]] == [*EARLIER, pytest.approx(story["quality"])]
    assert data["alarms"]["quality"]["state"] == "ALARM"
    cards = sorted(written["cards"])
    assert [c.rsplit("/", 3)[-3:] for c in cards] == [["report-cards", "churn", "v1.html"], ["report-cards", "churn", "v2.html"]]
    links = set(re.findall(r'href="(report-cards/[^"]+)"', page))
    assert links == {"report-cards/churn/v1.html", "report-cards/churn/v2.html"}
    for version in (1, 2):  # each link resolves beside the page, to that version's card
        card = (Path(written["path"]).parent / f"report-cards/churn/v{version}.html").read_text()
        assert f"<title>Model card: churn v{version}</title>" in card


def test_the_report_lays_out_its_plots_and_content_in_chromium(chromium, written, story):
    data, page = written["report"], Path(written["path"]).read_text()
    found, log = measured(chromium, Path(written["path"]).parent, page, name="measuring-report.html")
    assert MEASURED in log and found["images"] == 0 and found["scripts"] == 1  # the measuring script alone
    sections = found["sections"]
    assert list(sections) == [key for key, _ in SECTIONS]
    for key in ("timeline", "quality", "drift", "traffic", "trials"):
        [svg] = sections[key]
        assert svg["width"] >= 300 and svg["height"] >= 100, (key, svg)
    assert len(drawn(sections["timeline"][0], "circle")) == 2  # the two runs that reached Evaluate
    series = data["metrics"]["series"]
    quality = sections["quality"][0]
    assert len(drawn(quality, "circle")) == len(series["PredictionQuality"]) + 1 == len(EARLIER) + 2  # + the retrain
    assert len(drawn(quality, "polyline")) == 2  # the series and the alarm's threshold
    assert len(drawn(sections["drift"][0], "circle")) == len(series["DriftedFeatureShare"]) + 1
    assert len(drawn(sections["traffic"][0], "circle")) == len(series["LabelledPredictions"]) == 1
    assert len(drawn(sections["trials"][0], "rect")) == 2  # a bar per trial
    assert [s for s in sections if sections[s] == []] == ["now", "alarms", "cards", "audit"]
    text = found["text"]
    for version in data["versions"]:
        assert f"churn v{version['version']}" in text and version["reason"] in text
    assert "no champion yet" in data["versions"][0]["reason"] and "beats champion v1" in data["versions"][1]["reason"]
    for run in data["runs"]:
        assert run["run_id"] in text and run["reason"] in text
    for trial in data["last_run"]["trials"]:
        assert f"{trial['trial_id']}logistic_regression" in text  # the trials table's row: trial, family
    assert f"{STACK}-quality-churn" in text and f"{STACK}-drift-churn" in text and story["failed"] in text


def test_the_report_renders_without_a_console_message_in_a_screenshot(chromium, written, tmp_path):
    page = Path(written["path"])
    height = min(measured(chromium, tmp_path, page.read_text())[0]["height"], 16_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "report.png"
    shot.unlink(missing_ok=True)
    done = browse(chromium, tmp_path, page, f"--screenshot={shot}", f"--window-size={WIDTH},{height}")
    assert console_lines(done.stderr) == []
    assert png_size(shot) == (WIDTH, height) and shot.stat().st_size > 100_000


def timeless(page: str) -> str:
    """A report page's sections without what depends on the time it was made: its plots."""
    return re.sub(r"<svg.*?</svg>", "", page.split("<main>", 1)[1], flags=re.DOTALL)


def get(url: str) -> tuple[int, dict, str]:
    request = urllib.request.Request(url)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_the_local_api_serves_the_report_at_ui(stack, written):
    server = serve_api(stack, 0)
    try:
        base = server.url  # type: ignore[attr-defined]
        status, headers, page = get(f"{base}/ui/")
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'"
        assert page.count(CSP) == 1 and "<title>Evergreen report: churn</title>" in page
        assert re.findall(r'<section id="([a-z]+)"', page) == [key for key, _ in SECTIONS]
        # what the page `evergreen report` wrote shows, made at another time (its plots' x: hours before that
        # time), the cards under /ui/cards/ rather than beside the file
        assert "the local stack; generated" in page
        assert timeless(page) == timeless(Path(written["path"]).read_text()).replace('href="report-cards/', 'href="cards/')
        for other in (f"{base}/ui/churn", f"{base}/ui/?model=churn"):
            status, _, again = get(other)
            assert status == 200 and timeless(again) == timeless(page)
        for version in (1, 2):
            status, headers, card = get(f"{base}/ui/cards/churn/v{version}.html")
            assert status == 200 and card == (Path(written["path"]).parent / f"report-cards/churn/v{version}.html").read_text()
        assert get(f"{base}/ui/cards/churn/v9.html")[0] == 404
        status, _, missing = get(f"{base}/ui/nope")
        assert status == 404 and "no model &#x27;nope&#x27;" in missing
        request = urllib.request.Request(f"{base}/ui", method="GET")
        opener = urllib.request.build_opener(type("NoRedirect", (urllib.request.HTTPRedirectHandler,),
                                                  {"redirect_request": lambda *a, **k: None}))
        with pytest.raises(urllib.error.HTTPError) as moved:
            opener.open(request, timeout=30)
        assert moved.value.code == 308 and moved.value.headers["Location"] == "/ui/"
        assert get(f"{base}/predict")[0] == 403  # the template's routes are as they were
    finally:
        server.shutdown()
        server.server_close()


def test_the_stacks_dashboard_gained_the_models_row_once(stack, story):
    """Two promotions of churn on the template's own dashboard: its widgets, then churn's row, once."""
    from evergreen.monitoring.dashboard import model_widgets

    body = json.loads(stack.client("cloudwatch").get_dashboard(DashboardName=f"{STACK}-evergreen")["DashboardBody"])
    ours = [w for w in body["widgets"] if "churn" in json.dumps(w)]
    assert len(body["widgets"]) == 6 + len(ours) and body["widgets"][6:] == ours  # the template's six, then churn's
    expected = model_widgets(model="churn", namespace="Evergreen", region=stack.region, period_seconds=300, alarm_arns={})
    assert [w["properties"].get("title") or w["properties"]["markdown"] for w in ours] == [
        w["properties"].get("title") or w["properties"]["markdown"] for w in expected]
    assert [w["properties"].get("metrics") for w in ours] == [w["properties"].get("metrics") for w in expected]
