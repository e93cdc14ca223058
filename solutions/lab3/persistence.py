"""Lab 3 — joblib persistence of ``(pipeline, target_names)`` tuples, loaded only when trusted.

Read notebooks/03_persistence.ipynb first. A model file is useless without the names of its classes:
the pipeline predicts integers (0, 1, 2, …) and the service must answer "sci.space". So a model is saved
as one tuple, ``(pipeline, target_names)``, and loaded back as a :class:`LoadedModel`.

joblib files are pickles: loading one runs whatever code it contains. Load only files you made: each
save records the file's SHA-256 beside it (``model.joblib.sha256``), and loading refuses a file whose
digest is missing or different.

* Task 3.1 ``train_text_classifier``: TF-IDF + multinomial naive Bayes on the corpus, integer targets.
* Task 3.2 ``train_iris_models``: a logistic regression and a random forest on iris.
* Task 3.3 ``file_sha256`` and ``save_model``: dump the tuple, record its digest.
* Task 3.4 ``load_model``: verify the digest, load, check the structure.
* Task 3.5 ``predict_category``: a category *name* for one text.

Check your work with ``pytest checks/lab3``. ``save_all_models`` (given) writes every model into ``models/``
for the labs that serve them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import joblib
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from labkit.datasets import load_corpus, load_iris

DIGEST_SUFFIX = ".sha256"


class LoadedModel(NamedTuple):
    """Given: what :func:`load_model` returns."""

    pipeline: Pipeline
    target_names: list[str]


class ModelFormatError(ValueError):
    """Given: the file holds something other than a ``(pipeline, target_names)`` tuple."""


class UntrustedModelError(ValueError):
    """Given: the file's SHA-256 digest is missing or does not match the recorded one."""


def digest_path(model_path: Path) -> Path:
    """Given: where the digest of ``model_path`` is recorded (``model.joblib`` -> ``model.joblib.sha256``)."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + DIGEST_SUFFIX)


def train_text_classifier(texts: list[str], categories: list[str]) -> tuple[Pipeline, list[str]]:  # Task 3.1
    """Fit ``TfidfVectorizer`` -> ``MultinomialNB`` on ``texts``; return ``(pipeline, target_names)``.

    ``target_names`` is the sorted list of distinct categories. Train on *integer* targets — the index of
    each text's category in ``target_names`` — as scikit-learn's own text datasets do, so the pipeline
    predicts integers and the names travel with the model.
    """
    target_names = sorted(set(categories))
    index = {name: i for i, name in enumerate(target_names)}
    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("classifier", MultinomialNB())])
    pipeline.fit(texts, [index[c] for c in categories])
    return pipeline, target_names


def train_iris_models() -> dict[str, tuple[Pipeline, list[str]]]:  # Task 3.2
    """Train two iris classifiers on the whole iris data set and return them by name.

    ``"logistic_regression"``: ``StandardScaler`` -> ``LogisticRegression(max_iter=1000)``;
    ``"random_forest"``: ``RandomForestClassifier(n_estimators=100, random_state=0)`` (in a Pipeline too).
    Each value is ``(pipeline, target_names)`` with iris's names: setosa, versicolor, virginica.
    """
    features, targets, target_names = load_iris()
    models = {
        "logistic_regression": Pipeline([("scale", StandardScaler()),
                                         ("classifier", LogisticRegression(max_iter=1000))]),
        "random_forest": Pipeline([("classifier", RandomForestClassifier(n_estimators=100, random_state=0))]),
    }
    return {name: (pipeline.fit(features, targets), list(target_names)) for name, pipeline in models.items()}


def file_sha256(path: Path) -> str:  # Task 3.3
    """The SHA-256 hex digest of the file's *bytes* (read in chunks: model files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(pipeline: Pipeline, target_names: list[str], path: Path) -> str:  # Task 3.3
    """Dump the tuple ``(pipeline, list(target_names))`` to ``path`` with joblib.

    Then write the file's SHA-256 hex digest into ``digest_path(path)`` and return the digest.
    Create the parent folder if it is missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump((pipeline, list(target_names)), path)
    digest = file_sha256(path)
    digest_path(path).write_text(digest + "\n", encoding="utf-8")
    return digest


def load_model(path: Path) -> LoadedModel:  # Task 3.4
    """Load a model saved by :func:`save_model`, but only if it is the file that was saved.

    1. Read the recorded digest; if it is missing, or differs from ``file_sha256(path)``, raise
       ``UntrustedModelError`` *before* unpickling anything.
    2. ``joblib.load`` the file. It must be a 2-tuple ``(pipeline, target_names)``: a pipeline with a
       ``predict`` method and a non-empty list of strings. Anything else raises ``ModelFormatError``
       with a message that says what was expected and what was found.
    """
    path = Path(path)
    recorded = digest_path(path)
    if not recorded.exists():
        raise UntrustedModelError(f"{path}: no recorded digest at {recorded}; refusing to unpickle it")
    expected = recorded.read_text(encoding="utf-8").strip()
    actual = file_sha256(path)
    if actual != expected:
        raise UntrustedModelError(
            f"{path}: SHA-256 {actual[:12]}… does not match the recorded {expected[:12]}…; refusing to load it"
        )
    loaded = joblib.load(path)
    if not (isinstance(loaded, tuple) and len(loaded) == 2):
        raise ModelFormatError(
            f"{path}: expected a (pipeline, target_names) tuple, found {type(loaded).__name__}"
        )
    pipeline, target_names = loaded
    if not callable(getattr(pipeline, "predict", None)):
        raise ModelFormatError(f"{path}: the first item has no predict method ({type(pipeline).__name__})")
    if not (isinstance(target_names, (list, tuple)) and target_names
            and all(isinstance(name, str) for name in target_names)):
        raise ModelFormatError(f"{path}: the second item must be a non-empty list of class names")
    return LoadedModel(pipeline, list(target_names))


def predict_category(model: LoadedModel, text: str) -> str:  # Task 3.5
    """The category *name* the model predicts for one text."""
    index = model.pipeline.predict([text])[0]
    return model.target_names[int(index)]


def save_all_models(model_dir: Path) -> dict[str, Path]:
    """Given: train every model and save it into ``model_dir``; return name -> path.

    From the repository root: ``PYTHONPATH=labs python -m lab3.persistence models`` (or call it from the
    notebook). Labs 4 onwards serve these files.
    """
    model_dir = Path(model_dir)
    texts, categories = load_corpus("train")
    models = {"newsgroups": train_text_classifier(texts, categories), **train_iris_models()}
    paths = {}
    for name, (pipeline, target_names) in models.items():
        paths[name] = model_dir / f"{name}.joblib"
        save_model(pipeline, target_names, paths[name])
    return paths


if __name__ == "__main__":
    import sys

    for name, saved in save_all_models(Path(sys.argv[1] if len(sys.argv) > 1 else "models")).items():
        print(f"{name}: {saved}")
