"""The task catalog: ``checks/labN/lab.toml`` names each lab's tasks, titles, notebook sections and hints.

It is the single place a task's title lives: the starter builder writes it into each
``NotImplementedError``, the grader prints it in the score table, ``hint`` reads the hints from it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from workbook.paths import CHECKS

TASK_ID = re.compile(r"^(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    section: str
    notebook: str
    hints: tuple[str, ...] = field(default=())

    @property
    def lab(self) -> str:
        return lab_of(self.id)

    @property
    def where_to_read(self) -> str:
        return f"notebooks/{self.notebook}, section “{self.section}”"


@dataclass(frozen=True)
class Lab:
    name: str  # "lab3"
    title: str
    notebook: str
    tasks: dict[str, Task]
    reference_models: bool = False  # its checks serve labkit.models' reference models

    @property
    def number(self) -> int:
        return int(self.name[3:])


def lab_of(task_id: str) -> str:
    match = TASK_ID.match(task_id)
    if not match:
        raise ValueError(f"task id {task_id!r} is not of the form N.K")
    return f"lab{match.group(1)}"


def task_sort_key(task_id: str) -> tuple[int, int]:
    major, minor = task_id.split(".")
    return int(major), int(minor)


def load_lab(path: Path) -> Lab:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    name = path.parent.name
    tasks = {
        task_id: Task(
            id=task_id,
            title=spec["title"],
            section=spec.get("section", f"Task {task_id}"),
            notebook=raw["notebook"],
            hints=tuple(spec.get("hints", ())),
        )
        for task_id, spec in sorted(raw.get("tasks", {}).items(), key=lambda kv: task_sort_key(kv[0]))
    }
    for task_id in tasks:
        if lab_of(task_id) != name:
            raise ValueError(f"{path}: task {task_id} does not belong to {name}")
    return Lab(
        name=name,
        title=raw["title"],
        notebook=raw["notebook"],
        tasks=tasks,
        reference_models=bool(raw.get("reference_models", False)),
    )


@cache
def labs(checks_dir: Path = CHECKS) -> dict[str, Lab]:
    """Every lab with a catalog, in lab order."""
    found = [load_lab(p) for p in checks_dir.glob("lab*/lab.toml")]
    return {lab.name: lab for lab in sorted(found, key=lambda lab: lab.number)}


def task(task_id: str) -> Task | None:
    lab = labs().get(lab_of(task_id))
    return lab.tasks.get(task_id) if lab else None
