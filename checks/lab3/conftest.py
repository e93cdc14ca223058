import pytest

from workbook.datasets import load_corpus
from workbook.student import import_lab_module


@pytest.fixture(scope="module")
def persistence():
    """The student's lab3/persistence.py, imported from the target."""
    return import_lab_module("lab3.persistence")


@pytest.fixture(scope="module")
def text_model(persistence):
    """(pipeline, target_names) trained once by the student's train_text_classifier."""
    texts, categories = load_corpus("train")
    return persistence.train_text_classifier(texts, categories)


@pytest.fixture
def saved_text_model(persistence, text_model, tmp_path):
    """The text model saved by the student's save_model into a fresh folder; returns its path."""
    path = tmp_path / "newsgroups.joblib"
    persistence.save_model(*text_model, path)
    return path
