"""``reset labN [--task N.K]``: put back the untouched starter, after asking, keeping a backup of your files.

Where the starter comes from: generated from ``solutions/labN`` (exactly as ``build-starters`` does) in the
instructor's workbook, or the untouched copy in ``starters/labN`` that ``build --student`` ships in a student
copy, which has no ``solutions/``. Your current files go to ``.workbook/backups/<time>/labN/`` first.

``--task N.K`` resets only the functions of that task: their bodies become the starter's
``raise NotImplementedError`` again, and everything else in the file stays as you wrote it.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from workbook import catalog, local_state
from workbook.builders import starters
from workbook.paths import ROOT, SOLUTIONS
from workbook.target import TargetError, describe

PRISTINE = ROOT / "starters"  # written by `build --student`, read when solutions/ is absent


class ResetError(Exception):
    """The reset cannot be done; the message says why and what to do instead."""


def starter_files(lab: str, solutions: Path = SOLUTIONS, pristine: Path = PRISTINE) -> dict[Path, bytes]:
    """Relative path -> content of the untouched starter of ``lab``."""
    if (solutions / lab).is_dir():
        return starters.starter_files(solutions / lab)
    if (pristine / lab).is_dir():
        return {
            path.relative_to(pristine / lab): path.read_bytes()
            for path in sorted((pristine / lab).rglob("*"))
            if path.is_file() and not any(part in starters.SKIP for part in path.parts)
        }
    raise ResetError(f"no starter for {lab}: neither solutions/{lab}/ nor starters/{lab}/ exists here")


@dataclass
class Change:
    relative: Path  # inside the lab folder
    new: bytes
    what: str  # for the question and the report: "the whole file", "slow_task, run_concurrently"


def lab_changes(lab: str, lab_dir: Path, files: dict[Path, bytes]) -> list[Change]:
    """Every starter file that differs from (or is missing in) ``lab_dir``."""
    changes = []
    for relative, content in files.items():
        current = lab_dir / relative
        if not current.exists() or current.read_bytes() != content:
            what = "missing: restore it" if not current.exists() else "the whole file"
            changes.append(Change(relative, content, what))
    return changes


# --- one task's functions ---------------------------------------------------------------------------


def _functions(tree: ast.AST) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Qualified name (``Class.method``) -> function node, for every function in a module."""
    found = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + child.name] = child
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return found


def _marked(source: str, task_id: str) -> list[str]:
    """Qualified names of the functions marked ``# Task task_id`` on their signature."""
    lines = source.splitlines()
    names = []
    for name, node in _functions(ast.parse(source)).items():
        signature = range(node.lineno, node.body[0].lineno)
        marks = [starters.MARK.search(lines[n - 1]) for n in signature]
        if any(m and m.group(1) == task_id for m in marks):
            names.append(name)
    return names


def _body_span(node) -> tuple[int, int]:
    """First and last line (1-based) of the body without its docstring."""
    first = node.body[0]
    has_docstring = (
        isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    )
    if has_docstring and len(node.body) > 1:
        return first.end_lineno + 1, node.end_lineno
    if has_docstring:
        return first.end_lineno + 1, first.end_lineno  # nothing after the docstring: insert there
    return first.lineno, node.end_lineno


def reset_functions(current: str, starter: str, names: list[str], filename: str) -> tuple[str, list[str]]:
    """``current`` with the bodies of ``names`` replaced by the starter's; also the names not found."""
    try:
        mine = _functions(ast.parse(current))
    except SyntaxError as exc:
        raise ResetError(
            f"{filename}, line {exc.lineno}: Python cannot read this file ({exc.msg}), so its "
            "functions cannot be found. Fix the syntax, or reset the whole lab without --task."
        ) from None
    theirs = _functions(ast.parse(starter))
    lines = current.splitlines(keepends=True)
    starter_lines = starter.splitlines(keepends=True)
    missing = []
    for name in sorted(names, key=lambda n: mine[n].lineno if n in mine else 0, reverse=True):
        if name not in mine:
            missing.append(name)
            continue
        node = mine[name]
        if node.body[0].lineno == node.lineno:
            raise ResetError(
                f"{filename}: {name} has its body on the line of its signature; reset the whole "
                "lab without --task, or put the body on its own lines"
            )
        start, end = _body_span(theirs[name])
        replacement = starter_lines[start - 1 : end]
        old_indent = " " * theirs[name].body[-1].col_offset
        new_indent = " " * node.body[0].col_offset
        replacement = [
            new_indent + line[len(old_indent) :] if line.startswith(old_indent) else line for line in replacement
        ]
        my_start, my_end = _body_span(node)
        lines[my_start - 1 : my_end] = replacement
    return "".join(lines), missing


