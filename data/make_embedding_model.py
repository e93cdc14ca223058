"""Make ``data/embedding_model/``: a small static embedding model in model2vec's own format.

Lab 11 serves sentence embeddings with a real embedding library (model2vec), loaded offline by its own
``StaticModel.from_pretrained(path)``. The machines have no model hub, so the workbook learns its own
word vectors from its own corpus (``data/newsgroups_mini.csv``, the ``train`` split only):

1. count how often two words appear in the same post (a word-word co-occurrence matrix);
2. turn the counts into positive pointwise mutual information (PPMI): how much more often than chance;
3. reduce the PPMI rows to ``DIM`` dimensions with a truncated SVD (scikit-learn, fixed seed);
4. scale each word vector by its inverse document frequency, so filler words weigh less in a sentence's mean;
5. save the vectors with a word-level tokenizer (the ``tokenizers`` library model2vec uses) as a model folder.

A sentence's embedding is then the mean of its words' vectors (what model2vec's ``encode`` computes).
The folder is small (about 100 kB) and committed, so set-up downloads and builds nothing; the fixed seed
makes it identical on every machine. ``python data/make_embedding_model.py`` rebuilds it, ``--check``
verifies the committed copy, ``--quality`` prints the quality bar lab 11's checks hold it to.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "newsgroups_mini.csv"
OUT = HERE / "embedding_model"
SEED = 20261130
DIM = 32
UNK = "[UNK]"
FILES = ("config.json", "model.safetensors", "tokenizer.json")


def read_corpus(split: str) -> tuple[list[str], list[str]]:
    with CORPUS.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if split == "all" or r["split"] == split]
    return [r["text"] for r in rows], [r["category"] for r in rows]


def word_vectors(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The vocabulary (sorted) and one ``DIM``-dimensional vector per word, from PPMI + truncated SVD."""
    from sklearn.decomposition import TruncatedSVD

    posts = [sorted(set(text.lower().split())) for text in texts]
    vocab = sorted({word for post in posts for word in post})
    index = {word: i for i, word in enumerate(vocab)}
    counts = np.zeros((len(vocab), len(vocab)), dtype=np.float64)
    for post in posts:
        ids = [index[word] for word in post]
        for i in ids:
            counts[i, ids] += 1.0
    np.fill_diagonal(counts, 0.0)
    total = counts.sum()
    row = counts.sum(axis=1, keepdims=True)
    col = counts.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(counts * total / (row @ col))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    vectors = TruncatedSVD(n_components=DIM, algorithm="arpack", random_state=SEED).fit_transform(ppmi)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    document_frequency = Counter(word for post in posts for word in post)
    idf = np.array([np.log(len(posts) / document_frequency[word]) for word in vocab])
    vectors *= idf[:, None]
    # The sign of each SVD component is arbitrary: fix it (largest entry positive) so every build is identical.
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(DIM)])
    return vocab, (vectors * signs).astype(np.float32)


def build(folder: Path) -> None:
    """Write the model folder: ``model.safetensors``, ``tokenizer.json``, ``config.json``."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel

    texts, _ = read_corpus("train")
    vocab, vectors = word_vectors(texts)
    tokens = [UNK, *vocab]
    tokenizer = Tokenizer(WordLevel({token: i for i, token in enumerate(tokens)}, unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    embeddings = np.vstack([np.zeros((1, DIM), dtype=np.float32), vectors])
    # normalize=False: the model returns the mean of the word vectors; lab 11 normalises (Task 11.1).
    model = StaticModel(embeddings, tokenizer, normalize=False, base_model_name="newsgroups-mini-ppmi-svd")
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    for extra in folder.iterdir():  # model2vec also writes a model card and a sentence-transformers layout
        if extra.name not in FILES:
            shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def same_model(built: Path, committed: Path = OUT) -> bool:
    """The committed folder is what this script builds: the same tokenizer and config, the same vectors up to
    float rounding (another BLAS may differ in the last bits of the SVD, so bytes are not compared)."""
    from safetensors.numpy import load_file

    if not all((committed / name).exists() for name in FILES):
        return False
    for name in ("config.json", "tokenizer.json"):
        if (built / name).read_bytes() != (committed / name).read_bytes():
            return False
    new, old = load_file(built / "model.safetensors"), load_file(committed / "model.safetensors")
    return new.keys() == old.keys() and all(
        new[key].shape == old[key].shape and np.allclose(new[key], old[key], atol=1e-5) for key in new
    )


def quality(folder: Path = OUT, k: int = 5) -> dict[str, float]:
    """The two numbers lab 11 grades: k-NN category vote accuracy on the test split, top-5 precision of word queries."""
    from model2vec import StaticModel

    sys.path.insert(0, str(HERE))
    from make_corpus import TOPICS

    model = StaticModel.from_pretrained(folder)

    def embed(texts: list[str]) -> np.ndarray:
        vectors = np.asarray(model.encode(texts), dtype=np.float64)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    train_texts, train_labels = read_corpus("train")
    test_texts, test_labels = read_corpus("test")
    train, test = embed(train_texts), embed(test_texts)
    nearest = np.argsort(-(test @ train.T), axis=1, kind="stable")[:, :k]
    votes = [Counter(train_labels[j] for j in row).most_common(1)[0][0] for row in nearest]
    accuracy = float(np.mean([vote == truth for vote, truth in zip(votes, test_labels)]))
    precisions = []
    for category, words in TOPICS.items():
        query = embed([" ".join(words.split()[:5])])
        top = np.argsort(-(train @ query[0]), kind="stable")[:5]
        precisions.append(np.mean([train_labels[j] == category for j in top]))
    return {"knn_accuracy": accuracy, "top5_precision_min": float(min(precisions)), "chance": 1 / len(TOPICS)}


def main(argv: list[str]) -> int:
    if "--quality" in argv:
        print(json.dumps(quality(), indent=2))
        return 0
    if "--check" in argv:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp))
            same = same_model(Path(tmp))
        print(f"{OUT.name}/ is {'up to date' if same else 'out of date: run python data/make_embedding_model.py'}")
        return 0 if same else 1
    build(OUT)
    size = sum((OUT / name).stat().st_size for name in FILES)
    print(f"wrote {OUT} ({size // 1024} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
