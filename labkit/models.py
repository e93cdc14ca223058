"""Reference models for checks and notebooks: trained from labkit's data, saved in lab 3's format.

Checks of labs 4 onwards serve models, but must not depend on the student's own lab 3, so they write
these into a temporary folder: ``write_reference_models(tmp_path)``. The format is lab 3's: a joblib
file holding ``(pipeline, target_names)`` and its SHA-256 in ``<file>.sha256``.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import joblib

from labkit.datasets import load_corpus, load_iris

MODEL_NAMES = ("newsgroups", "logistic_regression", "random_forest")


@cache
def reference_model(name: str) -> tuple[Any, list[str]]:  # a fitted sklearn Pipeline (sklearn has no types)
    """(pipeline, target_names), trained once per process."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "newsgroups":
        texts, categories = load_corpus("train")
        names = sorted(set(categories))
        pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("classifier", MultinomialNB())])
        return pipeline.fit(texts, [names.index(c) for c in categories]), names
    features, targets, names = load_iris()
    if name == "logistic_regression":
        pipeline = Pipeline([("scale", StandardScaler()), ("classifier", LogisticRegression(max_iter=1000))])
    elif name == "random_forest":
        pipeline = Pipeline([("classifier", RandomForestClassifier(n_estimators=100, random_state=0))])
    else:
        raise ValueError(f"unknown reference model {name!r}; known: {', '.join(MODEL_NAMES)}")
    return pipeline.fit(features, targets), names


def write_model(pipeline, target_names, path: Path) -> Path:
    """Save ``(pipeline, target_names)`` with its digest beside it, as lab 3 does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump((pipeline, list(target_names)), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(digest + "\n", encoding="utf-8")
    return path


def write_reference_models(model_dir: Path, names: tuple[str, ...] = MODEL_NAMES) -> dict[str, Path]:
    """Write each named reference model to ``model_dir/<name>.joblib``; return name -> path."""
    return {name: write_model(*reference_model(name), Path(model_dir) / f"{name}.joblib") for name in names}
