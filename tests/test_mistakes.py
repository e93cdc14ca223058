"""Each known-wrong implementation in tests/mistakes/ is caught by the checks meant to catch it."""

import pytest

from tests.mistakes import load_mistakes
from tests.runner import run_checks

MISTAKES = load_mistakes()
CAUGHT = {"fail", "timeout"}


def test_every_lab_keeps_at_least_two_mistakes():
    from workbook import catalog

    per_lab = {lab: sum(m.lab == lab for m in MISTAKES) for lab in catalog.labs()}
    assert all(count >= 2 for count in per_lab.values()), per_lab


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.id)
def test_mistake_is_caught(mistake, tmp_path):
    target = mistake.apply(tmp_path)
    selected = " or ".join(name.split("[")[0] for name in mistake.caught_by)
    run = run_checks(f"checks/{mistake.lab}", target=target, extra=("-k", selected))
    statuses = run.statuses()
    for name in mistake.caught_by:
        assert name in statuses, f"no check named {name} ran for {mistake.lab}: {sorted(statuses)}"
        assert statuses[name] in CAUGHT, (
            f"{mistake.id!r} should be caught by {name}, which reported {statuses[name]!r}.\n{run.output[-2000:]}"
        )
