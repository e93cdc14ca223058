"""Lab 3 checks: training, the saved tuple, its digest, trusted loading and category names."""

import hashlib
import os
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB

from labkit.datasets import load_corpus, load_iris
from workbook.checkkit.checking import raises

CATEGORIES = ["comp.graphics", "rec.autos", "sci.med", "sci.space"]
IRIS_NAMES = ["setosa", "versicolor", "virginica"]
ACCURACY_BAR = 0.90  # the reference pipeline scores about 0.98 on the held-out posts


class RunsCodeWhenUnpickled:
    """A stand-in for a malicious pickle: unpickling it creates a folder (and could do anything else)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def write_with_valid_digest(persistence, obj, path):
    """Dump any object with a correct digest beside it, without the student's save_model."""
    joblib.dump(obj, path)
    persistence.digest_path(path).write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "\n")
    return path


def step_types(pipeline):
    return [type(step) for _, step in pipeline.steps]


@pytest.mark.task("3.1", points=2)
def test_text_classifier_is_tfidf_then_naive_bayes(text_model):
    pipeline, target_names = text_model
    assert step_types(pipeline) == [TfidfVectorizer, MultinomialNB], (
        f"the pipeline's steps are {[t.__name__ for t in step_types(pipeline)]}; expected TfidfVectorizer "
        "then MultinomialNB."
    )
    assert list(target_names) == CATEGORIES, f"target_names should be {CATEGORIES}, got {target_names!r}."
    predicted = pipeline.predict(["the rocket reached orbit"])
    assert np.issubdtype(np.asarray(predicted).dtype, np.integer), (
        f"the pipeline predicts {predicted!r}; train it on integer targets (each category's index in "
        "target_names), so the names must travel with the model."
    )


@pytest.mark.task("3.1", points=2)
def test_text_classifier_clears_the_accuracy_bar(text_model):
    pipeline, target_names = text_model
    texts, categories = load_corpus("test")
    raw = pipeline.predict(texts)
    assert np.issubdtype(np.asarray(raw).dtype, np.integer), (
        f"the pipeline predicts {raw[:3]!r}…; it should predict integers, each category's index in target_names."
    )
    predicted = [target_names[int(i)] for i in raw]
    accuracy = np.mean([p == c for p, c in zip(predicted, categories)])
    assert accuracy >= ACCURACY_BAR, (
        f"held-out accuracy is {accuracy:.3f}; it should be at least {ACCURACY_BAR}. Train on the 'train' "
        "split with TF-IDF features and MultinomialNB."
    )


@pytest.mark.task("3.2", points=2)
def test_iris_models_are_trained_with_their_names(persistence):
    models = persistence.train_iris_models()
    assert set(models) == {"logistic_regression", "random_forest"}, (
        f"train_iris_models() returned the keys {sorted(models)}; expected logistic_regression and random_forest."
    )
    features, targets, _ = load_iris()
    expected = {"logistic_regression": LogisticRegression, "random_forest": RandomForestClassifier}
    for name, (pipeline, target_names) in models.items():
        final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
        assert isinstance(final, expected[name]), (
            f"{name} ends in {type(final).__name__}, not {expected[name].__name__}."
        )
        assert list(target_names) == IRIS_NAMES, f"{name}'s target names are {target_names!r}, expected {IRIS_NAMES}."
        accuracy = pipeline.score(features, targets)
        assert accuracy >= 0.95, f"{name} scores {accuracy:.2f} on iris; a trained model scores above 0.95."


@pytest.mark.task("3.3", points=2)
def test_saved_file_holds_pipeline_and_target_names(persistence, reference_text_model, saved_text_model):
    text_model = reference_text_model
    loaded = joblib.load(saved_text_model)
    assert isinstance(loaded, tuple) and len(loaded) == 2, (
        f"the saved file holds a {type(loaded).__name__}; it should hold the tuple (pipeline, target_names) "
        "so the class names travel with the model."
    )
    pipeline, target_names = loaded
    assert list(target_names) == list(text_model[1]), f"saved target names {target_names!r} differ from the model's."
    sample = ["engine oil and brakes"]
    assert list(pipeline.predict(sample)) == list(text_model[0].predict(sample)), (
        "the saved pipeline predicts differently."
    )


