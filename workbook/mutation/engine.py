"""Mutation testing of the checks: how many small wrong versions of the reference does each lab's grading catch?

``python -m workbook mutate lab3 [--task 3.2] [--jobs 2]`` (authors; see CONTRIBUTING.md, "Mutation testing").

**What is mutated.** Only the student-written task functions of ``solutions/labN``: a function whose signature
ends with ``# Task N.K`` (the starter builder's mark, :data:`workbook.builders.starters.MARK`), and everything inside it
except its docstring and f-strings (messages). A nested function marked with its own task belongs to that task.
Scaffolding the student is given is never mutated.

**Operators** (a small AST mutator of our own: mutmut and its peers mutate a whole package through their own
trampolines and test runner, which fits neither the ``--target`` layout nor "only marked functions"). Each
mutant is one edit of the source text, the smallest node re-written with :func:`ast.unparse`:

=============  ==========================================================================================
``cmp``        ``<``→``<=``/``>=``, ``<=``→``<``/``>``, ``>``/``>=`` alike, ``==``↔``!=``, ``is``↔``is not``,
               ``in``↔``not in``
``bool``       ``and``↔``or``
``not``        ``not x``→``x``;  ``neg``: ``-x``→``x``
``arith``      ``+``↔``-``, ``*``↔``/``, ``//``→``/``, ``%``→``//``, ``**``→``*``, bit operators (also in ``+=``)
``const``      ``True``↔``False``, ``0``↔``1``, other numbers ``n``→``n + 1`` (strings are left alone)
``return``     ``return x``→``return None``
``stmt``       an expression statement (a call), ``raise``, ``x += …`` or an assignment to an attribute or
               item replaced by ``pass``
``with``       ``with lock:`` / ``async with …:`` without ``as`` → its body alone
``await``      ``await f()``→``f()``
``if``         ``if x:``/``while x:`` on a plain truth value → ``if not x:``
``args``       two neighbouring positional arguments swapped;  ``kwarg``: one keyword argument dropped
``slice``      ``a[i:j:k]`` with one bound (or the step) dropped
=============  ==========================================================================================

A mutant that does not parse or is the same program (same AST) is dropped.

**Identity.** ``TASK:FUNCTION:OPERATOR:+LINE:HASH`` — the line relative to the ``def``, and a short hash of the
function name, operator, replaced text and replacement. Records in ``tests/mutation/labN.toml`` match by the
full id, or, when the line moved (an unrelated edit above it), by everything but the line if that is unique.

**Grading a mutant.** The lab is copied into a scratch target laid out like ``labs/`` with the one file
mutated, and graded through ``--target`` exactly as ``grade`` does (:mod:`workbook.isolation.lab_process`: a signed result
channel, stall watch, one process per run, forked from a :mod:`workbook.isolation.fork_server` that has pytest and the
libraries imported). First only the checks of the mutant's task run (selected by node id from a collection-only
plan); a mutant they do not kill is graded again with the lab's other checks, as the checks of a later task may
catch it. A mutant is **killed** when any check reports anything but ``pass`` (fail, timeout, no result…).
Before any mutant, the unmutated copy must pass every check of the lab, or nothing is measured.

**Cost.** ``--jobs`` mutants at a time (default 2), each a fork, not a fresh Python; ``--max-per-task N`` keeps
the N mutants of each task with the smallest hash of their id (a stable, seeded sample: one new mutant
displaces at most one). Results are cached in ``.workbook/mutation/cache/`` under a hash of the mutated lab's
files, the lab's checks, the lab's data in ``tests/LAB_*`` that its checks read (lab 10's unpublished broken services),
the tooling (``workbook/``, ``labkit/``, ``conftest.py``, ``pyproject.toml``, ``requirements.txt``) and ``data/``: an
unchanged lab is not graded again.
"""

from __future__ import annotations

