"""Given: the dependencies routes use to reach what the app holds in ``app.state``."""

from __future__ import annotations

from fastapi import Request

from .registry import ModelRegistry
from .settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry
