"""One run of the student's deployment on Ray (see conftest.py), and what the checks ask of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from checks.lab12.spy import Events

RAY_RUN_TIMEOUT = 420.0  # the whole run (Ray start, deploy, traffic, shutdown): 160-185 s measured at a load of 22
RAY_CHECK_TIMEOUT = RAY_RUN_TIMEOUT + 60  # the first Ray check's timeout includes the run
NUM_REPLICAS = 2
LOCAL_CHECK_TIMEOUT = 60.0  # the checks that run without Ray


@dataclass
class RayRun:
    """What one deployment on Ray did: ``report`` (the harness's JSON) and ``events`` (the spy models' log)."""

    report: dict = field(default_factory=dict)
    events: Events = field(default_factory=Events)
    log_dir: Path | None = None
    output: str = ""
    not_built: BaseException | None = None  # Task 12.1 or 12.3 raised before Ray was started

    def problem(self) -> str | None:
        """Why the run did not finish, in a sentence (None when it did)."""
        if self.not_built is not None:
            return f"the deployment could not be built: {type(self.not_built).__name__}: {self.not_built}"
        if self.report.get("error"):
            return f"the deployment failed during its {self.report.get('phase')} phase:\n{self.report['error'][-2500:]}"
        if self.report.get("phase") != "done":
            return (
                f"the run on Ray did not finish (it stopped in its {self.report.get('phase', 'start')} phase); "
                f"its output ended with:\n{self.output[-1500:]}"
            )
        return None

    def phase(self, start: str, stop: str) -> Events:
        """The spy models' events between two of the harness's marks (``spread``, ``concurrent``, ``end``)."""
        marks = self.report.get("event_marks", {})
        return Events.read(self.log_dir, marks.get(start, 0), marks.get(stop)) if self.log_dir else Events()


def finished(run: RayRun) -> RayRun:
    """``run``, which must have finished: otherwise the check fails saying why."""
    if run.not_built is not None:
        raise run.not_built
    problem = run.problem()
    assert problem is None, (
        "Your service was deployed on a local Ray (two replicas, the reference models) and sent a few dozen "
        f"requests, but {problem}"
    )
    return run