import ast
import copy
import difflib
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbook import catalog
from workbook.builders.starters import MARK, SKIP
from workbook.paths import CHECKS, ROOT, SOLUTIONS
from workbook.results import Status

VERSION = "1"  # part of every cache key: bump when what a mutant is or how it is judged changes (this room and
# cli/mutate.py are not in the tooling digest, so that editing the report does not re-grade every lab)
RECORDS = ROOT / "tests" / "mutation"
CACHE = ROOT / ".workbook" / "mutation" / "cache"
REPORTS = ROOT / ".workbook" / "mutation"
# equivalent / irrelevant: left out of the score. gap: a real gap in the checks, known and not yet closed; it is
# recorded so that a NEW survivor still fails the project's test, and it keeps counting against the score.
VERDICTS = ("equivalent", "irrelevant", "gap")
EXCUSED = ("equivalent", "irrelevant")

CMP = {
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
ARITH = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.BitXor: ast.BitAnd,
}


# --- the mutants ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    lab: str
    file: str  # relative to solutions/labN
    task: str
    function: str
    operator: str
    line: int  # absolute, 1-based, in the solution file
    rel_line: int  # relative to the function's `def` line
    start: int  # byte offsets of the replaced text in the file
    end: int
    before: str
    after: str

    @property
    def digest(self) -> str:
        text = "\0".join((self.function, self.operator, self.before, self.after))
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    @property
    def id(self) -> str:
        return f"{self.task}:{self.function}:{self.operator}:+{self.rel_line}:{self.digest}"

    @property
    def loose_id(self) -> str:  # the id without its line: matches a record after an unrelated edit above
        return f"{self.task}:{self.function}:{self.operator}:{self.digest}"

    def apply(self, source: str) -> str:
        data = source.encode("utf-8")
        return (data[: self.start] + self.after.encode("utf-8") + data[self.end :]).decode("utf-8")

    def diff(self, source: str, context: int = 1) -> str:
        lines = difflib.unified_diff(
            source.splitlines(keepends=True),
            self.apply(source).splitlines(keepends=True),
            f"solutions/{self.lab}/{self.file}",
            f"mutant {self.id}",
            n=context,
        )
        return "".join(lines)


def _offsets(source: str) -> list[int]:
    """Byte offset of the start of each line (1-based index: offsets[lineno - 1])."""
    offsets, total = [], 0
    for line in source.encode("utf-8").splitlines(keepends=True):
        offsets.append(total)
        total += len(line)
    offsets.append(total)
    return offsets


# A node with a place in the source text (a function, its statements and their expressions).
Located = ast.expr | ast.stmt
Function = ast.FunctionDef | ast.AsyncFunctionDef


def _span(offsets: list[int], node: Located) -> tuple[int, int]:
    # ast.parse sets the end position of every statement and expression; only hand-built nodes lack it.
    assert node.end_lineno is not None and node.end_col_offset is not None
    return offsets[node.lineno - 1] + node.col_offset, offsets[node.end_lineno - 1] + node.end_col_offset


def _paren(node: ast.AST) -> str:
    return f"({ast.unparse(node)})"


def _with(node: ast.AST, **changes) -> ast.AST:
    new = copy.deepcopy(node)
    for name, value in changes.items():
        setattr(new, name, value)
    return new


