"""The S3 keys README.md names are the keys evergreen.storage makes (the stack writes no other).

Every path in the README that starts with one of the stack's top-level prefixes (models/, runs/,
datasets/, ...; after an optional s3://<bucket>/) is read as a pattern, its placeholders standing
for what PLACEHOLDERS says, and must match a key storage.py makes: the whole key, or its start when
the README names a folder (a path ending in /).
"""

from __future__ import annotations

import re

from evergreen import storage
from tests.support.infra import ROOT

RUN, BATCH, SHA = "d107098d-646f-40f2-8b56-dc02c98345ee", "34b829cc-9220-4a5c-9677-58fa67f4dbbb", "ab" * 32

# one of each key the stack writes or reads, as storage.py makes it
KEYS = [
    storage.card_key("demo", 1), storage.card_html_key("demo", 1), storage.model_key("demo", 1),
    storage.contract_key("demo", 1), storage.dataset_prefix("demo", "ds-05aeece522a8bdfa") + "train.parquet",
    storage.candidate_key("demo", RUN, "c000"), storage.rung_items_key("demo", RUN, 0), storage.refit_key("demo", RUN),
    storage.sagemaker_output_prefix("demo", RUN) + "output/model.tar.gz", storage.sagemaker_code_key(SHA),
    storage.export_key("demo", RUN), storage.quarantine_key("demo", RUN), *storage.spec_keys("demo"),
    storage.output_prefix("demo", "rows.csv") + "predictions.csv", storage.manifest_key(storage.work_prefix("demo", BATCH)),
]
# keys a user names: what storage's parsers take
USER_KEYS = {storage.UPLOAD_PREFIX: storage.model_from_upload_key, storage.SCORE_PREFIX: storage.model_and_name}
PREFIXES = sorted({key.split("/", 1)[0] + "/" for key in KEYS} | set(USER_KEYS))
PLACEHOLDERS = {  # what a <...> in a README path stands for
    "<name>": r"[\w.-]+", "<model>": r"[\w.-]+", "<run id>": r"[\w-]+", "<run_id>": r"[\w-]+",
    "<batch id>": r"[\w-]+", "<sha256>": "[0-9a-f]{64}",
    "<N>": "[1-9][0-9]*",  # a version as people say it: 1, 12
    "<NNNNNN>": "[0-9]{6}",  # a version in six digits: 000001
    "<rrr>": "[0-9]{3}",  # a rung in three digits: 000
}
PATH = re.compile(r"(?<![\w./<>-])(?:s3://[^/\s`]+/)?((?:" + "|".join(map(re.escape, PREFIXES)) + r")(?:<[^>\n]+>|[^\s`'\"()<>,;:])*)")


def readme_paths(text: str) -> list[str]:
    return sorted({m.group(1).rstrip(".") for m in PATH.finditer(text)})


def pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(<[^>]+>|\*)", path)
    unknown = [p for p in parts[1::2] if p != "*" and p not in PLACEHOLDERS]
    assert not unknown, f"README path {path}: say what {unknown} stands for in PLACEHOLDERS"
    regex = "".join(re.escape(p) if i % 2 == 0 else (".+" if p == "*" else PLACEHOLDERS[p]) for i, p in enumerate(parts))
    return re.compile(regex if path.endswith("/") else regex + "$")


def written(path: str) -> bool:
    """A README path is one the stack writes (KEYS), or one a user names that storage takes."""
    prefix = path.split("/", 1)[0] + "/"
    if prefix not in USER_KEYS:
        return any(pattern(path).match(key) for key in KEYS)
    pattern(path)  # its placeholders are known
    instance = re.sub(r"<[^>]+>", "demo", path).replace("*", "x")
    return instance == prefix or bool(USER_KEYS[prefix](instance + ("data.csv" if instance.endswith("/") else "")))


def test_the_keys_the_readme_names_are_the_keys_the_stack_writes():
    paths = readme_paths((ROOT / "README.md").read_text())
    assert {"models/<name>/v<NNNNNN>/card.json", "models/demo/v000001/card.json"} <= set(paths)  # the scan sees them
    wrong = [p for p in paths if not written(p)]
    assert not wrong, f"README paths that match no key evergreen.storage makes: {wrong}; its keys: {KEYS}"


def test_a_path_the_stack_does_not_write_is_caught():
    text = "the card, `models/<name>/v<N>/card.json`, and s3://<DataBucket>/runs/<model>/<run id>/search/rung-<rrr>.json"
    paths = readme_paths(text)
    assert paths == ["models/<name>/v<N>/card.json", "runs/<model>/<run id>/search/rung-<rrr>.json"]
    assert [written(p) for p in paths] == [False, True]
    assert [written(p) for p in ("uploads/demo/data.csv", "uploads/demo/", "uploads/data.csv", "uploads/demo")] == [
        True, True, False, False]  # an upload names its model's folder
