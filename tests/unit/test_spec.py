import time
import tracemalloc

import pytest
from pydantic import ValidationError

from evergreen.spec import (
    MAX_TRIALS,
    MAX_SPEC_BYTES,
    ContractSpec,
    DataSpec,
    ModelSpec,
    SpecError,
    check_params,
    default_spec,
    expand_candidates,
    parse_spec,
)

GOOD = """
name: churn
target: churned
problem_type: classification
primary_metric: accuracy
promotion_margin: 0.01
candidates:
  - family: logistic_regression
    grid: {C: [0.1, 1.0]}
  - family: random_forest
    grid: {n_estimators: [50], max_depth: [4, 8]}
"""


def test_parses_and_expands_the_grid_with_stable_ids():
    spec = parse_spec(GOOD)
    cands = expand_candidates(spec.candidates)
    assert [c.candidate_id for c in cands] == ["c000", "c001", "c002", "c003"]
    assert cands[0].params == {"C": 0.1} and cands[3].params == {"max_depth": 8, "n_estimators": 50}
    assert spec.higher_is_better and spec.split.seed == 42


def test_json_is_accepted_too():
    assert parse_spec('{"name": "x", "target": "y", "problem_type": "regression", "primary_metric": "rmse",'
                      ' "candidates": [{"family": "ridge"}]}').higher_is_better is False


@pytest.mark.parametrize("change,message", [
    (("primary_metric: accuracy", "primary_metric: rmse"), "is for regression"),
    (("family: random_forest", "family: svm"), "unknown family 'svm'"),
    (("grid: {C: [0.1, 1.0]}", "grid: {alpha: [1]}"), "does not take ['alpha']"),
    (("name: churn", "name: Churn Model"), "name: must be"),
    (("target: churned", "target: churned\nbogus: 1"), "bogus"),
    (("promotion_margin: 0.01", "promotion_margin: -1"), "promotion_margin"),
])
def test_invalid_specs_name_the_problem(change, message):
    with pytest.raises(SpecError) as err:
        parse_spec(GOOD.replace(*change), source="s3://b/specs/churn.yaml")
    assert message in str(err.value) and "s3://b/specs/churn.yaml" in str(err.value)


def test_not_a_mapping_and_bad_yaml():
    with pytest.raises(SpecError, match="expected a mapping"):
        parse_spec("- a\n- b")
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_spec("a: [1, 2")


def test_a_grid_larger_than_the_trial_budget_is_refused_unless_the_search_samples_it():
    big = GOOD.replace("grid: {C: [0.1, 1.0]}", "grid: {C: [%s]}" % ", ".join(str(i + 1) for i in range(63)))
    with pytest.raises(SpecError, match=r"expand to 65 candidates, more than search.max_trials \(64\)"):
        parse_spec(big)
    assert parse_spec(big + "search: {max_trials: 65}").search.max_trials == 65
    assert parse_spec(big + "search: {strategy: random}").search.strategy == "random"
    with pytest.raises(SpecError, match="max_trials"):
        parse_spec(GOOD + f"search: {{max_trials: {MAX_TRIALS + 1}}}")


@pytest.mark.parametrize("problem", ["classification", "regression"])
def test_default_spec_is_valid(problem):
    spec = default_spec("mine", "y", problem)
    assert spec.problem_type == problem and len(expand_candidates(spec.candidates)) == 7


# --- hostile specs: each must fail at validation, fast, with the problem named --------------------

REGRESSION = GOOD.replace("problem_type: classification", "problem_type: regression").replace(
    "primary_metric: accuracy", "primary_metric: rmse").replace(
    "  - family: logistic_regression\n    grid: {C: [0.1, 1.0]}\n", "  - family: ridge\n    grid: {alpha: [1.0]}\n")
HISTGB = "family: hist_gradient_boosting\n    grid: {%s}"
# nine levels of nine aliases: ~430 bytes that expand to 9**9 strings in a plain yaml.safe_load
LAUGHS = 'lol: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))


def edit(old: str, new: str, base: str = GOOD) -> str:
    assert old in base
    return base.replace(old, new)


def rf_grid(grid: str, base: str = GOOD) -> str:
    return edit("grid: {n_estimators: [50], max_depth: [4, 8]}", f"grid: {{{grid}}}", base)


def histgb(grid: str, base: str = GOOD) -> str:
    return edit("family: random_forest\n    grid: {n_estimators: [50], max_depth: [4, 8]}", HISTGB % grid, base)


