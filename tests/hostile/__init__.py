"""A class of 20 submissions for testing ``grade``: honest ones and hostile ones, each with the score it must get.

Each folder here is one hostile submission. Its ``case.toml`` says what each lab starts from (``solution``,
``starter`` or ``absent``), exact ``[[edit]]``s to make, ``[links]`` (symbolic links to files of the workbook) and
what ``grade`` must report (``[expect]``: total points, status, and points per lab). Its other files are laid over
the lab folders: ``NAME.prepend`` goes at the top of the module ``NAME``, after its docstring and ``from
__future__`` import (so the hostile code runs when the checks import it, and the rest of the module is the starter
or the solution); ``NAME.fixture`` becomes ``NAME`` (stored under another name so that pytest never collects or
loads them in the project's own runs).

:data:`HONEST` lists the honest submissions in the same form: complete, partial, broken, with realistic mistakes
from ``tests/mistakes/``, nested in ``labs/``, zipped. :func:`make_class` writes all twenty into a folder.
Points: lab1 is worth 14, lab2 12, lab3 30 (56 in all); `tests/workbook/classgrading/test_grading.py` checks that against the checks.
"""

from __future__ import annotations

import io
import os
import shutil
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.mistakes import load_mistakes
from workbook.builders import starters
from workbook.paths import ROOT, SOLUTIONS

HERE = Path(__file__).parent
LABS = ("lab1", "lab2", "lab3")
MAX_POINTS = {"lab1": 14, "lab2": 12, "lab3": 30}


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    labs: dict[str, str]
    points: float
    status: str
    lab_points: dict[str, float] = field(default_factory=dict)
    edits: tuple[tuple[str, str, str], ...] = ()
    mistakes: tuple[str, ...] = ()  # ids of tests/mistakes entries
    links: dict[str, str] = field(default_factory=dict)
    overlay: Path | None = None
    layout: str = "flat"  # flat (alice/lab1/…), nested (alice/labs/lab1/…) or zip (alice.zip)
    junk: bool = False  # caches and stray files a real submission carries

    @property
    def hostile(self) -> bool:
        return self.overlay is not None or bool(self.links)


def _honest(name, description, labs, points, status="ok", **extra) -> Case:
    return Case(name=name, description=description, labs=labs, points=points, status=status, **extra)


ALL_SOLVED = {"lab1": "solution", "lab2": "solution", "lab3": "solution"}
HONEST = [
    _honest("alice-complete", "every lab solved", ALL_SOLVED, 56),
    _honest(
        "bob-complete-nested",
        "every lab solved, inside labs/, with caches and notes",
        ALL_SOLVED,
        56,
        layout="nested",
        junk=True,
    ),
    _honest("carol-starters", "the untouched starters", {lab: "starter" for lab in LABS}, 0),
    _honest(
        "dave-lab1-only",
        "lab1 solved, nothing else submitted",
        {"lab1": "solution"},
        14,
        "incomplete",
        lab_points={"lab1": 14, "lab2": 0, "lab3": 0},
    ),
    _honest(
        "erin-partial",
        "lab1 without task 1.3, lab2 solved, lab3 not started",
        {"lab1": "solution", "lab2": "solution", "lab3": "starter"},
        21,
        lab_points={"lab1": 9, "lab2": 12},
        edits=(
            (
                "lab1/runners.py",
                '    tasks = [asyncio.create_task(slow_task(f"task {i}", delay))'
                " for i, delay in enumerate(delays)]\n"
                "    return list(await asyncio.gather(*tasks))\n",
                '    raise NotImplementedError("Task 1.3: Run slow tasks concurrently")\n',
            ),
        ),
    ),
    _honest(
        "frank-mistake",
        "lab1 returns results in the order they finished",
        ALL_SOLVED,
        54,
        lab_points={"lab1": 12},
        mistakes=("lab1: results in the order the tasks finished",),
    ),
    _honest(
        "grace-mistake",
        "lab3 predicts the class index instead of its name",
        ALL_SOLVED,
        54,
        lab_points={"lab3": 28},
        mistakes=("lab3: predict_category returns the class index",),
    ),
    _honest(
        "heidi-syntax-error",
        "lab2/app.py does not parse",
        ALL_SOLVED,
        44,
        lab_points={"lab2": 0},
        edits=(("lab2/app.py", "async def fast() -> dict[str, str]:", "async def fast( -> dict[str, str]:"),),
    ),
    _honest(
        "judy-zip",
        "a zip with lab1 and lab2 solved",
        {"lab1": "solution", "lab2": "solution"},
        26,
        "incomplete",
        layout="zip",
    ),
]


