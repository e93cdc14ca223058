"""Lab 5 checks, Tasks 5.2–5.4: probabilities, one prediction three ways, and batches in one model call.

Model calls are counted, not timed: a stand-in pipeline (or the served one, patched) records each call to
``predict_proba`` and ``predict`` and how many rows it received.
"""

import hashlib
import json
import math

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from labkit.datasets import load_iris
from labkit.models import MODEL_NAMES, reference_model
from labkit.registry import ModelEntry
from workbook.checkkit.student import lab_attr

FLOWERS = [
    {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 4.2, "petal_width": 1.5},
    {"sepal_length": 6.3, "sepal_width": 2.8, "petal_length": 5.1, "petal_width": 1.5},  # the two iris models disagree
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
    {"sepal_length": 4.9, "sepal_width": 2.5, "petal_length": 4.5, "petal_width": 1.7},
    {"sepal_length": 6.0, "sepal_width": 2.2, "petal_length": 5.0, "petal_width": 1.5},
    {"sepal_length": 7.7, "sepal_width": 3.8, "petal_length": 6.7, "petal_width": 2.2},
]
POSTS = [
    "the rocket reached orbit after the launch",
    "my car needs new brakes and an oil change",
    "the patient was given a new vaccine",
    "render the polygon with a faster shader",
]
PREDICTIONS_MODEL = "logistic_regression"
TOLERANCE = 1e-9
TIME_FIELD = "processing_time_ms"


def row_of(flower: dict) -> list[float]:
    return [flower[k] for k in ("sepal_length", "sepal_width", "petal_length", "petal_width")]


def reference_scores(name: str, rows: list) -> list[dict]:
    """What the reference model says: label and {class name: probability} per row."""
    pipeline, names = reference_model(name)
    labels = [names[int(i)] for i in pipeline.predict(rows)]
    tables = pipeline.predict_proba(rows)
    columns = [names[int(i)] for i in pipeline.classes_]
    return [
        {"label": label, "probabilities": dict(zip(columns, map(float, table)))} for label, table in zip(labels, tables)
    ]


SCORE_FIRST = (
    " These numbers come from score() (Task 5.2): if Task 5.2's checks fail too, this needs Task 5.2 "
    "to work first: fix it, then re-run."
)


def assert_scores_match(got: dict, expected: dict, what: str, through_score: bool = False) -> None:
    """``got`` has the reference's label, probabilities and confidence; ``through_score``: ``got`` was made
    by the student's ``score`` (Task 5.2), so a mismatch says to fix Task 5.2 first."""
    try:
        _assert_scores_match(got, expected, what)
    except AssertionError as exc:
        if through_score:  # keep the message, not pytest's re-evaluation of the expression after it
            raise AssertionError(str(exc).split("\nassert ", 1)[0] + SCORE_FIRST) from None
        raise


def _assert_scores_match(got: dict, expected: dict, what: str) -> None:
    if not isinstance(got, dict):
        raise AssertionError(f"{what}: expected a JSON object with label, confidence and probabilities; got {got!r}.")
    probabilities = got.get("probabilities")
    assert isinstance(probabilities, dict) and list(probabilities) == list(expected["probabilities"]), (
        f"{what}: probabilities should be a {{class name: probability}} object over the classes "
        f"{list(expected['probabilities'])}, in the model's class order; got {probabilities!r}."
    )
    total = sum(probabilities.values())
    assert abs(total - 1) < 1e-6, f"{what}: the probabilities sum to {total!r}, not 1. Do not round them."
    for name, p in expected["probabilities"].items():
        assert math.isclose(probabilities[name], p, abs_tol=TOLERANCE), (
            f"{what}: P({name}) is {probabilities[name]!r}; the model says {p!r}. Is each column matched to its "
            "class through pipeline.classes_?"
        )
    assert got.get("label") == expected["label"], (
        f"{what}: the label is {got.get('label')!r}, expected {expected['label']!r}."
    )
    confidence = got.get("confidence")
    assert (
        isinstance(confidence, float)
        and 0 <= confidence <= 1
        and math.isclose(confidence, probabilities[expected["label"]], abs_tol=TOLERANCE)
    ), (
        f"{what}: the confidence is {confidence!r}; it should be the label's probability, "
        f"{probabilities[expected['label']]!r}, between 0 and 1."
    )


