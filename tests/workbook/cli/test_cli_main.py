"""One entry point, ``python -m workbook``, with --help for every command."""

from __future__ import annotations

import pytest

from tests.support.cli import workbook_cli

COMMANDS = ["status", "watch", "hint", "reset", "doctor", "grade", "build", "build-starters"]


def test_the_entry_point_lists_every_command():
    done = workbook_cli("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert f"    {command}" in done.stdout, command


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    done = workbook_cli(command, "--help")
    assert done.returncode == 0 and f"usage: python -m workbook {command}" in done.stdout
    assert len(done.stdout.split("\n\n")[1]) > 40, f"{command} --help has no description"


def test_build_starters_keeps_its_options():
    done = workbook_cli("build-starters", "--help")
    assert "--check" in done.stdout and "--lab LAB" in done.stdout
    check = workbook_cli("build-starters", "--check")
    assert check.returncode in (0, 1)
    assert "labs/ matches what solutions/ generates." in check.stdout or "labs/ is out of date" in check.stdout


def test_no_command_is_a_usage_error():
    done = workbook_cli()
    assert done.returncode == 2 and "COMMAND" in done.stderr
