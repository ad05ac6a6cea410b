"""The churn model's spec (evergreen.synthetic.make_churn's columns), as the e2e tests write it."""

from __future__ import annotations


def churn_spec(name: str, candidates: str, extra: str = "") -> str:
    """The YAML of a churn classifier named `name`: `candidates` is the YAML list under
    `candidates:`, `extra` any further top-level keys (monitoring, split, ...)."""
    return (f"name: {name}\ntarget: churned\nproblem_type: classification\nprimary_metric: accuracy\n"
            f"promotion_margin: 0.01\nmin_rows: 100\ncandidates:\n{candidates}{extra}")
