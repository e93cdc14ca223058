"""Lab 8 checks, Tasks 8.2 and 8.4: the bounded in-memory cache on its own, keys as the service makes them."""

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from workbook.checkkit.checking import raises


def key(model: str, n: int, version: str = "aaaaaaaaaaaa"):
    """A key shaped like the service's: (model name, version, features)."""
    return (model, version, f"text number {n}")


@pytest.mark.task("8.2", points=1)
def test_memory_cache_returns_what_was_put(memory_cache):
    cache = memory_cache.MemoryCache(maxsize=3)
    assert cache.get(key("m", 1)) is None, "get() of a key never put should return None."
    cache.put(key("m", 1), "sci.space")
    got = cache.get(key("m", 1))
    assert got == "sci.space", f"after put(key, 'sci.space'), get(key) returned {got!r}."
    assert len(cache) == 1, f"one entry was put; len(cache) is {len(cache)}."
    with raises(ValueError, "MemoryCache(maxsize=0)"):
        memory_cache.MemoryCache(maxsize=0)
    try:
        smallest = memory_cache.MemoryCache(maxsize=1)
    except ValueError as exc:
        pytest.fail(
            f"MemoryCache(maxsize=1) raised ValueError ({exc}): only a maxsize below 1 is refused; one "
            "entry is the smallest cache there is."
        )
    smallest.put(key("m", 1), "sci.space")
    assert smallest.get(key("m", 1)) == "sci.space", "a maxsize=1 cache should return the one label put into it."


@pytest.mark.task("8.2", points=2)
def test_memory_cache_is_bounded(memory_cache):
    size = 3
    cache = memory_cache.MemoryCache(maxsize=size)
    for n in range(size + 1):
        cache.put(key("m", n), f"label {n}")
    assert len(cache) == size, (
        f"a cache of maxsize={size} holds {len(cache)} entries after {size + 1} distinct puts: it must "
        "forget one when it is full (a dict alone grows until the process runs out of memory)."
    )
    assert cache.get(key("m", 0)) is None, (
        f"after {size + 1} distinct puts into maxsize={size}, the first key (used longest ago) should be "
        "gone, so asking for it again is a miss; it was still there."
    )
    kept = [cache.get(key("m", n)) for n in range(1, size + 1)]
    assert kept == [f"label {n}" for n in range(1, size + 1)], f"the {size} newest entries should stay; got {kept}."


@pytest.mark.task("8.2", points=1)
def test_memory_cache_forgets_the_least_recently_used(memory_cache):
    cache = memory_cache.MemoryCache(maxsize=2)
    cache.put(key("m", 1), "one")
    cache.put(key("m", 2), "two")
    cache.get(key("m", 1))  # 1 is now the most recently used
    cache.put(key("m", 3), "three")
    assert cache.get(key("m", 1)) == "one" and cache.get(key("m", 2)) is None, (
        "put 1, put 2, get 1, put 3 into maxsize=2: 2 was used longest ago and should go, 1 should stay. "
        "A get must mark its key as just used (OrderedDict.move_to_end), or the cache forgets popular "
        "answers first."
    )


@pytest.mark.task("8.2", points=1)
def test_memory_cache_put_of_a_cached_key_makes_it_most_recent(memory_cache):
    cache = memory_cache.MemoryCache(maxsize=3)
    for n in (1, 2, 3):
        cache.put(key("m", n), f"label {n}")
    cache.put(key("m", 1), "label 1, again")  # 1 is cached already: now it is the most recently used
    cache.put(key("m", 4), "label 4")
    kept = {n: cache.get(key("m", n)) for n in (1, 2, 3, 4)}
    assert kept[1] == "label 1, again" and kept[2] is None, (
        "put 1, 2, 3 into maxsize=3, put 1 again (a new label), then put 4: 2 was used longest ago and should "
        f"go, 1 should stay with its new label. Got {kept} (key: label or None). A put of a key already in the "
        "cache must also mark it as just used (OrderedDict.move_to_end): assigning to an existing key keeps "
        "its old place in the order."
    )


