"""Lab 10 checks, Task 10.6: your tests pass on the reference service and catch each broken copy.

Your tests (``lab10/tests/`` in your target) run in pytest processes of their own: once against the
reference service (solutions/lab10), and once against each copy with one realistic bug
(checks/lab10/services/broken.toml, a practice set; the instructor's grading adds copies that are not
published). The services run without their source text: only requests can tell them apart.
The reference run comes first, for the first check; the broken copies' runs start when the first of their
checks asks (two at a time, in the order of the checks), and each check waits for its own. So a run stopped at
the first failing check (``-x``, as the mutation tool grades) spends no time on the copies after it. A broken
copy is caught when a test that passes on the reference fails on it.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
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
ALL_RUNS_TIMEOUT = 900  # a check may wait for the runs before its own (each has its own limit too)


@dataclass
class GradedRuns:
    reference: SuiteRun
    not_written: set[str]
    run_broken: Callable[[BrokenService], SuiteRun]
    pool: ThreadPoolExecutor
    started: dict[str, Future] = field(default_factory=dict)

    def broken(self, service: BrokenService) -> SuiteRun:
        """Your tests' run against ``service``; the first call starts the runs of every copy, in order."""
        if not self.started:
            self.started = {s.id: self.pool.submit(self.run_broken, s) for s in BROKEN}
        return self.started[service.id].result()


@pytest.fixture(scope="module")
def graded_runs(tmp_path_factory) -> Iterator[GradedRuns]:
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

    pool = ThreadPoolExecutor(max_workers=PARALLEL_RUNS)
    try:
        yield GradedRuns(reference, not_written, run_broken, pool)
    finally:  # the checks stopped early (-x): the runs not started yet are not needed
        pool.shutdown(wait=True, cancel_futures=True)


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
    run = graded_runs.broken(service)
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
