"""Lab 3 checks for what the docstrings state and no other check tries: the iris pipelines as specified
(scaled, reproducible, trained on all the data), the parent folder created, and every wrong shape refused.
"""

import hashlib

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from labkit.datasets import load_iris

PROBABILITY_TOLERANCE = 1e-4


def reference_iris_probabilities():
    """What the pipelines the docstring specifies say about every iris flower, trained on all of them."""
    features, targets, _ = load_iris()
    specified = {
        "logistic_regression": Pipeline(
            [("scale", StandardScaler()), ("classifier", LogisticRegression(max_iter=1000))]
        ),
        "random_forest": Pipeline([("classifier", RandomForestClassifier(n_estimators=100, random_state=0))]),
    }
    return features, {name: p.fit(features, targets).predict_proba(features) for name, p in specified.items()}


def largest_difference(pipeline, features, expected) -> float:
    return float(np.max(np.abs(np.asarray(pipeline.predict_proba(features)) - expected)))


@pytest.mark.task("3.2", points=1)
def test_iris_models_are_reproducible(persistence):
    features, _, _ = load_iris()
    first, second = persistence.train_iris_models(), persistence.train_iris_models()
    for name in ("logistic_regression", "random_forest"):
        a = np.asarray(first[name][0].predict_proba(features))
        b = np.asarray(second[name][0].predict_proba(features))
        assert a.shape == b.shape and np.array_equal(a, b), (
            f"train_iris_models() run twice gave two {name} models whose probabilities differ (by up to "
            f"{float(np.max(np.abs(a - b))) if a.shape == b.shape else 'a shape'}): training must be reproducible. "
            "The docstring fixes random_state=0 for the forest; nothing else may be random."
        )


@pytest.mark.task("3.2", points=2)
def test_iris_models_are_the_specified_pipelines_trained_on_all_the_data(persistence):
    features, expected = reference_iris_probabilities()
    models = persistence.train_iris_models()
    logistic = models["logistic_regression"][0]
    difference = largest_difference(logistic, features, expected["logistic_regression"])
    assert difference < PROBABILITY_TOLERANCE, (
        f"logistic_regression's probabilities on the raw iris measurements differ from those of "
        f"StandardScaler -> LogisticRegression(max_iter=1000) fitted on all 150 flowers by up to {difference:.3g}. "
        "The pipeline must scale the features itself (a StandardScaler step before the classifier, so raw "
        "measurements can be sent to it) and be trained on the whole data set, not a split."
    )
    forest = models["random_forest"][0]
    difference = largest_difference(forest, features, expected["random_forest"])
    assert difference < PROBABILITY_TOLERANCE, (
        f"random_forest's probabilities differ from those of RandomForestClassifier(n_estimators=100, "
        f"random_state=0) fitted on all 150 iris flowers by up to {difference:.3g}. Use exactly those "
        "parameters and train on the whole data set."
    )


@pytest.mark.task("3.2", points=1)
def test_logistic_regression_pipeline_scales_its_input(persistence):
    logistic = persistence.train_iris_models()["logistic_regression"][0]
    parts = logistic.get_params(deep=True).values() if hasattr(logistic, "get_params") else []
    assert any(isinstance(part, StandardScaler) for part in parts), (
        f"logistic_regression is {logistic!r}, with no StandardScaler inside: the docstring specifies a Pipeline of "
        "StandardScaler -> LogisticRegression, so the model scales every input itself."
    )


@pytest.mark.task("3.3", points=1)
def test_save_model_creates_the_parent_folder(persistence, text_model, tmp_path):
    path = tmp_path / "not" / "there" / "yet" / "model.joblib"
    try:
        digest = persistence.save_model(*text_model, path)
    except FileNotFoundError as exc:
        pytest.fail(
            f"save_model into a folder that does not exist yet failed: {exc}. Create the parent "
            "folder first (path.parent.mkdir(parents=True, exist_ok=True))."
        )
    assert path.is_file() and persistence.digest_path(path).is_file(), (
        f"save_model({path}) returned, but the model file or its digest is missing."
    )
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest(), (
        f"save_model({path}) returned {digest!r}; it should return the SHA-256 of the file it wrote."
    )


@pytest.mark.task("3.4", points=1)
@pytest.mark.parametrize("shape", ["a list of two", "empty names", "names that are not strings"])
def test_other_wrong_shapes_are_refused(loader, reference_text_model, tmp_path, shape):
    pipeline, names = reference_text_model  # the reference model and digest: this grades load_model alone
    obj = {
        "a list of two": [pipeline, names],
        "empty names": (pipeline, []),
        "names that are not strings": (pipeline, [0, 1, 2, 3]),
    }[shape]
    path = tmp_path / "odd.joblib"
    joblib.dump(obj, path)
    loader.digest_path(path).write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "\n")
    try:
        loaded = loader.load_model(path)
    except loader.ModelFormatError as exc:
        assert len(str(exc)) >= 15, f"ModelFormatError({str(exc)!r}): say what was expected and what was found."
        return
    pytest.fail(
        f"load_model accepted a file holding {shape} (returned {loaded!r}); it must be a 2-tuple of a "
        "pipeline and a non-empty list of strings: raise ModelFormatError."
    )


@pytest.mark.task("3.3", points=1)
def test_file_sha256_reads_in_chunks(persistence, tmp_path):
    import tracemalloc

    size = 16 * 1024 * 1024
    path = tmp_path / "large.joblib"
    with open(path, "wb") as handle:
        block = bytes(range(256)) * 4096  # 1 MiB
        for _ in range(size // len(block)):
            handle.write(block)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    tracemalloc.start()
    try:
        got = persistence.file_sha256(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == expected, f"file_sha256 of a 16 MiB file gave {got!r}, expected {expected!r}."
    assert peak < size / 2, (  # a whole read holds all 16 MiB; chunks of 1-2 MiB hold about two of them
        f"file_sha256 of a 16 MiB file held {peak / 2**20:.1f} MiB at once: it read the whole file into memory. "
        "Model files can be large: read and hash them in chunks (handle.read(1 << 20) in a loop)."
    )
