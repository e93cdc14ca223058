"""Lab 8 — a disk cache of predictions with ``joblib.Memory`` (Tasks 8.1 and 8.4).

Read notebooks/08_caching.ipynb, sections 8.1 and 8.4. ``joblib.Memory(location)`` stores the results of a
function in files under ``location``, keyed by a hash of the function's arguments; a call with arguments
it has seen loads the stored result instead of running the function. The files outlive the process, and
every worker process on the machine can read them.

The model itself must *not* be hashed into the key: hashing a pipeline pickles all of it, on every call.
So :func:`run_model` takes the pipeline as an argument the cache ignores — and takes the model's name and
version as arguments the cache *keeps*. The common tutorial version caches ``predict(model, text)`` with
``ignore=["model"]`` and nothing else: then every model, and a retrained one, shares one set of answers.

* Task 8.1 ``DiskCache.__init__`` and ``DiskCache.predict``.
* Task 8.4 ``DiskCache.clear``.

Check your work with ``pytest checks/lab8``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib

from labkit.registry import ModelEntry

from .schemas import Features


def run_model(model_name: str, version: str, features: Features, pipeline: Any) -> int:
    """Given: run the pipeline on one input; return the class *index* it predicts.

    ``model_name`` and ``version`` are not needed to predict: they are here so that a cache keyed on this
    function's arguments tells models, and versions of a model, apart.
    """
    rows = [features] if isinstance(features, str) else [list(features)]
    return int(pipeline.predict(rows)[0])


class DiskCache:
    """Predictions cached on disk under ``cache_dir``, one entry per (model name, version, features)."""

    def __init__(self, cache_dir: Path) -> None:  # Task 8.1
        """Keep ``self.memory = joblib.Memory(<cache_dir as a str>, verbose=0)`` and a cached :func:`run_model`.

        Cache ``run_model`` with the ``pipeline`` argument ignored — and only that one: the name and the
        version must stay in the key. (Passing the folder as a ``str`` makes joblib keep its files in a
        ``joblib/`` subfolder of it.)
        """
        raise NotImplementedError("Task 8.1: A disk cache keyed by model name and version")

    def predict(self, entry: ModelEntry, features: Features) -> str:  # Task 8.1
        """The *label* ``entry`` predicts for ``features``, computed at most once per name, version and input.

        Call the cached ``run_model`` with the entry's name, version, the features and its pipeline, and
        turn the class index into the name in ``entry.classes``.
        """
        raise NotImplementedError("Task 8.1: A disk cache keyed by model name and version")

    def clear(self) -> None:  # Task 8.4
        """Delete every cached prediction from disk (``Memory.clear``, without its warning)."""
        raise NotImplementedError("Task 8.4: Clear the caches and invalidate on reload")
