import pytest

from evergreen.spec import MAX_CANDIDATES, SpecError, default_spec, expand_candidates, parse_spec

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
    cands = expand_candidates(spec)
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


def test_grid_budget_is_enforced():
    big = GOOD.replace("grid: {C: [0.1, 1.0]}", "grid: {C: [%s]}" % ", ".join(str(i + 1) for i in range(MAX_CANDIDATES)))
    with pytest.raises(SpecError, match="more than"):
        parse_spec(big)


@pytest.mark.parametrize("problem", ["classification", "regression"])
def test_default_spec_is_valid(problem):
    spec = default_spec("mine", "y", problem)
    assert spec.problem_type == problem and len(expand_candidates(spec)) == 7