def _marked_functions(tree: ast.Module, lines: list[str]) -> list[tuple[str, Function]]:
    found: list[tuple[str, Function]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            searched = [MARK.search(lines[n - 1]) for n in range(node.lineno, node.body[0].lineno)]
            marks = [m for m in searched if m]
            if marks:
                found.append((marks[-1].group(1), node))
    return found


def _body(func: Function) -> list[ast.stmt]:
    body = list(func.body)
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        body = body[1:]
    return body


def _candidates(node: ast.AST, indent_of: Callable[[ast.stmt], str], quiet: set[int]) -> list[tuple[str, Located, str]]:
    """(operator, node whose text is replaced, replacement text) for one node."""
    out: list[tuple[str, Located, str]] = []
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new_op in CMP.get(type(op), ()):
                ops = list(node.ops)
                ops[i] = new_op()
                out.append(("cmp", node, _paren(_with(node, ops=ops))))
    elif isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        out.append(("bool", node, _paren(_with(node, op=other))))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        out.append(("not" if isinstance(node.op, ast.Not) else "neg", node, _paren(node.operand)))
    elif isinstance(node, ast.BinOp) and type(node.op) in ARITH:
        out.append(("arith", node, _paren(_with(node, op=ARITH[type(node.op)]()))))
    elif isinstance(node, ast.AugAssign) and type(node.op) in ARITH:
        out.append(("arith", node, ast.unparse(_with(node, op=ARITH[type(node.op)]()))))
    elif isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float)):
        value = node.value
        new: bool | int | float
        if isinstance(value, bool):
            new = not value
        elif value in (0, 1):
            new = type(value)(1 - value)
        else:
            new = value + 1
        out.append(("const", node, repr(new)))
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in quiet:
        out.append(("str", node, repr(f"XX{node.value}XX")))
    elif (
        isinstance(node, ast.Return)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and node.value.value is None)
    ):
        out.append(("return", node, "return None"))
    elif isinstance(node, ast.Await):
        out.append(("await", node, _paren(node.value)))
    elif isinstance(node, ast.Call):
        for i in range(len(node.args) - 1):
            a, b = node.args[i], node.args[i + 1]
            if isinstance(a, ast.Starred) or isinstance(b, ast.Starred) or ast.dump(a) == ast.dump(b):
                continue
            args = list(node.args)
            args[i], args[i + 1] = b, a
            out.append(("args", node, ast.unparse(_with(node, args=args))))
        for i, keyword in enumerate(node.keywords):
            if keyword.arg is not None:
                out.append(
                    ("kwarg", node, ast.unparse(_with(node, keywords=node.keywords[:i] + node.keywords[i + 1 :])))
                )
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        for part in ("lower", "upper", "step"):
            if getattr(node.slice, part) is not None:
                out.append(("slice", node, ast.unparse(_with(node, slice=_with(node.slice, **{part: None})))))
    if (
        isinstance(node, (ast.Raise, ast.AugAssign))
        or (isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant))
        or (isinstance(node, ast.Assign) and all(isinstance(t, (ast.Attribute, ast.Subscript)) for t in node.targets))
    ):
        out.append(("stmt", node, "pass"))
    if isinstance(node, (ast.With, ast.AsyncWith)) and all(item.optional_vars is None for item in node.items):
        indent = indent_of(node)
        text = "\n".join(ast.unparse(stmt) for stmt in node.body)
        out.append(("with", node, text.replace("\n", "\n" + indent)))
    if isinstance(node, (ast.If, ast.While)) and isinstance(node.test, (ast.Name, ast.Attribute, ast.Call)):
        out.append(("if", node.test, f"not {_paren(node.test)}"))
    return out


def _walk(nodes: Sequence[ast.AST], marked: set[int]) -> Iterator[ast.AST]:
    """Every node under ``nodes``, minus f-strings, annotations and functions marked with their own task."""
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.JoinedStr):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and id(node) in marked:
            continue
        yield node
        children: list[ast.AST] = []
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "decorator_list", "type_comment"):
                continue
            if isinstance(value, list):
                children.extend(v for v in value if isinstance(v, ast.AST))
            elif isinstance(value, ast.AST):
                children.append(value)
        stack.extend(reversed(children))


LOGGING_CALLS = {"print", "debug", "info", "warning", "warn", "error", "exception", "critical", "log"}


