"""The prediction service as most tutorials write it: the baseline that lab 9's notebook and bench measure.

Nothing here is wrong, and every line is what the FastAPI tutorials teach: a Pydantic model in, a
``response_model`` out, ``pipeline.predict`` on a one-row list, a list of Pydantic objects for a batch,
``functools.lru_cache`` for repeated texts. Lab 9 measures where its time goes and what makes it fast.

Run it: ``MODEL_DIR=models uvicorn bench.baseline_service:app``. Routes:

* ``GET /hello`` — hello world, the ceiling; ``GET /health``.
* ``POST /predict-def/{model_name}`` — a ``def`` route: FastAPI runs it in its thread pool.
* ``POST /predict-async/{model_name}`` — ``async def`` calling ``predict`` directly: it blocks the event
  loop for as long as the model takes (fine for 0.1 ms, a disaster for 10 ms).
* ``POST /predict-threadpool/{model_name}`` — ``async def`` + ``await run_in_threadpool(...)``.
* ``POST /predict-batch/{model_name}`` — a list of ``IrisFeatures`` objects in, a list of labels out.
* ``POST /predict-text/{model_name}`` — a text model behind ``functools.lru_cache``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path

import joblib
from fastapi import FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from labkit.docs import serve_docs_offline


class IrisFeatures(BaseModel):
    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float


class TextIn(BaseModel):
    text: str


class Prediction(BaseModel):
    model: str
    version: str
    label: str


class BatchPrediction(BaseModel):
    model: str
    version: str
    labels: list[str]


MODELS: dict[str, tuple[object, list[str], str]] = {}  # name -> (pipeline, target_names, version)


def load_models(model_dir: Path) -> None:
    for path in sorted(Path(model_dir).glob("*.joblib")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != path.with_name(path.name + ".sha256").read_text().strip():
            raise ValueError(f"{path}: digest mismatch, refusing to load it")
        pipeline, names = joblib.load(path)
        MODELS[path.stem] = (pipeline, list(names), digest[:12])


def get_model(name: str):
    if name not in MODELS:
        raise HTTPException(404, f"no model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name]


def predict_one(name: str, features: IrisFeatures) -> Prediction:
    pipeline, names, version = get_model(name)
    row = [[features.sepal_length, features.sepal_width, features.petal_length, features.petal_width]]
    return Prediction(model=name, version=version, label=names[pipeline.predict(row)[0]])


@lru_cache(maxsize=4096)
def predict_text(name: str, text: str) -> Prediction:
    pipeline, names, version = get_model(name)
    return Prediction(model=name, version=version, label=names[pipeline.predict([text])[0]])


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    load_models(Path(os.environ.get("MODEL_DIR", "models")))
    yield
    MODELS.clear()
    predict_text.cache_clear()


def create_app() -> FastAPI:
    app = FastAPI(title="The tutorial prediction service (lab 9's baseline)", lifespan=lifespan)

    @app.get("/hello")
    async def hello():
        return {"message": "Hello World"}

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.post("/predict-def/{model_name}", response_model=Prediction)
    def predict_def(model_name: str, features: IrisFeatures):
        return predict_one(model_name, features)

    @app.post("/predict-async/{model_name}", response_model=Prediction)
    async def predict_async(model_name: str, features: IrisFeatures):
        return predict_one(model_name, features)  # blocks the event loop while the model works

    @app.post("/predict-threadpool/{model_name}", response_model=Prediction)
    async def predict_threadpool(model_name: str, features: IrisFeatures):
        return await run_in_threadpool(predict_one, model_name, features)

    @app.post("/predict-batch/{model_name}", response_model=BatchPrediction)
    def predict_batch(model_name: str, rows: list[IrisFeatures]):
        pipeline, names, version = get_model(model_name)
        matrix = [[r.sepal_length, r.sepal_width, r.petal_length, r.petal_width] for r in rows]
        return BatchPrediction(model=model_name, version=version, labels=[names[i] for i in pipeline.predict(matrix)])

    @app.post("/predict-text/{model_name}", response_model=Prediction)
    def predict_text_route(model_name: str, body: TextIn):
        return predict_text(model_name, body.text)

    return serve_docs_offline(app)


app = create_app()
