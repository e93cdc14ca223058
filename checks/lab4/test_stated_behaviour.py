"""Lab 4 checks for stated behaviours no other check tries: when the settings are read, every error naming
its file, load_dir replacing rather than merging, the other start-up failure, and lab 2's lesson kept (the
model never runs on the event loop).
"""

import shutil
from pathlib import Path

import joblib
import pytest

from labkit.models import MODEL_NAMES, reference_model
from workbook.checkkit.checking import raises
from workbook.checkkit.clients import sync_client
from workbook.checkkit.event_loop import Hold, blocked_loop_message, hold_pipelines, probe_while_held
from workbook.checkkit.student import import_lab_module, lab_attr

FILES = sorted(f"{name}.joblib" for name in MODEL_NAMES)
FLOWER = {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 4.2, "petal_width": 1.5}


def write_with_digest(obj, path):
    import hashlib

    joblib.dump(obj, path)
    path.with_name(path.name + ".sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "\n")
    return path


# --- Task 4.2 ----------------------------------------------------------------------------------------


@pytest.mark.task("4.2", points=1)
def test_read_model_errors_name_the_file(registry_module, model_dir):
    read_model = lab_attr(registry_module, "read_model")
    ModelLoadError = lab_attr(registry_module, "ModelLoadError")
    pipeline, names = reference_model("random_forest")
    cases = {
        "no digest beside it": None,
        "a 3-tuple": (pipeline, names, "extra"),
        "a list of two": [pipeline, names],
        "an empty list of names": (pipeline, []),
        "class names that are not strings": (pipeline, [0, 1, 2]),
        "no predict method": ({"weights": [1, 2]}, names),
    }
    for what, obj in cases.items():
        path = model_dir / "odd_model.joblib"
        if obj is None:
            joblib.dump((pipeline, names), path)
            path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        else:
            write_with_digest(obj, path)
        try:
            entry = read_model(path)
        except ModelLoadError as exc:
            assert "odd_model.joblib" in str(exc), (
                f"read_model of a file holding {what} raised ModelLoadError({str(exc)!r}); every ModelLoadError "
                "message should name the file (odd_model.joblib) and say what is wrong with it."
            )
            continue
        pytest.fail(
            f"read_model accepted a file with {what} (gave {entry!r}); it must be a 2-tuple "
            "(pipeline with predict, non-empty list of strings) with a matching digest: raise ModelLoadError."
        )


@pytest.mark.task("4.2", points=1)
def test_load_dir_replaces_rather_than_merges(registry_module, shared_model_dir, tmp_path):
    registry = lab_attr(registry_module, "ModelRegistry")()
    UnknownModelError = lab_attr(registry_module, "UnknownModelError")
    registry.load_dir(shared_model_dir)
    smaller = tmp_path / "only-the-forest"
    smaller.mkdir()
    for suffix in (".joblib", ".joblib.sha256"):
        shutil.copy(shared_model_dir / f"random_forest{suffix}", smaller / f"random_forest{suffix}")
    names = registry.load_dir(smaller)
    assert list(names) == ["random_forest"] and registry.names() == ["random_forest"], (
        f"after load_dir(a folder of three models), then load_dir(a folder holding only random_forest), the "
        f"registry holds {registry.names()!r} (load_dir returned {names!r}); it should hold exactly the models "
        "of the folder just loaded, ['random_forest']: replace the entries, do not merge them."
    )
    with raises(UnknownModelError, "registry.get('newsgroups') after load_dir(a folder holding only random_forest)"):
        registry.get("newsgroups")


# --- Task 4.3 ----------------------------------------------------------------------------------------


@pytest.mark.task("4.3", points=1)
def test_wrong_input_error_names_the_model_and_the_input(predictor_module, registry_module, schemas_module):
    predict_one = lab_attr(predictor_module, "predict_one")
    WrongInputError = lab_attr(predictor_module, "WrongInputError")
    ModelEntry = lab_attr(registry_module, "ModelEntry")
    TextInput, IrisFeatures = lab_attr(schemas_module, "TextInput"), lab_attr(schemas_module, "IrisFeatures")
    forest, iris_names = reference_model("random_forest")
    news, news_names = reference_model("newsgroups")
    cases = [
        (
            ModelEntry(name="random_forest", kind="tabular", version="v", classes=tuple(iris_names), pipeline=forest),
            TextInput(text="a rose"),
            "random_forest",
        ),
        (
            ModelEntry(name="newsgroups", kind="text", version="v", classes=tuple(news_names), pipeline=news),
            IrisFeatures(**FLOWER),
            "newsgroups",
        ),
    ]
    for entry, payload, name in cases:
        with raises(WrongInputError, f"predict_one({name} entry, {type(payload).__name__}(...))") as wrong:
            predict_one(entry, payload)
        assert name in str(wrong.value), (
            f"WrongInputError({str(wrong.value)!r}) for the wrong input to {name} should name the model "
            f"({name!r}) and the input it expects."
        )


IRIS_WORDS = ("iris", "measurement", "sepal", "petal")  # any of them names the iris input


@pytest.mark.task("4.3", points=1)
def test_wrong_input_error_says_what_that_model_takes(predictor_module, registry_module, schemas_module):
    predict_one = lab_attr(predictor_module, "predict_one")
    WrongInputError = lab_attr(predictor_module, "WrongInputError")
    ModelEntry = lab_attr(registry_module, "ModelEntry")
    TextInput, IrisFeatures = lab_attr(schemas_module, "TextInput"), lab_attr(schemas_module, "IrisFeatures")
    forest, iris_names = reference_model("random_forest")
    news, news_names = reference_model("newsgroups")
    tabular = ModelEntry(name="random_forest", kind="tabular", version="v", classes=tuple(iris_names), pipeline=forest)
    text = ModelEntry(name="newsgroups", kind="text", version="v", classes=tuple(news_names), pipeline=news)
    messages = {}
    for entry, payload in [(tabular, TextInput(text="a rose")), (text, IrisFeatures(**FLOWER))]:
        with raises(WrongInputError, f"predict_one(the {entry.kind} model {entry.name!r}, {payload!r})") as wrong:
            predict_one(entry, payload)
        messages[entry.kind] = str(wrong.value)
    iris_message, text_message = messages["tabular"], messages["text"]
    assert any(word in iris_message.lower() for word in IRIS_WORDS), (
        f"text sent to the iris model 'random_forest' raised WrongInputError({iris_message!r}); the message "
        "should say what THAT model takes: the four iris measurements (IrisFeatures), not a text."
    )
    assert "text" in text_message.lower(), (
        f"iris measurements sent to the text model 'newsgroups' raised WrongInputError({text_message!r}); the "
        'message should say what THAT model takes: a text ({"text": "..."}, TextInput).'
    )

    def what_it_asks_for(message: str, entry) -> str:  # the message without the model's name and kind
        return message.replace(entry.name, "<model>").replace(entry.kind, "<kind>")

    assert what_it_asks_for(iris_message, tabular) != what_it_asks_for(text_message, text), (
        f"the wrong input to the iris model raised WrongInputError({iris_message!r}) and to the text model "
        f"WrongInputError({text_message!r}): apart from the model's name and kind they ask for the same input, "
        "but the two models take different inputs. Say what each model expects: a text model takes "
        '{"text": "..."}, an iris model the four iris measurements.'
    )


@pytest.mark.task("4.3", points=1)
def test_load_model_raises_unknown_model_without_newsgroups(predictor_module, registry_module):
    NewsgroupsModel = lab_attr(predictor_module, "NewsgroupsModel")
    UnknownModelError = lab_attr(registry_module, "UnknownModelError")

    class IrisOnlyRegistry:
        """A stand-in registry (so Task 4.3 does not depend on your Task 4.2) holding no newsgroups model."""

        def get(self, name):
            if name != "random_forest":
                raise UnknownModelError(name, ["random_forest"])
            raise AssertionError("not reached")

        def names(self):
            return ["random_forest"]

    holder = NewsgroupsModel()
    try:
        holder.load_model(IrisOnlyRegistry())
    except UnknownModelError:
        return
    pytest.fail(
        f"load_model with a registry holding only random_forest returned (entry {holder.entry!r}); it "
        "should raise UnknownModelError (from registry.get), so the lifespan reports the missing model."
    )


# --- Task 4.4 ----------------------------------------------------------------------------------------


@pytest.mark.task("4.4", points=2)
@pytest.mark.needs("4.2", "4.5")  # the loads are your registry's; requests go through your routes
def test_settings_are_read_at_startup_not_at_import(joblib_loads, shared_model_dir, monkeypatch):
    # Nothing is set when the app is imported: the working directory is empty and MODEL_DIR is unset.
    module = import_lab_module("lab4.app")
    monkeypatch.setenv("MODEL_DIR", str(shared_model_dir))  # set after the import, before start-up
    app = lab_attr(module, "app")
    with sync_client(app) as client:
        error = app.state.registry_error
        settings = app.state.settings
        models = client.get("/models")
    assert error is None and models.status_code == 200, (
        f"MODEL_DIR={shared_model_dir} was set after `import lab4.app` but before the app started, and the app "
        f"did not use it: app.state.registry_error is {error!r}, GET /models answered {models.status_code}. "
        "The docstring says the settings are read *now*, at start-up, not at import: call Settings() inside "
        "the lifespan when app.state.settings is None (not at module level)."
    )
    assert sorted(joblib_loads.files) == FILES, (
        f"start-up made {joblib_loads.summary()}; expected one load of each of {FILES}."
    )
    stored = getattr(settings, "model_dir", None)
    assert stored is not None and Path(stored).resolve() == shared_model_dir.resolve(), (
        f"after start-up app.state.settings is {settings!r}; store the settings read at start-up (model_dir "
        f"{shared_model_dir}) back in app.state.settings."
    )


@pytest.mark.task("4.4", points=1)
@pytest.mark.needs("4.3", "4.5")  # the reason comes from your load_model; the 503 from your routes
def test_missing_newsgroups_model_makes_the_models_unavailable(make_app, shared_model_dir, tmp_path):
    only_iris = tmp_path / "iris-only"
    only_iris.mkdir()
    for name in ("random_forest", "logistic_regression"):
        for suffix in (".joblib", ".joblib.sha256"):
            shutil.copy(shared_model_dir / f"{name}{suffix}", only_iris / f"{name}{suffix}")
    app = make_app(only_iris)
    try:
        with sync_client(app) as client:
            health = client.get("/health")
            error = app.state.registry_error
            held = app.state.registry.names()
            models = client.get("/models")
    except Exception as exc:  # noqa: BLE001 - reported to the student below
        pytest.fail(
            f"with a model folder without newsgroups.joblib the app did not start: {type(exc).__name__}: "
            f"{exc}. Catch UnknownModelError from load_model as well as ModelLoadError."
        )
    assert health.status_code == 200, f"GET /health answered {health.status_code}; the app must still start."
    assert isinstance(error, str) and "newsgroups" in error, (
        f"with no newsgroups model app.state.registry_error should say why (naming newsgroups); it is {error!r}."
    )
    assert held == [], f"after that failure the registry still holds {held!r}: clear it."
    assert models.status_code == 503, f"GET /models answered {models.status_code}; expected 503 while unavailable."


# --- Task 4.5: the model never runs on the event loop ------------------------------------------------


@pytest.mark.task("4.5", points=1)
@pytest.mark.timeout(60)
async def test_predict_route_never_blocks_the_event_loop(async_client, monkeypatch):
    for path, body in [("/predict/random_forest", FLOWER), ("/predict/newsgroups", {"text": "the rocket"})]:
        hold = Hold()
        hold_pipelines(monkeypatch, hold)
        result = await probe_while_held(async_client, hold, "POST", path, json=body)
        response = result.response
        assert response.status_code == 200, f"POST {path} answered {response.status_code}: {response.text[:200]}"
        assert hold.outcomes, f"POST {path} answered {response.text[:200]} without running the model's predict."
        assert hold.loop_stayed_free and result.probe_answered, (
            blocked_loop_message("the model predicted", f"POST {path}")
            + " (Task 4.5: keep `predict` a plain `def`, as notebook 2 showed.)"
        )
