"""workbook.checkkit.asgi_recorder, the harness of the lab 6 and 7 checks: it must build the scope a server builds
and see what TestClient cannot — a response complete before the app's background work has finished."""

import asyncio

import pytest
from fastapi import BackgroundTasks, FastAPI, Request

from workbook.checkkit.asgi_recorder import http_scope, recording

DELAY = 0.3


def make_app(events: list) -> FastAPI:
    app = FastAPI()

    @app.get("/{anything:path}")
    async def echo(anything: str, request: Request):
        return {
            "path": request.scope["path"],
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.url.query,
            "key": request.headers.get("x-api-key"),
        }

    @app.post("/slow")
    async def slow(background_tasks: BackgroundTasks):
        async def later():
            await asyncio.sleep(DELAY)
            events.append("background done")

        background_tasks.add_task(later)
        return {"queued": True}

    @app.post("/crash-after")
    async def crash_after(background_tasks: BackgroundTasks):
        def explode():
            raise ValueError("after the response")

        background_tasks.add_task(explode)
        return {"queued": True}

    return app


def test_scope_is_built_as_uvicorn_builds_it():
    scope = http_scope("GET", "/health%2F..%2Fpredict?x=1", [])
    assert scope["path"] == "/health/../predict"
    assert scope["raw_path"] == b"/health%2F..%2Fpredict"
    assert scope["query_string"] == b"x=1"


async def test_paths_and_header_bytes_arrive_as_sent():
    async with recording(make_app([])) as recorder:
        dots = await recorder.request("GET", "/health/../models")
        encoded = await recorder.request("GET", "/%68ealth?verbose=1", headers={"X-API-Key": b"cl\xc3\xa9"})
    assert dots.json()["path"] == "/health/../models"
    assert encoded.json() == {"path": "/health", "raw_path": "/%68ealth", "query": "verbose=1", "key": "clÃ©"}


async def test_response_is_complete_before_the_background_task_ends():
    events = []
    async with recording(make_app(events)) as recorder:
        exchange = await recorder.request("POST", "/slow", on_response_complete=lambda _: list(events))
    assert exchange.status == 200 and exchange.json() == {"queued": True}
    assert exchange.at_response_complete == [] and events == ["background done"]
    assert exchange.returned_at - exchange.response_complete_at >= DELAY * 0.9


async def test_errors_after_the_response_are_recorded_or_raised():
    async with recording(make_app([])) as recorder:
        recorded = await recorder.request("POST", "/crash-after", raise_app_exceptions=False)
        with pytest.raises(ValueError, match="after the response"):
            await recorder.request("POST", "/crash-after")
    assert recorded.status == 200 and isinstance(recorded.app_error, ValueError)
