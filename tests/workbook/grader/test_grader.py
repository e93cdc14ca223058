"""The grader itself: isolation of broken code, timeouts, statuses, the JSON and the score table."""

import shutil

from tests.support.runner import run_checks
from workbook import results
from workbook.grader import plugin as grader
from workbook.paths import CHECKS, SOLUTIONS
from workbook.results import GRADER_STATUSES, SCHEMA_VERSION


def make_target(tmp_path, *labs: str):
    for lab in labs:
        shutil.copytree(SOLUTIONS / lab, tmp_path / lab, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_syntax_error_fails_only_its_own_lab(tmp_path):
    target = make_target(tmp_path, "lab1", "lab2")
    runners = target / "lab1" / "runners.py"
    runners.write_text(runners.read_text() + "\ndef broken(:\n")
    run = run_checks("checks/lab1", "checks/lab2", target=target)
    by_lab = {}
    for check in run.grade["checks"]:
        by_lab.setdefault(check["lab"], set()).add(check["status"])
    assert by_lab == {"lab1": {"import-error"}, "lab2": {"pass"}}, by_lab
    message = next(c["message"] for c in run.grade["checks"] if c["lab"] == "lab1")
    assert "runners.py, line" in message and "Traceback" not in run.output


def test_exit_at_import_and_missing_names_are_import_errors(tmp_path):
    target = make_target(tmp_path, "lab1", "lab3")
    (target / "lab1" / "runners.py").write_text("import sys\nsys.exit(0)\n")
    persistence = target / "lab3" / "persistence.py"
    persistence.write_text(persistence.read_text().replace("def predict_category(", "def predict_label("))
    run = run_checks("checks/lab1", "checks/lab3", target=target)
    statuses = run.statuses()
    assert {
        s for n, s in statuses.items() if "asyncio" in n or "slow_task" in n or "concurrent" in n or "sequential" in n
    } == {"import-error"}
    assert statuses["test_predict_category_returns_a_name"] == "import-error"
    assert statuses["test_round_trip_gives_identical_predictions"] == "pass"
    missing = run.by_name()["test_predict_category_returns_a_name"]["message"]
    assert "predict_category" in missing


def test_a_hang_times_out_only_its_own_checks(tmp_path):
    target = make_target(tmp_path, "lab1")
    runners = target / "lab1" / "runners.py"
    runners.write_text(
        runners.read_text().replace(
            "    tasks = [asyncio.create_task(",
            "    while True:  # a student's infinite loop\n        pass\n    tasks = [asyncio.create_task(",
        )
    )
    run = run_checks("checks/lab1", target=target, extra=("--check-timeout", "1.5"))
    statuses = run.statuses()
    concurrent = {n: s for n, s in statuses.items() if "concurrent" in n}
    assert set(concurrent.values()) == {"timeout"}, statuses
    assert {s for n, s in statuses.items() if n not in concurrent} == {"pass"}, statuses
    assert "did not finish within 1.5 s" in run.by_name()["test_concurrent_results_keep_the_input_order"]["message"]


def test_grade_json_has_the_documented_shape(solutions_run):
    grade = solutions_run.grade
    assert {"schema_version", "target", "points", "max_points", "counts", "labs", "checks"} <= set(grade)
    assert grade["schema_version"] == SCHEMA_VERSION
    for check in grade["checks"]:
        assert {"lab", "task", "name", "status", "points", "max_points"} <= set(check)
        assert check["status"] in GRADER_STATUSES
    assert set(grade["counts"]) == set(GRADER_STATUSES)
    assert grade["not_counted"] == {} and grade["max_points"] == sum(c["max_points"] for c in grade["checks"])
    assert grade["points"] == sum(c["points"] for c in grade["checks"])


def test_score_table_is_printed(solutions_run):
    assert "score — target: solutions" in solutions_run.output
    assert "TOTAL" in solutions_run.output


def test_failure_message_says_what_was_expected_and_where_to_read(tmp_path):
    target = make_target(tmp_path, "lab1")
    runners = target / "lab1" / "runners.py"
    runners.write_text(
        runners.read_text().replace(
            "return list(await asyncio.gather(*tasks))", "return list(reversed(await asyncio.gather(*tasks)))"
        )
    )
    run = run_checks("checks/lab1", target=target, extra=("-k", "input_order"))
    message = run.by_name()["test_concurrent_results_keep_the_input_order"]["message"]
    assert "expected ['task 0', 'task 1', 'task 2']" in message
    assert "Read: notebooks/01_asyncio.ipynb" in message


def test_unknown_target_is_a_usage_error(tmp_path):
    import subprocess
    import sys

    from workbook.paths import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/lab1", "--target", str(tmp_path / "nowhere")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 4 and "neither 'labs', 'solutions' nor a directory" in done.stderr


def test_student_code_error_names_the_student_file(tmp_path):
    target = make_target(tmp_path, "lab1")
    runners = target / "lab1" / "runners.py"
    runners.write_text(
        runners.read_text().replace(
            "    await asyncio.sleep(delay)\n    return name", "    await asyncio.sleep(delay)\n    return name + 1"
        )
    )
    run = run_checks("checks/lab1", target=target, extra=("-k", "returns_its_name"))
    message = run.by_name()["test_slow_task_waits_and_returns_its_name"]["message"]
    assert message.startswith("your code raised TypeError")
    assert "lab1/runners.py, line" in message, message


def test_a_thread_spinning_forever_does_not_hang_the_run(tmp_path):
    """A `def` route stuck in a loop keeps a worker thread busy after its check timed out; the run must
    still end (the grader leaves without waiting for that thread) and score the rest."""
    target = make_target(tmp_path, "lab2")
    app = target / "lab2" / "app.py"
    app.write_text(
        app.read_text().replace(
            '    time.sleep(delay)\n    return {"route": "slow-sync", "waited": delay}',
            "    while True:  # a student's infinite loop, in a worker thread\n        pass",
        )
    )
    run = run_checks("checks/lab2", target=target, extra=("--check-timeout", "2"), idle=90)
    statuses = run.statuses()
    assert statuses["test_fast_stays_responsive_during_slow_sync"] == "timeout", statuses
    assert statuses["test_fast_stays_responsive_during_slow_fixed"] == "pass", statuses


def table_rows(output: str) -> dict[str, str]:
    """The score table's task rows, by task id."""
    table = output.split("score — target:", 1)[1]
    return {
        line.split()[0]: line
        for line in table.splitlines()
        if line.startswith("  ") and line.split() and line.split()[0][0].isdigit()
    }


def test_deselected_checks_are_not_run_and_cost_nothing():
    """`pytest checks/lab1 -k …` (as the starters suggest) grades what it selects; the rest is "not run"."""
    run = run_checks("checks/lab1", target="solutions", extra=("-k", "input_order"))
    statuses = run.statuses()
    assert statuses.pop("test_concurrent_results_keep_the_input_order") == "pass"
    assert statuses and set(statuses.values()) == {"not-run"}, statuses
    grade = run.grade
    selected = run.by_name()["test_concurrent_results_keep_the_input_order"]["max_points"]
    assert grade["points"] == grade["max_points"] == selected, grade
    lab_total = sum(c["max_points"] for c in grade["checks"])
    assert grade["not_counted"] == {"not-run": lab_total - selected} and grade["counts"]["fail"] == 0, grade
    assert run.returncode == 0, run.output[-2000:]
    rows = table_rows(run.output)
    assert "not run" in rows["1.1"] and "(not counted)" in rows["1.1"] and "fail" not in rows["1.1"], rows
    not_run_in_1_3 = sum(c["max_points"] for c in grade["checks"] if c["task"] == "1.3" and c["status"] == "not-run")
    assert "pass" in rows["1.3"] and f"(+{not_run_in_1_3:g} not run)" in rows["1.3"], rows
    assert f"TOTAL {selected:g} / {selected:g}" in run.output


def test_deselected_checks_on_the_starters_are_not_run_either():
    run = run_checks(
        "checks/lab1",
        target="labs",
        extra=("--deselect", "checks/lab1/test_asyncio.py::test_slow_task_lets_other_tasks_run"),
    )
    statuses = run.statuses()
    assert statuses.pop("test_slow_task_lets_other_tasks_run") == "not-run", statuses
    assert set(statuses.values()) == {"not-started"}, statuses
    left_out = run.by_name()["test_slow_task_lets_other_tasks_run"]["max_points"]
    lab_total = sum(c["max_points"] for c in run.grade["checks"])
    assert run.grade["not_counted"] == {"not-run": left_out} and run.grade["max_points"] == lab_total - left_out, (
        run.grade
    )
    row = table_rows(run.output)["1.1"]
    assert "not started" in row and f"(+{left_out:g} not run)" in row, row


def test_only_a_check_can_hand_its_task_to_the_instructor(tmp_path):
    """Code under test that raises GradedByInstructor gets an ordinary failure: its points stay in the max."""
    target = make_target(tmp_path, "lab1")
    runners = target / "lab1" / "runners.py"
    runners.write_text(
        runners.read_text().replace(
            "    await asyncio.sleep(delay)\n    return name",
            "    from workbook.grader.plugin import GradedByInstructor\n    raise GradedByInstructor('ask my teacher')",
        )
    )
    run = run_checks("checks/lab1", target=target, extra=("-k", "returns_its_name"))
    check = run.by_name()["test_slow_task_waits_and_returns_its_name"]
    assert check["status"] == "fail" and run.grade["max_points"] == check["max_points"] == 1, check
    assert "ask my teacher" in check["message"]


def test_a_check_graded_by_the_instructor_costs_nothing():
    """The status a check gets when it raises GradedByInstructor itself (Task 10.6 in a student's copy,
    which has no reference service; tests/workbook/cli/test_cli_build.py shows it in a real copy)."""

    def raised_in(filename: str) -> BaseException:
        try:
            exec(
                compile("raise GradedByInstructor('graded by your instructor')", filename, "exec"),
                {"GradedByInstructor": grader.GradedByInstructor},
            )
        except grader.GradedByInstructor as exc:
            return exc
        raise AssertionError("nothing was raised")

    assert grader._raised_by_a_check(raised_in(str(CHECKS / "lab10" / "test_your_tests.py")))
    assert not grader._raised_by_a_check(raised_in(str(SOLUTIONS / "lab10" / "app.py")))

    def check(task, status, points):
        return results.CheckResult(
            lab="lab10",
            task=task,
            name=f"test_{task}_{status}",
            nodeid=f"x::{task}{status}",
            status=status,
            points=points if status == "pass" else 0.0,
            max_points=points,
        )

    summary = results.summarise(
        [
            check("10.1", "pass", 2.0),
            check("10.1", "fail", 1.0),
            check("10.6", "graded-by-instructor", 1.0),
            check("10.6", "graded-by-instructor", 5.0),
        ],
        "labs",
    )
    assert (summary["points"], summary["max_points"]) == (2.0, 3.0), summary
    assert summary["not_counted"] == {"graded-by-instructor": 6.0}
    assert summary["counts"]["graded-by-instructor"] == 2 and summary["counts"]["fail"] == 1
    tasks = {task["task"]: task for task in summary["labs"][0]["tasks"]}
    assert tasks["10.6"]["status"] == "graded-by-instructor" and tasks["10.6"]["max_points"] == 0
    assert tasks["10.1"]["status"] == "fail" and tasks["10.1"]["max_points"] == 3.0
    assert results.task_status(["not-run", "graded-by-instructor"]) == "graded-by-instructor"
    assert results.task_status(["pass", "not-run"]) == "pass"
    assert results.task_status(["not-started", "not-run"]) == "not-started"
