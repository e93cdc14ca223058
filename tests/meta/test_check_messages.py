"""Every failure a student can meet reads as a sentence, and every hint names only what exists.

* Every ``assert`` in ``checks/`` carries a message (a bare ``assert x == y`` would reach the student as
  pytest's re-evaluation of the expression).
* ``pytest.raises`` in ``checks/`` goes through ``workbook.checkkit.checking.raises``, which names the call and the
  input the check tried instead of a bare "DID NOT RAISE".
* Every identifier in a backticked span of a ``lab.toml`` hint exists in the solution files that hold the
  task's ``# Task N.K`` functions, or in the lab's notebook (a hint that says ``uuid4`` while the solution
  uses the log's request id sends the student astray).
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import keyword
import re
import tokenize
from pathlib import Path

import pytest

from workbook import catalog
from workbook.paths import ROOT, SOLUTIONS

CHECK_FILES = sorted((ROOT / "checks").rglob("*.py"))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:100]}"


@pytest.mark.parametrize("path", CHECK_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_assert_in_the_checks_carries_a_message(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bare = [_where(path, node) for node in ast.walk(tree) if isinstance(node, ast.Assert) and node.msg is None]
    assert not bare, "asserts without a message for the student:\n" + "\n".join(bare)


@pytest.mark.parametrize("path", CHECK_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_checks_say_which_call_did_not_raise(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bare = [
        _where(path, node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "pytest.raises"
    ]
    assert not bare, (
        "use workbook.checkkit.checking.raises(Error, 'the call and its input') instead of pytest.raises:\n"
        + "\n".join(bare)
    )


def _names_in(code: str) -> set[str]:
    """The Python names in a snippet, outside string literals (a regex fallback for non-Python text)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
        return {t.string for t in tokens if t.type == tokenize.NAME}
    except (tokenize.TokenError, IndentationError, SyntaxError):
        without_strings = re.sub(r"(\"[^\"]*\"|'[^']*')", " ", code)
        return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", without_strings))


def _known_words(lab: str, task_id: str) -> set[str]:
    sources = [p.read_text(encoding="utf-8") for p in (SOLUTIONS / lab).rglob("*.py")]
    text = [source for source in sources if re.search(rf"#\s*Task\s+{re.escape(task_id)}\b", source)]
    info = catalog.labs()[lab]
    notebook = ROOT / "notebooks" / info.notebook
    if notebook.exists():
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        text += ["".join(cell["source"]) for cell in cells]
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(text))) | set(dir(builtins)) | set(keyword.kwlist)


@pytest.mark.parametrize("lab", sorted(catalog.labs(), key=lambda name: int(name[3:])))
def test_hints_name_only_what_the_solution_or_notebook_has(lab):
    unknown = []
    for task_id, task in catalog.labs()[lab].tasks.items():
        known = _known_words(lab, task_id)
        for hint in task.hints:
            for span in re.findall(r"`([^`]+)`", hint):
                missing = sorted(n for n in _names_in(span) if n not in known)
                if missing:
                    unknown.append(f"Task {task_id}: `{span}` names {', '.join(missing)}")
    assert not unknown, (
        f"hints in checks/{lab}/lab.toml name what neither the task's files in "
        f"solutions/{lab}/ nor the notebook has:\n" + "\n".join(unknown)
    )
