"""Lab 11 checks, Task 11.5: the document store survives a round trip and refuses files that changed."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from workbook.checkkit.checking import raises

VECTORS = np.arange(12, dtype=np.float32).reshape(3, 4) / 10


def three_documents(store) -> list:
    return [
        store.Document("doc-1", "a rocket to the moon", "sci.space"),
        store.Document("doc-2", "new brakes"),
        store.Document("doc-3", 'ünïcödé text, "quoted"', "rec.autos"),
    ]


@pytest.mark.task("11.5", points=1)
def test_store_round_trip(store, tmp_path):
    folder = tmp_path / "new" / "store"  # does not exist yet
    documents = three_documents(store)
    store.save_store(folder, documents, VECTORS, "v123")
    loaded = store.load_store(folder)
    assert list(loaded.documents) == documents, (
        f"load_store should give back the saved documents, in order; it gave {list(loaded.documents)!r:.300}."
    )
    assert np.array_equal(np.asarray(loaded.vectors), VECTORS), "load_store should give back the saved vectors exactly."
    assert loaded.model_version == "v123", (
        f"load_store should give back the model version 'v123'; it gave {loaded.model_version!r}."
    )


@pytest.mark.task("11.5", points=1)
def test_an_absent_store_is_empty(store, tmp_path):
    loaded = store.load_store(tmp_path / "nothing-here")
    assert list(loaded.documents) == [] and loaded.model_version is None, (
        f"load_store of a folder with no manifest.json should be an empty store; it gave {loaded!r:.300}."
    )


@pytest.mark.task("11.5", points=1)
def test_manifest_holds_the_sha256_of_each_file(store, tmp_path):
    store.save_store(tmp_path, three_documents(store), VECTORS, "v1")
    manifest_path = tmp_path / "manifest.json"
    assert manifest_path.exists(), "save_store should write manifest.json."
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for name in ("documents.json", "vectors.npy"):
        assert (tmp_path / name).exists(), f"save_store should write {name}."
        digest = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        recorded = manifest.get("sha256", {}).get(name)
        assert recorded == digest, (
            f"manifest.json's sha256 of {name} should be the SHA-256 of the file's bytes, {digest[:16]}…; it is {recorded!r}."
        )


@pytest.mark.task("11.5", points=2)
def test_a_changed_or_missing_file_is_refused(store, tmp_path):
    for name in ("vectors.npy", "documents.json"):
        folder = tmp_path / name
        store.save_store(folder, three_documents(store), VECTORS, "v1")
        data = (folder / name).read_bytes()
        # A small change that still parses: one bit of the last float, or 'moon' made 'noon'.
        changed = data[:-1] + bytes([data[-1] ^ 1]) if name == "vectors.npy" else data.replace(b"moon", b"noon")
        (folder / name).write_bytes(changed)
        with raises(store.CorruptStoreError, f"load_store of a store whose {name} changed by one bit"):
            store.load_store(folder)
    folder = tmp_path / "missing"
    store.save_store(folder, three_documents(store), VECTORS, "v1")
    (folder / "vectors.npy").unlink()
    with raises(store.CorruptStoreError, "load_store of a store whose vectors.npy is missing"):
        store.load_store(folder)
