import dataclasses
import fcntl
import inspect
import json
import os
import re
from pathlib import Path

import pytest

from tests.support.runner import BACKSTOP, GradeRun, run_checks
from workbook import catalog

TESTS = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lab",
        default=None,
        metavar="labN",
        help="only the project tests of one lab: its checks on the solutions and the starters, its "
        "kept mistakes, its notebook and its traceability (what `make check LAB=labN` runs)",
    )


def _only_one_lab(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --lab labN, keep the tests of that lab alone (deselecting the others)."""
    lab = config.getoption("--lab")
    if not lab:
        return
    if lab not in catalog.labs():
        raise pytest.UsageError(f"--lab {lab}: no such lab (known: {', '.join(catalog.labs())})")
    # A test of one lab is parametrised by it: "lab3", "lab3: a mistake's name" or "03_persistence.ipynb".
    mine = re.compile(rf"^(?:{lab}(?![0-9])|{int(lab[3:]):02d}_)")
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        about_runs = bool({"solutions_run", "starters_run"} & set(getattr(item, "fixturenames", ())))
        ours = mine.match(callspec.id) if callspec else item.module.__name__.endswith("test_checks_are_real")
        (keep if ours and (callspec or about_runs) else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


@pytest.fixture(scope="session")
def labs_under_test(request: pytest.FixtureRequest) -> list[str]:
    """Every lab, or the one named with --lab."""
    lab = request.config.getoption("--lab")
    return [lab] if lab else list(catalog.labs())


def _paths(labs: list[str]) -> list[str]:
    return ["checks"] if labs == list(catalog.labs()) else [f"checks/{lab}" for lab in labs]


def _once_per_run(tmp_path_factory, name: str, make) -> GradeRun:
    """``make()`` once per pytest run, even on two xdist workers: the first to get here grades, the other reads
    its result (the workers of one run share the parent of their temporary folders)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return make()
    shared = tmp_path_factory.getbasetemp().parent
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        result = shared / f"{name}.json"
        if result.exists():
            return GradeRun(**json.loads(result.read_text()))
        run = make()
        result.write_text(json.dumps(dataclasses.asdict(run)))
        return run


@pytest.fixture(scope="session")
def solutions_run(tmp_path_factory, labs_under_test) -> GradeRun:
    """Every check (of the labs under test), graded once against the reference solutions."""
    paths = _paths(labs_under_test)
    return _once_per_run(
        tmp_path_factory, "solutions-run-" + "-".join(labs_under_test), lambda: run_checks(*paths, target="solutions")
    )


@pytest.fixture(scope="session")
def starters_run(tmp_path_factory, labs_under_test) -> GradeRun:
    """Every check (of the labs under test), graded once against the untouched starters in labs/."""
    paths = _paths(labs_under_test)
    return _once_per_run(
        tmp_path_factory, "starters-run-" + "-".join(labs_under_test), lambda: run_checks(*paths, target="labs")
    )


# --- running the suite on both cores (pytest-xdist, `make test`) ---------------------------------------------
#
# `make test` runs `pytest -n 2 --no-loadscope-reorder`: two worker processes, each handed whole modules, so that a
# module's costly shared fixture (the class test_grading.py grades once, a JupyterLab, a served app, every check
# graded against the solutions) is made once, on one worker. Only the modules in SPREAD, whose tests share nothing
# but are many and long (a kept mistake, a lab's mutants, a notebook), are handed out test by test. The longest
# work is handed out first (COST_FIRST), so that the two workers finish together.
# (xdist's own `--dist loadgroup` cannot be used: with this pytest its xdist_group marks are silently ignored.)

SPREAD = ("tests/meta/test_mistakes.py", "tests/meta/test_mutation.py", "tests/meta/test_notebooks.py")

# Modules (or "module::test" prefixes) in the order their work should start: the longest first.
COST_FIRST = (
    "tests/workbook/classgrading/test_grading_ray.py",
    "tests/meta/test_mutation.py::test_every_mutant_is_killed_or_recorded",
    "tests/workbook/classgrading/test_grading.py",
    "tests/meta/test_checks_are_real.py",
    "tests/meta/test_notebooks.py::test_notebook_against_the_solutions",
    "tests/meta/test_notebooks.py::test_notebook_against_the_untouched_starters",
    "tests/meta/test_mistakes.py",
    "tests/workbook/classgrading/test_grading_fork_server.py",
    "tests/meta/test_browser.py",
)


def _scope(nodeid: str) -> str:
    """What one worker must run as a whole: the test itself in a SPREAD module, else its whole module."""
    module = nodeid.split("::", 1)[0]
    return nodeid if module in SPREAD else module


def _shared_fixtures(item: pytest.Item) -> list[str]:
    """Fixtures of ours (tests/) that live longer than one test."""
    info = getattr(item, "_fixtureinfo", None)
    shared = []
    for name in getattr(info, "names_closure", ()):
        for fixturedef in info.name2fixturedefs.get(name, ()):
            if fixturedef.scope == "function":
                continue
            try:
                defined_in = Path(inspect.getsourcefile(fixturedef.func) or "").resolve()
            except TypeError:
                continue
            if TESTS in defined_in.parents:
                shared.append(name)
    return shared


def _cost_rank(item: pytest.Item) -> int:
    return next((rank for rank, prefix in enumerate(COST_FIRST) if item.nodeid.startswith(prefix)), len(COST_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _only_one_lab(config, items)
    for item in items:
        # The runs behind these fixtures grade every lab; they are stopped when they stop progressing
        # (tests.support.runner.run_checks), so the test that sets them up gets no fixed limit of its own but a backstop.
        if {"solutions_run", "starters_run"} & set(item.fixturenames) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(BACKSTOP))
        if _scope(item.nodeid) == item.nodeid and (shared := _shared_fixtures(item)):
            raise pytest.UsageError(
                f"{item.nodeid} uses {shared}, which live longer than one test, but its module is in "
                "tests/conftest.py's SPREAD (handed out test by test on two workers): take it out of SPREAD"
            )
    # The scheduler hands work out in the order the workers collected it, so the sort must happen in the workers
    # (xdist gives each `numprocesses = None`: that option only tells the controller, which collects nothing).
    if hasattr(config, "workerinput") or getattr(config.option, "numprocesses", None):
        items.sort(key=_cost_rank)  # stable: within a rank, the usual order


@pytest.hookimpl(optionalhook=True)  # an xdist hook: `-p no:xdist` runs the suite on one core without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ModuleOrTestScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return ModuleOrTestScheduling(config, log)