@pytest.mark.task("3.3", points=2)
def test_digest_of_the_file_bytes_is_recorded(persistence, reference_text_model, tmp_path):
    text_model = reference_text_model
    path = tmp_path / "model.joblib"
    returned = persistence.save_model(*text_model, path)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    recorded_at = persistence.digest_path(path)
    assert recorded_at.exists(), f"save_model wrote no digest at {recorded_at.name}."
    recorded = recorded_at.read_text().strip()
    assert recorded == expected, (
        f"the recorded digest {recorded[:16]}… is not the SHA-256 of the file's bytes ({expected[:16]}…)."
    )
    assert returned == expected, f"save_model returned {returned!r}; it should return the hex digest."
    assert persistence.file_sha256(path) == expected, "file_sha256 disagrees with hashlib.sha256 of the bytes."


@pytest.mark.task("3.4", points=2)
def test_round_trip_gives_identical_predictions(loader, reference_text_model, reference_saved_model):
    text_model = reference_text_model
    model = loader.load_model(reference_saved_model)
    assert isinstance(model, loader.LoadedModel), f"load_model returned {type(model).__name__}, not LoadedModel."
    texts, _ = load_corpus("test")
    assert list(model.target_names) == list(text_model[1]), (
        f"load_model gave the target names {model.target_names!r}; the file holds {list(text_model[1])!r}."
    )
    assert np.array_equal(model.pipeline.predict(texts), text_model[0].predict(texts)), (
        "the loaded pipeline predicts differently from the one that was saved."
    )


@pytest.mark.task("3.4", points=2)
def test_tampered_file_is_refused_before_unpickling(loader, reference_saved_model, tmp_path):
    # Swap the model for a pickle that runs code when loaded; the recorded digest stays the old one.
    marker = tmp_path / "unpickled-and-ran-code"
    joblib.dump(RunsCodeWhenUnpickled(marker), reference_saved_model)
    with raises(loader.UntrustedModelError, "load_model(a file whose bytes no longer match the recorded digest)"):
        loader.load_model(reference_saved_model)
    assert not marker.exists(), (
        "load_model refused the file, but only after unpickling it, and the pickle ran its code. "
        "Compare the digests before joblib.load."
    )


@pytest.mark.task("3.4", points=1)
def test_file_without_digest_is_refused(loader, reference_saved_model):
    digest = Path(loader.digest_path(reference_saved_model))
    # Delete only a file beside the model, whatever path the code under test names.
    assert digest.resolve().parent == reference_saved_model.resolve().parent and digest.is_file(), (
        f"digest_path({reference_saved_model.name}) should name a file beside the model, got {digest}"
    )
    digest.unlink()
    with raises(loader.UntrustedModelError, "load_model(a model file with no .sha256 file beside it)"):
        loader.load_model(reference_saved_model)


@pytest.mark.task("3.4", points=1)
@pytest.mark.parametrize("shape", ["bare pipeline", "three items", "names not a list", "no predict"])
def test_wrong_shape_gives_a_clear_error(loader, reference_text_model, tmp_path, shape):
    pipeline, names = reference_text_model
    obj = {
        "bare pipeline": pipeline,
        "three items": (pipeline, names, "extra"),
        "names not a list": (pipeline, 42),
        "no predict": ({"weights": [1, 2]}, names),
    }[shape]
    path = write_with_valid_digest(loader, obj, tmp_path / "odd.joblib")
    with raises(loader.ModelFormatError, f"load_model(a trusted file holding a {shape})") as caught:
        loader.load_model(path)
    message = str(caught.value)
    assert len(message) >= 15, f"ModelFormatError({message!r}): say what was expected and what was found."


@pytest.mark.task("3.5", points=2)
def test_predict_category_returns_a_name(persistence, reference_text_model):
    text_model = reference_text_model
    model = persistence.LoadedModel(*text_model)
    got = persistence.predict_category(model, "the rocket and the satellite reached orbit")
    assert not isinstance(got, (int, np.integer)), (
        f"predict_category should return a category name like 'sci.space', got the class index {got!r}: "
        "look it up in model.target_names."
    )
    assert got == "sci.space", (
        f"predict_category(model, 'the rocket and the satellite reached orbit') returned {got!r}; expected 'sci.space'."
    )
    texts, _ = load_corpus("test")
    for text in texts[:40]:
        got = persistence.predict_category(model, text)
        expected = text_model[1][int(text_model[0].predict([text])[0])]
        assert got == expected and isinstance(got, str), (
            f"predict_category(model, {text[:40]!r}…) returned {got!r}; expected the name {expected!r}."
        )
