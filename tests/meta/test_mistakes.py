"""Each known-wrong implementation in tests/mistakes/ is caught, and charged to its own task.

One grader run of the mistake's whole lab serves two assertions:

* caught: every check named in ``caught_by`` reports ``fail`` or ``timeout``;
* attributed: every other check that loses points grades the mistake's own task (see
  ``tests/mistakes/__init__.py`` for which task that is), or its message names that task ("this needs
  Task 3.3 to work first"), so a student is never sent to fix the wrong task. An import error is the
  exception: a module that fails to import stops every check that needs it, and its message names the
  file and line to fix.

Checks of ``ISOLATED`` tasks never run the student's other code (Task 10.6 runs the student's tests against
the reference service), and take long: they run only for mistakes of their own task. A check marked
``needs(...)`` with the mistake's task names that task in every failure by construction, so it runs only
when the mistake's ``caught_by`` names it (this spares the real-server checks of lab 9 a hang of 120 s
behind a broken micro-batcher).

The kept correct variants (``[[variant]]``) must get full marks.

Each run is forked from a warm process (``tests.support.runner.fork_server``, as ``grade`` does), and is stopped only when it
makes no progress, never at a fixed wall-clock limit: on a loaded machine a lab's checks just take longer.
"""

import pytest

from tests.mistakes import load_mistakes, load_variants
from tests.support.runner import BACKSTOP, run_checks

MISTAKES = load_mistakes()
VARIANTS = load_variants()
CAUGHT = {"fail", "timeout"}
ISOLATED = {"10.6": "checks/lab10/test_your_tests.py"}


def test_every_lab_keeps_at_least_two_mistakes():
    from workbook import catalog

    per_lab = {lab: sum(m.lab == lab for m in MISTAKES) for lab in catalog.labs()}
    assert all(count >= 2 for count in per_lab.values()), per_lab


def _ignored(mistake) -> tuple[str, ...]:
    """``--ignore``/``--deselect`` options for checks that cannot charge another task for this mistake."""
    from workbook import catalog

    own = mistake.own_tasks({})  # empty when only the checks' tasks could tell: then skip nothing
    if not own:
        return ()
    options = [
        option
        for task, path in ISOLATED.items()
        if catalog.lab_of(task) == mistake.lab and task not in own
        for option in ("--ignore", path)
    ]
    for nodeid, (task, needs) in _marked_checks(mistake.lab).items():
        name = nodeid.rsplit("::", 1)[-1]
        if task not in own and set(needs) & own and not any(c.split("[")[0] == name for c in mistake.caught_by):
            options += ["--deselect", nodeid]
    return tuple(options)


def _marked_checks(lab: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """nodeid -> (task, needs) of every check function in checks/<lab>/, read from its decorators."""
    import ast

    from workbook.paths import ROOT

    found = {}
    for path in sorted((ROOT / "checks" / lab).glob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            marks = {ast.unparse(d.func): d for d in node.decorator_list if isinstance(d, ast.Call)}
            if "pytest.mark.task" in marks and "pytest.mark.needs" in marks:
                task = ast.literal_eval(marks["pytest.mark.task"].args[0])
                needs = tuple(ast.literal_eval(a) for a in marks["pytest.mark.needs"].args)
                found[f"checks/{lab}/{path.name}::{node.name}"] = (task, needs)
    return found


@pytest.mark.timeout(BACKSTOP)
@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.id)
def test_mistake_is_caught_and_charged_to_its_task(mistake, tmp_path):
    target = mistake.apply(tmp_path)
    run = run_checks(f"checks/{mistake.lab}", target=target, extra=_ignored(mistake), fork=True)
    checks = run.by_name()
    for name in mistake.caught_by:
        assert name in checks, f"no check named {name} ran for {mistake.lab}: {sorted(checks)}"
        assert checks[name]["status"] in CAUGHT, (
            f"{mistake.id!r} should be caught by {name}, which reported {checks[name]['status']!r}.\n"
            f"{run.output[-2000:]}"
        )
    own = mistake.own_tasks({name: check["task"] for name, check in checks.items()})
    misattributed = {
        f"{name} (Task {check['task']}, {check['status']})": check["message"]
        for name, check in checks.items()
        if check["status"] not in ("pass", "import-error", "not-run")
        and check["task"] not in own
        and not any(f"Task {task}" in check["message"] for task in own)
    }
    assert not misattributed, (
        f"{mistake.id!r} is a mistake of Task {', '.join(sorted(own))}, but checks of other tasks lose points "
        f"without naming it: {misattributed}"
    )


@pytest.mark.timeout(BACKSTOP)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
def test_correct_variant_gets_full_marks(variant, tmp_path):
    target = variant.apply(tmp_path)
    run = run_checks(f"checks/{variant.lab}", target=target, fork=True)
    failing = {c["name"]: f"{c['status']}: {c['message']}" for c in run.grade["checks"] if c["status"] != "pass"}
    assert run.grade["checks"], f"{variant.id!r}: no check ran"
    assert not failing, f"{variant.id!r} is correct code, yet these checks fail: {failing}"
