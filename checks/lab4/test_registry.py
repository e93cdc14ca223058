"""Lab 4 checks, Tasks 4.1–4.3: the settings, the registry and predicting with an entry (no app yet)."""

import hashlib
import os
from pathlib import Path

import joblib
import pytest

from labkit.models import MODEL_NAMES, reference_model
from workbook.checkkit.checking import raises, settle
from workbook.checkkit.student import lab_attr

CATEGORIES = ("comp.graphics", "rec.autos", "sci.med", "sci.space")
IRIS_NAMES = ("setosa", "versicolor", "virginica")
FLOWER = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
POSTS = [
    "the rocket reached orbit after the launch",
    "my car needs new brakes and an oil change",
    "the patient was given a new vaccine",
    "render the polygon with a faster shader",
]


class RunsCodeWhenUnpickled:
    """A stand-in for a malicious pickle: unpickling it creates a folder (and could do anything else)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def same_place(got, expected: Path) -> bool:
    """``got`` is an absolute path to ``expected`` (symbolic links aside: macOS's /tmp is one)."""
    return isinstance(got, Path) and got.is_absolute() and os.path.realpath(got) == os.path.realpath(expected)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def expected_label(name: str, row) -> str:
    pipeline, names = reference_model(name)
    return names[int(pipeline.predict([row])[0])]


def iris_row(flower: dict) -> list[float]:
    return [flower[k] for k in ("sepal_length", "sepal_width", "petal_length", "petal_width")]


# --- Task 4.1: settings ---------------------------------------------------------------------------


@pytest.mark.task("4.1", points=1)
def test_settings_read_model_dir_from_the_environment(settings_module, isolated_environment, monkeypatch, tmp_path):
    Settings = lab_attr(settings_module, "Settings")
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "from-env"))
    got = Settings().model_dir
    assert same_place(got, tmp_path / "from-env"), (
        f"with MODEL_DIR={tmp_path / 'from-env'}, Settings().model_dir is {got!r}."
    )
    monkeypatch.setenv("MODEL_DIR", "relative/models")
    got = Settings().model_dir
    expected = isolated_environment / "relative" / "models"
    assert same_place(got, expected), (
        f"with MODEL_DIR=relative/models, started in {isolated_environment}, Settings().model_dir should be the "
        f"absolute path {expected}, got {got!r}. Resolve it against the working directory."
    )
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODEL_DIR", "~/models")
    got = Settings().model_dir
    assert same_place(got, tmp_path / "home" / "models"), (
        f"with MODEL_DIR=~/models and HOME={tmp_path / 'home'}, Settings().model_dir should be "
        f"{tmp_path / 'home' / 'models'}, got {got!r}. Expand `~` first (Path.expanduser)."
    )


@pytest.mark.task("4.1", points=1)
def test_settings_read_model_dir_from_a_dotenv_file(settings_module, isolated_environment, monkeypatch):
    Settings = lab_attr(settings_module, "Settings")
    got = Settings().model_dir
    assert same_place(got, isolated_environment / "models"), (
        f"with no MODEL_DIR and no .env, Settings().model_dir should be models/ in the working directory, "
        f"as an absolute path ({isolated_environment / 'models'}); got {got!r}."
    )
    (isolated_environment / ".env").write_text("# settings for the checks\nMODEL_DIR=from-dotenv\nUNRELATED=1\n")
    got = Settings().model_dir
    assert same_place(got, isolated_environment / "from-dotenv"), (
        f"with MODEL_DIR=from-dotenv in ./.env, Settings().model_dir should be {isolated_environment / 'from-dotenv'} "
        f"(read from .env, made absolute), got {got!r}."
    )
    monkeypatch.setenv("MODEL_DIR", str(isolated_environment / "from-env"))
    got = Settings().model_dir
    assert same_place(got, isolated_environment / "from-env"), (
        f"MODEL_DIR is set in both the environment and .env; the environment should win, got {got!r}."
    )


# --- Task 4.2: the registry -----------------------------------------------------------------------


