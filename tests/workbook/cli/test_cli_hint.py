"""``hint N.K``: each call gives one more hint, up to the last; the level reached is recorded."""

from __future__ import annotations

import json

from tests.support.cli import workbook_cli
from workbook import catalog


def hint(*args, state):
    return workbook_cli("hint", *args, state=state)


def test_hints_escalate_and_the_level_is_recorded(tmp_path):
    task = catalog.task("1.3")
    shown = [hint("1.3", state=tmp_path) for _ in range(len(task.hints) + 1)]
    assert all(done.returncode == 0 for done in shown)
    first = shown[0].stdout
    assert f"(hint 1 of {len(task.hints)})" in first and task.hints[0] in first and task.hints[1] not in first
    assert task.where_to_read in first and "gives hint 2 of" in first
    second = shown[1].stdout
    assert task.hints[0] in second and f"▶ 2. {task.hints[1]}" in second
    last, beyond = shown[len(task.hints) - 1].stdout, shown[-1].stdout
    assert all(h in last for h in task.hints) and "That is every hint" in last
    assert f"(hint {len(task.hints)} of {len(task.hints)})" in beyond  # never past the last one
    record = json.loads((tmp_path / "hints.json").read_text())["tasks"]["1.3"]
    assert record["level"] == len(task.hints)
    assert [entry["level"] for entry in record["history"]] == [1, 2, 3, 3][: len(task.hints) + 1]


def test_again_repeats_without_escalating_and_list_shows_levels(tmp_path):
    hint("2.1", state=tmp_path)
    again = hint("2.1", "--again", state=tmp_path)
    assert "(hint 1 of" in again.stdout
    listing = hint("--list", state=tmp_path).stdout
    assert "2.1    1 / 2" in listing and "1.1    0 / 3" in listing


def test_an_unknown_task_lists_the_real_ones(tmp_path):
    done = hint("9.9", state=tmp_path)
    assert done.returncode == 2 and "there is no task '9.9'" in done.stderr and "1.1 1.2 1.3" in done.stderr
    assert hint("lab1", state=tmp_path).returncode == 2
