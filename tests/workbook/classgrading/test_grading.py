"""``grade`` on a class of submissions — complete, partial, broken and hostile (tests/hostile/), plus archives and
folders that cannot be read, a duplicate name and a formula name — gives each exactly the points it earned and the
status that says what happened, in its sandbox; nothing of a submission outlives the grading.

The class is graded once, through the command line, exactly as an instructor runs it (labs 1–3 only).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile import LABS, MAX_POINTS, Case, all_cases, make_class
from tests.support.class_grading import environment, feedback, grade_command, grade_rows
from tests.support.runner import BACKSTOP, WatchedCommand, planned
from tests.support.runner import lab_points as points_of_lab
from workbook.builders import starters
from workbook.digests import folders_digest
from workbook.paths import CHECKS, ROOT, SOLUTIONS

pytestmark = pytest.mark.timeout(BACKSTOP)  # grading the class happens in the first test's set-up (watched)

TARGET_SECONDS = 180  # on an idle 2-core machine (26 graded submissions, each in its own sandbox)
TASKS = ["1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "2.4", "3.1", "3.2", "3.3", "3.4", "3.5"]
SECRET = "workbook-test-secret-4f1c9e"  # in the grading shell's environment: no submission may see it
FORMULA = '=HYPERLINK("x")'
# Entries that cannot be read: each is graded "unreadable" with this reason, and the rest of the class is graded.
UNREADABLE = {
    "bad-zip": "not a readable zip file",
    "long-name": "longer than 255 bytes",
    "file-and-folder": "both a file and a folder",
    "too-many-files": "more than 2000 files",
}


def add_intake_cases(submissions: Path) -> None:
    """Archives and folders that broke intake before: each must be graded, never stop the run."""
    (submissions / "bad-zip.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    with zipfile.ZipFile(submissions / "long-name.zip", "w") as archive:
        archive.writestr("lab1/runners.py", "x = 1\n")
        archive.writestr("lab1/" + "a" * 300 + ".py", "x = 1\n")
    with zipfile.ZipFile(submissions / "file-and-folder.zip", "w") as archive:
        archive.writestr("lab1/runners.py", "x = 1\n")
        archive.writestr("lab1/runners.py/x.py", "x = 1\n")
    many = submissions / "too-many-files" / "lab1"
    many.mkdir(parents=True)
    for n in range(2500):
        (many / f"f{n}.py").touch()
    # A second "carol-starters" (the folder is one already) and a name a spreadsheet would run: lab1's starter.
    starter = starters.starter_files(SOLUTIONS / "lab1")
    with zipfile.ZipFile(submissions / "carol-starters.zip", "w") as archive:
        for relative, data in starter.items():
            archive.writestr(f"lab1/{relative}", data)
    for relative, data in starter.items():
        (submissions / FORMULA / "lab1" / relative).parent.mkdir(parents=True, exist_ok=True)
        (submissions / FORMULA / "lab1" / relative).write_bytes(data)


@dataclass
class Graded:
    cases: list[Case]
    out: Path
    done: subprocess.CompletedProcess
    seconds: float
    busy: float  # runnable tasks per core beside the grading's own two jobs (load average), at most while it ran
    pids: Path
    instructor_digest_before: str
    processes_seen: set[str]

    def rows(self) -> dict[str, dict]:
        return grade_rows(self.out)

    def feedback(self, student: str) -> dict:
        return feedback(self.out, student)


def instructor_digest() -> str:
    return folders_digest(*(CHECKS / lab for lab in LABS), ROOT / "workbook")


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    root = tmp_path_factory.mktemp("class")
    submissions, out, pids = root / "submissions", root / "out", root / "pids"
    pids.mkdir()
    cases = make_class(submissions)
    add_intake_cases(submissions)
    # HOSTILE_PID_DIR: outside the sandbox only (the never-returns case writes its pid there).
    env = environment(HOSTILE_PID_DIR=str(pids), WORKBOOK_TEST_SECRET=SECRET)
    before = instructor_digest()
    cores = os.cpu_count() or 1
    busy = os.getloadavg()[0] / cores
    start = time.monotonic()
    command = grade_command(submissions, out, LABS, "--jobs", "2")
    seen: set[str] = set()  # names of the hostile cases' processes, seen alive while grading
    # No wall-clock budget: grade prints a line per submission, and is stopped only if it falls silent.
    with WatchedCommand(command, cwd=ROOT, env=env) as watched:
        while watched.running():
            seen.update(name for _, name in _alive_named("hostile-"))
            # Whatever else ran while it graded (the suite's other worker starts with it, after the load average
            # was read): the load beyond grade's own two jobs.
            busy = max(busy, (os.getloadavg()[0] - 2) / cores)
            time.sleep(0.3)
        done = watched.result()
    assert watched.stuck is None, f"grade was stopped: {watched.stuck}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return Graded(cases, out, done, time.monotonic() - start, busy, pids, before, seen)


def _alive_named(prefix: str) -> list[tuple[int, str]]:
    """(pid, name) of the live processes whose name (comm) starts with ``prefix``."""
    alive = []
    for entry in Path("/proc").iterdir():
        try:
            name = (entry / "comm").read_text().strip() if entry.name.isdigit() else ""
            if name.startswith(prefix) and (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
                alive.append((int(entry.name), name))
        except OSError:
            pass
    return alive


EXTRA = len(UNREADABLE) + 2  # the intake cases, the second carol-starters and the formula name


def test_grading_runs_to_the_end(graded):
    assert graded.done.returncode == 0, (
        f"grade exited {graded.done.returncode}:\n{graded.done.stdout[-3000:]}\n{graded.done.stderr[-3000:]}"
    )
    assert f"graded {len(graded.cases) + EXTRA} submissions" in graded.done.stdout
    digest = hashlib.sha256((graded.out / "grades.csv").read_bytes()).hexdigest()
    assert f"grades.csv SHA-256 {digest}" in graded.done.stdout, graded.done.stdout[-1000:]


def test_the_class_has_submissions_of_every_kind(graded):
    assert len(graded.cases) == 26
    assert sum(case.hostile for case in graded.cases) >= 16
    assert {case.status for case in graded.cases} >= {"ok", "incomplete", "crashed", "timeout", "tampered", "review"}


def test_unreadable_submissions_are_graded_with_the_reason(graded):
    rows = graded.rows()
    for name, reason in UNREADABLE.items():
        assert rows[name]["status"] == "unreadable", (name, rows[name]["status"])
        assert float(rows[name]["total"]) == 0
        notes = " ".join(graded.feedback(name)["notes"])
        assert reason in notes, f"{name}: {notes}"


def test_a_duplicate_name_gets_its_own_row_and_feedback(graded):
    rows = graded.rows()
    assert float(rows["carol-starters"]["total"]) == 0 and rows["carol-starters"]["status"] == "ok"
    second = rows["carol-starters-2"]
    assert second["status"] == "incomplete" and float(second["total"]) == 0
    assert "graded as 'carol-starters-2'" in " ".join(graded.feedback("carol-starters-2")["notes"])


def test_a_formula_name_is_not_a_formula_in_grades_csv(graded):
    with (graded.out / "grades.csv").open(newline="") as handle:
        names = [row[0] for row in csv.reader(handle)]
    assert "'" + FORMULA in names, names
    assert not any(name.startswith(("=", "+", "-", "@")) for name in names)


@pytest.mark.parametrize("case", [c.name for c in all_cases()])
def test_each_submission_gets_exactly_what_it_earned(graded, case):
    spec = next(c for c in graded.cases if c.name == case)
    row = graded.rows()[case]
    feedback = graded.feedback(case)  # the case names are already safe file names
    lab_points = {lab["lab"]: lab["points"] for lab in feedback["labs"]}
    assert float(row["total"]) == spec.points, (
        f"{case} ({spec.description}): graded {row['total']} / {row['max']}, expected {spec.points}. "
        f"Per lab: {lab_points}. Notes: {feedback['notes']}"
    )
    assert row["status"] == spec.status, (
        f"{case}: status {row['status']!r}, expected {spec.status!r}: {feedback['notes']}"
    )
    for lab, points in spec.lab_points.items():
        assert lab_points[lab] == points, f"{case}: {lab} got {lab_points[lab]}, expected {points}"
    assert MAX_POINTS == {lab: points_of_lab(lab) for lab in LABS}, (
        "tests/hostile's MAX_POINTS no longer match the checks"
    )
    assert float(row["max"]) == sum(MAX_POINTS.values())


def test_grading_the_class_takes_minutes_not_more(graded):
    # The bound is for a machine that grades alone; other work on the cores stretches it by as much (at most 6x).
    factor = min(6.0, 1.0 + graded.busy)
    print(f"graded the class in {graded.seconds:.1f} s (other load per core, at most: {graded.busy:.2f})")
    assert graded.seconds < factor * TARGET_SECONDS, (
        f"grading took {graded.seconds:.0f} s, more than {factor * TARGET_SECONDS:.0f} s "
        f"({TARGET_SECONDS} s on an idle machine, x{factor:.2f} for the other load seen while it graded)"
    )


def test_grades_csv_has_a_column_per_task_and_the_checks_hash(graded):
    with (graded.out / "grades.csv").open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ["student", *TASKS, "total", "max", "status", "duration_s", "checks_sha256", "review"]
    rows = graded.rows()
    assert len(rows) == 26 + EXTRA
    run = json.loads((graded.out / "grading.json").read_text())
    assert {row["checks_sha256"] for row in rows.values()} == {run["checks_sha256"]}
    assert len(run["checks_sha256"]) == 64
    alice = rows["alice-complete"]
    task_points = {}
    for lab in LABS:
        for check in planned(lab)["checks"]:
            task_points[check["task"]] = task_points.get(check["task"], 0) + check["max_points"]
    assert [float(alice[t]) for t in TASKS] == [task_points[t] for t in TASKS]
    assert all(float(row["duration_s"]) > 0 for row in rows.values() if row["status"] not in ("empty", "unreadable"))


def test_feedback_says_what_happened_to_each_check(graded):
    frank = graded.feedback("frank-mistake")
    lab1 = next(lab for lab in frank["labs"] if lab["lab"] == "lab1")
    failing = [c for c in lab1["checks"] if c["status"] != "pass"]
    # Results in finishing order: wrong whenever the delays are not sorted (the order check, and twelve delays).
    assert [c["name"] for c in failing] == [
        "test_concurrent_results_keep_the_input_order",
        "test_concurrent_run_of_nothing_and_of_many",
    ], failing
    assert "in the order of the delays" in failing[0]["message"]
    assert "/tmp/" not in json.dumps(frank), "feedback names the grader's temporary folders"
    heidi = graded.feedback("heidi-syntax-error")
    lab2 = next(lab for lab in heidi["labs"] if lab["lab"] == "lab2")
    assert {c["status"] for c in lab2["checks"]} == {"import-error"}
    assert lab2["checks"][0]["message"].startswith("lab2/app.py, line"), lab2["checks"][0]["message"]
    for path in (graded.out / "feedback").iterdir():
        assert set(json.loads(path.read_text())) >= {
            "student",
            "status",
            "points",
            "max_points",
            "checks_sha256",
            "submission_sha256",
            "notes",
            "labs",
        }


def test_hostile_submissions_are_explained(graded):
    def notes(student):
        return " ".join(graded.feedback(student)["notes"])

    assert "ended early" in notes("hostile-os-exit")
    assert "far past its own timeout" in notes("hostile-never-returns")
    assert "timed out in 2 checks in a row" in notes("hostile-infinite-loop")
    assert "forged line" in notes("hostile-forges-results") and "copied line" in notes("hostile-forges-results")
    assert "_pytest.runner.CallInfo.from_call" in notes("hostile-patches-pytest")
    assert "totally-legit-plugin" in notes("hostile-patches-grader")
    assert "Read-only file system" in (graded.out / "logs" / "hostile-edits-checks" / "lab1.log").read_text()
    assert "symbolic link" in notes("hostile-symlinks-to-solutions")
    lab3 = next(lab for lab in graded.feedback("hostile-os-exit")["labs"] if lab["lab"] == "lab3")
    ended = next(c for c in lab3["checks"] if c["name"] == "test_predict_category_returns_a_name")
    assert ended["status"] == "no-result" and "os._exit" in ended["message"], ended


def test_item_analysis_has_every_check(graded):
    with (graded.out / "item_analysis.csv").open(newline="") as handle:
        items = list(csv.DictReader(handle))
    assert len(items) == sum(len(planned(lab)["checks"]) for lab in LABS)
    order = next(i for i in items if i["check"] == "test_concurrent_results_keep_the_input_order")
    assert 0 < float(order["pass_rate"]) < 1
    assert "in the order of the delays" in order["most_common_failure"], order
    predict = next(i for i in items if i["check"] == "test_predict_category_returns_a_name")
    assert int(predict["missing"]) >= 2  # dave and judy sent no lab3
    assert json.loads((graded.out / "item_analysis.json").read_text())[0]["nodeid"].startswith("checks/lab1/")


def test_logs_keep_each_labs_output(graded):
    log = (graded.out / "logs" / "alice-complete" / "lab3.log").read_text()
    assert f"TOTAL {points_of_lab('lab3'):g} / {points_of_lab('lab3'):g}" in log
    fake = (graded.out / "logs" / "hostile-fake-output" / "lab1.log").read_text()
    assert "TOTAL 39 / 39" in fake  # printed by the submission, and ignored: it scored 0


def test_tampering_with_its_own_run_is_flagged_for_review(graded):
    def review(student):
        return " ".join(graded.feedback(student)["review"])

    assert "time.perf_counter (assigned)" in review("hostile-self-restoring-clock"), review(
        "hostile-self-restoring-clock"
    )
    assert "runtest (on the item)" in review("hostile-gc-items"), review("hostile-gc-items")
    assert "gc" in review("hostile-gc-items")
    assert "environment" in review("hostile-reads-environment")
    rows = graded.rows()
    assert "runtest" in rows["hostile-gc-items"]["review"]
    assert rows["alice-complete"]["review"] == ""


def test_no_submission_sees_the_graders_environment(graded):
    stolen = json.dumps(graded.feedback("hostile-reads-environment"))
    assert "STOLEN-ENVIRONMENT" in stolen, "the case did not run: the test proves nothing"
    assert "PYTHONPATH" in stolen and "WORKBOOK_TEST_SECRET" not in stolen
    for path in graded.out.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), f"{path} holds the grading shell's secret"


def test_nothing_is_planted_in_the_instructors_checks(graded):
    planted = [p for p in CHECKS.rglob("conftest.py") if "pytest_runtest_call" in p.read_text()]
    assert not planted, f"a submission planted {planted}"
    assert not (CHECKS / "conftest.py").exists()


def test_no_process_of_a_submission_outlives_the_grading(graded):
    assert graded.processes_seen >= {"hostile-detach", "hostile-chain"}, (
        f"the hostile cases' processes were never seen running ({graded.processes_seen}): the test proves nothing"
    )
    time.sleep(1.0)  # a re-forking chain would show by now
    assert not _alive_named("hostile-"), f"processes left running by a submission: {_alive_named('hostile-')}"
    with (graded.out / "grades.csv").open() as handle:
        assert "hostile-chain" not in handle.read()


def test_the_instructors_checks_are_untouched(graded):
    assert instructor_digest() == graded.instructor_digest_before, "a submission changed checks/ or workbook/"