@pytest.mark.task("4.2", points=2)
def test_read_model_describes_the_file(registry_module, shared_model_dir):
    read_model = lab_attr(registry_module, "read_model")
    for name, kind, classes in [
        ("newsgroups", "text", CATEGORIES),
        ("random_forest", "tabular", IRIS_NAMES),
        ("logistic_regression", "tabular", IRIS_NAMES),
    ]:
        path = shared_model_dir / f"{name}.joblib"
        entry = read_model(path)
        described = (entry.name, entry.kind, entry.version, tuple(entry.classes))
        expected = (name, kind, sha256_of(path)[:12], classes)
        assert described == expected, (
            f"read_model({path.name}) gave (name, kind, version, classes) = {described}; expected {expected} "
            "(the version is the first 12 hex characters of the file's SHA-256)."
        )
    entry = read_model(shared_model_dir / "newsgroups.joblib")
    got = [entry.classes[int(i)] for i in entry.pipeline.predict(POSTS)]
    assert got == [expected_label("newsgroups", p) for p in POSTS], "the loaded pipeline predicts differently."


@pytest.mark.task("4.2", points=1)
def test_read_model_refuses_a_tampered_file_before_unpickling(registry_module, model_dir, tmp_path):
    read_model = lab_attr(registry_module, "read_model")
    ModelLoadError = lab_attr(registry_module, "ModelLoadError")
    marker = tmp_path / "unpickled-and-ran-code"
    joblib.dump(RunsCodeWhenUnpickled(marker), model_dir / "newsgroups.joblib")  # the old digest stays
    with raises(ModelLoadError, "read_model(newsgroups.joblib, whose bytes no longer match its digest)") as refused:
        read_model(model_dir / "newsgroups.joblib")
    assert not marker.exists(), (
        "read_model refused the tampered file, but only after unpickling it, and the pickle ran its code. "
        "Compare the digests before joblib.load."
    )
    assert "newsgroups.joblib" in str(refused.value), (
        f"ModelLoadError({str(refused.value)!r}) should name the file that was refused."
    )


@pytest.mark.task("4.2", points=1)
def test_read_model_refuses_missing_digests_and_wrong_contents(registry_module, model_dir):
    read_model = lab_attr(registry_module, "read_model")
    ModelLoadError = lab_attr(registry_module, "ModelLoadError")
    (model_dir / "random_forest.joblib.sha256").unlink()
    with raises(ModelLoadError, "read_model(random_forest.joblib, with no .sha256 file beside it)"):
        read_model(model_dir / "random_forest.joblib")
    bare = model_dir / "bare.joblib"
    joblib.dump(reference_model("logistic_regression")[0], bare)  # a pipeline without its target names
    (model_dir / "bare.joblib.sha256").write_text(sha256_of(bare) + "\n")
    try:
        read_model(bare)
    except ModelLoadError:
        return
    pytest.fail(
        "read_model accepted a file holding a bare pipeline; it must hold (pipeline, target_names): "
        "raise ModelLoadError."
    )


@pytest.mark.task("4.2", points=1)
def test_load_dir_loads_every_model_and_get_finds_them(registry_module, shared_model_dir):
    registry = lab_attr(registry_module, "ModelRegistry")()
    UnknownModelError = lab_attr(registry_module, "UnknownModelError")
    names = registry.load_dir(shared_model_dir)
    expected = sorted(MODEL_NAMES)
    assert list(names) == expected, f"load_dir returned {names!r}; expected the sorted names {expected}."
    assert registry.names() == expected, f"after load_dir, names() is {registry.names()!r}; expected {expected}."
    entry = registry.get("random_forest")
    assert entry.name == "random_forest" and entry.kind == "tabular", f"get('random_forest') returned {entry!r}."
    with raises(UnknownModelError, "registry.get('gradient_boosting') after load_dir") as unknown:
        registry.get("gradient_boosting")
    assert list(unknown.value.known) == expected, (
        f"UnknownModelError.known is {unknown.value.known!r}; it should list the loaded names {expected}."
    )


@pytest.mark.task("4.2", points=1)
def test_load_dir_is_all_or_nothing(registry_module, shared_model_dir, model_dir, tmp_path):
    registry = lab_attr(registry_module, "ModelRegistry")()
    ModelLoadError = lab_attr(registry_module, "ModelLoadError")
    registry.load_dir(shared_model_dir)
    loaded = registry.names()
    empty = tmp_path / "empty"
    empty.mkdir()
    (model_dir / "random_forest.joblib").write_bytes(b"not the file that was saved")
    for folder, why in [
        (tmp_path / "missing", "a folder that does not exist"),
        (empty, "an empty folder"),
        (model_dir, "a folder where random_forest.joblib was tampered with"),
    ]:
        with raises(ModelLoadError, f"registry.load_dir({why})") as failed:
            registry.load_dir(folder)
        assert registry.names() == loaded, (
            f"load_dir({why}) raised, but the registry changed: it holds {registry.names()!r} instead of "
            f"{loaded!r}. Load everything first, replace the entries only when all loaded."
        )
        named = folder.name if folder != model_dir else "random_forest.joblib"
        assert named in str(failed.value), f"ModelLoadError({str(failed.value)!r}) for {why} should name {named}."


