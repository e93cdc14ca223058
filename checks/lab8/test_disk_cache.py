"""Lab 8 checks, Task 8.1: the joblib disk cache, driven with fake models that count their calls.

A fake model answers the same class for every input, counts how often it predicted and how often it was
pickled. A cache hit is an answer for which the model did not run; a model that was pickled was hashed
into the key (which joblib does to every argument it does not ignore).
"""

import numpy as np
import pytest

CLASSES = ("setosa", "versicolor", "virginica")
FLOWER = (5.1, 3.5, 1.4, 0.2)
OTHER_FLOWER = (6.7, 3.0, 5.2, 2.3)


class FakeModel:
    """Stands in for a pipeline: predicts class ``answer`` for every row; counts predictions and picklings."""

    def __init__(self, answer: int):
        self.answer = answer
        self.calls = 0
        self.pickled = 0

    def predict(self, rows):
        self.calls += 1
        return np.full(len(rows), self.answer)

    def __reduce_ex__(self, protocol):
        self.pickled += 1
        return FakeModel, (self.answer,)


@pytest.fixture
def entry(model_entry):
    """A ModelEntry for a fake tabular model: entry(name, version, fake)."""

    def make(name: str, version: str, fake: FakeModel):
        return model_entry(name=name, kind="tabular", version=version, classes=CLASSES, pipeline=fake)

    return make


@pytest.fixture
def cache(disk_cache, tmp_path):
    return disk_cache.DiskCache(tmp_path / "cache")


@pytest.mark.task("8.1", points=2)
def test_disk_cache_runs_the_model_once_per_input(cache, entry):
    fake = FakeModel(answer=1)
    model = entry("iris", "aaaaaaaaaaaa", fake)
    first = cache.predict(model, FLOWER)
    second = cache.predict(model, FLOWER)
    assert first == second == "versicolor", (
        f"DiskCache.predict should answer the label 'versicolor' (class 1 of {CLASSES}) both times; "
        f"got {first!r}, then {second!r}."
    )
    assert fake.calls == 1, (
        f"the same input, asked twice, ran the model {fake.calls} times; the second answer should come "
        "from the disk cache (expected 1 model call). Do you call the function that Memory.cache returned?"
    )
    cache.predict(model, OTHER_FLOWER)
    assert fake.calls == 2, (
        f"a new input should run the model once more (expected 2 calls in all, counted {fake.calls})."
    )


@pytest.mark.task("8.1", points=2)
def test_disk_cache_keeps_models_apart(cache, entry):
    first = entry("logistic_regression", "aaaaaaaaaaaa", FakeModel(answer=0))
    second_fake = FakeModel(answer=2)
    second = entry("random_forest", "bbbbbbbbbbbb", second_fake)
    cache.predict(first, FLOWER)
    label = cache.predict(second, FLOWER)
    assert second_fake.calls == 1 and label == "virginica", (
        f"two models got the same input: the second should run (it predicts 'virginica'), but it ran "
        f"{second_fake.calls} times and the answer was {label!r} — the first model's cached answer. The model's "
        "name and version must be part of the key: ignore only the pipeline, not model_name or version."
    )


@pytest.mark.task("8.1", points=1)
def test_disk_cache_misses_for_a_new_version(cache, entry):
    cache.predict(entry("iris", "aaaaaaaaaaaa", FakeModel(answer=0)), FLOWER)
    retrained = FakeModel(answer=2)
    label = cache.predict(entry("iris", "cccccccccccc", retrained), FLOWER)
    assert retrained.calls == 1 and label == "virginica", (
        f"the model 'iris' was retrained (version aaaaaaaaaaaa -> cccccccccccc); its new version should "
        f"run and answer 'virginica', but it ran {retrained.calls} times and the answer was {label!r}, the "
        "old version's. Keep the version in the key."
    )


@pytest.mark.task("8.1", points=1)
def test_disk_cache_does_not_hash_the_model(cache, entry):
    fake = FakeModel(answer=1)
    cache.predict(entry("iris", "aaaaaaaaaaaa", fake), FLOWER)
    cache.predict(entry("iris", "aaaaaaaaaaaa", fake), FLOWER)
    assert fake.pickled == 0, (
        f"the model was pickled {fake.pickled} times: joblib hashed it into the cache key. Hashing a real "
        "pipeline pickles all of it on every request; pass ignore=['pipeline'] to Memory.cache."
    )
    reloaded = FakeModel(answer=1)  # the same file loaded again: a new object, the same name and version
    cache.predict(entry("iris", "aaaaaaaaaaaa", reloaded), FLOWER)
    assert reloaded.calls == 0, (
        "the same model and version, loaded again as a new object, should still find its answers on disk; "
        f"it ran {reloaded.calls} times."
    )


@pytest.mark.task("8.1", points=1)
def test_disk_cache_survives_a_restart(disk_cache, entry, tmp_path):
    cache_dir = tmp_path / "cache"
    disk_cache.DiskCache(cache_dir).predict(entry("iris", "aaaaaaaaaaaa", FakeModel(answer=1)), FLOWER)
    after_restart = FakeModel(answer=1)
    label = disk_cache.DiskCache(cache_dir).predict(entry("iris", "aaaaaaaaaaaa", after_restart), FLOWER)
    assert after_restart.calls == 0 and label == "versicolor", (
        "a new DiskCache on the same folder (as after a restart, or in another worker) should answer from "
        f"the files; the model ran {after_restart.calls} times and answered {label!r}."
    )