HOSTILE = {
    # YAML-level
    "billion laughs": (GOOD + LAUGHS, ["YAML aliases/anchors are not allowed in a spec (line 12)"]),
    "70 KB spec": (GOOD + "# padding\n" * 7000, ["the spec is 70", f"at most {MAX_SPEC_BYTES} (64 KiB)"]),
    "70 KB as bytes": ((GOOD + " " * 70_000).encode(), ["bytes; at most 65536"]),
    "alias": (edit("promotion_margin: 0.01", "promotion_margin: &m 0.01\nmin_rows: *m"), ["aliases/anchors", "(line 6)"]),
    "merge key": (edit("name: churn", "name: churn\nsplit:\n  <<: {seed: 1}"), ["merge keys (<<) are not allowed", "(line 4)"]),
    "duplicate key": (edit("target: churned", "target: churned\ntarget: other"), ["duplicate key 'target' (line 4)"]),
    "duplicate grid key": (edit("{C: [0.1, 1.0]}", "{C: [0.1], C: [5]}"), ["duplicate key 'C' (line 9)"]),
    "duplicate key in JSON": ('{"name": "x", "target": "y", "name": "z"}', ["duplicate key 'name' (line 1)"]),
    "deep flow nesting": (GOOD + "deep: " + "[" * 60_000, ["nested more than 32 levels deep (line 12)"]),
    "deep block nesting": (GOOD + "deep:\n" + "".join(" " * i + "- \n" for i in range(0, 80, 2)), ["nested more than 32 levels deep"]),
    "python tag": ("!!python/object/apply:os.system [echo]", ["not valid YAML/JSON", "python/object/apply"]),
    "top-level list": ("- 1\n- 2", ["expected a mapping at the top level, got list"]),
    # plain fields
    "seed 2**40": (edit("promotion_margin: 0.01", "promotion_margin: 0.01\nsplit: {seed: 1099511627776}"),
                   ["split.seed: Input should be less than or equal to 4294967295, got 1099511627776"]),
    "negative seed": (edit("promotion_margin: 0.01", "promotion_margin: 0.01\nsplit: {seed: -1}"), ["split.seed"]),
    "promotion_margin .nan": (edit("promotion_margin: 0.01", "promotion_margin: .nan"),
                              ["promotion_margin: Input should be a finite number, got nan"]),
    "promotion_margin .inf": (edit("promotion_margin: 0.01", "promotion_margin: .inf"), ["promotion_margin: Input should be a finite"]),
    "quality_threshold .nan": (GOOD + "monitoring: {quality_threshold: .nan}", ["monitoring.quality_threshold: Input should be a finite"]),
    "bool for min_rows": (GOOD + "min_rows: true", ["min_rows: Input should be a valid integer, got True"]),
    "contract.version 0": (GOOD + "contract: {version: 0}", ["contract.version: Input should be greater than or equal to 1, got 0"]),
    "contract.breaking not a bool": (GOOD + "contract: {breaking: maybe}", ["contract.breaking: Input should be a valid boolean"]),
    "data.max_invalid_fraction 0.9": (GOOD + "data: {max_invalid_fraction: 0.9}",
                                      ["data.max_invalid_fraction: Input should be less than or equal to 0.5, got 0.9"]),
    "data.max_categories 1": (GOOD + "data: {max_categories: 1}", ["data.max_categories: Input should be greater than or equal to 2"]),
    "data unknown key": (GOOD + "data: {max_rows: 5}", ["data.max_rows: Extra inputs are not permitted"]),
    # grid values
    "C -1": (edit("{C: [0.1, 1.0]}", "{C: [0.1, -1]}"), ["candidates[0].grid.C[1]: must be > 0, got -1"]),
    "C 0": (edit("{C: [0.1, 1.0]}", "{C: [0]}"), ["candidates[0].grid.C[0]: must be > 0, got 0"]),
    "C .nan": (edit("{C: [0.1, 1.0]}", "{C: [.nan]}"), ["candidates[0].grid.C[0]: must be finite, got nan"]),
    "C over 1e6": (edit("{C: [0.1, 1.0]}", "{C: [1.0e+7]}"), ["candidates[0].grid.C[0]: at most 1000000, got 10000000.0"]),
    "max_iter 'x'": (edit("{C: [0.1, 1.0]}", "{max_iter: [x]}"), ["candidates[0].grid.max_iter[0]: must be an integer, got 'x'"]),
    "max_iter 1e9 (a str in YAML)": (histgb("max_iter: [1e9]"),
                                     ["candidates[1].grid.max_iter[0]: must be an integer, got '1e9' (YAML reads it as text"]),
    "max_iter 1.0e9 (a str in YAML)": (histgb("max_iter: [1.0e9]"), ["candidates[1].grid.max_iter[0]: must be an integer, got '1.0e9'"]),
    "max_iter 1.0e+9 (a float)": (histgb("max_iter: [1.0e+9]"), ["candidates[1].grid.max_iter[0]: must be an integer, got 1000000000.0"]),
    "max_iter 1000000000": (histgb("max_iter: [1000000000]"),
                            ["candidates[1].grid.max_iter[0]: at most 500 (serving-size cap), got 1000000000"]),
    "integral float n_estimators": (rf_grid("n_estimators: [100.0]"), ["candidates[1].grid.n_estimators[0]: must be an integer, got 100.0"]),
    "n_estimators 10000": (rf_grid("n_estimators: [10000]"), ["n_estimators[0]: at most 200 (serving-size cap), got 10000"]),
    "bool for an int param": (rf_grid("n_estimators: [true]"), ["candidates[1].grid.n_estimators[0]: must be an integer, got True"]),
    "max_depth 17": (rf_grid("max_depth: [17]"), ["max_depth[0]: at most 16 (serving-size cap), got 17"]),
    "max_depth 0": (rf_grid("max_depth: [0]"), ["max_depth[0]: must be >= 1, got 0"]),
    "max_features 1.5": (rf_grid("max_features: [1.5]"), ["candidates[1].grid.max_features[0]: at most 1, got 1.5"]),
    "max_features 0": (rf_grid("max_features: [0]"), ["max_features[0]: must be >= 1, got 0"]),
    "max_features 'all'": (rf_grid("max_features: [all]"), ["must be a number or one of ['sqrt', 'log2', null], got 'all'"]),
    "class_weight for regression": (rf_grid("class_weight: [balanced]", REGRESSION),
                                    ["candidates[1].grid.class_weight: class_weight is only for classification"]),
    "class_weight unknown": (edit("{C: [0.1, 1.0]}", "{class_weight: [balanced_subsample]}"),
                             ["class_weight[0]: must be one of [null, 'balanced'], got 'balanced_subsample'"]),
    "unknown param": (rf_grid("n_neighbors: [5]"), ["candidates[1].grid: family 'random_forest' does not take ['n_neighbors']"]),
    "empty grid list": (edit("{C: [0.1, 1.0]}", "{C: []}"), ["candidates[0].grid.C: the value list is empty"]),
    "grid value not a list": (edit("{C: [0.1, 1.0]}", "{C: 0.5}"), ["candidates[0].grid.C: Input should be a valid list"]),
    "learning_rate 0": (histgb("learning_rate: [0]"), ["candidates[1].grid.learning_rate[0]: must be > 0, got 0"]),
    "learning_rate 2": (histgb("learning_rate: [2]"), ["learning_rate[0]: at most 1, got 2"]),
    "max_leaf_nodes 1": (histgb("max_leaf_nodes: [1]"), ["max_leaf_nodes[0]: must be >= 2, got 1"]),
    "l2_regularization .inf": (histgb("l2_regularization: [.inf]"), ["l2_regularization[0]: must be finite, got inf"]),
    "grid explosion": (histgb(", ".join(f"{k}: [{', '.join(str(i + 1) for i in range(16))}]" for k in (
        "max_iter", "max_depth", "min_samples_leaf", "max_leaf_nodes", "l2_regularization"))),
        ["the grids expand to 1048578 candidates, more than search.max_trials (64)"]),
}


