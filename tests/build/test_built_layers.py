"""The real `sam build` output in .aws-sam/build: what each function and layer ships, its size, and
whether the inference bundle imports on CPython 3.12 without scikit-learn.

Run `make build` first; without .aws-sam/build/template.yaml every test here is skipped. Checked:

- InferenceFunction's code and its layers (SharedLayer + ServingLayer, never TrainingLayer) ship no
  scikit-learn, scipy, pandas or skl2onnx; TrainingLayer ships scikit-learn, skl2onnx and onnxruntime;
- every function of template.yaml was built, with its handler module (app.py);
- SharedLayer's evergreen package is exactly layers/shared/evergreen (the `evergreen` command and the local
  runtime live beside it in evergreen_cli/, which nothing deployed imports: tests/unit/test_package_boundary.py);
- the size budget, measured by scripts/size_report.py: each function + its layers unzips to at most
  250 MiB (Lambda's limit), InferenceFunction to at most 150 MiB;
- with a local CPython 3.12 (found as scripts/compile_pyc.py finds one, e.g. pyenv's 3.12.x; skipped
  when there is none): the built InferenceFunction + SharedLayer + ServingLayer, plus boto3 as the
  Lambda runtime provides it, `import app` with the stack's environment and leave scikit-learn (and
  scipy, pandas, skl2onnx) out of sys.modules; and a model fitted and exported on the built TrainingLayer
  is served by the built serving stack with scikit-learn's answers (the trimmed, stripped layers work).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
BUILT_TEMPLATE = BUILD / "template.yaml"

pytestmark = [
    pytest.mark.build,
    pytest.mark.skipif(not BUILT_TEMPLATE.exists(),
                       reason=f"no sam build output: {BUILT_TEMPLATE.relative_to(ROOT)} not found (run `make build`)"),
]

# import name -> distribution name (as in *.dist-info and auditwheel's *.libs folders)
TRAINING_ONLY = {"sklearn": "scikit_learn", "scipy": "scipy", "pandas": "pandas", "skl2onnx": "skl2onnx"}
# What the Lambda Python runtime itself provides (boto3 and its dependencies; not shipped in a layer).
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
LAMBDA_LIMIT_MIB = 250
INFERENCE_LIMIT_MIB = 150


# ---------------------------------------------------------------- the built template


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return infra.load_script("size_report").load_template(BUILT_TEMPLATE)


def _of_type(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {lid: r.get("Properties") or {} for lid, r in template.get("Resources", {}).items()
            if r.get("Type") == type_name}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _of_type(template, "AWS::Serverless::Function")


def function_dir(template: dict[str, Any], logical_id: str) -> Path:
    return BUILD / functions(template)[logical_id]["CodeUri"]


def layer_dir(template: dict[str, Any], logical_id: str) -> Path:
    return BUILD / _of_type(template, "AWS::Serverless::LayerVersion")[logical_id]["ContentUri"]


def layers_of(template: dict[str, Any], logical_id: str) -> list[str]:
    """The layers' logical ids (Globals + the function's own), as Lambda stacks them."""
    refs = ((template.get("Globals", {}).get("Function") or {}).get("Layers") or []) \
        + (functions(template)[logical_id].get("Layers") or [])
    return [r["Ref"] if isinstance(r, dict) and "Ref" in r else str(r) for r in refs]


def python_dir(layer: Path) -> Path:
    return layer / "python"


# ---------------------------------------------------------------- what is shipped


def training_only_files(root: Path) -> list[str]:
    """Paths under root that are scikit-learn, scipy, pandas or skl2onnx (package, module, metadata, libs)."""
    dist_names = {d.lower() for d in TRAINING_ONLY.values()}
    found = []
    for path in sorted(root.rglob("*")):
        name = path.name
        stem = name.split(".", 1)[0]
        dist = re.split(r"-\d", name, maxsplit=1)[0].lower() if name.endswith((".dist-info", ".egg-info")) else None
        if (path.is_dir() and name in TRAINING_ONLY) \
                or (path.is_file() and stem in TRAINING_ONLY and name.endswith((".py", ".so"))) \
                or (dist is not None and dist in dist_names) \
                or (name.endswith(".libs") and name[: -len(".libs")].lower() in dist_names):
            found.append(str(path.relative_to(BUILD)))
    return found


def test_inference_bundle_ships_no_training_packages(built):
    layers = layers_of(built, "InferenceFunction")
    assert set(layers) == {"SharedLayer", "ServingLayer"}, f"InferenceFunction's layers: {layers}"
    shipped = training_only_files(function_dir(built, "InferenceFunction"))
    for layer in layers:
        shipped += training_only_files(layer_dir(built, layer))
    assert not shipped, "scikit-learn/scipy/pandas/skl2onnx shipped with InferenceFunction:\n" + "\n".join(shipped)


def test_training_layer_ships_the_training_stack(built):
    python = python_dir(layer_dir(built, "TrainingLayer"))
    missing = [pkg for pkg in ("sklearn", "skl2onnx", "onnxruntime", "onnx", "numpy", "scipy")
               if not (python / pkg / "__init__.py").is_file()]
    assert not missing, f"TrainingLayer lacks {missing}"


def test_the_training_only_check_would_see_them(built):
    """training_only_files is not blind: it finds scikit-learn, scipy and skl2onnx in TrainingLayer."""
    names = {Path(p).name for p in training_only_files(python_dir(layer_dir(built, "TrainingLayer")))}
    assert {"sklearn", "scipy", "skl2onnx"} <= names
    assert any(n.startswith("scikit_learn-") and n.endswith(".dist-info") for n in names)


def test_every_function_is_built_with_its_handler(built):
    source = infra.load_script("size_report").load_template(ROOT / "template.yaml")
    assert set(functions(built)) == set(functions(source)), "the build is not of this template.yaml: run `make build`"
    missing = []
    for lid, props in functions(built).items():
        module = props["Handler"].rsplit(".", 1)[0].replace(".", "/") + ".py"
        assert module == "app.py", f"{lid}: handler {props['Handler']}"
        if not (function_dir(built, lid) / module).is_file():
            missing.append(f"{lid}: {function_dir(built, lid).relative_to(BUILD)}/{module}")
    assert not missing, "handler modules missing from the build:\n" + "\n".join(missing)
    # and every functions/<name>/app.py in the repository is one of them
    built_sources = {props["CodeUri"] for props in functions(source).values()}
    unbuilt = [str(p.parent.relative_to(ROOT)) for p in ROOT.glob("functions/*/app.py")
               if str(p.parent.relative_to(ROOT)) not in built_sources]
    assert not unbuilt, f"functions with no template entry: {unbuilt}"


def _modules(package_root: Path) -> set[str]:
    return {p.relative_to(package_root).as_posix() for p in (package_root / "evergreen").rglob("*.py")
            if "__pycache__" not in p.parts}


def test_shared_layer_ships_exactly_the_evergreen_package(built):
    shipped = _modules(python_dir(layer_dir(built, "SharedLayer")))
    in_repo = _modules(ROOT / "layers" / "shared")
    assert shipped == in_repo, ("SharedLayer's evergreen is not layers/shared/evergreen (stale build?): "
                                f"missing {sorted(in_repo - shipped)}, extra {sorted(shipped - in_repo)}")


# ---------------------------------------------------------------- size budget


def test_size_budget(built):
    size_report = infra.load_script("size_report")
    measured = size_report.measure(BUILD, {"InferenceFunction": INFERENCE_LIMIT_MIB}, LAMBDA_LIMIT_MIB)
    sizes = {s.name: s for s in measured}
    assert set(sizes) == set(functions(built))
    assert sizes["InferenceFunction"].limit_mib == INFERENCE_LIMIT_MIB
    report = size_report.render(list(sizes.values()))
    for name, s in sizes.items():
        assert not s.unmeasured, f"{name}: layers not measured {s.unmeasured}\n{report}"
        assert [lid for lid, _ in s.layers] == layers_of(built, name)
        assert s.total_bytes <= s.limit_mib * size_report.MIB, f"{name} over its {s.limit_mib:g} MiB\n{report}"


# ---------------------------------------------------------------- on CPython 3.12


@pytest.fixture(scope="module")
def python312(built) -> str:
    """A local CPython of the template's runtime and architecture, found as scripts/compile_pyc.py does."""
    globals_ = built.get("Globals", {}).get("Function") or {}
    runtime = functions(built)["InferenceFunction"].get("Runtime") or globals_["Runtime"]
    arches = functions(built)["InferenceFunction"].get("Architectures") or globals_.get("Architectures") or ["x86_64"]
    arch = arches[0]
    version = runtime.removeprefix("python")
    interpreter = infra.load_script("compile_pyc").find_interpreter(version, arch)
    if interpreter is None:
        pytest.skip(f"no local CPython {version} for {arch} (scripts/compile_pyc.py looks on PATH, in pyenv, "
                    "/usr/bin, /usr/local/bin and $LAMBDA_PYC_PYTHON)")
    return interpreter


