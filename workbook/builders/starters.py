"""Generate the student starters in ``labs/`` from the reference solutions in ``solutions/``.

A function the student writes is marked in the solution by a comment on the line that ends its signature::

    async def run_concurrently(delays: list[float]) -> list[str]:  # Task 1.3
        \"\"\"Run one slow_task per delay at the same time; return the results in input order.\"\"\"
        ...solution...

The starter keeps everything else — imports, signatures, type hints, docstrings (the task statement),
unmarked scaffolding — and replaces each marked body with
``raise NotImplementedError("Task 1.3: <title from checks/lab1/lab.toml>")``.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from workbook import catalog
from workbook.paths import CACHE_DIRS, LABS, SOLUTIONS

MARK = re.compile(r"#\s*Task\s+(\d+\.\d+)\b")
SKIP = CACHE_DIRS


@dataclass(frozen=True)
class Stub:
    task_id: str
    first_line: int  # 1-based, first line replaced
    last_line: int  # 1-based, last line replaced
    indent: str
    generator: bool


class MarkError(Exception):
    """A task mark the builder cannot use."""


def _is_generator(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True when the function itself (not a nested one) yields."""
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def find_stubs(source: str, filename: str = "<solution>") -> list[Stub]:
    lines = source.splitlines()
    stubs: list[Stub] = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body_start = node.body[0].lineno
        signature = range(node.lineno, body_start)
        marks = [(n, m) for n in signature if (m := MARK.search(lines[n - 1]))]
        if not marks:
            continue
        mark_line, match = marks[-1]
        first = node.body[0]
        has_docstring = (
            isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
        )
        if has_docstring and len(node.body) == 1:
            raise MarkError(f"{filename}:{node.lineno}: {node.name} is marked but has no body to hide")
        assert first.end_lineno is not None and node.end_lineno is not None  # ast.parse sets every end position
        start = first.end_lineno + 1 if has_docstring else mark_line + 1
        stubs.append(Stub(match.group(1), start, node.end_lineno, " " * node.body[0].col_offset, _is_generator(node)))
    # A marked function inside another marked function disappears with the outer body.
    stubs.sort(key=lambda s: s.first_line)
    outer: list[Stub] = []
    for stub in stubs:
        if outer and stub.first_line <= outer[-1].last_line:
            continue
        outer.append(stub)
    return outer


def stub_source(source: str, filename: str = "<solution>") -> str:
    """The starter version of one solution module."""
    lines = source.splitlines(keepends=True)
    for stub in reversed(find_stubs(source, filename)):
        task = catalog.task(stub.task_id)
        if task is None:
            raise MarkError(f"{filename}: Task {stub.task_id} is not in checks/{catalog.lab_of(stub.task_id)}/lab.toml")
        replacement = [f'{stub.indent}raise NotImplementedError("Task {task.id}: {task.title}")\n']
        if stub.generator:
            replacement.append(
                f"{stub.indent}yield  # unreachable: keeps this function a generator, as in the finished version\n"
            )
        lines[stub.first_line - 1 : stub.last_line] = replacement
    return "".join(lines)


def starter_files(solution_lab: Path) -> dict[Path, bytes]:
    """Relative path -> content of every file the starter for one lab contains."""
    files: dict[Path, bytes] = {}
    for path in sorted(solution_lab.rglob("*")):
        if path.is_dir() or any(part in SKIP for part in path.parts):
            continue
        relative = path.relative_to(solution_lab)
        if path.suffix == ".py":
            files[relative] = stub_source(path.read_text(encoding="utf-8"), str(path)).encode("utf-8")
        else:
            files[relative] = path.read_bytes()
    return files


def lab_dirs(solutions: Path = SOLUTIONS) -> list[Path]:
    return sorted((p for p in solutions.glob("lab*") if p.is_dir()), key=lambda p: int(p.name[3:]))


def build(solutions: Path = SOLUTIONS, labs: Path = LABS, only: str | None = None) -> list[Path]:
    """Write the starters; return the files written."""
    written = []
    for solution_lab in lab_dirs(solutions):
        if only and solution_lab.name != only:
            continue
        target = labs / solution_lab.name
        if target.exists():
            shutil.rmtree(target)
        for relative, content in starter_files(solution_lab).items():
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(content)
            written.append(out)
    return written


def drift(solutions: Path = SOLUTIONS, labs: Path = LABS) -> list[str]:
    """Files in labs/ that differ from what :func:`build` would write (empty when in sync)."""
    problems = []
    for solution_lab in lab_dirs(solutions):
        target = labs / solution_lab.name
        expected = starter_files(solution_lab)
        for relative, content in expected.items():
            actual = target / relative
            if not actual.exists():
                problems.append(f"missing: {actual}")
            elif actual.read_bytes() != content:
                problems.append(f"differs: {actual}")
        if target.exists():
            for path in target.rglob("*"):
                if (
                    path.is_file()
                    and not any(p in SKIP for p in path.parts)
                    and path.relative_to(target) not in expected
                ):
                    problems.append(f"extra: {path}")
    return problems
