"""The model card page in a real browser: Debian's headless Chromium (/usr/bin/chromium) opens the page
Promote wrote for a model promoted through the real steps (tests/support/cards.py: a binary churn
classifier with a category that is markup, and a regressor), and:

- lays it out: a measuring copy of the page (tests/support/browser.py: the same page, its
  Content-Security-Policy widened for one script with a nonce, which measures and writes what it found
  into the DOM) is dumped with --dump-dom; each plot is an <svg> rendered at its size, with as many drawn marks (bars, cells, dots,
  curves) of non-zero extent as the card has numbers for, and the category that is markup is text;
- renders the page as it is, with the console logged (--enable-logging=stderr): nothing is logged (no
  script runs, nothing is blocked or fails to load), while the measuring copy's own console line shows
  that the log would carry it; and saves a screenshot of the whole page to build/screenshots/.

Without chromium the tests skip, saying how to install it, except in CI (CI=true), where they fail:
.ci/run installs it.
"""

from __future__ import annotations

import pytest

from evergreen import registry
from evergreen.synthetic import make_churn
from tests.support.browser import MEASURED, SCREENSHOTS, WIDTH, browse, console_lines, drawn, measured, png_size
from tests.support.cards import promote_through_the_steps, regression_csv
from tests.support.infra import PROMOTE_ENV, moto_stores

MARKUP = "<img src=x onerror=alert(1)>"  # a payment method in the uploaded data
SPECS = {
    "binary": ("{name: churn, target: churned, problem_type: classification, primary_metric: accuracy, "
               "candidates: [{family: logistic_regression}], "
               "promotion: {slices: [contract, tenure_months], sensitive: [payment_method]}}"),
    "regression": ("{name: price, target: price, problem_type: regression, primary_metric: rmse, "
                   "candidates: [{family: ridge}]}"),
}


@pytest.fixture(scope="module")
def promoted() -> dict[str, tuple[dict, str]]:
    """{kind: (the card JSON, the card page)} as Promote stored them, found through the registry."""
    out = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for kind, spec in SPECS.items():
            storage = moto_stores(monkeypatch, **PROMOTE_ENV)
            stores = next(storage)
            body = (make_churn(1500, seed=3).replace(b"mailed_check", MARKUP.encode()) if kind == "binary"
                    else regression_csv(1500, seed=4))
            name = "churn" if kind == "binary" else "price"
            assert promote_through_the_steps(stores, name, spec, body).version == 1
            alias = registry.get_alias(stores.registry, name)
            page = stores.s3.get_object(Bucket=stores.artifacts_bucket, Key=alias["card_html_key"])
            assert page["ContentType"] == "text/html; charset=utf-8"
            out[kind] = (stores.get_json(stores.artifacts_bucket, alias["card_key"]), page["Body"].read().decode())
            storage.close()
    return out


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_the_card_lays_out_its_plots_in_chromium(chromium, promoted, tmp_path, kind):
    card, page = promoted[kind]
    found, log = measured(chromium, tmp_path, page)
    assert MEASURED in log  # the log carries the page's console
    assert found["images"] == 0 and found["scripts"] == 1  # the measuring script alone
    sections = found["sections"]
    figures = card["figures"]
    plots = {"decision", "importance"} | ({"confusion", "roc", "pr", "calibration"} if kind == "binary"
                                          else {"residuals", "predicted"})
    for key in plots:
        [svg] = sections[key]
        assert svg["width"] >= 300 and svg["height"] >= 100, (key, svg["width"], svg["height"])
    assert len(drawn(sections["importance"][0], "rect")) == len(figures["importance"]["top"]) == (
        len(card["columns"]["numeric"]) + len(card["columns"]["categorical"]))
    decision = sections["decision"][0]
    assert len(drawn(decision, "path")) == 1 and len(drawn(decision, "circle")) == 1  # the interval, the estimate
    # the profile: a histogram per numeric column, each with bars
    assert len(sections["profile"]) == len(card["profile"]["numeric"])
    assert all(svg["width"] == 100 and drawn(svg, "rect") for svg in sections["profile"])
    if kind == "binary":
        classes = figures["confusion"]["classes"]
        assert len(drawn(sections["confusion"][0], "rect")) == len(classes) ** 2 == 4
        for key in ("roc", "pr"):
            curve = max(drawn(sections[key][0], "polyline"), key=lambda m: m["width"] + m["height"])
            assert curve["width"] > 300 and curve["height"] > 50  # spans the plot (364 x 244 user units)
            assert len(drawn(sections[key][0], "circle")) == 1  # the served threshold
        assert len(drawn(sections["calibration"][0], "circle")) == len(card["calibration"]["bins"])
        assert MARKUP in found["text"]  # the category that is markup is shown as text
    else:
        bars = drawn(sections["residuals"][0], "rect")
        assert len(bars) == len(figures["residuals"]["histogram"]["counts"]) == 20
        assert len(drawn(sections["predicted"][0], "circle")) == len(figures["residuals"]["by_prediction"])


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_the_card_renders_without_a_console_message_in_a_screenshot(chromium, promoted, tmp_path, kind):
    _, page = promoted[kind]
    height = min(measured(chromium, tmp_path, page)[0]["height"], 16_000)
    path = tmp_path / "card.html"
    path.write_text(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / ("model_card.png" if kind == "binary" else f"model_card_{kind}.png")
    shot.unlink(missing_ok=True)
    done = browse(chromium, tmp_path, path, f"--screenshot={shot}", f"--window-size={WIDTH},{height}")
    assert console_lines(done.stderr) == []
    assert png_size(shot) == (WIDTH, height)
    # a page of the same width with a heading alone (1200 x 4200) makes a 27 KB PNG; the cards, with
    # their plots and tables, 260-460 KB
    assert shot.stat().st_size > 150_000
