"""Known-wrong implementations: realistic student mistakes, each kept as a small edit of the solution.

``tests/mistakes/labN.toml`` lists them. Each names the solution file, the exact text to replace and its
replacement, and the checks that must catch it. Applying the edit to a copy of ``solutions/labN`` gives a
wrong lab; ``tests/meta/test_mistakes.py`` grades that copy and requires each named check to fail. An edit that
no longer matches the solution fails loudly, so the fixtures cannot silently rot.

A mistake belongs to one task (or a few): its ``task`` key when the spec gives one, else the task of each
``# Task N.K`` function (decorators and signature included) that contains an edited line, else the tasks of
its ``caught_by`` checks. ``tests/meta/test_mistakes.py`` requires that only checks of those tasks lose points,
or that a failing check of another task names the mistake's task in its message.

``[[variant]]`` tables keep *correct* implementations that differ from the reference (``asyncio.TaskGroup``
instead of ``gather``, an ``async def`` dependency): the same ``file``/``old``/``new`` edit, no
``caught_by``; every check of the lab must pass on them.
"""

from __future__ import annotations

import ast
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from workbook.paths import SOLUTIONS

HERE = Path(__file__).parent
MARK = re.compile(r"#\s*Task\s+(\d+\.\d+)\b")


@dataclass(frozen=True)
class Edit:
    old: str
    new: str


@dataclass(frozen=True)
class Mistake:
    lab: str
    name: str
    file: str
    edits: tuple[Edit, ...]
    caught_by: tuple[str, ...] = ()
    task: str | None = None
    kind: str = "mistake"

    @property
    def id(self) -> str:
        return f"{self.lab}: {self.name}"

    def apply(self, target: Path) -> Path:
        """Write ``target/labN`` = the solution with this mistake in it; return ``target``."""
        lab_dir = target / self.lab
        shutil.copytree(SOLUTIONS / self.lab, lab_dir, ignore=shutil.ignore_patterns("__pycache__"))
        path = lab_dir / self.file
        source = path.read_text(encoding="utf-8")
        for edit in self.edits:
            count = source.count(edit.old)
            if count != 1:
                raise AssertionError(
                    f"mistake {self.id!r}: the text to replace occurs {count} times in solutions/{self.lab}/"
                    f"{self.file} (expected once); update tests/mistakes/{self.lab}.toml"
                )
            source = source.replace(edit.old, edit.new)
        path.write_text(source, encoding="utf-8")
        return target

    def own_tasks(self, check_tasks: dict[str, str]) -> set[str]:
        """The task(s) this mistake belongs to (see the module docstring); ``check_tasks``: check name -> task."""
        if self.task:
            return {self.task}
        source = (SOLUTIONS / self.lab / self.file).read_text(encoding="utf-8")
        marked = marked_functions(source)
        tasks = set()
        for edit in self.edits:
            if edit.old not in source:
                continue
            first = source[: source.index(edit.old)].count("\n") + 1
            last = first + edit.old.count("\n")
            tasks |= {task for start, end, task in marked if start <= first and last <= end}
        return tasks or {check_tasks[name] for name in self.caught_by if name in check_tasks}


def marked_functions(source: str) -> list[tuple[int, int, str]]:
    """(first line, last line, task) of every ``# Task N.K`` function, decorators and signature included."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            marks = [MARK.search(lines[n - 1]) for n in range(node.lineno, node.body[0].lineno)]
            marks = [m for m in marks if m]
            if marks:
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                found.append((start, node.end_lineno, marks[-1].group(1)))
    return found


def load_mistakes(kind: str = "mistake") -> list[Mistake]:
    """Every ``[[mistake]]`` (or, with ``kind="variant"``, every ``[[variant]]``) of tests/mistakes/."""
    mistakes = []
    for spec_file in sorted(HERE.glob("lab*.toml"), key=lambda p: int(p.stem[3:])):
        for raw in tomllib.loads(spec_file.read_text(encoding="utf-8")).get(kind, []):
            edits = raw.get("edits") or [{"old": raw["old"], "new": raw["new"]}]
            mistakes.append(
                Mistake(
                    lab=spec_file.stem,
                    name=raw["name"],
                    file=raw["file"],
                    edits=tuple(Edit(e["old"], e["new"]) for e in edits),
                    caught_by=tuple(raw.get("caught_by", ())),
                    task=raw.get("task"),
                    kind=kind,
                )
            )
    return mistakes


def load_variants() -> list[Mistake]:
    """The kept correct variants: each must get full marks."""
    return load_mistakes("variant")
