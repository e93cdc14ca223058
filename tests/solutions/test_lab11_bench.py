"""``python -m bench.lab11``: the committed numbers are what its data say, and the server part runs end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from workbook.paths import ROOT

BENCH = ROOT / "bench"


def bench_lab11(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.lab11", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_the_committed_report_is_what_the_committed_data_render(tmp_path):
    shutil.copy(BENCH / "lab11.json", tmp_path / "lab11.json")
    done = bench_lab11("--render", "--out", str(tmp_path), timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "LAB11.md").read_text() == (BENCH / "LAB11.md").read_text(), (
        "bench/LAB11.md differs from what bench/lab11.json renders: run python -m bench.lab11 --render"
    )
    parts = json.loads((BENCH / "lab11.json").read_text())
    assert {"server", "inprocess"} <= set(parts), "bench/lab11.json should hold both parts"
    sizes = {row["documents"] for row in parts["server"]["search"]}
    assert max(sizes) >= 100_000, f"the server part should reach 100,000 documents; it measured {sorted(sizes)}"


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_server_part_measures_search_and_embed_against_the_ceiling(tmp_path):
    done = bench_lab11(
        "--parts", "server", "--sizes", "1000", "--rounds", "1", "--seconds", "0.5", "--out", str(tmp_path), timeout=380
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    server = json.loads((tmp_path / "lab11.json").read_text())["server"]
    measured = [(row["documents"], row["index"]) for row in server["search"]]
    assert measured == [(1200, "exact"), (1200, "approximate"), (1200, "exact-blas-threads")], measured
    for row in server["search"]:
        assert row["search"]["best"]["requests"] > 0 and row["search"]["errors"] == 0, row
        assert row["ceiling"]["best"]["requests"] > 0, row
    assert server["search"][1]["recall_at_10"] >= 0.95
    assert {"health", "single", "batch"} == set(server["embed"])
    assert all(row["errors"] == 0 for row in server["embed"].values()), server["embed"]
    report = (tmp_path / "LAB11.md").read_text()
    assert "## Through the server (lab 9's method)" in report and "× ceiling" in report
    assert "## In one process" not in report  # no earlier part in this folder: nothing invented
