"""classify(): who raised it decides what the student reads (in-process, on exceptions made to order).

An exception raised by the check (or a workbook helper) is the check's expectation or the check's own
trouble with an odd value; one raised in lab code is the student's, reported with their file and line.
"""

import asyncio
import linecache

import pytest

from workbook.grader.plugin import CHECKS, classify


def raise_from(filename: str, source: str, **names):
    """Run ``source`` as if it were the file ``filename``; return the exception it raises."""
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)  # what tracebacks show as its lines
    code = compile(source, filename, "exec")
    try:
        exec(code, {"pytest": pytest, "asyncio": asyncio, **names})
    except BaseException as exc:  # noqa: BLE001 - the point is to look at it
        return exc
    raise AssertionError("the source raised nothing")


STUDENT_FILE = "/tmp/some-submission/lab3/persistence.py"
CHECK_FILE = str(CHECKS / "lab3" / "test_made_up_for_classify.py")  # never on disk: linecache has it


def test_an_assert_in_student_code_is_the_students_error_with_file_and_line():
    exc = raise_from(STUDENT_FILE, "x = 1\nassert x == 2, 'my own sanity check'\n")
    status, message = classify(exc)
    assert status == "fail"
    assert message.startswith("your code raised AssertionError: my own sanity check"), message
    assert "lab3/persistence.py, line 2" in message, message


def test_an_assert_in_the_check_is_the_checks_expectation():
    exc = raise_from(CHECK_FILE, "assert 1 == 2, 'predict_category should return a name'\n")
    assert classify(exc) == ("fail", "predict_category should return a name")


def test_a_bare_assert_never_reaches_the_student_as_an_expression():
    exc = raise_from(CHECK_FILE, "assert 3 == 'sci.space'\n")
    status, message = classify(exc)
    assert status == "fail" and "a bug in the check" in message and not message.startswith("assert"), message


def test_the_checks_own_crash_on_an_odd_value_is_not_your_code_raised():
    exc = raise_from(CHECK_FILE, "value = 'sci.space'\nint(value)\n")
    status, message = classify(exc)
    assert status == "fail" and not message.startswith("your code raised"), message
    assert "the check could not use what your code gave it" in message and "int(value)" in message, message


def test_a_crash_inside_student_code_called_by_the_check_is_the_students():
    helper = raise_from  # a student function defined in a lab file, called from a check file
    namespace = {}
    exec(compile("def predict(x):\n    return int(x)\n", STUDENT_FILE, "exec"), namespace)
    exc = helper(CHECK_FILE, "predict('sci.space')\n", predict=namespace["predict"])
    status, message = classify(exc)
    assert message.startswith("your code raised ValueError") and "lab3/persistence.py, line 2" in message, message


def test_a_returned_coroutine_is_told_to_add_await():
    async def later():
        return ["task 0"]

    coroutine = later()
    exc = raise_from(CHECK_FILE, "sorted(result)\n", result=coroutine)
    coroutine.close()
    status, message = classify(exc)
    assert "returned a coroutine" in message and "add `await`" in message, message
    assert "return_exceptions" not in message


def test_did_not_raise_names_the_call_the_check_made():
    exc = raise_from(
        CHECK_FILE,
        "def load_model(path):\n    return path\nwith pytest.raises(ValueError):\n    load_model('tampered.joblib')\n",
    )
    status, message = classify(exc)
    assert status == "fail" and "load_model('tampered.joblib')" in message and "ValueError" in message, message
    assert "DID NOT RAISE" not in message


def test_checking_raises_says_what_was_tried():
    from workbook.checkkit.checking import raises

    with pytest.raises(pytest.fail.Exception) as caught:
        with raises(ValueError, "MemoryCache(maxsize=0)"):
            pass
    assert str(caught.value) == "MemoryCache(maxsize=0) should raise ValueError, but it returned without raising."


def test_an_exception_group_around_not_implemented_is_not_started():
    group = ExceptionGroup("unhandled errors in a TaskGroup", [NotImplementedError("Task 1.1: An async slow task")])
    status, message = classify(group)
    assert status == "not-started" and message.startswith("not started: Task 1.1"), message


def test_a_check_that_goes_through_earlier_tasks_names_them():
    from workbook.grader.plugin import _explain

    message = _explain("fail", "3 of 64 requests got another request's answer.", None, None, ("9.4", "9.5"))
    assert "This check goes through Task 9.4 (" in message and "and Task 9.5 (" in message, message
    assert "to work first: fix them, then re-run." in message, message
    assert _explain("not-started", "not started: Task 9.6", None, None, ("9.4",)) == "not started: Task 9.6"


def test_your_code_raised_names_the_task_whose_function_raised():
    source = "def score(entry, rows):  # Task 5.2\n    raise ValueError('confidence must be at most 1')\n"
    namespace = {}
    linecache.cache["/tmp/sub/lab5/scoring.py"] = (
        len(source),
        None,
        source.splitlines(keepends=True),
        "/tmp/sub/lab5/scoring.py",
    )
    exec(compile(source, "/tmp/sub/lab5/scoring.py", "exec"), namespace)
    exc = raise_from(CHECK_FILE, "score(None, [])\n", score=namespace["score"])
    status, message = classify(exc)
    assert message.startswith("your code raised ValueError: confidence must be at most 1"), message
    assert "lab5/scoring.py, line 2" in message and "in score (Task 5.2)" in message, message


def test_the_task_function_is_found_without_ast_too():
    from workbook.grader.plugin import _task_function_by_indent

    lines = [
        "class MicroBatcher:\n",
        "    async def run_batch(self, batch: list,\n",
        "                        other: int) -> None:  # Task 9.5\n",
        '        """Doc."""\n',
        "        if True:\n",
        "            raise ValueError('x')\n",
        "\n",
        "def given():\n",
        "    return 1\n",
    ]
    assert _task_function_by_indent(lines, 6) == ("9.5", "run_batch")
    assert _task_function_by_indent(lines, 9) is None
