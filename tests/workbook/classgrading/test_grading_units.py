"""The parts of ``grade`` one at a time: the signed channel, turning records into outcomes, reading submissions,
the kit, the item analysis and the command's refusals. Fast: no checks are run here except one small lab run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile

import pytest

from tests.support.class_grading import GRADE
from workbook.classgrading import intake, reports
from workbook.classgrading.kit import Kit, instructor_listing, listing_changes
from workbook.isolation import lab_process, result_channel
from workbook.isolation.lab_process import PlannedCheck, RawRun
from workbook.paths import LABS, ROOT

KEY = b"k" * result_channel.KEY_BYTES


def signed(seq: int, kind: str, key: bytes = KEY, **fields) -> bytes:
    body = json.dumps({"seq": seq, "kind": kind, **fields}, sort_keys=True, separators=(",", ":")).encode()
    return result_channel.sign(key, body) + b" " + body + b"\n"


def _patch_sleeps_from(folder, monkeypatch) -> list[bool]:
    """A module loaded from ``folder`` patches the sleeps through the checks' helper; the answers of
    ``_assigned_by_a_check`` for each assignment, as the recording module would ask them."""
    import importlib.util
    import types

    folder.mkdir(parents=True)
    source = folder / "patcher.py"
    source.write_text(
        "from workbook.checkkit.event_loop import replace_sleeps\n"
        "def patch(monkeypatch, module):\n"
        "    replace_sleeps(monkeypatch, module, lambda s: None, lambda s: None)\n"
    )
    spec = importlib.util.spec_from_file_location(f"patcher_{folder.name}", source)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    answers: list[bool] = []
    # In a graded run the recording module's __setattr__ asks; here a setattr compiled as "<...>" stands in for
    # it (frames named "<...>" pass the decision on, as the recording module's own frame does).
    recorder = compile("def setattr(target, name, value): answers.append(ask())", "<recorder>", "exec")
    namespace = {"answers": answers, "ask": result_channel._assigned_by_a_check}
    exec(recorder, namespace)
    module.patch(types.SimpleNamespace(setattr=namespace["setattr"]), types.ModuleType("lab2.app"))
    return answers


def test_a_check_may_patch_the_clocks_through_a_helper_and_the_code_under_test_may_not(tmp_path, monkeypatch):
    import workbook.paths

    monkeypatch.setattr(workbook.paths, "CHECKS", tmp_path / "checks")
    assert _patch_sleeps_from(tmp_path / "checks", monkeypatch) == [True, True]  # a check asked the helper
    assert _patch_sleeps_from(tmp_path / "labs", monkeypatch) == [False, False]  # the code under test did


# --- the channel ------------------------------------------------------------------------------------


def test_only_signed_lines_in_sequence_are_believed():
    good = signed(0, "start", nodeid="a") + signed(1, "result", nodeid="a", status="pass")
    wrong_key = signed(2, "result", key=b"x" * 32, nodeid="b", status="pass")
    forged = wrong_key + b'{"kind": "result"}\n' + b"0" * 64 + b" {}\n"
    replayed = signed(1, "result", nodeid="a", status="pass")
    found = result_channel.read_records(good + forged + replayed, KEY)
    assert [r["kind"] for r in found.records] == ["start", "result"]
    assert found.forged == 3 and found.replayed == 1


def test_the_plugin_writes_what_the_reader_accepts(tmp_path):
    read_end, write_end = os.pipe()
    os.write(write_end, KEY)
    os.close(write_end)
    channel_file = (tmp_path / "channel").open("w+b")
    os.environ[result_channel.ENV_VAR] = f"{channel_file.fileno()}:{read_end}"
    try:
        channel = result_channel._open_channel()
    finally:
        os.environ.pop(result_channel.ENV_VAR, None)
    assert result_channel.ENV_VAR not in os.environ
    channel.emit("start", nodeid="checks/lab1/test_x.py::test_y")
    channel.emit("result", nodeid="checks/lab1/test_x.py::test_y", status="pass")
    channel_file.seek(0)
    records = result_channel.read_records(channel_file.read(), KEY)
    assert [r["seq"] for r in records.records] == [0, 1] and records.forged == 0
    with pytest.raises(OSError):
        os.fstat(read_end)  # the key pipe is closed once read


# --- records to outcomes ------------------------------------------------------------------------------

PLAN = [PlannedCheck(f"checks/lab1/test_a.py::test_{n}", f"test_{n}", "lab1", "1.1", 2.0, 10.0) for n in "abc"]


def raw_run(records: list[dict], killed=False, returncode=0, stalled=None) -> RawRun:
    return RawRun(
        returncode=None if killed else returncode,
        killed=killed,
        duration=1.0,
        records=result_channel.Records(records=records),
        output="",
        stalled=stalled,
        stalled_after=31.0,
    )


def test_points_come_from_the_plan_and_missing_results_count_as_failed():
    records = [
        {"kind": "plan", "checks": []},
        {"kind": "start", "nodeid": PLAN[0].nodeid},
        {"kind": "result", "nodeid": PLAN[0].nodeid, "status": "pass", "points": 99, "message": ""},
        {"kind": "start", "nodeid": PLAN[1].nodeid},
    ]
    run = lab_process.outcomes("lab1", PLAN, raw_run(records, returncode=0), 60)
    assert [c.status for c in run.checks] == ["pass", "no-result", "no-result"]
    assert run.points == 2.0 and run.max_points == 6.0  # the plan's 2 points, not the record's 99
    assert "os._exit" in run.checks[1].message and "before this check ran" in run.checks[2].message
    assert not run.finished and any("ended early" in note for note in run.notes)


def test_a_run_stopped_at_the_limit_times_out_the_running_check():
    records = [{"kind": "start", "nodeid": PLAN[0].nodeid}]
    run = lab_process.outcomes("lab1", PLAN, raw_run(records, killed=True), 60)
    assert [c.status for c in run.checks] == ["timeout", "no-result", "no-result"]
    assert "stopped after 60 s" in run.checks[0].message


def test_a_stalled_check_is_named():
    records = [{"kind": "start", "nodeid": PLAN[1].nodeid}]
    run = lab_process.outcomes("lab1", PLAN, raw_run(records, killed=True, stalled=PLAN[1].nodeid), 60)
    assert run.checks[1].status == "timeout" and "far past its timeout (10 s)" in run.checks[1].message


def test_two_results_for_one_check_are_tampering():
    result = {"kind": "result", "nodeid": PLAN[0].nodeid, "status": "pass", "message": ""}
    run = lab_process.outcomes("lab1", PLAN, raw_run([result, dict(result), {"kind": "finished"}]), 60)
    assert run.tampered and run.checks[0].status == "tampered" and run.checks[0].points == 0


def test_task_status_prefers_what_explains_the_most():
    assert lab_process.task_status(["pass", "pass"]) == "pass"
    assert lab_process.task_status(["pass", "tampered"]) == "tampered"
    assert lab_process.task_status(["not-started", "not-started"]) == "not-started"
    assert lab_process.task_status(["pass", "fail"]) == "fail"
    assert lab_process.task_status(["fail", "no-result"]) == "no-result"


def test_a_real_lab_run_reports_every_check(tmp_path):
    run = lab_process.run_lab("lab1", LABS, wall_limit=120)
    assert run.finished and not run.tampered and run.notes == []
    assert {c.status for c in run.checks} == {"not-started"} and len(run.checks) >= 7


# --- reading submissions -------------------------------------------------------------------------------


def write(path, text="x = 1\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_folders_nested_folders_and_zips_are_read(tmp_path):
    write(tmp_path / "ann" / "lab1" / "runners.py")
    write(tmp_path / "ann" / "lab1" / "__pycache__" / "runners.cpython-311.pyc")
    write(tmp_path / "ann" / "conftest.py")  # not a lab folder: never read
    write(tmp_path / "ben" / "labs" / "lab2" / "app.py")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cal/labs/lab3/persistence.py", "y = 2\n")
        archive.writestr("../escape/lab1/runners.py", "evil\n")
        link = zipfile.ZipInfo("cal/labs/lab1")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc")
    (tmp_path / "cal.zip").write_bytes(buffer.getvalue())
    (tmp_path / ".hidden").mkdir()
    found = {s.name: s for s in intake.find_submissions(tmp_path)}
    assert sorted(found) == ["ann", "ben", "cal"]
    assert found["ann"].labs == {"lab1": {"runners.py": b"x = 1\n"}}
    assert found["ben"].labs == {"lab2": {"app.py": b"x = 1\n"}}
    assert found["cal"].labs == {"lab3": {"persistence.py": b"y = 2\n"}}
    assert any("symbolic link" in note for note in found["cal"].notes)


def test_symlinks_and_huge_files_are_not_graded(tmp_path):
    write(tmp_path / "dan" / "lab2" / "app.py")
    (tmp_path / "dan" / "lab1").symlink_to(ROOT / "solutions" / "lab1")
    (tmp_path / "dan" / "lab2" / "big.bin").write_bytes(b"0" * (intake.MAX_FILE_BYTES + 1))
    (submission,) = intake.find_submissions(tmp_path)
    assert list(submission.labs) == ["lab2"] and list(submission.labs["lab2"]) == ["app.py"]
    assert any("lab1: a symbolic link" in note for note in submission.notes)
    assert any("big.bin: larger than" in note for note in submission.notes)


def test_student_names_become_distinct_safe_file_names():
    taken: set[str] = set()
    assert intake._safe_slug("Zoë O'Neil", taken) == "Zo_O_Neil"
    assert intake._safe_slug("zo_o_neil", taken) == "zo_o_neil-2"
    assert intake._safe_slug("../..", taken) == "student"


# --- the kit -----------------------------------------------------------------------------------------


def test_the_kit_has_the_checks_but_no_code_under_test(tmp_path):
    kit = Kit.read()
    names = set(kit.files)
    assert "checks/lab1/test_asyncio.py" in names and "workbook/grader/plugin.py" in names and "pyproject.toml" in names
    assert "labkit/registry.py" in names, "the kit (what a sandboxed run sees) must hold labkit/, which labs import"
    assert not any(name.startswith(("solutions/", "labs/", "tests/", ".git/", ".venv/")) for name in names)
    kit.write(tmp_path)
    assert kit.changes_in(tmp_path) == []
    (tmp_path / "checks" / "lab1" / "test_asyncio.py").write_text("def test_x(): pass\n")
    (tmp_path / "checks" / "lab2" / "conftest.py").unlink()
    assert kit.changes_in(tmp_path) == ["checks/lab1/test_asyncio.py", "checks/lab2/conftest.py"]
    assert kit.changes_in(tmp_path, labs=["lab2"]) == ["checks/lab2/conftest.py"]


def test_failure_messages_are_grouped_without_their_numbers():
    key = reports._message_key
    assert key("took 0.92 s; expected 0.3\nRead: x") == key("took 1.5 s; expected 0.3")


# --- the command's refusals ------------------------------------------------------------------------------


def grade(*args, cwd=ROOT):
    return subprocess.run(
        [*GRADE, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_grade_refuses_what_it_cannot_do(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = grade(empty, "--out", tmp_path / "out", "--lab", "lab1")
    assert done.returncode == 2 and "no submissions" in done.stderr
    done = grade(empty, "--out", tmp_path / "out", "--lab", "lab99")
    assert done.returncode == 2 and "unknown lab" in done.stderr
    write(tmp_path / "out" / "grades.csv")
    done = grade(empty, "--out", tmp_path / "out", "--lab", "lab1")
    assert done.returncode == 2 and "--force" in done.stderr


def test_grade_help_explains_the_threat_model():
    done = grade("--help")
    assert done.returncode == 0
    for words in (
        "SUBMISSIONS_DIR",
        "--out",
        "--jobs",
        "--lab-timeout",
        "tampered",
        "threat model",
        "sandbox",
        "--no-sandbox",
        "review",
        "unreadable",
        "docs/grading-threat-model.md",
    ):
        assert words in done.stdout.lower() or words in done.stdout, words


def test_the_stall_watch_looks_before_the_grader_gives_up():
    # Otherwise a check with a long timeout (30 s) is ended by the grader's own last resort first, and the
    # note says only that the process ended early.
    from workbook.grader.plugin import TIMEOUT_LAST_RESORT

    for timeout in (1.0, 10.0, 30.0, 60.0, 300.0):
        assert timeout < lab_process.stall_limit(timeout) <= timeout + TIMEOUT_LAST_RESORT - 10, timeout


def test_the_stall_watch_names_a_check_far_past_its_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(lab_process, "STALL_FACTOR", 1.0)
    monkeypatch.setattr(lab_process, "STALL_GRACE", 0.0)
    channel = (tmp_path / "channel").open("w+b")
    plan = [{"nodeid": "a", "timeout": 0.2}, {"nodeid": "b", "timeout": 0.2}]
    channel.write(
        signed(0, "plan", checks=plan)
        + signed(1, "start", nodeid="a")
        + signed(2, "result", nodeid="a", status="pass")
        + signed(3, "start", nodeid="b")[:40]
    )
    channel.flush()
    watch = lab_process._StallWatch(channel.fileno(), KEY)
    assert watch.stuck() is None and watch.running is None  # b's start line is not complete yet
    channel.write(signed(3, "start", nodeid="b")[40:] + b"0" * 64 + b' {"forged": true}\n')
    channel.flush()
    assert watch.stuck() is None and watch.running == "b"
    time.sleep(0.3)
    nodeid, elapsed = watch.stuck()
    assert nodeid == "b" and elapsed >= 0.2


def test_a_lab_whose_checks_use_the_reference_gets_it_in_its_own_runs_only(tmp_path):
    (tmp_path / "workbook").mkdir()
    (tmp_path / "labkit").mkdir()
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    write(tmp_path / "checks" / "lab1" / "test_a.py", "def test_a(): pass\n")
    write(tmp_path / "checks" / "lab2" / "test_b.py", "from workbook.paths import SOLUTIONS\n")
    write(tmp_path / "solutions" / "lab1" / "a.py", "answer = 1\n")
    write(tmp_path / "solutions" / "lab2" / "b.py", "answer = 2\n")
    kit = Kit.read(tmp_path, ["lab1", "lab2"])
    assert not any(name.startswith("solutions/") for name in kit.files)
    assert list(kit.references) == ["lab2"] and "solutions/lab2/b.py" in kit.for_lab("lab2")
    kit.write(tmp_path / "run1", "lab1")
    kit.write(tmp_path / "run2", "lab2")
    assert not (tmp_path / "run1" / "solutions").exists()
    assert (tmp_path / "run2" / "solutions" / "lab2" / "b.py").exists()


def test_code_that_reaches_for_the_solutions_is_pointed_out():
    submission = intake.Submission(
        "eve",
        "eve",
        {
            "lab1": {
                "runners.py": b"from workbook.paths import SOLUTIONS\nexec((SOLUTIONS / 'lab1/runners.py').read_text())\n",
                "notes.md": b"SOLUTIONS\n",
                "helpers.py": b"# no solutions here\n",
            }
        },
    )
    (note,) = submission.suspicious()
    assert note.startswith("lab1/runners.py: mentions 'SOLUTIONS'")


def test_a_grading_run_cannot_import_the_solutions_by_name(tmp_path):
    probe = tmp_path / "target" / "lab1"
    probe.mkdir(parents=True)
    (probe / "__init__.py").write_text("")
    (probe / "runners.py").write_text(
        "import importlib.util, sys\n"
        "print('SOLUTIONS-IMPORTABLE' if importlib.util.find_spec('solutions') else 'SOLUTIONS-HIDDEN')\n"
    )
    kit = tmp_path / "kit"
    Kit.read().write(kit)
    extra = {"PYTHONPATH": str(ROOT)}  # as the venv's .pth would put the instructor's workbook on the path
    env = {**lab_process.child_environment(kit, tmp_path), **extra}
    env["PYTHONPATH"] = f"{kit}{os.pathsep}{ROOT}"
    command = lab_process.pytest_command(
        kit, ["checks/lab1"], tmp_path / "target", tmp_path / "basetemp", quiet=False
    ) + ["-s", "-k", "returns_its_name"]
    raw = lab_process.run_pytest(command, cwd=kit, env=env, wall_limit=120)
    assert "SOLUTIONS-HIDDEN" in raw.output, raw.output[-2000:]


# --- issue 10: intake, the instructor's side, the audit, the target, the sandbox ------------------------------


def test_intake_marks_unreadable_submissions_and_goes_on(tmp_path):
    import zipfile

    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not a zip")
    with zipfile.ZipFile(tmp_path / "clash.zip", "w") as archive:
        archive.writestr("lab1/runners.py", "x = 1\n")
        archive.writestr("lab1/runners.py/x.py", "x = 1\n")
    with zipfile.ZipFile(tmp_path / "long.zip", "w") as archive:
        archive.writestr("lab1/" + "é" * 200 + ".py", "x = 1\n")  # 400 bytes in UTF-8
    big = tmp_path / "big" / "lab1"
    big.mkdir(parents=True)
    for n in range(3):
        (big / f"f{n}.py").write_bytes(b"x" * (intake.MAX_FILE_BYTES - 1))
    write(tmp_path / "fine" / "lab1" / "runners.py", "x = 1\n")
    subs = {s.name: s for s in intake.find_submissions(tmp_path)}
    assert "not a readable zip" in subs["bad"].unreadable
    assert "both a file and a folder" in subs["clash"].unreadable
    assert "longer than 255 bytes" in subs["long"].unreadable
    assert subs["fine"].unreadable is None and subs["fine"].labs == {"lab1": {"runners.py": b"x = 1\n"}}
    original = intake.MAX_SUBMISSION_BYTES
    try:
        intake.MAX_SUBMISSION_BYTES = 2 * intake.MAX_FILE_BYTES
        assert "over" in intake.find_submissions(tmp_path)[1].unreadable  # big
    finally:
        intake.MAX_SUBMISSION_BYTES = original


def test_intake_is_linear_in_the_number_of_files(tmp_path):
    many = tmp_path / "many" / "lab1"
    many.mkdir(parents=True)
    for n in range(20_000):
        (many / f"f{n}.py").touch()
    ok = tmp_path / "ok" / "lab1"
    ok.mkdir(parents=True)
    for n in range(1_500):
        (ok / f"f{n}.py").write_bytes(b"x = 1\n")
    start = time.perf_counter()
    subs = {s.name: s for s in intake.find_submissions(tmp_path)}
    assert time.perf_counter() - start < 10
    assert "more than 2000 files" in subs["many"].unreadable
    assert len(subs["ok"].labs["lab1"]) == 1_500 and subs["ok"].size == 1_500 * 6


def test_two_entries_with_one_name_get_two_keys(tmp_path):
    import zipfile

    write(tmp_path / "alice" / "lab1" / "runners.py", "a = 1\n")
    with zipfile.ZipFile(tmp_path / "alice.zip", "w") as archive:
        archive.writestr("lab1/runners.py", "a = 2\n")
    first, second = intake.find_submissions(tmp_path)
    assert (first.name, second.name) == ("alice", "alice-2") and first.slug != second.slug
    assert "graded as 'alice-2'" in second.notes[0]


def test_cells_a_spreadsheet_would_run_are_neutralised():
    for text in ('=HYPERLINK("http://x")', "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert reports.cell(text) == "'" + text
    assert reports.cell("alice") == "alice"


def test_the_listing_names_a_new_file_in_the_kit(tmp_path):
    for name in ("checks", "workbook"):
        write(tmp_path / name / "a.py", "x = 1\n")
    write(tmp_path / "pyproject.toml", "")
    write(tmp_path / "solutions" / "lab1" / "a.py", "")
    before = instructor_listing(tmp_path, site_packages=False)
    write(tmp_path / "checks" / "conftest.py", "planted\n")
    write(tmp_path / "sitecustomize.py", "planted\n")
    write(tmp_path / "workbook" / "a.py", "x = 2\n")
    write(tmp_path / "solutions" / "lab1" / "a.py", "changed content of a folder outside the kit")
    changes = listing_changes(before, instructor_listing(tmp_path, site_packages=False))
    assert changes == ["new: checks/conftest.py", "new: sitecustomize.py", "changed: workbook/a.py"]


def test_the_audit_is_silent_on_honest_code_and_names_reaching_in():
    from tests.hostile import HONEST, submission_files

    for case in HONEST[:3]:
        submission = intake.Submission(case.name, case.name)
        for path, data in submission_files(case).items():
            lab, _, rest = path.partition("/")
            submission.labs.setdefault(lab, {})[rest] = data
        assert intake.audit(submission) == [], case.name
    hostile = intake.Submission(
        "eve",
        "eve",
        {
            "lab1": {
                "runners.py": (
                    b"import gc\nimport sys\nsys.modules['time'] = None\ntime.perf_counter = lambda: 0\n"
                    b"import _pytest.runner\nx = lab1.__path__\n"
                )
            }
        },
    )
    found = " ".join(intake.audit(hostile))
    for words in ("garbage collector", "sys.modules", "time or asyncio", "pytest", "import system"):
        assert words in found, words


def test_a_target_cannot_shadow_a_library(tmp_path):
    write(tmp_path / "lab1" / "__init__.py", "")
    write(tmp_path / "lab1" / "runners.py", "import joblib\nJOBLIB = joblib.__file__\n")
    write(tmp_path / "joblib" / "__init__.py", "raise SystemExit('the fake joblib was imported')\n")
    code = (
        "import sys; from pathlib import Path; from workbook.target import activate\n"
        f"activate(Path({str(tmp_path)!r}))\n"
        "import lab1.runners; print(lab1.runners.__file__); print(lab1.runners.JOBLIB)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    lab_file, joblib_file = done.stdout.split()
    assert lab_file.startswith(str(tmp_path)) and "site-packages" in joblib_file


def test_the_sandbox_sees_only_its_own_folder_and_no_environment(tmp_path):
    from workbook.isolation import sandbox

    if (why := sandbox.probe()) is not None:
        pytest.skip(why)  # .ci/run installs bubblewrap; doctor says how
    work, kit = tmp_path / "work", tmp_path / "kit"
    work.mkdir()
    kit.mkdir()
    write(tmp_path / "secret.txt", "not for the sandbox")
    python, folders = sandbox.python_paths()
    script = (
        "import os, sys\n"
        f"print('SECRET-VISIBLE' if os.path.exists({str(tmp_path / 'secret.txt')!r}) else 'SECRET-HIDDEN')\n"
        f"print('ROOT-VISIBLE' if os.path.exists({str(ROOT / 'solutions')!r}) else 'ROOT-HIDDEN')\n"
        "print(sorted(os.environ))\n"
        f"open({str(kit / 'x')!r}, 'w')\n"
    )
    done = subprocess.run(
        sandbox.command(work, kit, [python, "-c", script], python_folders=folders),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SECRET_TOKEN": "x"},
    )
    assert "SECRET-HIDDEN" in done.stdout and "ROOT-HIDDEN" in done.stdout, done.stdout + done.stderr
    assert "SECRET_TOKEN" not in done.stdout
    assert "Read-only file system" in done.stderr  # the kit cannot be written
