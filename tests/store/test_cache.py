"""The generation cache, on the real Redis at 127.0.0.1:6379 and on a SQLite file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from router_svc.store import CacheStats, Store, cache_key, open_store
from tests.support import REDIS_URL, eventually

# Every test here is async, even the pure ones: this mark on a sync test is a warning.
pytestmark = pytest.mark.asyncio


async def test_get_of_a_missing_key_is_none_and_a_miss(store: Store) -> None:
    assert await store.cache.get(cache_key("nope")) is None
    assert await store.cache.stats() == CacheStats(hits=0, misses=1)


async def test_set_then_get_round_trips_unicode(store: Store) -> None:
    key = cache_key("expert-a", "prompt")
    await store.cache.set(key, 'réponse ✓ {"json": 1}', ttl_s=60)
    assert await store.cache.get(key) == 'réponse ✓ {"json": 1}'


async def test_set_overwrites_the_value(store: Store) -> None:
    await store.cache.set("k", "one", ttl_s=60)
    await store.cache.set("k", "two", ttl_s=60)
    assert await store.cache.get("k") == "two"


async def test_entries_expire_after_their_ttl(store: Store) -> None:
    await store.cache.set("short", "v", ttl_s=1)
    await store.cache.set("long", "v", ttl_s=60)
    assert await store.cache.get("short") == "v"

    async def expired() -> bool:
        return await store.cache.get("short") is None

    await eventually(expired, what="the 1 s entry to expire")
    assert await store.cache.get("long") == "v"


async def test_stats_count_hits_and_misses(store: Store) -> None:
    await store.cache.set("a", "1", ttl_s=60)
    for key in ["a", "b", "a", "c", "a"]:
        await store.cache.get(key)
    stats = await store.cache.stats()
    assert (stats.hits, stats.misses) == (3, 2)
    assert stats.hit_rate == pytest.approx(0.6)


async def test_stores_on_one_backend_share_values_but_count_their_own_stats(
    make_store: Callable[[], Store],
) -> None:
    writer, reader = make_store(), make_store()
    await writer.cache.set("shared", "v", ttl_s=60)
    assert await reader.cache.get("shared") == "v"
    assert await reader.cache.stats() == CacheStats(hits=1, misses=0)
    assert await writer.cache.stats() == CacheStats(hits=0, misses=0)


@pytest.mark.parametrize("ttl_s", [0, -5])
async def test_a_ttl_below_one_second_is_rejected(store: Store, ttl_s: int) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await store.cache.set("k", "v", ttl_s=ttl_s)
    assert await store.cache.get("k") is None


async def test_ping_answers_true(store: Store) -> None:
    assert await store.ping() is True


async def test_redis_keys_are_namespaced_and_expire(
    raw_redis: Redis, tmp_path: Path, prefix: str
) -> None:
    store = open_store(REDIS_URL, tmp_path / "unused.db", prefix=prefix)
    try:
        await store.cache.set("abc", "v", ttl_s=120)
        assert await raw_redis.get(f"{prefix}:cache:abc") == "v"
        assert 110 < await raw_redis.ttl(f"{prefix}:cache:abc") <= 120
    finally:
        await store.close()
        await raw_redis.delete(f"{prefix}:cache:abc")


async def test_cache_key_is_sha256_hex_of_length_prefixed_parts() -> None:
    key = cache_key("expert-a", "hello")
    assert key == hashlib.sha256(b"8:expert-a5:hello").hexdigest()
    assert len(key) == 64
    assert key == cache_key("expert-a", "hello")


@pytest.mark.parametrize(
    ("left", "right"),
    [(("a", "bc"), ("ab", "c")), (("a",), ("a", "")), (("1:a",), ("a",)), ((), ("",))],
)
async def test_cache_key_joins_parts_unambiguously(
    left: tuple[str, ...], right: tuple[str, ...]
) -> None:
    assert cache_key(*left) != cache_key(*right)
