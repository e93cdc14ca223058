"""The workbook's data, all offline: the generated newsgroups-style corpus in ``data/`` and scikit-learn's iris."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"  # labkit/ sits beside data/: in the repository and the image
CORPUS = DATA / "newsgroups_mini.csv"
IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


@cache
def _corpus_rows() -> tuple[tuple[str, str, str], ...]:
    with CORPUS.open(encoding="utf-8", newline="") as handle:
        return tuple((row["text"], row["category"], row["split"]) for row in csv.DictReader(handle))


def load_corpus(split: str = "train") -> tuple[list[str], list[str]]:
    """(texts, category names) of one split: ``train``, ``test`` or ``all``."""
    if split not in {"train", "test", "all"}:
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    rows = [r for r in _corpus_rows() if split == "all" or r[2] == split]
    return [r[0] for r in rows], [r[1] for r in rows]


def load_iris() -> tuple[list[list[float]], list[int], list[str]]:
    """(features, integer targets, target names) from the copy of iris that ships with scikit-learn."""
    from sklearn.datasets import load_iris as sklearn_iris

    iris = sklearn_iris()
    return iris.data.tolist(), iris.target.tolist(), [str(n) for n in iris.target_names]
