"""EmbeddingCache (disk) and the process-wide memo."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os

import numpy as np
import pytest

from gbscore.exceptions import ConfigError, GbscoreError
from gbscore.features import (
    DEFAULT_MAX_BYTES,
    EmbeddingCache,
    cache_info,
    clear_caches,
    clear_disk_cache,
    clear_memory_cache,
    default_cache_dir,
    disk_cache_info,
    identity_hash,
    memory_cache_info,
    text_hash,
)
from gbscore.features._memory import VectorMemo, open_disk_cache, process_memo

IDENTITY = {"encoder": "test", "dim": 4}


def _vector(h, dim=4):
    """Deterministic vector of a text hash, so any process can check any entry."""
    raw = np.frombuffer(hashlib.sha256(h.encode()).digest()[: 4 * dim], dtype=np.uint32)
    return (raw / 2**32).astype(np.float32)


def _hashes(words):
    return [text_hash(w) for w in words]


def _shards(directory, identity=IDENTITY):
    folder = directory / identity_hash(identity) / "shards"
    return sorted(p for p in folder.iterdir() if p.suffix == ".npz")


def test_text_hash_is_sha256_of_utf8():
    assert text_hash("नमस्ते") == hashlib.sha256("नमस्ते".encode()).hexdigest()
    assert text_hash("") != text_hash(" ")
    # Lone surrogates (possible in JSON input) must not crash the hash.
    assert len(text_hash("\ud800")) == 64


def test_put_then_get_roundtrip_and_layout(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    hashes = _hashes(["a", "b", "c"])
    vectors = np.stack([_vector(h) for h in hashes])
    path = cache.put_many(IDENTITY, hashes, vectors)
    assert path.parent.name == "shards" and path.suffix == ".npz"
    written = json.loads((tmp_path / "c" / identity_hash(IDENTITY) / "identity.json").read_text())
    assert written == IDENTITY

    found, missing = EmbeddingCache(tmp_path / "c").get_many(IDENTITY, [*hashes, text_hash("z")])
    assert missing == [text_hash("z")]
    for h in hashes:
        np.testing.assert_array_equal(found[h], _vector(h))


def test_identities_do_not_share_entries(tmp_path):
    cache = EmbeddingCache(tmp_path)
    h = text_hash("same text")
    cache.put_many(IDENTITY, [h], _vector(h)[None])
    other = {"encoder": "test", "dim": 4, "normalize": False}
    found, missing = cache.get_many(other, [h])
    assert found == {} and missing == [h]


def test_put_rejects_bad_input(tmp_path):
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(ValueError, match="one vector per hash"):
        cache.put_many(IDENTITY, _hashes(["a", "b"]), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="non-finite"):
        cache.put_many(IDENTITY, _hashes(["a"]), np.full((1, 4), np.nan))
    assert cache.put_many(IDENTITY, [], np.zeros((0, 4))) is None


@pytest.mark.parametrize("damage", ["truncate", "garbage", "checksum"])
def test_corrupt_shard_is_detected_logged_and_removed(tmp_path, caplog, damage):
    cache = EmbeddingCache(tmp_path)
    good, bad = _hashes(["g1", "g2"]), _hashes(["b1", "b2"])
    cache.put_many(IDENTITY, good, np.stack([_vector(h) for h in good]))
    bad_path = cache.put_many(IDENTITY, bad, np.stack([_vector(h) for h in bad]))
    if damage == "truncate":
        data = bad_path.read_bytes()
        bad_path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        bad_path.write_bytes(b"\0" * 300)
    else:
        # A well-formed file whose vectors changed after the checksum was taken.
        with np.load(bad_path) as npz:
            arrays = dict(npz)
        arrays["vectors"] = arrays["vectors"] + 1.0
        with open(bad_path, "wb") as fh:
            np.savez(fh, **arrays)

    with caplog.at_level(logging.WARNING, logger="gbscore"):
        found, missing = EmbeddingCache(tmp_path).get_many(IDENTITY, good + bad)
    assert sorted(missing) == sorted(bad)
    assert set(found) == set(good)
    assert not bad_path.exists()
    assert any(
        str(bad_path) in r.getMessage() and "recomputed" in r.getMessage() for r in caplog.records
    )


def test_shard_corrupted_after_indexing_is_not_trusted(tmp_path):
    cache = EmbeddingCache(tmp_path)
    hashes = _hashes(["x", "y"])
    path = cache.put_many(IDENTITY, hashes, np.stack([_vector(h) for h in hashes]))
    found, _ = cache.get_many(IDENTITY, hashes)
    assert len(found) == 2
    path.write_bytes(path.read_bytes()[:-20])
    found, missing = cache.get_many(IDENTITY, hashes)
    assert found == {} and sorted(missing) == sorted(hashes)
    assert cache.corrupt_shards_removed == 1


def test_temporary_files_of_killed_writers_are_ignored(tmp_path):
    cache = EmbeddingCache(tmp_path)
    h = _hashes(["kept"])
    cache.put_many(IDENTITY, h, _vector(h[0])[None])
    shard_dir = tmp_path / identity_hash(IDENTITY) / "shards"
    (shard_dir / ".half-written.npz.1234.tmp").write_bytes(b"PK\x03\x04 partial")
    found, missing = EmbeddingCache(tmp_path).get_many(IDENTITY, h)
    assert list(found) == h and missing == []


def test_compact_merges_dedups_and_keeps_everything(tmp_path):
    cache = EmbeddingCache(tmp_path)
    words = [f"w{i}" for i in range(10)]
    for start in range(0, 10, 2):
        batch = _hashes(words[start : start + 3])  # overlapping batches: duplicates
        cache.put_many(IDENTITY, batch, np.stack([_vector(h) for h in batch]))
    assert len(_shards(tmp_path)) == 5
    assert cache.compact() == 5
    assert len(_shards(tmp_path)) == 1
    stats = EmbeddingCache(tmp_path).stats()
    assert stats["identities"][0]["entries"] == 10
    assert stats["identities"][0]["shards"] == 1
    found, missing = EmbeddingCache(tmp_path).get_many(IDENTITY, _hashes(words))
    assert missing == []
    for h, v in found.items():
        np.testing.assert_array_equal(v, _vector(h))


def test_reader_survives_compaction_by_another_instance(tmp_path):
    reader, compactor = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path)
    hashes = _hashes(["p", "q", "r"])
    for h in hashes:
        reader.put_many(IDENTITY, [h], _vector(h)[None])
    assert len(reader.get_many(IDENTITY, hashes)[0]) == 3  # reader indexed 3 shards
    compactor.compact(IDENTITY)
    found, missing = reader.get_many(IDENTITY, hashes)
    assert missing == [] and len(found) == 3
    assert reader.corrupt_shards_removed == 0


class _StaleListing(EmbeddingCache):
    """A reader whose next folder listing is one taken earlier: what it sees when another
    process compacts the folder between its listing and its reads (CI hit this once)."""

    stale = None

    def _list_shards(self, ident):
        listing = super()._list_shards(ident)
        if self.stale is not None:
            listing, self.stale = self.stale, None
        return listing


def test_lookup_lists_again_when_listed_shards_vanish_before_they_are_read(tmp_path):
    writer = EmbeddingCache(tmp_path)
    hashes = _hashes(["p", "q", "r"])
    for h in hashes:
        writer.put_many(IDENTITY, [h], _vector(h)[None])
    reader = _StaleListing(tmp_path)
    reader.stale = reader._list_shards(identity_hash(IDENTITY))  # the three one-text shards
    writer.compact(IDENTITY)  # merged into one shard; the three are deleted
    found, missing = reader.get_many(IDENTITY, hashes)
    assert missing == [] and reader.corrupt_shards_removed == 0
    for h in hashes:
        np.testing.assert_array_equal(found[h], _vector(h))


def test_stats_counts(tmp_path):
    cache = EmbeddingCache(tmp_path)
    hashes = _hashes(["s1", "s2"])
    cache.put_many(IDENTITY, hashes, np.stack([_vector(h) for h in hashes]))
    cache.get_many(IDENTITY, [*hashes, text_hash("s3")])
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["shards_written"]) == (2, 1, 1)
    only = stats["identities"][0]
    assert only["identity"] == IDENTITY and only["entries"] == 2 and only["bytes"] > 0
    assert EmbeddingCache(tmp_path / "absent").stats()["identities"] == []


def _writer(directory, worker, n_batches, batch):
    """Write n_batches shards of overlapping texts; worker 1 also compacts as it goes."""
    cache = EmbeddingCache(directory)
    for b in range(n_batches):
        words = [f"text-{(b * batch + i) % (n_batches * batch // 2 + 7)}" for i in range(batch)]
        hashes = _hashes(words)
        cache.put_many(IDENTITY, hashes, np.stack([_vector(h) for h in hashes]))
        if worker == 1 and b % 5 == 4:
            cache.compact(IDENTITY)
        found, _ = cache.get_many(IDENTITY, hashes)
        for h in hashes:
            np.testing.assert_array_equal(found[h], _vector(h))


@pytest.mark.slow
def test_two_processes_share_one_directory(tmp_path):
    n_batches, batch = 30, 16
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, n_batches, batch)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]

    expected = {
        f"text-{(b * batch + i) % (n_batches * batch // 2 + 7)}"
        for b in range(n_batches)
        for i in range(batch)
    }
    cache = EmbeddingCache(tmp_path)
    found, missing = cache.get_many(IDENTITY, _hashes(sorted(expected)))
    assert missing == []
    assert cache.corrupt_shards_removed == 0
    for h, v in found.items():
        np.testing.assert_array_equal(v, _vector(h))
    leftovers = [
        n for n in os.listdir(tmp_path / identity_hash(IDENTITY) / "shards") if n.endswith(".tmp")
    ]
    assert leftovers == []


def test_memory_cache_clear_and_info():
    clear_memory_cache()
    h = text_hash("memo")
    process_memo().put_many("some-identity", [h], _vector(h)[None])
    assert memory_cache_info()["entries"] == 1
    assert memory_cache_info()["bytes"] == 16
    clear_memory_cache()
    assert memory_cache_info()["entries"] == 0
    assert process_memo().get_many("some-identity", [h]) == {}


def test_memo_is_bounded_least_recently_used_first():
    memo = VectorMemo(max_bytes=3 * 16)
    hashes = _hashes(["m1", "m2", "m3", "m4"])
    memo.put_many("i", hashes[:3], [_vector(h) for h in hashes[:3]])
    memo.get_many("i", [hashes[0]])  # m1 becomes most recently used
    memo.put_many("i", [hashes[3]], [_vector(hashes[3])])
    assert set(memo.get_many("i", hashes)) == {hashes[0], hashes[2], hashes[3]}
    assert memo.info()["bytes"] <= 3 * 16
    stored = memo.get_many("i", [hashes[0]])[hashes[0]]
    assert not stored.flags.writeable


# --------------------------------------------------------------------------------------
# bounded size: compaction on its own, size cap, info and clear
# --------------------------------------------------------------------------------------


def test_writes_compact_on_their_own(tmp_path):
    cache = EmbeddingCache(tmp_path, compact_after=4)
    words = [f"c{i}" for i in range(20)]
    counts = []
    for w in words:
        h = _hashes([w])
        cache.put_many(IDENTITY, h, _vector(h[0])[None])
        counts.append(len(_shards(tmp_path)))
    assert max(counts) <= 5 and counts[-1] < 5
    found, missing = EmbeddingCache(tmp_path).get_many(IDENTITY, _hashes(words))
    assert missing == []
    for h, v in found.items():
        np.testing.assert_array_equal(v, _vector(h))


def test_compaction_can_be_turned_off(tmp_path):
    cache = EmbeddingCache(tmp_path, compact_after=None)
    for w in range(40):
        h = _hashes([f"n{w}"])
        cache.put_many(IDENTITY, h, _vector(h[0])[None])
    assert len(_shards(tmp_path)) == 40


def test_size_cap_evicts_least_recently_used_shards(tmp_path):
    writer = EmbeddingCache(tmp_path, max_bytes=0, compact_after=None)
    a, b, c = (_hashes([w]) for w in ("old but read", "old and unread", "new"))
    path_a = writer.put_many(IDENTITY, a, _vector(a[0])[None])
    path_b = writer.put_many(IDENTITY, b, _vector(b[0])[None])
    size = path_a.stat().st_size
    now = os.path.getmtime(path_a)
    os.utime(path_a, (now - 300, now - 300))
    os.utime(path_b, (now - 200, now - 200))
    # A read marks shard A as used now; B is then the least recently used.
    reader = EmbeddingCache(tmp_path, max_bytes=2 * size + size // 2, compact_after=None)
    assert list(reader.get_many(IDENTITY, a)[0]) == a
    path_c = reader.put_many(IDENTITY, c, _vector(c[0])[None])
    assert path_a.exists() and path_c.exists() and not path_b.exists()
    assert reader.shards_evicted == 1
    found, missing = EmbeddingCache(tmp_path).get_many(IDENTITY, a + b + c)
    assert set(found) == {a[0], c[0]} and missing == b


def test_size_cap_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GBSCORE_CACHE_MAX_BYTES", "1.5G")
    assert EmbeddingCache(tmp_path).max_bytes == 3 << 29
    monkeypatch.setenv("GBSCORE_CACHE_MAX_BYTES", "0")
    assert EmbeddingCache(tmp_path).max_bytes is None
    monkeypatch.delenv("GBSCORE_CACHE_MAX_BYTES")
    assert EmbeddingCache(tmp_path).max_bytes == DEFAULT_MAX_BYTES == 10 << 30
    monkeypatch.setenv("GBSCORE_CACHE_MAX_BYTES", "lots")
    with pytest.raises(ConfigError, match="GBSCORE_CACHE_MAX_BYTES='lots' is not a size.*20G"):
        EmbeddingCache(tmp_path)


def test_disk_cache_info_and_clear(tmp_path, monkeypatch):
    other = {"encoder": "SentenceTransformerEncoder", "model": "some/model"}
    cache = EmbeddingCache(tmp_path)
    for batch in (["i1", "i2"], ["i2", "i3"]):
        hashes = _hashes(batch)
        cache.put_many(IDENTITY, hashes, np.stack([_vector(h) for h in hashes]))
    cache.put_many(other, _hashes(["o1"]), _vector(text_hash("o1"))[None])
    (tmp_path / "notes.txt").write_text("not the cache's")

    info = disk_cache_info(tmp_path)
    assert info["directory"] == str(tmp_path) and info["exists"]
    by_hash = {item["identity_hash"]: item for item in info["identities"]}
    mine = by_hash[identity_hash(IDENTITY)]
    assert (mine["texts"], mine["shards"], mine["identity"]) == (3, 2, IDENTITY)
    assert mine["bytes"] == sum(p.stat().st_size for p in _shards(tmp_path))
    assert by_hash[identity_hash(other)]["encoder"] == "SentenceTransformerEncoder some/model"
    assert info["bytes"] == sum(item["bytes"] for item in info["identities"])

    removed = clear_disk_cache(tmp_path, identity_hash=identity_hash(other))
    assert removed["identities"] == 1 and removed["bytes"] > 0
    assert [i["identity_hash"] for i in disk_cache_info(tmp_path)["identities"]] == [
        identity_hash(IDENTITY)
    ]
    with pytest.raises(GbscoreError, match="holds no identity 'abc'.*gbscore cache info"):
        clear_disk_cache(tmp_path, identity_hash="abc")
    assert clear_disk_cache(tmp_path)["identities"] == 1
    assert disk_cache_info(tmp_path)["identities"] == []
    assert (tmp_path / "notes.txt").read_text() == "not the cache's"
    # The default folder follows GBSCORE_CACHE_DIR.
    monkeypatch.setenv("GBSCORE_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    assert disk_cache_info()["directory"] == str(tmp_path / "elsewhere")


def test_process_caches_have_one_public_owner(tmp_path):
    clear_caches(models=True)
    h = text_hash("owned")
    process_memo().put_many("ident", [h], _vector(h)[None])
    open_disk_cache(tmp_path)
    info = cache_info()
    assert info["memo"]["entries"] == 1 and info["disk_caches"] == [str(tmp_path)]
    assert open_disk_cache(tmp_path / ".") is open_disk_cache(tmp_path)
    clear_caches()
    assert cache_info()["memo"]["entries"] == 0 and cache_info()["disk_caches"] == []