@pytest.mark.parametrize("text,messages", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_spec_fails_fast_naming_the_problem(text, messages):
    started = time.perf_counter()
    with pytest.raises(SpecError) as err:
        parse_spec(text, source="s3://b/specs/churn.yaml")
    assert time.perf_counter() - started < 1
    assert str(err.value).startswith("s3://b/specs/churn.yaml: ")
    for message in messages:
        assert message in str(err.value)
    tracemalloc.start()  # and without a memory blow-up
    try:
        with pytest.raises(SpecError):
            parse_spec(text)
        assert tracemalloc.get_traced_memory()[1] < 20 * 2**20
    finally:
        tracemalloc.stop()


def test_billion_laughs_is_still_a_bomb_for_plain_safe_load():
    import yaml

    three_levels = yaml.safe_load(LAUGHS.split("\nl3:")[0])  # aliases expand: 9**3 strings from ~200 bytes
    assert len(LAUGHS) < 600 and sum(len(inner) for outer in three_levels["l2"] for inner in outer) == 9**3


def test_every_problem_is_named_in_one_error():
    text = edit("promotion_margin: 0.01", "promotion_margin: .nan\nsplit: {seed: 1099511627776}", REGRESSION)
    text = rf_grid("n_estimators: [0, 201], class_weight: [balanced], bogus: [1]", text)
    text = edit("primary_metric: rmse", "primary_metric: accuracy", text) + "contract: {version: 0}\n"
    with pytest.raises(SpecError) as err:
        parse_spec(text, source="src")
    assert str(err.value) == (
        "src: promotion_margin: Input should be a finite number, got nan; "
        "split.seed: Input should be less than or equal to 4294967295, got 1099511627776; "
        "contract.version: Input should be greater than or equal to 1, got 0; "
        "primary_metric: 'accuracy' is for classification, not regression; "
        "candidates[1].grid: family 'random_forest' does not take ['bogus']; allowed: "
        "['class_weight', 'max_depth', 'max_features', 'min_samples_leaf', 'n_estimators']; "
        "candidates[1].grid.n_estimators[0]: must be >= 1, got 0; "
        "candidates[1].grid.n_estimators[1]: at most 200 (serving-size cap), got 201; "
        "candidates[1].grid.class_weight: class_weight is only for classification; a regression spec cannot set it"
    )


def test_a_flood_of_problems_is_cut_short():
    with pytest.raises(SpecError, match=r"; \.\.\. and 51 more$"):
        parse_spec(edit("{C: [0.1, 1.0]}", "{C: [%s]}" % ", ".join(["-1"] * 150)))


def test_model_validate_applies_the_same_rules():
    with pytest.raises(ValidationError, match=r"candidates\[0\]\.grid\.max_iter\[0\]: at most 500"):
        ModelSpec.model_validate({"name": "x", "target": "y", "problem_type": "regression", "primary_metric": "rmse",
                                  "candidates": [{"family": "hist_gradient_boosting", "grid": {"max_iter": [501]}}]})


# --- good specs ---------------------------------------------------------------------------------


def test_contract_and_data_sections_default():
    spec = parse_spec(GOOD)
    assert spec.contract == ContractSpec() and (spec.contract.version, spec.contract.breaking) == (1, False)
    assert spec.data == DataSpec() and (spec.data.max_invalid_fraction, spec.data.max_categories, spec.data.max_columns) == (0.05, 50, 500)
    spec = parse_spec(GOOD + "contract: {version: 3, breaking: true}\ndata: {max_invalid_fraction: 0, max_categories: 2, max_columns: 2000}")
    assert (spec.contract.version, spec.contract.breaking) == (3, True)
    assert (spec.data.max_invalid_fraction, spec.data.max_categories, spec.data.max_columns) == (0.0, 2, 2000)
    with pytest.raises(ValidationError):
        spec.contract.version = 2  # frozen


def test_every_rule_accepts_its_edge_values():
    spec = parse_spec(rf_grid("n_estimators: [1, 200], max_depth: [null, 16], max_features: [sqrt, log2, null, 1.0, 0.5, 1, 10000],"
                              " class_weight: [null, balanced_subsample], min_samples_leaf: [100000]").replace(
        "{C: [0.1, 1.0]}", "{C: [1, 1.0e+6], max_iter: [10000], class_weight: [balanced]}").replace(
        "promotion_margin: 0.01", "promotion_margin: 0\nsplit: {seed: 4294967295}"))
    assert spec.split.seed == 2**32 - 1 and spec.promotion_margin == 0
    assert parse_spec(histgb("learning_rate: [1], max_iter: [500], max_depth: [null], max_leaf_nodes: [2, 256, null],"
                             " l2_regularization: [0, 1000000]"))
    assert parse_spec(edit("{alpha: [1.0]}", "{alpha: [0, 1000000]}", REGRESSION))


def test_check_params():
    assert check_params("random_forest", "classification", {"n_estimators": 200, "class_weight": "balanced"}) == []
    assert check_params("random_forest", "regression", {"n_estimators": 201, "class_weight": "balanced"}) == [
        "n_estimators: at most 200 (serving-size cap), got 201",
        "class_weight: class_weight is only for classification; a regression spec cannot set it"]
    assert check_params("knn", "regression", {}) == [
        "unknown family 'knn'; known: ['decision_tree', 'extra_trees', 'hist_gradient_boosting', 'logistic_regression', "
        "'random_forest', 'ridge']"]
