"""A hang that outlives the check's first interruption still ends in that check's timeout, and the run goes on.

The lab 8 deadlock (``len(self)`` inside ``with self._lock``) hangs twice: in the check, and again when
``with ThreadPoolExecutor()`` joins the stuck threads after pytest-timeout has interrupted it once.
"""

from tests.mistakes import load_mistakes
from tests.support.runner import run_checks

HANG = "test_memory_cache_stays_consistent_across_threads"
AFTER = "test_disk_cache_runs_the_model_once_per_input"


def test_a_deadlock_times_out_and_the_next_check_still_runs(tmp_path):
    mistake = next(m for m in load_mistakes() if m.lab == "lab8" and "deadlock" in m.name)
    target = mistake.apply(tmp_path)
    run = run_checks(
        f"checks/lab8/test_memory_cache.py::{HANG}",
        f"checks/lab8/test_disk_cache.py::{AFTER}",
        target=target,
        extra=("--check-timeout", "3"),
        idle=90,
    )
    statuses = run.statuses()
    assert statuses.get(HANG) == "timeout", (statuses, run.output[-3000:])
    assert statuses.get(AFTER) == "pass", (statuses, run.output[-3000:])
    assert "score — target" in run.output, run.output[-3000:]
