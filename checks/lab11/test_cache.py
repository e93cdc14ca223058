"""Lab 11 checks, Task 11.2: the embedding cache, proven by counting the model's encode calls."""

from __future__ import annotations

import numpy as np
import pytest

from checks.lab11.reference import reference_embed


def make_cache(embedding, model, max_size: int = 100, version: str = "v1"):
    return embedding.EmbeddingCache(model, "the-model", version, max_size)


def rows(value, count: int, call: str) -> np.ndarray:
    matrix = np.asarray(value, dtype=np.float64)
    assert matrix.ndim == 2 and matrix.shape[0] == count, (
        f"{call} should answer one row per text ({count}); it answered shape {matrix.shape}."
    )
    return matrix


@pytest.mark.task("11.2", points=1)
@pytest.mark.needs("11.1")
def test_repeated_texts_are_not_encoded_again(embedding, spy_model):
    cache = make_cache(embedding, spy_model)
    cache.embed(["rocket", "car"])
    assert len(spy_model.calls) == 1, (
        f"the first cache.embed(['rocket', 'car']) should encode once; it encoded {len(spy_model.calls)} times."
    )
    cache.embed(["car", "rocket"])
    assert len(spy_model.calls) == 1, (
        "cache.embed(['car', 'rocket']) after both were embedded should not call encode again; it did: "
        f"{spy_model.calls[1:]}."
    )
    cache.embed(["rocket", "doctor", "doctor", "pixel"])
    new = spy_model.calls[1:]
    assert len(new) == 1 and sorted(new[0]) == ["doctor", "pixel"], (
        "cache.embed(['rocket', 'doctor', 'doctor', 'pixel']) should encode only the missing texts, each once, "
        f"in one call: ['doctor', 'pixel']; the encode calls were {new}."
    )


@pytest.mark.task("11.2", points=1)
@pytest.mark.needs("11.1")
def test_cached_rows_are_the_right_ones_in_order(embedding, spy_model):
    cache = make_cache(embedding, spy_model)
    cache.embed(["car", "doctor"])
    texts = ["doctor", "rocket", "car", "doctor"]
    answer = rows(cache.embed(texts), len(texts), f"cache.embed({texts})")
    assert np.allclose(answer, reference_embed(texts), atol=1e-5), (
        f"cache.embed({texts}) should answer each text's normalised vector, in the order of the texts (cached "
        "or not); some rows are another text's vector or are not normalised."
    )


@pytest.mark.task("11.2", points=1)
@pytest.mark.needs("11.1")
def test_a_new_model_version_or_name_misses(embedding, spy_model):
    cache = make_cache(embedding, spy_model)
    cache.embed(["rocket"])
    cache.version = "v2"
    cache.embed(["rocket"])
    assert len(spy_model.calls) == 2, (
        "after the model's version changed (cache.version = 'v2'), 'rocket' must be encoded again: the key "
        "holds model name, version and text (self.key(text)); the old version's vector was answered instead."
    )
    cache.model_name = "another-model"
    cache.embed(["rocket"])
    assert len(spy_model.calls) == 3, (
        "after the model's name changed, 'rocket' must be encoded again; the other model's vector was answered."
    )


@pytest.mark.task("11.2", points=1)
@pytest.mark.needs("11.1")
def test_the_cache_keeps_at_most_max_size_least_recently_used_first(embedding, spy_model):
    cache = make_cache(embedding, spy_model, max_size=2)
    for text in ["rocket", "car", "rocket", "doctor"]:  # "car" is now the least recently used
        cache.embed([text])
    assert len(cache.entries) <= 2, f"max_size=2, but the cache holds {len(cache.entries)} entries."
    before = len(spy_model.calls)
    cache.embed(["rocket"])
    assert len(spy_model.calls) == before, (
        "'rocket' was used more recently than 'car': with max_size=2 'car' should have been dropped, not 'rocket'."
    )
    cache.embed(["car"])
    assert len(spy_model.calls) == before + 1, "'car' should have been dropped (least recently used), yet it was kept."
    single = make_cache(embedding, spy_model, max_size=1)
    single.embed(["pixel"])
    before = len(spy_model.calls)
    single.embed(["pixel"])
    assert len(spy_model.calls) == before, (
        "with max_size=1 the cache should keep the last text; 'pixel' was encoded again."
    )


@pytest.mark.timeout(30)  # starts the app: imports, the corpus embedded, a classifier trained
@pytest.mark.task("11.2", points=1)
@pytest.mark.needs("11.1", "11.3", "11.5", "11.7")  # the app starts through them
def test_embed_route_encodes_once_per_request_and_caches(make_app, client_for, spy_loads):
    with client_for(make_app()) as client:
        encodes = spy_loads.encode_calls
        response = client.post("/embed", json={"texts": ["quasar rocket", "pulsar orbit", "nebula moon"]})
        assert response.status_code == 200, f"POST /embed answered {response.status_code}: {response.text[:300]}"
        assert spy_loads.encode_calls == encodes + 1, (
            f"POST /embed with 3 new texts should make one encode call; it made {spy_loads.encode_calls - encodes}."
        )
        again = client.post("/embed", json={"text": "pulsar orbit"})
        assert again.status_code == 200, f"POST /embed answered {again.status_code}: {again.text[:300]}"
        assert spy_loads.encode_calls == encodes + 1, (
            "POST /embed of a text embedded before should not encode it again."
        )
        assert np.allclose(again.json()["vectors"][0], response.json()["vectors"][1], atol=1e-6), (
            "'pulsar orbit' alone and in a batch should get the same vector."
        )
