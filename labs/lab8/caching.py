"""Lab 8 — the two caches together: memory first, then disk, then the model (Tasks 8.3 and 8.4).

Read notebooks/08_caching.ipynb, sections 8.3 and 8.4. A request's answer comes from the first tier that
has it:

1. the in-memory cache (nearly free, but per process and forgotten on restart),
2. the disk cache (a file read: shared by the worker processes, survives restarts; on its own miss it runs
   the model and stores the answer),

and an answer found below the memory tier is put into it on the way back.

A cache key must say *which model* answered, not only what was asked: ``(model name, version, features)``.
Without the name two models share answers; without the version a retrained model keeps serving its
predecessor's.

* Task 8.3 ``cache_key`` and ``predict_cached``.
* Task 8.4 ``Caches.clear``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from labkit.registry import ModelEntry

from .disk_cache import DiskCache
from .memory_cache import MemoryCache
from .schemas import Features

CacheKey = tuple[str, str, Features]


class CachedAnswer(NamedTuple):
    """Given: a label, and whether the in-memory cache had it (``hit``)."""

    label: str
    hit: bool


@dataclass
class Caches:
    """Given: both tiers, as the app keeps them in ``app.state.caches``."""

    memory: MemoryCache
    disk: DiskCache

    def clear(self) -> None:  # Task 8.4
        """Empty *both* caches: after this, every prediction runs the model again."""
        raise NotImplementedError("Task 8.4: Clear the caches and invalidate on reload")


def cache_key(entry: ModelEntry, features: Features) -> CacheKey:  # Task 8.3
    """The in-memory cache's key for ``features`` sent to ``entry``: ``(name, version, features)``."""
    raise NotImplementedError("Task 8.3: Serve predictions through both caches")


def predict_cached(caches: Caches, entry: ModelEntry, features: Features) -> CachedAnswer:  # Task 8.3
    """``entry``'s label for ``features``, from the memory cache if it has it, else from the disk cache.

    A label from the disk cache (which runs the model on its own miss) is put into the memory cache.
    ``hit`` is ``True`` only when the memory cache answered.
    """
    raise NotImplementedError("Task 8.3: Serve predictions through both caches")
