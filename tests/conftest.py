import pytest

from tests.runner import GradeRun, run_checks


@pytest.fixture(scope="session")
def solutions_run() -> GradeRun:
    """Every check, graded once against the reference solutions."""
    return run_checks("checks", target="solutions")


@pytest.fixture(scope="session")
def starters_run() -> GradeRun:
    """Every check, graded once against the untouched starters in labs/."""
    return run_checks("checks", target="labs")