def _message_strings(tree: ast.Module) -> set[int]:
    """Strings that are messages, not behaviour: exception arguments and what is printed or logged."""
    quiet: set[int] = set()
    for node in ast.walk(tree):
        is_log = isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id in LOGGING_CALLS)
            or (isinstance(node.func, ast.Attribute) and node.func.attr in LOGGING_CALLS)
        )
        if isinstance(node, ast.Raise) or is_log:
            quiet.update(id(n) for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return quiet


def _async_toggle(source: str, offsets: list[int], func: Function) -> tuple[int, int, str, str] | None:
    """``async def`` -> ``def`` when the body awaits nothing itself; ``def`` -> ``async def`` for a decorated
    function (a route: FastAPI then runs it on the event loop instead of in a thread)."""
    start = offsets[func.lineno - 1] + func.col_offset
    if isinstance(func, ast.AsyncFunctionDef):
        awaits = any(
            isinstance(n, (ast.Await, ast.AsyncFor, ast.AsyncWith))
            for n in _walk(func.body, {id(func)})
            if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        )
        if awaits or _is_generator_like(func):
            return None
        text = source.encode("utf-8")[start : start + 9].decode("utf-8")
        return (start, start + 9, text, "def") if text == "async def" else None
    if func.decorator_list and not _is_generator_like(func):
        return start, start + 3, "def", "async def"
    return None


def _is_generator_like(func: Function) -> bool:
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _walk(func.body, {id(func)}))


def mutants_of_source(source: str, lab: str, file: str) -> list[Mutant]:
    tree = ast.parse(source)
    original = ast.dump(tree)
    lines = source.splitlines()
    offsets = _offsets(source)
    functions = _marked_functions(tree, lines)
    marked = {id(func) for _, func in functions}
    found: dict[str, Mutant] = {}

    def indent_of(node: ast.stmt) -> str:
        return " " * node.col_offset

    quiet = _message_strings(tree)
    for task, func in functions:
        header = _async_toggle(source, offsets, func)
        if header is not None:
            start, end, before, after = header
            found_one = Mutant(lab, file, task, func.name, "async", func.lineno, 0, start, end, before, after)
            found[found_one.id] = found_one
        for node in _walk(_body(func), marked - {id(func)}):
            for operator, replaced, after in _candidates(node, indent_of, quiet):
                start, end = _span(offsets, replaced)
                before = source.encode("utf-8")[start:end].decode("utf-8")
                mutant = Mutant(
                    lab,
                    file,
                    task,
                    func.name,
                    operator,
                    replaced.lineno,
                    replaced.lineno - func.lineno,
                    start,
                    end,
                    before,
                    after,
                )
                try:
                    mutated = ast.dump(ast.parse(mutant.apply(source)))
                except SyntaxError:
                    continue
                if mutated != original and mutant.id not in found:
                    found[mutant.id] = mutant
    return sorted(found.values(), key=lambda m: (m.line, m.start, m.operator, m.after))


def lab_mutants(lab: str, solutions: Path = SOLUTIONS) -> list[Mutant]:
    mutants = []
    for path in sorted((solutions / lab).rglob("*.py")):
        if any(part in SKIP for part in path.parts):
            continue
        file = path.relative_to(solutions / lab).as_posix()
        mutants += mutants_of_source(path.read_text(encoding="utf-8"), lab, file)
    return mutants


def sample(mutants: list[Mutant], per_task: int | None) -> list[Mutant]:
    """At most ``per_task`` mutants of each task: those with the smallest hash of their id (stable)."""
    if per_task is None:
        return mutants
    by_task: dict[str, list[Mutant]] = {}
    for mutant in mutants:
        by_task.setdefault(mutant.task, []).append(mutant)
    keep: set[str] = set()
    for group in by_task.values():
        ranked = sorted(group, key=lambda m: hashlib.sha256(m.id.encode()).hexdigest())
        keep.update(m.id for m in ranked[:per_task])
    return [m for m in mutants if m.id in keep]


# --- records of accepted survivors --------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    id: str
    verdict: str
    why: str

    @property
    def loose_id(self) -> str:
        task, function, operator, _line, digest = self.id.split(":")
        return f"{task}:{function}:{operator}:{digest}"


