"""Given: what the routes depend on, as ``Annotated`` aliases (the shape every lab app from lab 4 on shares).

The routes take one dependency, the :class:`~.service.Service` that holds the loaded models and knows how to
predict. Served by uvicorn, ``create_app`` builds a :class:`~.service.LocalService` in its lifespan; served by
Ray Serve, each replica is its own service (``serving.PredictionService``) and hands itself to ``create_app``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .service import Service


async def get_service(request: Request) -> Service:
    """Given: the service this app was built with (``app.state.service``)."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]
