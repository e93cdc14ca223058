"""A pytest plugin for the project's own grading runs (``-p tests.support.progress``): it tells the test that started the run
how far the run has got, so that the test can stop a run that makes no progress instead of giving it a fixed budget.

It only observes. For each test it appends ``start <timeout> <nodeid>`` when the test begins (its own timeout, as
the grader set it) and ``end <nodeid>`` when it is over, to the file named by ``WORKBOOK_TEST_PROGRESS``; nothing
else about the run changes. :func:`tests.support.runner.run_checks` reads the file while the run goes on.
"""

from __future__ import annotations

import os

import pytest

ENV_VAR = "WORKBOOK_TEST_PROGRESS"


class _Progress:
    def __init__(self, path: str) -> None:
        self.file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - open for the whole session

    def write(self, line: str) -> None:
        try:
            self.file.write(line + "\n")
            self.file.flush()
        except (OSError, ValueError):  # closed or gone: the run goes on, only the watch loses sight of it
            pass

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        marker = item.get_closest_marker("timeout")
        timeout = marker.args[0] if marker and marker.args else item.config.getini("timeout")
        try:
            timeout = float(timeout or 0)
        except (TypeError, ValueError):
            timeout = 0.0
        self.write(f"start {timeout:g} {item.nodeid}")

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.write(f"end {nodeid}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.write(f"collected {len(session.items)}")


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.pop(ENV_VAR, None)  # the code under test has no use for it
    if path:
        config.pluginmanager.register(_Progress(path), "workbook-test-progress")