def load_records(lab: str, folder: Path = RECORDS) -> list[Record]:
    path = folder / f"{lab}.toml"
    if not path.exists():
        return []
    records = []
    for raw in tomllib.loads(path.read_text(encoding="utf-8")).get("survivor", []):
        record = Record(raw["id"], raw["verdict"], raw.get("why", "").strip())
        if record.verdict not in VERDICTS or not record.why or record.id.count(":") != 4:
            raise ValueError(
                f"{path}: {record.id!r} needs an id TASK:FUNCTION:OPERATOR:+LINE:HASH, a verdict in "
                f"{VERDICTS} and a one-line why"
            )
        records.append(record)
    return records


def match_records(mutants: list[Mutant], records: list[Record]) -> dict[str, Record]:
    """Mutant id -> its record: by full id, else by the id without the line when that is unique on both sides."""
    by_id = {r.id: r for r in records}
    matched = {m.id: by_id[m.id] for m in mutants if m.id in by_id}
    loose_mutants: dict[str, list[Mutant]] = {}
    for m in mutants:
        loose_mutants.setdefault(m.loose_id, []).append(m)
    loose_records: dict[str, list[Record]] = {}
    for r in records:
        loose_records.setdefault(r.loose_id, []).append(r)
    for loose, group in loose_mutants.items():
        if len(group) == 1 and len(loose_records.get(loose, [])) == 1 and group[0].id not in matched:
            record = loose_records[loose][0]
            if record.id not in {m.id for m in mutants}:
                matched[group[0].id] = record
    return matched


# --- grading mutants --------------------------------------------------------------------------------------


