"""labkit/: the runtime lab code may import stays apart from the tooling, and is the one registry of labs 5–10.

* No file of ``labs/`` or ``solutions/`` (lab 10's tests included) imports ``workbook``; ``labkit`` imports
  nothing from ``workbook`` either.
* A lab folder plus ``labkit/`` and ``data/`` imports with a plain ``PYTHONPATH``: no ``.pth``, no tooling.
* One rule for a model's ``kind``: ``labkit.registry.model_kind``. Lab 4's given copy (the registry is the
  student's task there) agrees with it; no other lab carries a rule of its own, and labs 5–10 load their
  models through ``labkit.registry``, or say in the docstring of their own registry why not.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import registry as labkit_registry
from workbook.paths import LABS, ROOT, SOLUTIONS

LABKIT = ROOT / "labkit"
KIND_MARKERS = {"n_features_in_", "vocabulary_", "build_analyzer"}


def python_files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports (``import a.b``, ``from a.b import c``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def imports_workbook(path: Path) -> bool:
    return any(name == "workbook" or name.startswith("workbook.") for name in imported_modules(path))


def lab_dirs(root: Path) -> list[Path]:
    return sorted((p for p in root.glob("lab*") if p.is_dir() and p.name[3:].isdigit()), key=lambda p: int(p.name[3:]))


def test_no_lab_file_imports_the_tooling():
    files = python_files(LABS, SOLUTIONS)
    assert len(files) > 40, f"found only {len(files)} lab files under {LABS} and {SOLUTIONS}"
    offenders = [str(p.relative_to(ROOT)) for p in files if imports_workbook(p)]
    assert not offenders, (
        f"lab code imports workbook (the tooling); import what it needs from labkit instead: {offenders}"
    )


def test_labkit_imports_nothing_from_the_tooling():
    files = python_files(LABKIT)
    assert {p.name for p in files} >= {
        "__init__.py",
        "registry.py",
        "docs.py",
        "validation_errors.py",
        "datasets.py",
        "models.py",
    }
    offenders = [str(p.relative_to(ROOT)) for p in files if imports_workbook(p)]
    assert not offenders, f"labkit must not import workbook: {offenders}"
    assert (LABKIT / "__init__.py").read_text(encoding="utf-8").startswith('"""labkit:'), (
        "labkit/__init__.py should open with a docstring saying what labkit is"
    )


# What a lab folder needs besides the pinned requirements: labkit/ and data/ beside it, nothing else. The
# venv's .pth (make setup) puts a whole workbook on the path too: drop every entry that holds a workbook/ or
# labkit/ so the copy's labkit is the one found, and make `import workbook` fail outright.
ISOLATED_IMPORT = """
import importlib, pathlib, sys
here = pathlib.Path.cwd()
sys.path[:] = [p for p in sys.path if pathlib.Path(p or '.').resolve() == here
               or not ((pathlib.Path(p) / 'workbook').is_dir() or (pathlib.Path(p) / 'labkit').is_dir())]
sys.modules['workbook'] = None
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except NotImplementedError:  # a starter whose module-level code needs a task done: it imported the rest
        pass
import labkit
assert pathlib.Path(labkit.__file__).resolve().parent == here / 'labkit', labkit.__file__
from labkit.datasets import load_corpus
assert load_corpus('test')[0], 'no corpus'
print('imported', len(sys.argv) - 1)
"""


@pytest.mark.parametrize("target", [SOLUTIONS, LABS], ids=["solutions", "labs"])
def test_a_lab_folder_plus_labkit_runs_with_a_plain_pythonpath(target, tmp_path):
    for folder in (*lab_dirs(target), LABKIT, ROOT / "data"):
        shutil.copytree(folder, tmp_path / folder.name, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    modules = [
        p.parent.name if p.name == "__init__.py" else f"{p.parent.name}.{p.stem}"
        for lab in lab_dirs(tmp_path)
        for p in sorted(lab.glob("*.py"))
    ]
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "WORKBOOK_TARGET", "PYTHONSTARTUP"}}
    env["PYTHONPATH"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", ISOLATED_IMPORT, *modules],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert f"imported {len(modules)}" in done.stdout


def kind_rules(path: Path) -> list[str]:
    """Where a file decides a model's kind itself: a ``model_kind`` function or a test for a fitted marker."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name == "model_kind":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} def model_kind")
        elif isinstance(node, ast.Constant) and node.value in KIND_MARKERS:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    return found


def test_labkit_holds_the_one_rule_for_a_models_kind():
    rules = [rule for path in python_files(SOLUTIONS) for rule in kind_rules(path)]
    others = [rule for rule in rules if not rule.startswith(os.path.join("solutions", "lab4", "registry.py"))]
    assert not others, f"only labkit.registry.model_kind (and lab 4's given copy) may decide a model's kind: {others}"


def test_lab_4s_given_kind_rule_is_labkits(monkeypatch):
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from labkit.models import reference_model

    # Lab 4's registry imports nothing of its lab: load the file alone, leaving the active target as it is.
    spec = importlib.util.spec_from_file_location("lab4_registry_for_labkit", SOLUTIONS / "lab4" / "registry.py")
    lab4_registry = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, lab4_registry)  # its dataclass looks itself up there
    spec.loader.exec_module(lab4_registry)
    pipelines = {name: reference_model(name)[0] for name in ("newsgroups", "logistic_regression")}
    texts = ["the rocket reached orbit", "the goalie saved the game"]
    pipelines["hashing"] = Pipeline(
        [("vectorize", HashingVectorizer(n_features=64)), ("classifier", LogisticRegression())]
    ).fit(texts, [0, 1])
    pipelines["unfitted"] = Pipeline([("classifier", LogisticRegression())])
    kinds = {name: labkit_registry.model_kind(p) for name, p in pipelines.items()}
    assert kinds["newsgroups"] == kinds["hashing"] == "text" and kinds["logistic_regression"] == "tabular"
    assert {name: lab4_registry.model_kind(p) for name, p in pipelines.items()} == kinds


@pytest.mark.parametrize("lab", [f"lab{n}" for n in range(5, 11)])
def test_labs_5_to_10_load_models_through_labkit(lab):
    files = python_files(SOLUTIONS / lab)
    assert any("labkit.registry" in imported_modules(p) for p in files), (
        f"{lab} should serve its models through labkit.registry (the registry of lab 4, finished)"
    )
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.ClassDef) and n.name == "ModelRegistry" for n in ast.walk(tree)):
            why = ast.get_docstring(tree) or ""
            assert "Why not labkit's" in why, (
                f"{path.relative_to(ROOT)} has a ModelRegistry of its own: its docstring should say why not labkit's"
            )