# --- Task 4.3: predicting with an entry, the class dependency --------------------------------------


@pytest.fixture
def entries(registry_module, shared_model_dir):
    ModelEntry = lab_attr(registry_module, "ModelEntry")
    made = {}
    for name in MODEL_NAMES:
        pipeline, names = reference_model(name)
        kind = "text" if name == "newsgroups" else "tabular"
        made[name] = ModelEntry(name=name, kind=kind, version=f"v-{name[:4]}", classes=tuple(names), pipeline=pipeline)
    return made


class OneModelRegistry:
    """A stand-in registry holding given entries (so Task 4.3 does not depend on your Task 4.2)."""

    def __init__(self, entries, unknown_error):
        self._entries, self._unknown_error = entries, unknown_error

    def get(self, name):
        if name not in self._entries:
            raise self._unknown_error(name, sorted(self._entries))
        return self._entries[name]

    def names(self):
        return sorted(self._entries)

    def entries(self):
        return [self._entries[n] for n in self.names()]


@pytest.mark.task("4.3", points=2)
def test_predict_one_answers_the_label(predictor_module, schemas_module, entries):
    predict_one = lab_attr(predictor_module, "predict_one")
    TextInput, IrisFeatures = lab_attr(schemas_module, "TextInput"), lab_attr(schemas_module, "IrisFeatures")
    for post in POSTS:
        got = predict_one(entries["newsgroups"], TextInput(text=post))
        expected = ("newsgroups", "v-news", expected_label("newsgroups", post))
        assert (got.model, got.version, got.label) == expected, (
            f"predict_one(newsgroups, {post!r}) gave {got!r}; expected model, version, label = {expected}."
        )
    for name in ("logistic_regression", "random_forest"):
        got = predict_one(entries[name], IrisFeatures(**FLOWER))
        expected_name = expected_label(name, iris_row(FLOWER))
        assert got.label == expected_name and got.model == name, (
            f"predict_one({name}, {FLOWER}) gave {got!r}; expected the label {expected_name!r}."
        )
    WrongInputError = lab_attr(predictor_module, "WrongInputError")
    for name, payload in [("random_forest", TextInput(text="a rose")), ("newsgroups", IrisFeatures(**FLOWER))]:
        with raises(WrongInputError, f"predict_one({name}, {payload!r})"):
            predict_one(entries[name], payload)


@pytest.mark.task("4.3", points=1)
def test_newsgroups_model_loads_nothing_until_load_model(
    predictor_module, registry_module, schemas_module, entries, monkeypatch
):
    NewsgroupsModel = lab_attr(predictor_module, "NewsgroupsModel")
    loads, real_load = [], joblib.load
    monkeypatch.setattr(joblib, "load", lambda *args, **kwargs: loads.append(args) or real_load(*args, **kwargs))
    holder = NewsgroupsModel()
    assert not loads, "NewsgroupsModel() called joblib.load: __init__ runs at import time, load in load_model."
    TextInput = lab_attr(schemas_module, "TextInput")
    RegistryUnavailableError = lab_attr(registry_module, "RegistryUnavailableError")
    # predict may be written `async def` (FastAPI awaits a coroutine dependency): settle() awaits it.
    with raises(RegistryUnavailableError, "NewsgroupsModel().predict(TextInput(text='orbit')) before load_model"):
        settle(holder.predict(TextInput(text="orbit")))
    holder.load_model(OneModelRegistry(entries, lab_attr(registry_module, "UnknownModelError")))
    assert not loads, "load_model read a file itself; take the entry from the registry, which has loaded it."
    post = POSTS[0]
    got = settle(holder.predict(TextInput(text=post)))
    assert got.label == expected_label("newsgroups", post), f"after load_model, predict({post!r}) gave {got!r}."
    holder.unload()
    with raises(RegistryUnavailableError, "predict(TextInput(text='orbit')) after unload()"):
        settle(holder.predict(TextInput(text="orbit")))