def _tree_digest(paths: list[Path], base: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        if path.is_file() and not any(part in SKIP for part in path.parts) and path.suffix not in (".pyc",):
            digest.update(path.relative_to(base).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _is_mutation_tool(path: Path) -> bool:
    """This room and its command (``workbook/mutation/``, ``workbook/cli/mutate.py``): they count through VERSION."""
    relative = path.relative_to(ROOT / "workbook").parts
    return relative[0] == "mutation" or relative == ("cli", "mutate.py")


def tooling_digest() -> str:
    """What grading depends on besides the lab: the mutation tool itself counts through :data:`VERSION` only."""
    paths = [
        *(p for p in (ROOT / "workbook").rglob("*.py") if not _is_mutation_tool(p)),
        *(ROOT / "labkit").rglob("*.py"),
        *(ROOT / "data").rglob("*"),
        *(ROOT / name for name in ("conftest.py", "pyproject.toml", "requirements.txt")),
    ]
    return _tree_digest([p for p in paths if p.exists()], ROOT)


def lab_data_files(lab: str) -> list[Path]:
    """The lab's data kept out of a student's copy, which its checks read where it exists: ``tests/LAB_*``
    (lab 10's unpublished broken services, ``tests/lab10_unpublished_services.toml``)."""
    return sorted((ROOT / "tests").glob(f"{lab}_*"))


def lab_data_digest(lab: str) -> tuple[str, ...]:
    """Part of the cache key when the lab has such data (empty otherwise, so other labs' keys do not change):
    a new unpublished service grades every mutant of its lab again."""
    files = lab_data_files(lab)
    return (_tree_digest(files, ROOT),) if files else ()


@dataclass
class Outcome:
    id: str
    task: str
    killed: bool
    by: list[str] = field(default_factory=list)  # "status: check name" of the checks that noticed
    stage: str = "task"  # "task": its task's checks; "lab": the lab's other checks; "" survived both
    seconds: float = 0.0
    cached: bool = False


@dataclass
class LabReport:
    lab: str
    mutants: list[Mutant]
    outcomes: dict[str, Outcome]
    records: dict[str, Record]
    stale_records: list[Record]
    seconds: float
    graded: int  # mutants actually graded (not from the cache)
    baseline_seconds: float = 0.0

    def survivors(self) -> list[Mutant]:
        return [m for m in self.mutants if not self.outcomes[m.id].killed]

    def unrecorded(self) -> list[Mutant]:
        return [m for m in self.survivors() if m.id not in self.records]

    def score(self) -> tuple[int, int]:
        """(killed, non-equivalent): survivors recorded as equivalent or irrelevant are left out of both; a known
        gap still counts as a survivor."""
        killed = sum(self.outcomes[m.id].killed for m in self.mutants)
        excused = sum(1 for m in self.survivors() if m.id in self.records and self.records[m.id].verdict in EXCUSED)
        return killed, len(self.mutants) - excused

    def as_dict(self) -> dict:
        killed, counted = self.score()
        tasks: dict[str, dict[str, int]] = {}
        for m in self.mutants:
            row = tasks.setdefault(m.task, {"mutants": 0, "killed": 0, "survived": 0, "recorded": 0})
            row["mutants"] += 1
            if self.outcomes[m.id].killed:
                row["killed"] += 1
            else:
                row["survived"] += 1
                row["recorded"] += m.id in self.records
        return {
            "lab": self.lab,
            "mutants": len(self.mutants),
            "killed": killed,
            "non_equivalent": counted,
            "score": round(killed / counted, 4) if counted else 1.0,
            "seconds": round(self.seconds, 1),
            "graded": self.graded,
            "baseline_seconds": round(self.baseline_seconds, 1),
            "seconds_per_graded_mutant": round(self.seconds / self.graded, 2) if self.graded else 0.0,
            "tasks": tasks,
            "survivors": [
                {
                    "id": m.id,
                    "recorded": self.records[m.id].verdict if m.id in self.records else None,
                    "diff": m.diff((SOLUTIONS / m.lab / m.file).read_text(encoding="utf-8")),
                }
                for m in self.survivors()
            ],
            "unrecorded": [m.id for m in self.unrecorded()],
            "stale_records": [r.id for r in self.stale_records],
            "recorded_but_killed": [m.id for m in self.mutants if m.id in self.records and self.outcomes[m.id].killed],
            "outcomes": {k: asdict(v) for k, v in self.outcomes.items()},
        }


class MutationError(Exception):
    """The lab cannot be measured (its checks do not pass on the unmutated solution, or cannot be collected)."""


class Runner:
    """Grades lab copies through ``--target`` with lab_process, forked from one warm fork server."""

    def __init__(self, fork: bool = True) -> None:
        from workbook.isolation import lab_process
        from workbook.isolation.fork_server import ForkServer, ForkServerError

        self.lp = lab_process
        self.keeper = lab_process.ProcessKeeper()
        self.keeper.become_subreaper()  # this is the CLI's own process: what a mutant leaves behind is ours to kill
        self.server = None
        if fork and sys.platform.startswith("linux"):
            try:
                with self.keeper.lock:
                    self.server = ForkServer(warm=ROOT)  # every mutant's run finds the reference models trained
                    self.keeper.active.add(self.server.process.pid)
            except (OSError, ForkServerError):
                self.server = None

    def kill_runs(self) -> None:
        server = self.server.process.pid if self.server is not None else None
        with self.keeper.lock:
            running = [pid for pid in self.keeper.active if pid != server]
        for pid in running:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.keeper.active.discard(self.server.process.pid)
        self.keeper.reap_orphans()

    def grade(self, lab: str, files: dict[str, str], checks: list, stop_at_first: bool = False) -> list:
        """Grade ``solutions/lab`` with ``files`` (relative path -> text) replaced, on the planned ``checks``."""
        scratch = Path(tempfile.mkdtemp(prefix=f"workbook-mutant-{lab}-"))
        try:
            target = scratch / "target"
            shutil.copytree(SOLUTIONS / lab, target / lab, ignore=shutil.ignore_patterns(*SKIP))
            for relative, text in files.items():
                (target / lab / relative).write_text(text, encoding="utf-8")
            home = scratch / "home"
            home.mkdir()
            command = self.lp.pytest_command(ROOT, [c.nodeid for c in checks], target, scratch / "basetemp")
            if stop_at_first:
                command.append("-x")  # one failing check kills the mutant: the rest report "no result"
            wall = sum(c.timeout or 10.0 for c in checks) + 30.0
            raw = self.lp.run_pytest(
                command,
                cwd=ROOT,
                env=self.lp.child_environment(ROOT, home),
                wall_limit=wall,
                keeper=self.keeper,
                fork_server=self.server,
            )
            return self.lp.outcomes(lab, checks, raw, wall).checks
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _noticed(results) -> list[str]:
    """The checks that noticed: anything but pass (after -x, the checks not run report "no-result" last)."""
    failed = [r for r in results if r.status != "pass"]
    failed.sort(key=lambda r: r.status == Status.NO_RESULT)
    return [f"{r.status}: {r.name}" for r in failed]


def run_lab(
    lab: str,
    *,
    tasks: list[str] | None = None,
    jobs: int = 2,
    per_task: int | None = None,
    use_cache: bool = True,
    fork: bool = True,
    progress=lambda line: None,
) -> LabReport:
    from workbook.isolation import lab_process

    started = time.perf_counter()
    mutants = [m for m in lab_mutants(lab) if tasks is None or m.task in tasks]
    mutants = sample(mutants, per_task)
    try:
        plan = lab_process.collect_plan(ROOT, [lab])[lab]
    except lab_process.PlanError as exc:
        raise MutationError(str(exc)) from None
    by_task: dict[str, list] = {}
    for check in plan:
        by_task.setdefault(check.task, []).append(check)
    key_base = hashlib.sha256(
        "\0".join(
            (
                VERSION,
                lab,
                tooling_digest(),
                _tree_digest(list((CHECKS / lab).rglob("*")), CHECKS / lab),
                _tree_digest(list((SOLUTIONS / lab).rglob("*")), SOLUTIONS / lab),
                *lab_data_digest(lab),
            )
        ).encode()
    ).hexdigest()
    sources = {m.file: (SOLUTIONS / lab / m.file).read_text(encoding="utf-8") for m in mutants}
    CACHE.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, Outcome] = {}
    todo: list[Mutant] = []
    for mutant in mutants:
        cached = CACHE / f"{_key(key_base, mutant, sources)}.json"
        if use_cache and cached.exists():
            outcomes[mutant.id] = Outcome(**{**json.loads(cached.read_text()), "cached": True})
        else:
            todo.append(mutant)
    report = LabReport(lab, mutants, outcomes, {}, [], 0.0, len(todo))
    if todo:
        runner = Runner(fork=fork)
        try:
            base_start = time.perf_counter()
            baseline = runner.grade(lab, {}, plan)
            report.baseline_seconds = time.perf_counter() - base_start
            if failing := _noticed(baseline):
                raise MutationError(
                    f"{lab}: the unmutated solution does not pass its own checks "
                    f"({'; '.join(failing[:5])}): nothing can be measured"
                )
            progress(
                f"{lab}: baseline passes ({report.baseline_seconds:.1f} s); grading {len(todo)} mutants, "
                f"{jobs} at a time ({len(mutants) - len(todo)} from the cache)"
            )
            lock = threading.Lock()
            stopping = threading.Event()
            done = [0]

            def one(mutant: Mutant) -> None:
                t0 = time.perf_counter()
                files = {mutant.file: mutant.apply(sources[mutant.file])}
                own = by_task.get(mutant.task, [])
                noticed = _noticed(runner.grade(lab, files, own, True)) if own else []
                stage = "task"
                if not noticed:
                    others = [c for c in plan if c.task != mutant.task]
                    noticed = _noticed(runner.grade(lab, files, others, True)) if others else []
                    stage = "lab" if noticed else ""
                if stopping.is_set():  # its run was killed by us, not by a check: no verdict, nothing cached
                    return
                outcome = Outcome(
                    mutant.id, mutant.task, bool(noticed), noticed[:5], stage, round(time.perf_counter() - t0, 2)
                )
                (CACHE / f"{_key(key_base, mutant, sources)}.json").write_text(json.dumps(asdict(outcome)))
                with lock:
                    outcomes[mutant.id] = outcome
                    done[0] += 1
                    word = "killed" if outcome.killed else "SURVIVED"
                    progress(f"  [{done[0]}/{len(todo)}] {word:<8} {outcome.seconds:5.1f} s  {mutant.id}")

            pool = ThreadPoolExecutor(max_workers=max(1, jobs))
            try:
                for future in [pool.submit(one, m) for m in todo]:
                    future.result()
            except BaseException:
                stopping.set()
                pool.shutdown(wait=False, cancel_futures=True)
                runner.kill_runs()  # the runs in flight end now; their threads then return
                raise
            finally:
                pool.shutdown(wait=True)
        finally:
            runner.close()
    records = load_records(lab)
    report.records = match_records(mutants, records)
    used = {r.id for r in report.records.values()}
    all_ids = {m.id for m in lab_mutants(lab)}
    report.stale_records = [
        r for r in records if r.id not in used and r.id not in all_ids and tasks is None and per_task is None
    ]
    report.seconds = time.perf_counter() - started
    return report


def _key(key_base: str, mutant: Mutant, sources: dict[str, str]) -> str:
    text = "\0".join((key_base, mutant.file, mutant.apply(sources[mutant.file])))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- the command --------------------------------------------------------------------------------------


def print_report(report: LabReport, out=sys.stdout) -> None:
    data = report.as_dict()
    write = lambda line="": print(line, file=out)  # noqa: E731
    write(f"{report.lab}: mutation testing of the checks")
    write(f"  {'task':<6}{'mutants':>8}{'killed':>8}{'survived':>10}{'recorded':>10}")
    for task, row in sorted(data["tasks"].items(), key=lambda kv: catalog.task_sort_key(kv[0])):
        write(f"  {task:<6}{row['mutants']:>8}{row['killed']:>8}{row['survived']:>10}{row['recorded']:>10}")
    source_of = {}
    for mutant in report.survivors():
        record = report.records.get(mutant.id)
        if mutant.file not in source_of:
            source_of[mutant.file] = (SOLUTIONS / report.lab / mutant.file).read_text(encoding="utf-8")
        label = f"recorded as {record.verdict}: {record.why}" if record else "NOT RECORDED: a gap in the checks?"
        write()
        write(f"survivor {mutant.id}  ({label})")
        write(mutant.diff(source_of[mutant.file]).rstrip())
    for record in report.stale_records:
        write(f"\nstale record (no such mutant any more): {record.id}")
    for mutant_id in data["recorded_but_killed"]:
        write(f"\nrecorded, but a check kills it now (remove the record): {mutant_id}")
    killed, counted = data["killed"], data["non_equivalent"]
    write()
    write(
        f"{report.lab}: {data['mutants']} mutants, {killed} killed, {len(report.survivors())} survived "
        f"({sum(r.verdict in EXCUSED for r in report.records.values())} recorded as equivalent/irrelevant, "
        f"{sum(r.verdict == 'gap' for r in report.records.values())} as known gaps); "
        f"score {killed} / {counted} = {100 * data['score']:.1f} %"
    )
    write(
        f"{report.lab}: {data['seconds']:.1f} s in all, {report.graded} mutants graded "
        f"({data['seconds_per_graded_mutant']:.2f} s each, wall clock, with the baseline), "
        f"{len(report.mutants) - report.graded} from the cache"
    )
