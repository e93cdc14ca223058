"""Lab 11 checks, Tasks 11.3 and 11.4: exact search against a brute-force numpy reference, and the recall
of the approximate index against the exact top 10."""

from __future__ import annotations

import numpy as np
import pytest

from checks.lab11.reference import brute_force, clustered_vectors

DIM = 32


def answer(index, query: np.ndarray, top_k: int, call: str) -> tuple[np.ndarray, np.ndarray]:
    result = index.search(query, top_k)
    try:
        positions, scores = result
        positions = np.asarray(positions).astype(np.int64).ravel()
        scores = np.asarray(scores, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        pytest.fail(f"{call} should answer (positions, scores), two arrays; it answered {result!r:.200}.")
    assert len(positions) == len(scores), (
        f"{call} answered {len(positions)} positions but {len(scores)} scores: one score per position."
    )
    return positions, scores


def assert_sorted(scores: np.ndarray, call: str) -> None:
    assert np.all(np.diff(scores) <= 1e-6), (
        f"{call} should answer the highest score first; the scores came as {np.round(scores, 3).tolist()}."
    )


def assert_true_scores(vectors, query, positions, scores, call: str) -> None:
    assert np.all((positions >= 0) & (positions < len(vectors))), (
        f"{call} answered positions outside 0..{len(vectors) - 1}: {positions.tolist()}."
    )
    true = vectors[positions].astype(np.float64) @ query.astype(np.float64)
    assert np.allclose(scores, true, atol=1e-4), (
        f"{call}: each score should be the dot product of its row with the query (the cosine similarity); "
        f"for positions {positions[:5].tolist()} they are {np.round(scores[:5], 4).tolist()}, "
        f"the dot products are {np.round(true[:5], 4).tolist()}."
    )


@pytest.mark.task("11.3", points=2)
def test_exact_search_equals_brute_force(index_module):
    vectors = clustered_vectors(600, DIM)
    index = index_module.ExactIndex(DIM)
    index.add(vectors[:400])
    index.add(vectors[400:])  # rows keep the order they were added in, across calls
    assert len(index) == 600, f"after adding 400 then 200 rows, len(index) should be 600; it is {len(index)}."
    for q in (0, 17, 450, 599):
        query = vectors[q]
        call = f"ExactIndex.search(row {q}, top_k=10)"
        positions, scores = answer(index, query, 10, call)
        expected_positions, expected_scores = brute_force(vectors, query, 10)
        assert len(positions) == 10, f"{call} should answer 10 results; it answered {len(positions)}."
        assert_true_scores(vectors, query, positions, scores, call)
        assert np.allclose(scores, expected_scores, atol=1e-4), (
            f"{call} should answer the 10 highest scores of all 600 rows, {np.round(expected_scores, 4).tolist()}; "
            f"it answered {np.round(scores, 4).tolist()}."
        )
        assert positions[0] == q, (
            f"{call}: the row itself (position {q}, score 1.0) should come first; {positions[0]} did."
        )


@pytest.mark.task("11.3", points=1)
def test_exact_results_sorted_best_first_and_top_k_honoured(index_module):
    vectors = clustered_vectors(50, DIM, seed=3)
    index = index_module.ExactIndex(DIM)
    index.add(vectors)
    query = clustered_vectors(1, DIM, seed=4)[0]
    for top_k, expected in ((1, 1), (7, 7), (50, 50), (80, 50)):
        call = f"ExactIndex.search(query, top_k={top_k}) on 50 rows"
        positions, scores = answer(index, query, top_k, call)
        assert len(positions) == expected, f"{call} should answer {expected} results; it answered {len(positions)}."
        assert_sorted(scores, call)
        assert_true_scores(vectors, query, positions, scores, call)
    empty = index_module.ExactIndex(DIM)
    positions, _ = answer(empty, query, 5, "ExactIndex.search(query, top_k=5) on an empty index")
    assert len(positions) == 0, f"an empty index should answer no results; it answered {positions.tolist()}."


@pytest.mark.timeout(30)  # starts the app: imports, the corpus embedded, a classifier trained
@pytest.mark.task("11.3", points=1)
@pytest.mark.needs("11.1", "11.2", "11.5", "11.7")  # the app starts and embeds through them
def test_search_route_sorted_and_top_k_honoured(client):
    for top_k in (1, 5, 12):
        response = client.post("/search", json={"query": "rocket orbit launch", "top_k": top_k})
        assert response.status_code == 200, f"POST /search answered {response.status_code}: {response.text[:300]}"
        results = response.json()["results"]
        assert len(results) == top_k, (
            f"POST /search with top_k={top_k} should answer {top_k} results; got {len(results)}."
        )
        scores = [r["score"] for r in results]
        assert scores == sorted(scores, reverse=True), f"POST /search results should be best first; scores {scores}."
        assert all(r["category"] == "sci.space" for r in results[:5]), (
            f"'rocket orbit launch' should find sci.space posts first; it found {[r['category'] for r in results]}."
        )
    for top_k in (0, 51):
        response = client.post("/search", json={"query": "rocket", "top_k": top_k})
        assert response.status_code == 422, (
            f"POST /search with top_k={top_k} should be a 422; it answered {response.status_code}."
        )


@pytest.mark.task("11.4", points=2)
@pytest.mark.timeout(30)
def test_approximate_recall_at_10_is_at_least_095(index_module):
    vectors = clustered_vectors(4000, DIM, clusters=80, seed=5)
    queries = clustered_vectors(60, DIM, clusters=80, seed=5 + 1)
    index = index_module.ApproximateIndex(DIM)
    index.add(vectors[:3000])
    index.add(vectors[3000:])
    assert len(index) == 4000, f"after adding 3000 then 1000 rows, len(index) should be 4000; it is {len(index)}."
    found = []
    for i, query in enumerate(queries):
        call = f"ApproximateIndex.search(query {i}, top_k=10)"
        positions, scores = answer(index, query, 10, call)
        assert_sorted(scores, call)
        assert_true_scores(vectors, query, positions, scores, call)
        exact, _ = brute_force(vectors, query, 10)
        found.append(len(set(positions.tolist()) & set(exact.tolist())) / 10)
    recall = float(np.mean(found))
    assert recall >= 0.95, (
        f"the approximate index should find at least 95% of the exact top 10 (recall@10) of 4000 rows; "
        f"it found {recall:.1%}. Is efSearch left at its default (16) or set lower?"
    )


@pytest.mark.task("11.4", points=1)
def test_approximate_small_and_empty_indexes(index_module):
    vectors = clustered_vectors(3, DIM, seed=8)
    empty = index_module.ApproximateIndex(DIM)
    positions, _ = answer(empty, vectors[0], 10, "ApproximateIndex.search(query, top_k=10) on an empty index")
    assert len(positions) == 0, f"an empty index should answer no results; it answered {positions.tolist()}."
    index = index_module.ApproximateIndex(DIM)
    index.add(vectors)
    call = "ApproximateIndex.search(row 2, top_k=10) on 3 rows"
    positions, scores = answer(index, vectors[2], 10, call)
    assert sorted(positions.tolist()) == [0, 1, 2], (
        f"{call} should answer the 3 rows there are (no -1 for the missing ones); it answered {positions.tolist()}."
    )
    assert positions[0] == 2, f"{call}: the row itself should come first; position {positions[0]} did."
    assert_true_scores(vectors, vectors[2], positions, scores, call)
