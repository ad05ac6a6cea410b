"""Deterministic synthetic data sets (numpy only): churn for the demo, and a rare-class one.

``make_churn(n, seed, drift)`` returns CSV bytes with 6 numeric and 2 categorical features, a few
missing values, and the binary target "churned" ("yes" / "no"). The feature distributions never
change; `drift` moves the CONCEPT (which features drive churn) from the original relationship
(drift=0: short tenure, many support calls, high charges and month-to-month contracts churn) to a
different one (drift=1: customers who stopped logging in, use little data and are older churn,
and month-to-month customers now stay). The two concepts are partly correlated, so a model
trained at drift 0 scores about 0.6-0.7 accuracy on drift-1 data, while a model trained on drift-1
data scores about 0.9. That is a change only quality monitoring (ground-truth feedback) sees; the
input distributions, and so data-drift checks, stay put.

``make_rare(n, seed, positive_share)`` returns a binary data set whose positive class is rare (2.5% by
default): the data a tuned decision threshold is for (evergreen.thresholds).
"""

from __future__ import annotations

import csv
import io

import numpy as np

HEADER = [
    "tenure_months", "monthly_charges", "support_calls", "data_usage_gb", "days_since_login", "age",
    "contract", "payment_method", "churned",
]
CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENTS = ("card", "bank_transfer", "electronic_check", "mailed_check")
SHARPNESS = 4.0  # logit = SHARPNESS * concept score: label noise leaves a ceiling of ~0.9 accuracy
# (column, fraction of values written as missing)
MISSING_RATES = (("monthly_charges", 0.04), ("data_usage_gb", 0.03), ("age", 0.03), ("payment_method", 0.02))


def _concepts(f: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The drift-0 and drift-1 concept scores, standardized with the population's parameters."""
    z_tenure = (f["tenure_months"] - 36.5) / 20.8
    z_charges = (f["monthly_charges"] - 70.0) / 25.0
    z_support = (f["support_calls"] - 1.5) / 1.22
    z_usage = (f["data_usage_gb"] - 10.2) / 9.6
    z_login = (f["days_since_login"] - 9.5) / 10.0
    z_age = (f["age"] - 49.0) / 17.9
    m2m = (f["contract"] == "month-to-month").astype(float)
    two_year = (f["contract"] == "two-year").astype(float)
    e_check = (f["payment_method"] == "electronic_check").astype(float)
    before = -1.0 * z_tenure + 0.7 * z_support + 0.5 * z_charges + 0.9 * m2m - 0.7 * two_year + 0.3 * e_check - 0.45
    after = (
        0.9 * z_login - 0.7 * z_usage + 0.6 * z_age - 0.6 * m2m + 0.5 * two_year
        - 0.8 * z_tenure + 0.6 * z_support
    )
    return before, after


def make_churn(n: int, seed: int, drift: float = 0.0) -> bytes:
    """`n` rows of churn data as UTF-8 CSV bytes; same (n, seed, drift) -> same bytes."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0.0 <= drift <= 1.0:
        raise ValueError("drift must be within [0, 1]")
    rng = np.random.default_rng(seed)
    f: dict[str, np.ndarray] = {
        "tenure_months": rng.integers(1, 73, size=n).astype(float),
        "monthly_charges": np.round(np.clip(rng.normal(70.0, 25.0, size=n), 18.0, 150.0), 2),
        "support_calls": rng.poisson(1.5, size=n).astype(float),
        "data_usage_gb": np.round(rng.lognormal(2.0, 0.8, size=n), 2),
        "days_since_login": np.floor(rng.exponential(10.0, size=n)),
        "age": rng.integers(18, 81, size=n).astype(float),
        "contract": rng.choice(CONTRACTS, size=n, p=[0.5, 0.3, 0.2]),
        "payment_method": rng.choice(PAYMENTS, size=n, p=[0.3, 0.25, 0.3, 0.15]),
    }
    f["data_usage_gb"] = np.maximum(f["data_usage_gb"], 0.01)
    before, after = _concepts(f)
    score = (1.0 - drift) * before + drift * after
    churned = rng.random(n) < 1.0 / (1.0 + np.exp(-SHARPNESS * score))

    text = {name: [_fmt(v) for v in values.tolist()] for name, values in f.items()}
    for name, rate in MISSING_RATES:
        for i in np.flatnonzero(rng.random(n) < rate):
            text[name][i] = ""
    text["churned"] = ["yes" if c else "no" for c in churned.tolist()]
    return _csv_bytes(HEADER, text)


def _csv_bytes(header: list[str], text: dict[str, list[str]]) -> bytes:
    """The columns' texts as UTF-8 CSV, in header order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*(text[name] for name in header)))
    return out.getvalue().encode("utf-8")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.2f}"
    return str(value)


RARE_HEADER = ["amount", "velocity", "account_age_days", "distance_km", "failed_logins", "channel", "fraud"]
RARE_CHANNELS = ("web", "app", "phone")


def make_rare(n: int, seed: int, positive_share: float = 0.025) -> bytes:
    """`n` rows of a rare-class data set as UTF-8 CSV bytes: 5 numeric and 1 categorical feature, the
    binary target "fraud" ("yes" with probability `positive_share` on average: the logistic model's
    intercept is solved for it). P(yes) seldom passes 0.5, so argmax answers "no" almost always: the
    data a tuned decision threshold is for. Same (n, seed, positive_share) -> same bytes."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0.0 < positive_share < 0.5:
        raise ValueError("positive_share must be within (0, 0.5)")
    rng = np.random.default_rng(seed)
    f = {
        "amount": np.round(rng.lognormal(3.5, 1.0, size=n), 2),
        "velocity": rng.poisson(2.0, size=n).astype(float),
        "account_age_days": rng.integers(1, 3650, size=n).astype(float),
        "distance_km": np.round(rng.exponential(30.0, size=n), 1),
        "failed_logins": rng.poisson(0.3, size=n).astype(float),
        "channel": rng.choice(RARE_CHANNELS, size=n, p=[0.5, 0.35, 0.15]),
    }
    score = (0.9 * (np.log(f["amount"]) - 3.5) + 0.5 * (f["velocity"] - 2.0) - 0.8 * (np.log(f["account_age_days"]) - 7.0)
             + 0.02 * (f["distance_km"] - 30.0) + 0.9 * f["failed_logins"] + 0.8 * (f["channel"] == "phone"))
    low, high = -30.0, 10.0  # the intercept whose mean probability is positive_share (bisection: it is monotone)
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (low, middle) if np.mean(1 / (1 + np.exp(-(score + middle)))) > positive_share else (middle, high)
    fraud = rng.random(n) < 1 / (1 + np.exp(-(score + low)))
    text = {name: [_fmt(v) for v in values.tolist()] for name, values in f.items()}
    text["fraud"] = ["yes" if c else "no" for c in fraud.tolist()]
    return _csv_bytes(RARE_HEADER, text)