class CallRecorder:
    """The calls made to a pipeline's predict and predict_proba, with the number of rows each received."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def wrap(self, method_name: str, method):
        def recording(rows, *args, **kwargs):
            self.calls.append((method_name, len(rows)))
            return method(rows, *args, **kwargs)

        return recording

    def assert_one_call_per_method(self, rows: int, what: str) -> None:
        methods = [name for name, _ in self.calls]
        assert methods and all(methods.count(m) == 1 for m in methods), (
            f"{what} called the model {len(self.calls)} time(s): {self.calls}. Score all {rows} rows in one "
            "call of predict_proba (and at most one of predict)."
        )
        assert all(count == rows for _, count in self.calls), (
            f"{what} called the model with {[count for _, count in self.calls]} rows; expected all {rows} at once."
        )


class RecordingPipeline:
    """A stand-in for a pipeline: answers like the real one, and records its calls."""

    def __init__(self, pipeline, recorder: CallRecorder) -> None:
        self._pipeline = pipeline
        self.predict = recorder.wrap("predict", pipeline.predict)
        self.predict_proba = recorder.wrap("predict_proba", pipeline.predict_proba)

    def __getattr__(self, name):
        return getattr(self._pipeline, name)


def make_entry(name: str, pipeline=None):
    real, names = reference_model(name)
    kind = "text" if name == "newsgroups" else "tabular"
    return ModelEntry(name=name, kind=kind, version=f"v-{name[:4]}", classes=tuple(names), pipeline=pipeline or real)


def without_time(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != TIME_FIELD}


def same_answer(a, b) -> bool:
    """Equal, except that floats may differ in their last digits (one row alone and the same row in a
    table can take different arithmetic paths)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same_answer(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=TOLERANCE)
    return type(a) is type(b) and a == b


# --- Task 5.2: score ---------------------------------------------------------------------------------


@pytest.mark.task("5.2", points=2)
def test_score_gives_probabilities_that_sum_to_one(scoring):
    score = lab_attr(scoring, "score")
    cases = {
        "newsgroups": POSTS,
        "logistic_regression": [row_of(f) for f in FLOWERS],
        "random_forest": [row_of(f) for f in FLOWERS],
    }
    for name in MODEL_NAMES:
        rows = cases[name]
        got = score(make_entry(name), rows)
        assert len(got) == len(rows), (
            f"score({name}, {len(rows)} rows) returned {len(got)} Scores; expected one per row."
        )
        for i, (scores, expected) in enumerate(zip(got, reference_scores(name, rows))):
            assert_scores_match(scores.model_dump(), expected, f"score({name}) for row {i}")


@pytest.mark.task("5.2", points=1)
def test_score_names_columns_through_classes_(scoring):
    # A model that never saw versicolor: two columns, for the class indices 0 and 2.
    features, targets, names = load_iris()
    kept = [(row, target) for row, target in zip(features, targets) if target != 1]
    pipeline = Pipeline([("classifier", LogisticRegression(max_iter=1000))])
    pipeline.fit([row for row, _ in kept], [target for _, target in kept])
    entry = make_entry("logistic_regression", pipeline)
    rows = [row_of(f) for f in FLOWERS]
    labels = [names[int(i)] for i in pipeline.predict(rows)]
    for i, (scores, label, table) in enumerate(
        zip(lab_attr(scoring, "score")(entry, rows), labels, pipeline.predict_proba(rows))
    ):
        expected = {"label": label, "probabilities": {"setosa": float(table[0]), "virginica": float(table[1])}}
        assert_scores_match(
            scores.model_dump(),
            expected,
            f"score() with a model trained without versicolor (classes_ = [0, 2]), row {i}",
        )


