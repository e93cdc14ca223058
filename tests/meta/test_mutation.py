"""Mutation testing, per lab: every mutant of a task function is killed by a check, or recorded as harmless.

Each lab runs ``python -m workbook mutate LAB`` in a process of its own (the project's tests never import
solution code) and reads its JSON report. A survivor not recorded in ``tests/mutation/LAB.toml`` fails the
test, with its diff: add or sharpen a check that kills it, or — only when it is truly equivalent or irrelevant
to the task statement — record it with one line saying why. The per-lab score (killed / non-equivalent) is
printed and kept in ``.workbook/mutation/LAB.json``. Results are cached by the hash of the mutant, the lab's
checks, its data in ``tests/LAB_*`` and the tooling, so an unchanged lab costs a second.

Cost: a mutant costs one or two forked check runs (1–3 s of wall clock on 2 busy cores, two at a time). All
957 mutants of the ten labs take about 25 minutes there, so ``make test`` grades a stable sample of at most
``WORKBOOK_MUTATION_PER_TASK`` mutants per task (default 2, 96 of the 957: every task still has mutants that
must be killed; the sample is the mutants with the smallest hash of their id, so the default's mutants are among
any larger sample's). ``make mutation`` runs this file with ``WORKBOOK_MUTATION_PER_TASK=all``: every mutant, as
``python -m workbook mutate LAB`` does for authors: run it when you change a lab's checks or solution. Keep
``.workbook/mutation/cache/`` between CI runs (it is keyed by content) and an unchanged lab costs nothing.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.support.runner import BACKSTOP, run_watched
from workbook import catalog
from workbook.mutation.engine import load_records
from workbook.paths import ROOT, SOLUTIONS

LABS = [lab for lab in catalog.labs() if (SOLUTIONS / lab).is_dir()]
PER_TASK = os.environ.get("WORKBOOK_MUTATION_PER_TASK", "2")


@pytest.mark.parametrize("lab", LABS)
def test_records_are_well_formed(lab):
    records = load_records(lab)  # raises on a record without verdict, why, or a well-formed id
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids)), f"tests/mutation/{lab}.toml records a mutant twice"


@pytest.mark.slow
@pytest.mark.timeout(BACKSTOP)
@pytest.mark.parametrize("lab", LABS)
def test_every_mutant_is_killed_or_recorded(lab, tmp_path):
    out = tmp_path / "report.json"
    command = [sys.executable, "-m", "workbook", "mutate", lab, "--jobs", "2", "--json", str(out)]
    if PER_TASK != "all":
        command += ["--max-per-task", PER_TASK]
    env = {k: v for k, v in os.environ.items() if k != "WORKBOOK_TARGET"}
    done = run_watched(command, cwd=ROOT, env=env)  # a line per mutant; stopped only if it falls silent
    output = done.stdout + done.stderr
    assert done.stuck is None, f"mutate was stopped: {done.stuck} (exit {done.returncode}):\n{output[-4000:]}"
    assert out.exists(), f"mutate wrote no report (exit {done.returncode}):\n{output[-4000:]}"
    report = json.loads(out.read_text())
    print(
        f"{lab}: mutation score {report['killed']} / {report['non_equivalent']} = {100 * report['score']:.1f} % "
        f"({report['mutants']} mutants, {report['seconds']} s)"
    )
    unrecorded = [s for s in report["survivors"] if s["recorded"] is None]
    assert not unrecorded, (
        f"{lab}: {len(unrecorded)} surviving mutant(s) no check kills (score {report['killed']} / "
        f"{report['non_equivalent']}). Add or sharpen a check, or record a truly equivalent one in "
        f"tests/mutation/{lab}.toml:\n\n" + "\n".join(s["diff"] for s in unrecorded)
    )