def load_hostile() -> list[Case]:
    cases = []
    for spec in sorted(HERE.glob("*/case.toml")):
        raw = tomllib.loads(spec.read_text(encoding="utf-8"))
        expect = raw["expect"]
        cases.append(
            Case(
                name=f"hostile-{spec.parent.name}",
                description=raw["description"],
                labs=raw["labs"],
                points=expect["points"],
                status=expect["status"],
                lab_points=expect.get("labs", {}),
                edits=tuple((e["file"], e["old"], e["new"]) for e in raw.get("edit", [])),
                links=raw.get("links", {}),
                overlay=spec.parent,
            )
        )
    return cases


def all_cases() -> list[Case]:
    return HONEST + load_hostile()


def _lab_files(lab: str, base: str) -> dict[str, bytes]:
    if base == "starter":
        return {str(rel): data for rel, data in starters.starter_files(SOLUTIONS / lab).items()}
    return {
        str(p.relative_to(SOLUTIONS / lab)): p.read_bytes()
        for p in sorted((SOLUTIONS / lab).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _replace_once(files: dict[str, bytes], path: str, old: str, new: str, case: str) -> None:
    source = files[path].decode("utf-8")
    if source.count(old) != 1:
        raise AssertionError(f"{case}: the text to replace occurs {source.count(old)} times in {path}")
    files[path] = source.replace(old, new).encode("utf-8")


def _insert_at_top(module: bytes, code: bytes) -> bytes:
    """``code`` as the first statements of ``module``: after its docstring and ``from __future__`` imports."""
    lines = module.decode("utf-8").splitlines(keepends=True)
    future = [i for i, line in enumerate(lines) if line.startswith("from __future__ import")]
    at = future[-1] + 1 if future else 0
    return "".join(lines[:at] + ["\n", code.decode("utf-8"), "\n"] + lines[at:]).encode("utf-8")


def submission_files(case: Case) -> dict[str, bytes]:
    """Relative path (lab1/runners.py) -> content of the submission, before links and layout."""
    files: dict[str, bytes] = {}
    for lab, base in case.labs.items():
        if base != "absent":
            files.update({f"{lab}/{rel}": data for rel, data in _lab_files(lab, base).items()})
    mistakes = {m.id: m for m in load_mistakes()}
    for mistake_id in case.mistakes:
        mistake = mistakes[mistake_id]
        for edit in mistake.edits:
            _replace_once(files, f"{mistake.lab}/{mistake.file}", edit.old, edit.new, case.name)
    for path, old, new in case.edits:
        _replace_once(files, path, old, new, case.name)
    if case.overlay is not None:
        for path in sorted(case.overlay.rglob("*")):
            relative = path.relative_to(case.overlay).as_posix()
            if not path.is_file() or relative == "case.toml":
                continue
            if relative.endswith(".prepend"):
                target = relative.removesuffix(".prepend")
                files[target] = _insert_at_top(files.get(target, b""), path.read_bytes())
            else:
                files[relative.removesuffix(".fixture")] = path.read_bytes()
    if case.junk:
        files["lab1/__pycache__/runners.cpython-311.pyc"] = b"\x00not really bytecode"
        files["lab2/.ipynb_checkpoints/app-checkpoint.py"] = b"raise SystemExit('an old checkpoint')\n"
        files["NOTES.md"] = b"what I learned\n"
    return files


def write_case(case: Case, dest: Path) -> Path:
    """Write one submission into the folder ``dest`` (the class); return its path."""
    files = submission_files(case)
    if case.layout == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for relative, data in files.items():
                archive.writestr(f"{case.name}/{relative}", data)
        path = dest / f"{case.name}.zip"
        path.write_bytes(buffer.getvalue())
        return path
    folder = dest / case.name
    base = folder / "labs" if case.layout == "nested" else folder
    for relative, data in files.items():
        out = base / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    for link, target in case.links.items():
        path = base / link
        if path.is_dir():
            shutil.rmtree(path)
        path.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(ROOT / target, path)
    return folder


def make_class(dest: Path, cases: list[Case] | None = None) -> list[Case]:
    dest.mkdir(parents=True, exist_ok=True)
    cases = all_cases() if cases is None else cases
    for case in cases:
        write_case(case, dest)
    return cases