def task_changes(task_id: str, lab_dir: Path, files: dict[Path, bytes]) -> list[Change]:
    changes, notes = [], []
    for relative, content in files.items():
        if relative.suffix != ".py":
            continue
        starter = content.decode("utf-8")
        names = _marked(starter, task_id)
        if not names:
            continue
        path = lab_dir / relative
        if not path.exists():
            changes.append(Change(relative, content, "missing: restore the whole file"))
            continue
        current = path.read_text(encoding="utf-8")
        new, missing = reset_functions(current, starter, names, str(path))
        if missing:
            notes.append(
                f"{relative}: no function {', '.join(missing)} in your file (renamed?): reset the whole "
                "lab without --task to get it back"
            )
        if new != current:
            changes.append(Change(relative, new.encode("utf-8"), ", ".join(n for n in names if n not in missing)))
    if notes:
        raise ResetError("\n".join(notes))
    return changes


# --- applying ----------------------------------------------------------------------------------------


def apply(changes: list[Change], lab: str, lab_dir: Path) -> Path | None:
    """Back up the files about to change, then write the starter versions; return the backup folder."""
    backup = None
    existing = [c for c in changes if (lab_dir / c.relative).exists()]
    if existing:
        backup = local_state.state_dir() / "backups" / time.strftime("%Y%m%d-%H%M%S") / lab
        n = 1
        while backup.exists():
            n += 1
            backup = backup.parent.parent / f"{time.strftime('%Y%m%d-%H%M%S')}-{n}" / lab
        for change in existing:
            saved = backup / change.relative
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_bytes((lab_dir / change.relative).read_bytes())
    for change in changes:
        out = lab_dir / change.relative
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(change.new)
    return backup


def _confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}
    except EOFError:
        return False


def add_command(commands) -> None:
    parser = commands.add_parser(
        "reset",
        help="restore a lab's (or one task's) untouched starter, keeping a backup",
        description="Put back the untouched starter of labN — or, with --task N.K, only the bodies of that "
        "task's functions. Asks first; your current files are copied to .workbook/backups/.",
    )
    parser.add_argument("lab", metavar="LAB", help="the lab to reset, e.g. lab1")
    parser.add_argument("--task", metavar="N.K", help="reset only the functions of this task (e.g. 1.3)")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask")
    parser.add_argument(
        "--target", default="labs", metavar="labs|DIR", help="the folder laid out like labs/ to reset (default: labs)"
    )
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    from workbook.cli.status import resolve_existing_target

    labs = catalog.labs()
    if args.lab not in labs:
        print(f"reset: unknown lab {args.lab!r}; the workbook has {', '.join(labs)}", file=sys.stderr)
        return 2
    if args.task and args.task not in labs[args.lab].tasks:
        tasks = " ".join(labs[args.lab].tasks)
        print(f"reset: {args.task!r} is not a task of {args.lab} (its tasks: {tasks})", file=sys.stderr)
        return 2
    try:
        target = resolve_existing_target(args.target)
        if target == SOLUTIONS:
            raise TargetError("reset never touches solutions/: it is where the starters come from")
        lab_dir = target / args.lab
        files = starter_files(args.lab)
        changes = task_changes(args.task, lab_dir, files) if args.task else lab_changes(args.lab, lab_dir, files)
    except (ResetError, TargetError) as exc:
        print(f"reset: {exc}", file=sys.stderr)
        return 2
    where = f"{describe(target)}/{args.lab}"
    scope = f"Task {args.task}'s functions" if args.task else "the starter"
    if not changes:
        print(f"{where} already matches {scope}: nothing to reset.")
        return 0
    print(f"Reset {where} to {scope}:")
    for change in changes:
        print(f"  {change.relative}: {change.what}")
    if extra := sorted(
        str(p.relative_to(lab_dir))
        for p in lab_dir.rglob("*.py")
        if p.relative_to(lab_dir) not in files and "__pycache__" not in p.parts
    ):
        print(f"  (your own files stay as they are: {', '.join(extra)})")
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                "reset asks before it replaces your work; answer with --yes when there is no terminal", file=sys.stderr
            )
            return 2
        if not _confirm("Replace them? Your current files are backed up first."):
            print("Nothing changed.")
            return 1
    backup = apply(changes, args.lab, lab_dir)
    if backup:
        print(f"Done. Your previous files are in {_show(backup)}")
    else:
        print("Done.")
    return 0


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
