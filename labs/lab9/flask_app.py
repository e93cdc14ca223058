"""Lab 9 — the same model served by Flask, for a side-by-side comparison with FastAPI.

Read notebooks/09_serving_at_scale.ipynb, section 9.8, first. Flask is a WSGI framework: one request per
worker thread at a time, no event loop, no built-in validation. The usual way to run it in production is
gunicorn with several worker processes::

    gunicorn 'lab9.flask_app:create_flask_app()' --pythonpath labs --workers 2 --bind 127.0.0.1:8001

Given: :func:`create_flask_app` (it loads one tabular model, by default the logistic regression, from
``settings.model_dir``; no module-level app, so importing this file loads nothing) and the two routes.

* Task 9.8 :func:`flask_prediction`: validate the four measurements, predict, and say what to answer.

Check it: ``pytest checks/lab9 -k flask``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, request
from pydantic import ValidationError

from labkit.registry import ModelEntry, ModelRegistry

from .predicting import IrisFeatures, predict_indices
from .settings import Settings


def flask_prediction(entry: ModelEntry, data: Any) -> tuple[dict, int]:  # Task 9.8
    """The answer to one prediction request, as ``(JSON-able dict, status code)``.

    ``data`` is what the client sent: the query parameters of ``GET /predictions?sepal_length=5.1&...``
    (strings) or the parsed JSON body of ``POST /predictions`` (anything at all — a client can send a
    list, a number, ``null``).

    * Validate it with ``IrisFeatures.model_validate(data)``, which also turns ``"5.1"`` into 5.1. If it
      fails, answer ``({"detail": <the error list>}, 422)``, the way FastAPI would; use
      ``exc.errors(include_url=False, include_context=False, include_input=False)`` so the list is JSON.
    * Otherwise predict with ``predict_indices(entry, [row])`` — ``row`` is the four measurements in the
      order of ``IRIS_FEATURES`` — and answer ``({"model", "version", "label"}, 200)``.
    """
    raise NotImplementedError("Task 9.8: The same model behind Flask")


def create_flask_app(settings: Settings | None = None, model_name: str = "logistic_regression") -> Flask:
    """Given: a Flask app serving one tabular model at ``/predictions`` (and ``/health``)."""
    settings = settings or Settings()
    registry = ModelRegistry()
    registry.load_dir(settings.model_dir)
    entry = registry.get(model_name)
    if entry.kind != "tabular":
        raise ValueError(f"{model_name} is a {entry.kind} model; the Flask app serves a tabular one")
    app = Flask(__name__)

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    @app.get("/predictions")
    def predictions_from_query():
        """``GET /predictions?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2``."""
        content, status = flask_prediction(entry, request.args.to_dict())
        return jsonify(content), status

    @app.post("/predictions")
    def predictions_from_body():
        """``POST /predictions`` with the four measurements as a JSON object."""
        data: Mapping | None = request.get_json(silent=True)
        if data is None:
            return jsonify(detail="send a JSON body (Content-Type: application/json) with the four "
                                  "measurements: sepal_length, sepal_width, petal_length, petal_width"), 415
        content, status = flask_prediction(entry, data)
        return jsonify(content), status

    return app
