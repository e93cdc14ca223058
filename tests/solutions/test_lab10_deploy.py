"""Lab 10's deployment files (deploy/): what no Docker engine is needed to verify.

The graded check (checks/lab10/test_deploy.py) applies the image rules and runs the image's CMD on this
machine; these tests add what only the project cares about: everything the Dockerfile copies is in the
build context, the image's requirements agree with the workbook's, and gunicorn accepts the config.
"""

import ast
import fnmatch
import importlib.metadata
import os
import re
import runpy
import subprocess
import sys

import pytest

from workbook.checkkit import dockerfile
from workbook.paths import ROOT, SOLUTIONS

DEPLOY = ROOT / "deploy"
INSTRUCTIONS = dockerfile.parse_file(DEPLOY / "Dockerfile")
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)$")


def requirements(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            match = REQUIREMENT.match(line)
            assert match, f"{path.name}: {line!r} is not pinned as name==version"
            pins[normalise(match.group(1))] = match.group(3)
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_dockerfile_follows_the_image_rules():
    assert dockerfile.service_image_problems(INSTRUCTIONS) == []


def test_the_rules_catch_a_careless_dockerfile():
    careless = dockerfile.parse("""
        FROM python:3.11
        COPY . /app
        CMD gunicorn lab10.app:app
    """)
    problems = " | ".join(dockerfile.service_image_problems(careless))
    for expected in ("pinned Python 3.11", "not root", "EXPOSE", "HEALTHCHECK", "exec form"):
        assert expected in problems, (expected, problems)


def test_the_parser_joins_continuations_and_skips_comments():
    parsed = dockerfile.parse(
        "# syntax=docker/dockerfile:1\nFROM python:3.11.7-slim AS build\n"
        'RUN a \\\n    # a comment inside\n    && b\nCMD ["x", "y"]\n'
    )
    assert [(i.keyword, i.args, i.line) for i in parsed] == [
        ("FROM", "python:3.11.7-slim AS build", 2),
        ("RUN", "a && b", 3),
        ("CMD", '["x", "y"]', 6),
    ]
    assert dockerfile.exec_form(parsed[-1].args) == ["x", "y"]
    assert dockerfile.exec_form("gunicorn app:app") is None


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            patterns.append((negated, line.lstrip("!").rstrip("/")))
    return patterns


def sent_to_the_build(relative: str, patterns) -> bool:
    """Docker's rule, simplified: the last pattern that matches the path or one of its parents wins."""
    parts = relative.split("/")
    included = True
    for negated, pattern in patterns:
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(
            fnmatch.fnmatchcase(c, pattern) or fnmatch.fnmatchcase(c, pattern.replace("**/", "")) for c in candidates
        ):
            included = negated
    return included


@pytest.mark.parametrize("target", ["labs", "solutions"])
def test_everything_the_dockerfile_copies_is_in_the_build_context(target):
    patterns = dockerignore_patterns()
    sources = []
    for instruction in INSTRUCTIONS:
        if instruction.keyword == "COPY" and "--from=" not in instruction.args:
            sources += instruction.args.split()[:-1]
    assert sources
    for source in sources:
        path = ROOT / source.replace("${TARGET}", target)
        assert path.exists(), f"COPY {source}: {path} does not exist"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        sent = [f for f in files if sent_to_the_build(f.relative_to(ROOT).as_posix(), patterns)]
        assert sent, f"COPY {source}: Dockerfile.dockerignore leaves none of its files in the build context"
        leaked = [f for f in sent if "__pycache__" in f.parts or "tests" in f.relative_to(ROOT).parts[2:3]]
        assert not leaked, f"COPY {source}: these should stay out of the image: {leaked[:3]}"


def test_the_image_pins_the_same_versions_as_the_workbook():
    workbook_pins = requirements(ROOT / "requirements.txt")
    for name, version in requirements(DEPLOY / "requirements.txt").items():
        assert workbook_pins.get(name) == version, (
            f"deploy/requirements.txt pins {name}=={version}, requirements.txt {workbook_pins.get(name)}"
        )


def third_party_imports(path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in {"labkit", "lab10"}}


def test_the_image_installs_every_package_the_service_imports():
    files = [*sorted((SOLUTIONS / "lab10").glob("*.py")), *sorted((ROOT / "labkit").glob("*.py"))]
    imported = set().union(*(third_party_imports(f) for f in files))
    distributions = importlib.metadata.packages_distributions()
    image = set(requirements(DEPLOY / "requirements.txt"))
    missing = {
        module: distributions.get(module)
        for module in imported
        if not {normalise(d) for d in distributions.get(module, [module])} & image
    }
    assert not missing, f"imported by the service but not installed in the image: {missing}"


def test_gunicorn_accepts_the_config_and_runs_uvicorn_workers():
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert config["worker_class"] == "uvicorn_worker.UvicornWorker"
    assert config["graceful_timeout"] < 10, "docker stop kills after 10 s: finish before that"
    assert config["timeout"] > config["graceful_timeout"] and config["workers"] >= 1
    env = {**os.environ, "PYTHONPATH": f"{SOLUTIONS}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "--config", "deploy/gunicorn.conf.py", "lab10.app:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_takes_labkit_and_not_the_tooling():
    copied = [
        instruction.args.split()[:-1]
        for instruction in INSTRUCTIONS
        if instruction.keyword == "COPY" and "--from=" not in instruction.args
    ]
    sources = {source.rstrip("/") for args in copied for source in args}
    assert "labkit" in sources, f"the image should copy labkit/ (what lab 10 imports); it copies {sorted(sources)}"
    assert not {s for s in sources if s.split("/")[0] == "workbook"}, (
        f"the image should not copy the workbook/ tooling: {sorted(sources)}"
    )
    assert sent_to_the_build("labkit/registry.py", dockerignore_patterns())
    assert not sent_to_the_build("workbook/grader/plugin.py", dockerignore_patterns())
