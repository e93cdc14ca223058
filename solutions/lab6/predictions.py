"""Given: running a model on one input or on a batch, and naming what it predicts.

The pipelines predict class *indices*; ``entry.classes[i]`` is the label. Both functions block while the
model runs (CPU work): call them from a plain ``def`` route or a background task, which run in the thread
pool, never directly inside ``async def``.
"""

from __future__ import annotations

from labkit.registry import ModelEntry

from .schemas import Features


def _rows(entry: ModelEntry, batch: list[Features]) -> list:
    return list(batch) if entry.kind == "text" else [list(features) for features in batch]


def predict_label(entry: ModelEntry, features: Features) -> str:
    """The label ``entry`` predicts for one input."""
    return predict_batch(entry, [features])[0]


def predict_batch(entry: ModelEntry, batch: list[Features]) -> list[str]:
    """The labels ``entry`` predicts for many inputs, in their order: one ``predict`` call for all."""
    return [entry.classes[int(index)] for index in entry.pipeline.predict(_rows(entry, batch))]
