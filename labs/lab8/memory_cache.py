"""Lab 8 — a bounded in-memory cache of predictions, least recently used out first (Tasks 8.2 and 8.4).

Read notebooks/08_caching.ipynb, sections 8.2 and 8.4. A dict is a cache that never forgets: under real
traffic (every distinct text is a new key) it grows until the process runs out of memory. This one keeps
at most ``maxsize`` answers and, when full, forgets the one used longest ago (LRU).

Keys are ``(model_name, version, features)`` tuples (``caching.cache_key`` makes them); values are labels.
FastAPI runs ``def`` routes in a pool of threads, so several requests use the cache at the same time: every
method holds ``self._lock`` while it reads or changes the entries. A ``threading.Lock`` is not re-entrant:
inside ``with self._lock:`` write ``len(self._entries)``, not ``len(self)``, which would wait for the lock
forever.

* Task 8.2 ``__init__``, ``__len__``, ``get`` and ``put``.
* Task 8.4 ``drop_model`` and ``clear``.

Check your work with ``pytest checks/lab8``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class MemoryCache:
    """At most ``maxsize`` labels by key; the least recently used goes first."""

    def __init__(self, maxsize: int) -> None:  # Task 8.2
        """Remember ``maxsize`` (refuse one below 1 with ``ValueError``), an empty ``OrderedDict`` and a lock.

        An ``OrderedDict`` remembers an order you control: ``move_to_end(key)`` marks a key as just used,
        ``popitem(last=False)`` removes the one at the front — the least recently used.
        """
        raise NotImplementedError("Task 8.2: A bounded in-memory LRU cache")

    def __len__(self) -> int:  # Task 8.2
        """How many answers the cache holds now."""
        raise NotImplementedError("Task 8.2: A bounded in-memory LRU cache")

    def get(self, key: Hashable) -> str | None:  # Task 8.2
        """The label stored under ``key`` (and mark it as just used), or ``None`` if there is none."""
        raise NotImplementedError("Task 8.2: A bounded in-memory LRU cache")

    def put(self, key: Hashable, label: str) -> None:  # Task 8.2
        """Store ``label`` under ``key`` as the most recently used; then forget the least recently used
        entries until at most ``maxsize`` are left."""
        raise NotImplementedError("Task 8.2: A bounded in-memory LRU cache")

    def drop_model(self, model_name: str) -> int:  # Task 8.4
        """Forget every entry of ``model_name``, whatever its version (the keys whose first item is
        ``model_name``); return how many were forgotten."""
        raise NotImplementedError("Task 8.4: Clear the caches and invalidate on reload")

    def clear(self) -> None:  # Task 8.4
        """Forget everything."""
        raise NotImplementedError("Task 8.4: Clear the caches and invalidate on reload")