@pytest.fixture(scope="module")
def lambda_runtime_packages(tmp_path_factory) -> Path:
    """A folder holding boto3 and its dependencies (links into this venv): what the Lambda runtime adds."""
    wanted = {d.lower().replace("_", "-") for d in RUNTIME_DISTRIBUTIONS}
    folder = tmp_path_factory.mktemp("lambda-runtime")
    for top, dists in importlib.metadata.packages_distributions().items():
        if not wanted & {d.lower().replace("_", "-") for d in dists}:
            continue
        spec = importlib.util.find_spec(top)
        if spec is None or spec.origin in (None, "built-in"):
            continue
        source = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
        (folder / source.name).symlink_to(source, target_is_directory=source.is_dir())
    assert (folder / "boto3").exists() and (folder / "botocore").exists(), "boto3 not found in the test venv"
    return folder


def lambda_env(pythonpath: list[Path]) -> dict[str, str]:
    """The stack's function environment, a region, dummy credentials and nothing from this venv."""

    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath),
        "PYTHONDONTWRITEBYTECODE": "1",  # the build output is not ours to change
        "PYTHONNOUSERSITE": "1",
        **infra.stack_env(),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def run_python(python: str, pythonpath: list[Path], code: str, cwd: Path, *args: str) -> dict[str, Any]:
    """Run code with python (no site-packages: -S) on pythonpath; its last stdout line is JSON."""
    out = subprocess.run([python, "-S", "-B", "-c", textwrap.dedent(code), *args], cwd=cwd,
                         env=lambda_env(pythonpath), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{python} failed:\n{out.stdout[-3000:]}\n{out.stderr[-6000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


_IMPORT_APP = """
    import json, sys
    import app
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in {training_only})
    files = {{name: getattr(sys.modules.get(name), "__file__", None)
             for name in ("app", "evergreen", "evergreen.serving.champion", "numpy", "aws_lambda_powertools", "boto3")}}
    outside = sorted({{m.__file__ for m in list(sys.modules.values())
                      if getattr(m, "__file__", None) and not m.__file__.startswith(tuple(sys.argv[1:]))}})
    print(json.dumps({{"version": "%d.%d" % sys.version_info[:2], "training_only": loaded, "files": files,
                      "outside": outside, "handler": callable(getattr(app, "handler", None))}}))
"""


def test_inference_function_imports_on_python312_without_sklearn(built, python312, lambda_runtime_packages, tmp_path):
    code_dir = function_dir(built, "InferenceFunction")
    shared, serving = (python_dir(layer_dir(built, lid)) for lid in ("SharedLayer", "ServingLayer"))
    base = subprocess.run([python312, "-S", "-c", "import sys; print(sys.base_prefix)"],
                          capture_output=True, text=True, check=True).stdout.strip()
    allowed = [str(code_dir), str(shared), str(serving), str(lambda_runtime_packages), base]
    # /var/task first, then /opt/python (the layers, merged), then the runtime's boto3: Lambda's order
    result = run_python(python312, [code_dir, shared, serving, lambda_runtime_packages],
                        _IMPORT_APP.format(training_only=sorted(TRAINING_ONLY)), tmp_path, *allowed)

    assert result["version"] == "3.12"
    assert result["handler"]
    assert result["training_only"] == [], f"`import app` loaded {result['training_only']}"
    files = result["files"]
    assert files["app"] == str(code_dir / "app.py")
    assert files["evergreen"].startswith(str(shared)) and files["evergreen.serving.champion"].startswith(str(shared))
    assert files["aws_lambda_powertools"].startswith(str(shared))
    assert files["numpy"].startswith(str(serving))
    assert result["outside"] == [], f"modules loaded from outside the bundle: {result['outside']}"


_IMPORT_HANDLER = """
    import sys
    import app
    print('{"handler": %s}' % str(callable(getattr(app, "handler", None))).lower())
"""


@pytest.mark.parametrize("function", sorted(lid for lid, r in infra.template()["Resources"].items()
                                            if r["Type"] == "AWS::Serverless::Function"))
def test_every_function_imports_with_its_own_layers_alone(built, python312, lambda_runtime_packages, tmp_path, function):
    """Locally every layer is on the path: here each handler gets only the layers the template gives it
    (and the runtime's boto3), as on Lambda, so a step importing a package of another layer fails."""
    code_dir = function_dir(built, function)
    layers = [python_dir(layer_dir(built, lid)) for lid in layers_of(built, function)]
    assert run_python(python312, [code_dir, *layers, lambda_runtime_packages], _IMPORT_HANDLER, tmp_path) == {
        "handler": True}


_TRAIN_AND_EXPORT = """
    import base64, importlib.util, json, sys
    spec = importlib.util.spec_from_file_location("tiny_model", sys.argv[1])
    tiny_model = importlib.util.module_from_spec(spec)
    sys.modules["tiny_model"] = tiny_model
    spec.loader.exec_module(tiny_model)
    import sklearn
    model = tiny_model.train_classifier(n=200)
    records = tiny_model.synthetic_records(20, seed=5)[0]
    X = model.matrix(records)
    print(json.dumps({"sklearn": sklearn.__file__, "onnx": base64.b64encode(model.onnx_bytes).decode(),
                      "columns": model.columns, "records": records,
                      "labels": [str(v) for v in model.pipeline.predict(X)],
                      "proba": model.pipeline.predict_proba(X).tolist()}))
"""

_SERVE = """
    import base64, json, sys
    import numpy as np
    from evergreen.onnx_model import OnnxModel
    job = json.loads(open(sys.argv[1]).read())
    cols = job["columns"]
    model = OnnxModel(base64.b64decode(job["onnx"]), numeric=cols["numeric"], categorical=cols["categorical"],
                      classes=cols["classes"])
    recs = job["records"]
    numeric = np.array([[np.nan if r.get(c) in (None, "") else float(r[c]) for c in cols["numeric"]] for r in recs],
                       dtype=np.float32)
    categorical = np.array([["" if r.get(c) is None else str(r[c]) for c in cols["categorical"]] for r in recs],
                           dtype=object)
    out = model.run(numeric, categorical)
    import onnxruntime
    print(json.dumps({"labels": out.labels.tolist(), "proba": out.probabilities.tolist(),
                      "onnxruntime": onnxruntime.__file__,
                      "training_only": sorted(m for m in sys.modules if m.split(".")[0] in %s)}))
"""


def test_model_from_the_training_layer_is_served_by_the_serving_stack(built, python312, lambda_runtime_packages,
                                                                      tmp_path):
    """Fit + export on the built TrainingLayer, serve on the built SharedLayer + ServingLayer: same answers."""
    shared, serving, training = (python_dir(layer_dir(built, lid)) for lid in ("SharedLayer", "ServingLayer",
                                                                                 "TrainingLayer"))
    trained = run_python(python312, [shared, training, lambda_runtime_packages], _TRAIN_AND_EXPORT, tmp_path,
                         str(ROOT / "tests" / "support" / "tiny_model.py"))
    assert trained["sklearn"].startswith(str(training))
    job = tmp_path / "job.json"
    job.write_text(json.dumps(trained))
    served = run_python(python312, [function_dir(built, "InferenceFunction"), shared, serving, lambda_runtime_packages],
                        _SERVE % sorted(TRAINING_ONLY), tmp_path, str(job))
    assert served["onnxruntime"].startswith(str(serving))
    assert served["training_only"] == []
    assert served["labels"] == trained["labels"]
    for got, want in zip(served["proba"], trained["proba"], strict=True):
        assert got == pytest.approx(want, abs=1e-5)
