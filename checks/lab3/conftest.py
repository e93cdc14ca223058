import hashlib
from pathlib import Path

import pytest

from labkit.datasets import load_corpus
from labkit.models import reference_model, write_model
from workbook.checkkit.student import import_lab_module


@pytest.fixture(scope="module")
def persistence():
    """The student's lab3/persistence.py, imported from the target."""
    return import_lab_module("lab3.persistence")


@pytest.fixture(scope="module")
def text_model(persistence):
    """(pipeline, target_names) trained once by the student's train_text_classifier (Task 3.1's checks)."""
    texts, categories = load_corpus("train")
    return persistence.train_text_classifier(texts, categories)


@pytest.fixture(scope="module")
def reference_text_model():
    """(pipeline, target_names) trained the reference way: checks of Tasks 3.3-3.5 never pay for Task 3.1."""
    return reference_model("newsgroups")


@pytest.fixture
def saved_text_model(persistence, reference_text_model, tmp_path):
    """The reference text model saved by the student's save_model (Task 3.3's checks); returns its path."""
    path = tmp_path / "newsgroups.joblib"
    persistence.save_model(*reference_text_model, path)
    return path


@pytest.fixture
def reference_saved_model(reference_text_model, tmp_path):
    """The reference text model saved the reference way, digest beside it (Task 3.4's checks: they grade
    load_model, so they must not depend on your save_model)."""
    return write_model(*reference_text_model, tmp_path / "newsgroups.joblib")


def reference_file_sha256(path) -> str:
    """Task 3.3's file_sha256 done right: Task 3.4's checks use it, so they never pay for Task 3.3."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def loader(persistence, monkeypatch):
    """The student's persistence module with ``file_sha256`` swapped for the reference (Task 3.4's checks)."""
    monkeypatch.setattr(persistence, "file_sha256", reference_file_sha256)
    return persistence
