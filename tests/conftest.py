import re

import pytest

from tests.runner import GradeRun, run_checks
from workbook import catalog


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--lab", default=None, metavar="labN",
                     help="only the project tests of one lab: its checks on the solutions and the starters, its "
                          "kept mistakes, its notebook and its traceability (what `make check LAB=labN` runs)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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
        about_runs = "solutions_run" in getattr(item, "fixturenames", ()) or "starters_run" in getattr(
            item, "fixturenames", ())
        ours = mine.match(callspec.id) if callspec else item.module.__name__.endswith("test_checks_are_real")
        (keep if ours and (callspec or about_runs) else drop).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep


@pytest.fixture(scope="session")
def labs_under_test(request: pytest.FixtureRequest) -> list[str]:
    """Every lab, or the one named with --lab."""
    lab = request.config.getoption("--lab")
    return [lab] if lab else list(catalog.labs())


@pytest.fixture(scope="session")
def solutions_run(labs_under_test) -> GradeRun:
    """Every check (of the labs under test), graded once against the reference solutions."""
    return run_checks(*_paths(labs_under_test), target="solutions")


@pytest.fixture(scope="session")
def starters_run(labs_under_test) -> GradeRun:
    """Every check (of the labs under test), graded once against the untouched starters in labs/."""
    return run_checks(*_paths(labs_under_test), target="labs")


def _paths(labs: list[str]) -> list[str]:
    return ["checks"] if labs == list(catalog.labs()) else [f"checks/{lab}" for lab in labs]
