"""workbook.checkkit.notebook: what a try-it cell shows for an unfinished task, and for an error in the student's code."""

import asyncio
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI

from workbook.checkkit import notebook
from workbook.checkkit.clients import sync_client
from workbook.checkkit.notebook import report_server_log, your_code
from workbook.paths import LABS
from workbook.target import activate, is_lab_module


@pytest.fixture
def target(monkeypatch):
    """The untouched starters active, as use_target() leaves them (whatever target an earlier test activated);
    the previous import set-up and lab modules are restored afterwards."""
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = {name: sys.modules[name] for name in sys.modules if is_lab_module(name)}
    activate(LABS)
    monkeypatch.setattr(notebook, "_reported", set())
    yield LABS
    for name in [name for name in sys.modules if is_lab_module(name)]:
        del sys.modules[name]
    sys.modules.update(before)


def starter_error() -> NotImplementedError:
    import lab1.runners

    try:
        asyncio.run(lab1.runners.run_sequentially([0.1]))
    except NotImplementedError as error:
        return error
    raise AssertionError("the starter of Task 1.2 should raise NotImplementedError")


LINE_12 = (
    "Task 1.2 — Await slow tasks one after another is not done yet: open labs/lab1/runners.py, then re-run this cell."
)


def test_an_unfinished_task_prints_one_line_and_the_notebook_goes_on(target, capsys):
    with your_code():
        raise starter_error()
    assert capsys.readouterr().out.strip() == LINE_12


@pytest.mark.parametrize("wrap", ["group", "cause", "context", "thread"])
def test_the_unfinished_task_is_found_wherever_it_was_raised(target, capsys, wrap):
    error = starter_error()
    with your_code():
        if wrap == "group":
            raise ExceptionGroup("unhandled errors in a TaskGroup", [error])
        if wrap == "cause":
            raise RuntimeError("the service could not start") from error
        if wrap == "context":
            try:
                raise error
            except NotImplementedError:
                raise KeyError("label")  # noqa: B904 -- on purpose: raised while handling it, so its __context__
        if wrap == "thread":
            with ThreadPoolExecutor(1) as pool:
                pool.submit(lambda: (_ for _ in ()).throw(error)).result()
    assert capsys.readouterr().out.strip() == LINE_12


def test_an_unfinished_task_inside_an_app_names_the_task_and_its_file(target, capsys):
    import lab2.app

    with your_code():
        with sync_client(lab2.app.app) as client:
            client.get("/fast")
    assert capsys.readouterr().out.strip() == (
        "Task 2.1 — Health and fast routes is not done yet: open labs/lab2/app.py, then re-run this cell."
    )


def test_a_cell_says_each_unfinished_task_once(target, capsys):
    for _ in range(2):
        with your_code():
            raise starter_error()
    first, second = capsys.readouterr().out.strip().splitlines()
    assert first == LINE_12 and second == "(this part waits for Task 1.2 too, see above)"


def test_an_error_in_the_students_code_propagates_with_only_their_frames(target, tmp_path, monkeypatch):
    (tmp_path / "lab99").mkdir()
    (tmp_path / "lab99" / "__init__.py").write_text("")
    (tmp_path / "lab99" / "scoring.py").write_text(
        textwrap.dedent("""
        def score(x):
            return 1 / x
    """)
    )
    activate(tmp_path)  # as use_target() would: the target fixture puts the import set-up back afterwards
    from lab99.scoring import score

    app = FastAPI()

    @app.get("/score")
    def route(x: int):
        return {"score": score(x)}

    with pytest.raises(ZeroDivisionError) as caught, your_code():
        with sync_client(app) as client:
            client.get("/score", params={"x": 0})
    lines = caught.value._render_traceback_()
    text = "\n".join(lines)
    assert 'lab99/scoring.py", line 3, in score' in text and "return 1 / x" in text
    assert lines[-2].startswith("ZeroDivisionError") and "frames of library code hidden" in lines[-1]
    assert "starlette" not in text and "fastapi" not in text and "anyio" not in text


def test_keyboard_interrupt_is_not_swallowed():
    with pytest.raises(KeyboardInterrupt), your_code():
        raise KeyboardInterrupt


def test_a_servers_log_reports_the_unfinished_task(target, capsys):
    log = textwrap.dedent(f"""\
        ERROR:    Exception in ASGI application
        Traceback (most recent call last):
          File "/venv/lib/python3.11/site-packages/starlette/routing.py", line 74, in app
            response = await f(request)
          File "{LABS}/lab10/app.py", line 71, in ready
            raise NotImplementedError("Task 10.5: Readiness probe and the production server")
        NotImplementedError: Task 10.5: Readiness probe and the production server
        """)
    assert report_server_log(log) is True
    assert capsys.readouterr().out.strip() == (
        "Task 10.5 — Readiness probe and the production server is not done "
        "yet: open labs/lab10/app.py, then re-run this cell."
    )
    assert report_server_log("INFO: Application startup complete.") is False
