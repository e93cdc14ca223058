"""Lab 11's model and loading beyond what the graded checks cover: the committed model is what
``data/make_embedding_model.py`` builds, model2vec loads it with the network unreachable, and the service never
turns a model name into a download unless told to."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

from workbook.paths import ROOT, SOLUTIONS
from workbook.target import activate

NO_NETWORK = textwrap.dedent(
    """
    import socket

    def refuse(*args, **kwargs):
        raise OSError("the network was touched")

    socket.socket.connect = refuse
    socket.create_connection = refuse
    """
)


@pytest.fixture(scope="module")
def embedding():
    activate(SOLUTIONS)
    return importlib.import_module("lab11.embedding")


def run_python(*args: str) -> subprocess.CompletedProcess:
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_the_committed_model_is_what_the_script_builds():
    done = run_python("data/make_embedding_model.py", "--check")
    assert done.returncode == 0 and "up to date" in done.stdout, done.stdout + done.stderr


def test_model2vec_loads_the_model_with_no_network():
    code = NO_NETWORK + textwrap.dedent(
        """
        from model2vec import StaticModel
        from labkit.datasets import DATA

        model = StaticModel.from_pretrained(str(DATA / "embedding_model"))
        print(model.encode(["rocket orbit"]).shape)
        """
    )
    done = run_python("-c", code)  # no HF_HUB_OFFLINE: a local folder must not need it
    assert done.returncode == 0 and "(1, 32)" in done.stdout, done.stdout + done.stderr


def test_a_hub_name_is_refused_without_allow_download(embedding):
    with pytest.raises(embedding.ModelLoadError, match="ALLOW_DOWNLOAD"):
        embedding.load_model("minishlab/potion-base-8M")


def test_the_lab_loads_no_model_at_import():
    code = NO_NETWORK + textwrap.dedent(
        """
        from model2vec import StaticModel

        def loaded(*args, **kwargs):
            raise AssertionError("a model was loaded at import")

        StaticModel.from_pretrained = loaded
        from workbook.target import activate
        from workbook.paths import SOLUTIONS
        activate(SOLUTIONS)
        import lab11.app
        print("imported")
        """
    )
    done = run_python("-c", code)
    assert done.returncode == 0 and "imported" in done.stdout, done.stdout + done.stderr
