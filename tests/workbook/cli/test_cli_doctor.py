"""``doctor``: finds what is wrong with the machine and says how to fix it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from workbook.cli.doctor import EMBEDDING_MODEL, FAIL, OK, check_embedding_model
from workbook.paths import ROOT


def doctor(*args):
    return subprocess.run(
        [sys.executable, "-m", "workbook", "doctor", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_this_machine_is_ready():
    done = doctor("--json")
    findings = json.loads(done.stdout)
    problems = [f for f in findings if f["level"] == "FAIL"]
    assert not problems, problems
    assert done.returncode == 0
    whats = " | ".join(f["what"] for f in findings)
    assert "Python 3.11" in whats and "kernel 'python3': Python 3.11" in whats and "packages import" in whats
    assert "fastapi 0.165.0" in whats and "labs with checks" in whats
    assert "lab 11's embedding model (data/embedding_model) loads with model2vec, offline" in whats


def test_wrong_or_missing_pins_are_problems_with_a_fix(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# pins\nfastapi==0.0.1\nuvicorn[standard]==0.54.0  # extras\nsurely-not-installed-package==1.0\n"
    )
    done = doctor("--requirements", requirements)
    assert done.returncode == 1
    assert "FAIL  fastapi 0.165.0: requirements.txt pins 0.0.1" in done.stdout
    assert "FAIL  surely-not-installed-package is not installed" in done.stdout
    assert "fix: make setup" in done.stdout
    assert not [line for line in done.stdout.splitlines() if line.startswith("FAIL") and "uvicorn" in line]


def test_a_busy_port_is_a_warning_with_a_way_out():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = doctor("--port", port, "--verbose")
    assert f"warn  port {port} is in use" in done.stdout and "fix:" in done.stdout
    assert done.returncode == 0, done.stdout  # a warning alone does not fail


def test_the_embedding_model_loads_with_model2vec_and_embeds():
    finding = check_embedding_model()
    assert finding.level == OK, finding
    assert "32 dimensions" in finding.what


def test_a_missing_embedding_model_or_file_is_a_problem_with_a_fix(tmp_path):
    missing = check_embedding_model(tmp_path / "embedding_model")
    assert missing.level == FAIL and "the folder is missing" in missing.detail
    assert "git checkout -- data/embedding_model" in missing.fix and "make_embedding_model.py" in missing.fix
    hub_name = check_embedding_model(Path("minishlab/potion-base-8M"))  # never a download: not a folder here
    assert hub_name.level == FAIL and "the folder is missing" in hub_name.detail
    partial = shutil.copytree(EMBEDDING_MODEL, tmp_path / "partial")
    (partial / "tokenizer.json").unlink()
    finding = check_embedding_model(partial)
    assert finding.level == FAIL and "tokenizer.json missing" in finding.detail, finding


def test_an_embedding_model_model2vec_cannot_read_is_a_problem_with_a_fix(tmp_path):
    broken = shutil.copytree(EMBEDDING_MODEL, tmp_path / "broken")
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a half-written file
    finding = check_embedding_model(broken)
    assert finding.level == FAIL and "model2vec cannot load it" in finding.detail, finding
    assert "SafetensorError" in finding.detail and "make_embedding_model.py" in finding.fix
