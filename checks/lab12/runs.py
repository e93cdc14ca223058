"""One run of the student's deployment on Ray (see conftest.py), and what the checks ask of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from checks.lab12.spy import Events

# The whole run (Ray start, deploy, traffic, autoscaling): 160-185 s measured at a load of 22 before autoscaling was
# added; a deployment that never scales adds at most 2 × 120 s (ray_harness.GROW_DEADLINE, SHRINK_DEADLINE) and its
# wait to start, and a run cut short after its traffic still grades Tasks 12.1-12.3 (RayRun.problem).
RAY_RUN_TIMEOUT = 600.0
RAY_CHECK_TIMEOUT = RAY_RUN_TIMEOUT + 60  # the first Ray check's timeout includes the run
NUM_REPLICAS = 2
LOCAL_CHECK_TIMEOUT = 60.0  # the checks that run without Ray


# The harness's phases, in order (report["phase"]), and those a run has reached once it got through each.
PHASES_AFTER = {"traffic": ("autoscaling", "done"), "autoscaling": ("done",)}


@dataclass
class RayRun:
    """What one deployment on Ray did: ``report`` (the harness's JSON) and ``events`` (the spy models' log)."""

    report: dict = field(default_factory=dict)
    events: Events = field(default_factory=Events)
    autoscaled_events: Events = field(default_factory=Events)  # the autoscaled application's replicas (Task 12.4)
    log_dir: Path | None = None
    output: str = ""
    not_built: BaseException | None = None  # Task 12.1 or 12.3 raised before Ray was started

    def problem(self, through: str = "traffic") -> str | None:
        """Why the run did not get through its ``through`` phase (``traffic``: the requests of Tasks 12.1-12.3;
        ``autoscaling``: Task 12.4's load too), in a sentence; None when it did."""
        if self.not_built is not None:
            return f"the deployment could not be built: {type(self.not_built).__name__}: {self.not_built}"
        if self.report.get("error"):
            return f"the deployment failed during its {self.report.get('phase')} phase:\n{self.report['error'][-2500:]}"
        if self.report.get("phase") not in PHASES_AFTER[through]:
            return (
                f"the run on Ray did not finish (it stopped in its {self.report.get('phase', 'start')} phase); "
                f"its output ended with:\n{self.output[-1500:]}"
            )
        return None

    def phase(self, start: str, stop: str) -> Events:
        """The spy models' events between two of the harness's marks (``spread``, ``concurrent``, ``end``)."""
        marks = self.report.get("event_marks", {})
        return Events.read(self.log_dir, marks.get(start, 0), marks.get(stop)) if self.log_dir else Events()


def finished(run: RayRun, through: str = "traffic") -> RayRun:
    """``run``, which must have got through its ``through`` phase: otherwise the check fails saying why."""
    if run.not_built is not None:
        raise run.not_built
    problem = run.problem(through)
    assert problem is None, (
        "Your service was deployed on a local Ray (two replicas, the reference models) and sent a few dozen "
        f"requests, but {problem}"
    )
    return run