@pytest.mark.task("5.2", points=2)
def test_score_calls_the_model_once_for_all_rows(scoring):
    score = lab_attr(scoring, "score")
    recorder = CallRecorder()
    entry = make_entry("random_forest", RecordingPipeline(reference_model("random_forest")[0], recorder))
    score(entry, [row_of(f) for f in FLOWERS])
    recorder.assert_one_call_per_method(len(FLOWERS), f"score(random_forest, {len(FLOWERS)} rows)")


# --- Task 5.3: one prediction, three ways -------------------------------------------------------------


@pytest.mark.task("5.3", points=2)
def test_predict_route_answers_with_probabilities(client, shared_model_dir):
    cases = [
        ("newsgroups", {"text": POSTS[0]}, POSTS[0]),
        ("random_forest", FLOWERS[2], row_of(FLOWERS[2])),
        ("logistic_regression", FLOWERS[2], row_of(FLOWERS[2])),
    ]
    for name, body, row in cases:
        response = client.post(f"/predict/{name}", json=body)
        assert response.status_code == 200, (
            f"POST /predict/{name} answered {response.status_code}: {response.text[:300]}"
        )
        got = response.json()
        version = hashlib.sha256((shared_model_dir / f"{name}.joblib").read_bytes()).hexdigest()[:12]
        assert (got.get("model"), got.get("version")) == (name, version), (
            f"POST /predict/{name} answered model {got.get('model')!r}, version {got.get('version')!r}; "
            f"expected {name!r}, {version!r}."
        )
        assert_scores_match(got, reference_scores(name, [row])[0], f"POST /predict/{name}", through_score=True)
        elapsed = got.get(TIME_FIELD)
        assert isinstance(elapsed, (int, float)) and 0 <= elapsed < 60_000, (
            f"POST /predict/{name}: {TIME_FIELD} is {elapsed!r}; expected the milliseconds spent predicting."
        )
    response = client.post("/predict/random_forest", json={"text": "a rose"})
    assert response.status_code == 422 and "random_forest" in str(response.json().get("detail")), (
        f"POST /predict/random_forest with a text should answer 422 naming the model; got "
        f"{response.status_code} {response.text[:200]}"
    )


@pytest.mark.task("5.3", points=2)
def test_get_and_post_predictions_agree(client, schemas):
    for flower in FLOWERS:
        from_query = client.get("/predictions", params=flower)
        from_body = client.post("/predictions", json=flower)
        assert from_query.status_code == 200 and from_body.status_code == 200, (
            f"GET and POST /predictions for {flower} answered {from_query.status_code} and {from_body.status_code}: "
            f"{from_query.text[:200]} / {from_body.text[:200]}"
        )
        query, body = without_time(from_query.json()), without_time(from_body.json())
        assert same_answer(query, body), (
            f"GET /predictions?{flower} and POST /predictions {flower} disagree:\n  GET:  {query}\n  POST: {body}\n"
            "Same question, same model, same answer (only the time may differ)."
        )
        assert body.get("model") == PREDICTIONS_MODEL, (
            f"/predictions answered with the model {body.get('model')!r}; it should use PREDICTIONS_MODEL, "
            f"{PREDICTIONS_MODEL!r}."
        )
        assert_scores_match(
            body, reference_scores(PREDICTIONS_MODEL, [row_of(flower)])[0], "POST /predictions", through_score=True
        )
    # The routes must refuse what your schema refuses (Task 5.1's checks grade the schema itself).
    IrisFeatures = lab_attr(schemas, "IrisFeatures")

    def schema_refuses(fields: dict) -> bool:
        try:
            IrisFeatures.model_validate(fields)
        except ValueError:
            return True
        return False

    bad = client.post(
        "/predictions",
        content=json.dumps({**FLOWERS[0], "sepal_length": math.nan}),
        headers={"content-type": "application/json"},
    )
    assert bad.status_code == 422 or not schema_refuses({**FLOWERS[0], "sepal_length": math.nan}), (
        f"POST /predictions with sepal_length NaN answered {bad.status_code}: bad input must get a 422, never a "
        '500. Keep `install_safe_validation_handler(app)` in create_app (notebook 05, "A 422 that became a 500").'
    )
    # GET refuses what POST refuses: the query is validated by the same schema, IrisFeatures.
    for params, field in [
        ({**FLOWERS[0], "petal_width": 0}, "petal_width"),
        ({**FLOWERS[0], "colour": "blue"}, "colour"),
    ]:
        if not schema_refuses(params):
            continue  # your schema accepts it: Task 5.1's checks say so, this one must not charge Task 5.3
        refused = client.get("/predictions", params=params)
        assert refused.status_code == 422 and field in refused.text, (
            f"GET /predictions?{params} answered {refused.status_code} {refused.text[:200]}; like POST it should be "
            f"a 422 naming {field!r}. Read the query into the schema: `features: Annotated[IrisFeatures, Query()]`."
        )


