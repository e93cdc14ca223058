"""``grade --ray`` on a one-node Ray cluster (127.0.0.1, in namespaces of its own) grades a class of mixed submissions
exactly as local grading does: the same grades.csv bar the durations, the same feedback and item analysis; and it
leaves no Ray process behind. A bad address is one clear line, not a traceback.

The class is graded twice, one way after the other (so that neither slows the other's checks), labs 1 and 2 only.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile import all_cases, make_class
from tests.support import class_grading, ray_cluster
from tests.support.class_grading import environment, grade_command
from tests.support.runner import BACKSTOP, run_watched
from workbook.checkkit.ray_sandbox import RAY_ENV
from workbook.paths import ROOT

pytestmark = [pytest.mark.timeout(BACKSTOP), pytest.mark.slow]  # grade is watched: stopped only if it falls silent

LABS = ("lab1", "lab2")
# Complete, partial, nested, zipped, incomplete, a mistake, a syntax error, hanging code, os._exit, forged results.
CASES = (
    "alice-complete",
    "bob-complete-nested",
    "carol-starters",
    "dave-lab1-only",
    "erin-partial",
    "frank-mistake",
    "heidi-syntax-error",
    "judy-zip",
    "hostile-infinite-loop",
    "hostile-os-exit",
    "hostile-forges-results",
)
WHEN = {"duration", "duration_s", "graded_at"}  # when and how long: all that the two runs may differ in


@dataclass
class Graded:
    local: Path
    on_ray: Path
    ray_stdout: str
    ray_temp: str  # the Ray session folder: every Ray process names it in its command line


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    root = tmp_path_factory.mktemp("ray-class")
    submissions = root / "submissions"
    make_class(submissions, [case for case in all_cases() if case.name in CASES])
    (submissions / "bad-zip.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    local = run_watched(grade_command(submissions, root / "local", LABS, "--jobs", "2"), env=environment())
    assert local.stuck is None and local.returncode == 0, f"local grading: {local.stdout[-3000:]}{local.stderr[-3000:]}"
    ray_temp = tempfile.mkdtemp(prefix="wbray-", dir="/tmp")  # short: Ray's socket paths are bounded
    try:
        # The cluster and every Ray process end with the command, whatever happens (its PID namespace).
        on_ray = run_watched(
            ray_cluster.command(ray_temp, grade_command(submissions, root / "ray", LABS, "--ray", "{address}")),
            env=environment(**RAY_ENV),
        )
    finally:
        shutil.rmtree(ray_temp, ignore_errors=True)
    assert on_ray.stuck is None and on_ray.returncode == 0, (
        f"grade --ray: {on_ray.stdout[-3000:]}{on_ray.stderr[-3000:]}"
    )
    for way, done in (("locally", local), ("on Ray", on_ray)):  # the README's measurement: -rA shows it
        print(way, next(line for line in done.stdout.splitlines() if line.startswith("graded ")))
    return Graded(root / "local", root / "ray", on_ray.stdout, ray_temp)


def without_times(value):
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in WHEN}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def grade_rows(out: Path) -> dict[str, dict]:
    return {student: without_times(row) for student, row in class_grading.grade_rows(out).items()}


def test_the_class_was_graded_on_the_cluster_and_is_mixed(graded):
    assert "on the Ray cluster at 127.0.0.1:6379" in graded.ray_stdout, graded.ray_stdout[-2000:]
    rows = grade_rows(graded.local)
    assert len(rows) == len(CASES) + 1
    statuses = {row["status"] for row in rows.values()}
    assert statuses >= {"ok", "incomplete", "crashed", "timeout", "tampered", "unreadable"}, statuses
    assert len({row["total"] for row in rows.values()}) >= 4, "the class is too uniform to show anything"


def test_grades_csv_is_the_same_bar_the_durations(graded):
    local, on_ray = grade_rows(graded.local), grade_rows(graded.on_ray)
    assert list(local) == list(on_ray), "the students, or their order, differ"
    for student, row in local.items():
        assert on_ray[student] == row, f"{student}: locally {row}, on Ray {on_ray[student]}"


def test_feedback_is_the_same_bar_the_durations(graded):
    names = sorted(path.name for path in (graded.local / "feedback").iterdir())
    assert names == sorted(path.name for path in (graded.on_ray / "feedback").iterdir())
    for name in names:
        local, on_ray = (json.loads((out / "feedback" / name).read_text()) for out in (graded.local, graded.on_ray))
        assert without_times(on_ray) == without_times(local), name


def test_item_analysis_is_the_same(graded):
    for name in ("item_analysis.csv", "item_analysis.json"):
        assert (graded.on_ray / name).read_text() == (graded.local / name).read_text(), name


def test_no_ray_process_is_left(graded):
    left = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and graded.ray_temp.encode() in (entry / "cmdline").read_bytes():
                left.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()[:200]!r}")
        except OSError:
            pass
    assert not left, f"Ray processes outlived the grading: {left}"


def test_an_address_where_nothing_answers_is_one_clear_line(tmp_path):
    (tmp_path / "class" / "ann" / "lab1").mkdir(parents=True)
    done = run_watched(
        grade_command(tmp_path / "class", tmp_path / "out", LABS, "--ray", "127.0.0.1:1"), env=environment(), cwd=ROOT
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "cannot grade: nothing answers at 127.0.0.1:1 (Connection refused): start the head with `ray start --head` "
        "there, or give its address as `ray start` printed it"
    ], done.stderr
