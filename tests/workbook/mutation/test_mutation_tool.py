"""The mutator itself (no grading): what it mutates, what it leaves alone, and ids that survive unrelated edits."""

from __future__ import annotations

import ast

from workbook.mutation import engine as mutation
from workbook.mutation.engine import Record, match_records, mutants_of_source, sample

SOURCE = '''
import asyncio

LIMIT = 3  # module level: never mutated


def given(x):
    return x + 1


@app.get("/wait")
async def wait(delay: float, names: list[str]) -> dict:  # Task 9.1
    """Docstring: never mutated (``< 0``, 1, True)."""
    if delay < 0:
        raise ValueError(f"delay {delay} < 0")
    async with lock:
        await asyncio.sleep(delay)
    print("waited", delay)
    return {"route": "wait", "first": names[1:3], "ok": True and delay >= 0, "n": len(names) * 2}


def helper(a, b, *, key=None):  # Task 9.2
    def inner(value):  # Task 9.3
        return value - 1
    return sorted([a, b], key=key)


@app.get("/sync")
def sync_route():  # Task 9.4
    return {"ok": 1}
'''


def test_only_marked_functions_are_mutated_and_every_mutant_parses():
    mutants = mutants_of_source(SOURCE, "lab9", "app.py")
    assert mutants
    assert {m.function for m in mutants} == {"wait", "helper", "inner", "sync_route"}
    assert {m.task for m in mutants if m.function == "inner"} == {"9.3"}  # a nested mark is its own task
    for mutant in mutants:
        mutated = mutant.apply(SOURCE)
        assert ast.dump(ast.parse(mutated)) != ast.dump(ast.parse(SOURCE)), mutant.id
        assert '"""Docstring: never mutated (``< 0``, 1, True)."""' in mutated
        assert "LIMIT = 3" in mutated and "return x + 1" in mutated
        assert mutant.operator == "stmt" or 'f"delay {delay} < 0"' in mutated  # the message goes only with its raise


def test_the_operators_expected_here_all_appear():
    operators = {m.operator for m in mutants_of_source(SOURCE, "lab9", "app.py")}
    assert {
        "cmp",
        "bool",
        "arith",
        "const",
        "return",
        "stmt",
        "with",
        "await",
        "slice",
        "kwarg",
        "args",
        "str",
        "async",
    } <= operators


def test_messages_are_not_mutated():
    afters = {m.after for m in mutants_of_source(SOURCE, "lab9", "app.py") if m.operator == "str"}
    assert "'XXwaitedXX'" not in afters  # printed
    assert "'XXrouteXX'" in afters  # a JSON key is behaviour


def test_ids_are_stable_under_an_unrelated_edit_above():
    before = mutants_of_source(SOURCE, "lab9", "app.py")
    edited = SOURCE.replace("import asyncio\n", "import asyncio\nimport time\n\n\n")
    after = mutants_of_source(edited, "lab9", "app.py")
    assert [m.id for m in before] == [m.id for m in after]  # lines count from the def


def test_records_match_by_full_id_or_by_id_without_line_when_unique():
    mutants = mutants_of_source(SOURCE, "lab9", "app.py")
    target = next(m for m in mutants if m.operator == "await")
    task, function, operator, _line, digest = target.id.split(":")
    moved = Record(f"{task}:{function}:{operator}:+99:{digest}", "equivalent", "why")
    assert match_records(mutants, [moved]) == {target.id: moved}
    exact = Record(target.id, "irrelevant", "why")
    assert match_records(mutants, [exact]) == {target.id: exact}


def test_the_sample_is_stable_and_capped_per_task():
    mutants = mutants_of_source(SOURCE, "lab9", "app.py")
    kept = sample(mutants, 2)
    assert kept == sample(list(reversed(mutants)), 2)[::-1] or {m.id for m in kept} == {
        m.id for m in sample(list(reversed(mutants)), 2)
    }
    per_task = {}
    for m in kept:
        per_task[m.task] = per_task.get(m.task, 0) + 1
    assert max(per_task.values()) <= 2


def test_every_solution_lab_has_mutants_and_records_name_real_operators():
    for lab in ("lab1", "lab2", "lab3"):
        assert mutation.lab_mutants(lab), lab


def test_the_command_has_help_and_lists_mutants_without_grading():
    import subprocess
    import sys

    from workbook.paths import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "workbook", "mutate", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert (
        done.returncode == 0 and "usage: python -m workbook mutate" in done.stdout and "--max-per-task" in done.stdout
    )
    listed = subprocess.run(
        [sys.executable, "-m", "workbook", "mutate", "lab1", "--list", "--task", "1.1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0 and "+++ mutant 1.1:slow_task:" in listed.stdout
    assert "1.2:" not in listed.stdout


def test_lab_data_that_checks_read_is_part_of_the_cache_key():
    from checks.lab10.student_tests import UNPUBLISHED

    assert UNPUBLISHED in mutation.lab_data_files("lab10"), "lab 10's unpublished services must key its cache"
    assert mutation.lab_data_files("lab1") == [], "lab1_* must not match lab10_*: lab 1 has no such data"
    assert mutation.lab_data_digest("lab1") == (), "a lab without such data keeps the key it had"