# --- Task 5.4: batches -------------------------------------------------------------------------------


@pytest.mark.task("5.4", points=1)
def test_batch_equals_the_singles(client, app):
    """Each batch item is what the model says for that flower alone (the reference, not your POST route:
    Task 5.3's routes are graded by their own checks)."""
    response = client.post("/predictions/batch", json={"items": FLOWERS})
    assert response.status_code == 200, (
        f"POST /predictions/batch answered {response.status_code}: {response.text[:300]}"
    )
    batch = response.json()
    predictions = batch.get("predictions", []) if isinstance(batch, dict) else []
    assert len(predictions) == len(FLOWERS), (
        f"a batch of {len(FLOWERS)} flowers answered {len(predictions)} predictions; expected one per flower, in order."
    )
    expected = reference_scores(PREDICTIONS_MODEL, [row_of(flower) for flower in FLOWERS])
    for i, (flower, item) in enumerate(zip(FLOWERS, predictions)):
        assert_scores_match(item, expected[i], f"batch item {i} ({flower})", through_score=True)
    version = app.state.registry.get(PREDICTIONS_MODEL).version
    assert (batch.get("model"), batch.get("version")) == (PREDICTIONS_MODEL, version), (
        f"the batch names model {batch.get('model')!r} version {batch.get('version')!r}; the batch is answered by "
        f"PREDICTIONS_MODEL, {PREDICTIONS_MODEL!r}, version {version!r}."
    )


@pytest.mark.task("5.4", points=1)
@pytest.mark.needs("5.2")  # predict_many scores the rows with your score()
def test_batch_calls_the_model_once(client, app, monkeypatch):
    pipeline = app.state.registry.get(PREDICTIONS_MODEL).pipeline
    recorder = CallRecorder()
    for method in ("predict", "predict_proba"):
        monkeypatch.setattr(pipeline, method, recorder.wrap(method, getattr(pipeline, method)))
    response = client.post("/predictions/batch", json={"items": FLOWERS})
    assert response.status_code == 200, (
        f"POST /predictions/batch answered {response.status_code}: {response.text[:300]}"
    )
    recorder.assert_one_call_per_method(len(FLOWERS), f"POST /predictions/batch with {len(FLOWERS)} flowers")


@pytest.mark.task("5.4", points=1)
def test_batch_over_the_bound_is_refused(client, limits):
    most = limits["MAX_BATCH"]
    flowers = [FLOWERS[i % len(FLOWERS)] for i in range(most + 1)]
    full = client.post("/predictions/batch", json={"items": flowers[:most]})
    assert full.status_code == 200 and len(full.json().get("predictions", [])) == most, (
        f"a batch of exactly MAX_BATCH={most} flowers should be answered in full; got {full.status_code} "
        f"{full.text[:200]}"
    )
    for items, what in [(flowers, f"{most + 1} flowers (one more than MAX_BATCH)"), ([], "no flowers")]:
        response = client.post("/predictions/batch", json={"items": items})
        assert response.status_code == 422 and "items" in str(response.json().get("detail")), (
            f"a batch of {what} should be refused with a 422 naming 'items'; got {response.status_code} "
            f"{response.text[:200]}"
        )
