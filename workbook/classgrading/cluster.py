"""Grading on a Ray cluster (``grade --ray ADDRESS``): each (submission, lab) run is a Ray task on some node.

A task runs :func:`workbook.classgrading.run.grade_lab_in_sandbox` on its worker — the run local grading makes of one
(submission, lab), through the same ``_run_one_lab``, in a bubblewrap sandbox of its own on that node — and returns
the same records (:class:`~workbook.isolation.lab_process.LabRun`). The driver (the instructor's machine) puts a
submission's labs together and writes grades.csv, feedback and the item analysis exactly as a local run does
(:mod:`workbook.classgrading.run`, :mod:`workbook.classgrading.reports`). What reaches a worker, and how:

* the kit — checks, tooling, ``labkit/``, data: the bytes whose hash is in grades.csv — is one Ray object, put once
  by the driver and fetched once by each node's object store: a worker grades with exactly the bytes that were
  hashed, and the nodes need no copy of the workbook to keep in step (no shared file system);
* the grader's own code, the ``workbook`` package the task function lives in, goes with the job's runtime
  environment (``py_modules``, ahead of the nodes' site-packages; seen on a worker: only the driver's own
  ``sys.path``, which Ray puts first, comes before it), so the nodes need only the same Python, the pinned
  requirements and bubblewrap;
* a submission goes as the task's argument, with only the lab that task grades.

A submission's labs run one after the other (each lab's time limit depends on what the earlier ones used, as in a
local run); submissions run side by side, as many as the cluster has CPUs for (``LAB_CPUS``).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbook.classgrading.kit import GradingError

if TYPE_CHECKING:
    from workbook.classgrading.intake import Submission
    from workbook.classgrading.kit import Kit
    from workbook.classgrading.run import Settings
    from workbook.isolation.lab_process import LabRun, PlannedCheck

# CPUs a lab's run holds on its node: lab 12's checks start a Ray of their own with two CPUs; the others use one.
LAB_CPUS = {"lab12": 2}
DEFAULT_CPUS = 1
CONNECT_SECONDS = 10.0  # to find the head's port open; Ray itself would retry a dead address for minutes
PROBE_SECONDS = 600.0  # for every node to start a worker (with the runtime environment) and try its sandbox
WORKBOOK_PACKAGE = Path(__file__).resolve().parent.parent


class Cluster:
    """The connection to a Ray cluster: the kit put there once, and one task per (submission, lab) run."""

    def __init__(self, ray: Any, kit_ref: Any, settings: Settings, cpus: int) -> None:
        self._ray, self.kit_ref, self.settings, self.cpus = ray, kit_ref, settings, cpus
        from workbook.classgrading.run import grade_lab_in_sandbox

        self._task = ray.remote(grade_lab_in_sandbox)

    @classmethod
    def connect(cls, address: str, kit: Kit, settings: Settings) -> Cluster:
        """Join the cluster at ``address`` (``HOST:PORT`` of the head, or ``auto``), check that every node can make
        the sandbox, and put the kit there. Any failure is a :class:`GradingError` of one line."""
        _check_reachable(address)
        try:
            import ray
        except ImportError:
            raise GradingError("--ray needs Ray on this machine and every node: pip install 'ray[default]'") from None
        try:
            ray.init(
                address=address,
                runtime_env={"py_modules": [str(WORKBOOK_PACKAGE)]},
                log_to_driver=False,
                logging_level=logging.ERROR,
            )
        except (ConnectionError, ValueError, RuntimeError, OSError) as exc:
            raise GradingError(f"cannot join the Ray cluster at {address}: {_first_line(exc)}") from None
        try:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            if cpus < DEFAULT_CPUS:
                raise GradingError(f"the Ray cluster at {address} has no CPUs to grade on")
            _check_sandboxes(ray)
            return cls(ray, ray.put(kit), settings, cpus)
        except BaseException:
            ray.shutdown()
            raise

    def run_lab(
        self, submission: Submission, lab: str, plan: list[PlannedCheck], wall_limit: float
    ) -> tuple[LabRun, bool]:
        """One (submission, lab) run as a task on the cluster: the run, and whether it killed its fork server."""
        one_lab = dataclasses.replace(submission, labs={lab: submission.labs[lab]}, notes=[])
        task = self._task.options(num_cpus=LAB_CPUS.get(lab, DEFAULT_CPUS))
        return self._ray.get(task.remote(one_lab, lab, self.kit_ref, plan, self.settings, wall_limit))

    def close(self) -> None:
        self._ray.shutdown()


def _check_reachable(address: str) -> None:
    """A quick, clear failure for a head that is not there (Ray would retry for minutes, then exit the process)."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise GradingError(f"--ray {address!r}: expected HOST:PORT of the cluster's head (e.g. 10.0.0.5:6379) or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise GradingError(
            f"nothing answers at {address} ({exc.strerror or exc}): start the head with `ray start --head` there, "
            "or give its address as `ray start` printed it"
        ) from None


def _check_sandboxes(ray: Any) -> None:
    """Every node with CPUs can make the sandbox (bubblewrap): otherwise grading would stop at its first task."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from workbook.isolation import sandbox

    probe = ray.remote(num_cpus=0)(sandbox.probe)
    nodes = [node for node in ray.nodes() if node.get("Alive") and node.get("Resources", {}).get("CPU")]
    answers = [
        probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote()
        for node in nodes
    ]
    try:
        whys = ray.get(answers, timeout=PROBE_SECONDS)
    except Exception as exc:  # noqa: BLE001 - Ray's errors (runtime environment, a node lost) are many
        raise GradingError(f"the cluster's nodes could not start the grader: {_first_line(exc)}") from None
    for node, why in zip(nodes, whys, strict=True):
        if why is not None:
            raise GradingError(f"no sandbox on the cluster's node {node.get('NodeManagerAddress')}: {why}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1 if text.startswith("Traceback") else 0][:300] if text else type(exc).__name__
