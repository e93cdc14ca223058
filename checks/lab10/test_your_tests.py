"""Lab 10 checks, Task 10.6: your tests pass on the reference service and catch each broken copy.

Your tests (``lab10/tests/`` in your target) run in pytest processes of their own: once against the
reference service (solutions/lab10), and once against each copy with one realistic bug
(checks/lab10/services/broken.toml, a practice set; the instructor's grading adds copies that are not
published). The services run without their source text: only requests can tell them apart.
All the runs happen once, for the first of these checks; each check then reads its verdict. A broken copy
is caught when a test that passes on the reference fails on it.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from checks.lab10.student_tests import (
    INSTRUCTOR_ONLY,
    REFERENCE,
    BrokenService,
    SuiteRun,
    build_service,
    first_line,
    load_broken,
    run_tests,
)
from workbook.checkkit.student import import_lab_module
from workbook.grader.plugin import GradedByInstructor

BROKEN = load_broken()
PARALLEL_RUNS = 2  # the broken copies are independent: two pytest processes at a time
ALL_RUNS_TIMEOUT = 900  # the first check waits for every run (each has its own limit too)


@dataclass
class GradedRuns:
    reference: SuiteRun
    not_written: set[str]
    broken: dict[str, SuiteRun]


@pytest.fixture(scope="module")
def graded_runs(tmp_path_factory) -> GradedRuns:
    """Your tests against the reference service, then (if you wrote any) against every broken copy."""
    tests_dir = Path(import_lab_module("lab10").__file__).resolve().parent / "tests"
    assert tests_dir.is_dir(), f"there is no folder {tests_dir}: your tests of the service live in lab10/tests/."
    if not REFERENCE.is_dir():
        raise GradedByInstructor(INSTRUCTOR_ONLY)  # a student's copy: not graded here, not counted
    work = tmp_path_factory.mktemp("your-tests")
    reference = run_tests(tests_dir, build_service(work / "reference", sourceless=True), work / "run-reference")
    assert not reference.timed_out, (
        "your tests did not finish within the time limit on the reference service; the end of their output:\n"
        + reference.output[-1500:]
    )
    assert reference.outcomes, "pytest found no tests in lab10/tests; its output:\n" + reference.output[-1500:]
    not_written = reference.not_written()
    if not set(reference.outcomes) - not_written:
        raise NotImplementedError(
            "Task 10.6: every test in lab10/tests/test_service.py still raises NotImplementedError"
        )

    def run_broken(service: BrokenService) -> SuiteRun:
        folder = build_service(work / f"broken-{service.id}", service, sourceless=True)
        return run_tests(tests_dir, folder, work / f"run-{service.id}")

    with ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
        runs = dict(zip((s.id for s in BROKEN), pool.map(run_broken, BROKEN)))
    return GradedRuns(reference, not_written, runs)


@pytest.mark.task("10.6", points=1)
@pytest.mark.timeout(ALL_RUNS_TIMEOUT)
def test_your_tests_pass_on_the_reference_service(graded_runs):
    failing = graded_runs.reference.failing(ignore=graded_runs.not_written)
    assert not failing, (
        "on the reference service (a correct one) every test must pass, but these failed — the test is wrong, "
        "not the service:\n" + "\n".join(f"  {name}: {first_line(o.message)}" for name, o in failing.items())
    )


@pytest.mark.task("10.6", points=1)
@pytest.mark.timeout(ALL_RUNS_TIMEOUT)
@pytest.mark.parametrize("service", BROKEN, ids=[s.id for s in BROKEN])
def test_your_tests_catch_the_broken_service(graded_runs, service):
    run = graded_runs.broken[service.id]
    if run.timed_out:
        return  # a test that hangs on the broken service has noticed something
    # Only a test that passes on the reference can catch a bug: one that fails everywhere tells nothing.
    catching = graded_runs.reference.passing() & set(run.failing(ignore=graded_runs.not_written))
    unwritten = len(graded_runs.not_written)
    assert catching, (
        f"every one of your tests passed against a service where {service.bug}. Write a test that fails on "
        "such a service: assert the exact status, body field or header a client relies on."
        + (f" ({unwritten} of your tests still raise NotImplementedError.)" if unwritten else "")
    )