@pytest.mark.task("8.2", points=1)
def test_memory_cache_stays_consistent_across_threads(memory_cache):
    cache = memory_cache.MemoryCache(maxsize=16)
    wrong = []

    def work(seed: int):
        rng = random.Random(seed)
        for _ in range(2000):
            n = rng.randrange(64)
            if rng.random() < 0.5:
                cache.put(key("m", n), f"label {n}")
            else:
                got = cache.get(key("m", n))
                if got not in (None, f"label {n}"):
                    wrong.append((n, got))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(8)))
    assert not wrong, f"get() returned another key's label under 8 threads: {wrong[:3]}"
    assert len(cache) <= 16, f"after 8 threads used it, the maxsize=16 cache holds {len(cache)} entries."

    for name, call in (("get(key)", lambda: cache.get(key("m", 1))), ("len(cache)", lambda: len(cache))):
        done: list = []
        reader = threading.Thread(target=lambda done=done, call=call: done.append(call()), daemon=True)
        with cache._lock:  # while the check holds the lock (another thread mid-change), a reader must wait
            reader.start()
            reader.join(1.0)
            read_while_held = list(done)
        reader.join(5.0)
        assert not read_while_held, (
            f"{name} read the entries while another thread held self._lock: every method holds self._lock while "
            "it reads or changes the entries (get also moves the key to the end: a change)."
        )


@pytest.mark.task("8.4", points=1)
@pytest.mark.needs("8.2")  # drop_model and clear sit beside your put, get and len in the same cache
def test_memory_cache_drops_one_models_entries(memory_cache):
    cache = memory_cache.MemoryCache(maxsize=10)
    cache.put(key("newsgroups", 1), "sci.space")
    cache.put(key("newsgroups", 2, version="bbbbbbbbbbbb"), "rec.autos")
    cache.put(key("other", 1), "comp.graphics")
    dropped = cache.drop_model("newsgroups")
    assert cache.get(key("newsgroups", 1)) is None and cache.get(key("newsgroups", 2, "bbbbbbbbbbbb")) is None, (
        "drop_model('newsgroups') should forget every entry whose key starts with 'newsgroups', whatever its version."
    )
    assert cache.get(key("other", 1)) == "comp.graphics", "drop_model('newsgroups') also forgot another model's entry."
    assert dropped == 2, f"drop_model should return how many entries it forgot (2), returned {dropped!r}."
    cache.put(key("m", 9), "sci.space")
    clearer = threading.Thread(target=cache.clear, daemon=True)
    with cache._lock:  # while the check holds the lock (a put mid-change), clear() must wait for it
        clearer.start()
        clearer.join(1.0)
        cleared_while_held = not cache._entries
    clearer.join(5.0)
    assert not cleared_while_held, (
        "clear() emptied the entries while another thread held self._lock (a put between storing a key and "
        "moving it to the end would then fail): hold self._lock in clear() too."
    )
    assert len(cache) == 0 and cache.get(key("other", 1)) is None, "after clear(), the cache should be empty."


@pytest.mark.task("8.4", points=1)
@pytest.mark.needs("8.2")  # other threads fill the cache through your put while drop_model runs
def test_memory_cache_drop_model_is_safe_while_other_threads_put(memory_cache):
    cache = memory_cache.MemoryCache(maxsize=100_000)
    for n in range(50_000):  # a big cache: going through its keys takes long enough to be interrupted
        cache.put(key("other", -n), "comp.graphics")
    stop = threading.Event()

    def writer(w: int):
        n = 0
        while not stop.is_set():
            cache.put(key("other", w * 10_000_000 + n), "comp.graphics")
            n += 1

    writers = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(2)]
    for thread in writers:
        thread.start()
    failure, rounds, start = None, 0, time.perf_counter()
    try:
        while failure is None and time.perf_counter() - start < 1.5:
            for n in range(2000):
                cache.put(key("newsgroups", n), "sci.space")
            try:
                cache.drop_model("newsgroups")
            except NotImplementedError:
                raise
            except (RuntimeError, KeyError) as error:  # "OrderedDict mutated during iteration", a key gone
                failure = error
            rounds += 1
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=5)
    assert failure is None, (
        "drop_model('newsgroups') should work while two other threads put entries (FastAPI runs def routes "
        f"in threads); in round {rounds + 1} it raised {type(failure).__name__}: {failure}. Go through and "
        "delete the keys inside `with self._lock:`, as every other method does."
    )
