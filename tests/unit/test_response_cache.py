"""Response cache keys: the same question and context hit, anything else misses; entries expire."""

import asyncio

from app.cache import MemoryCache, cache_key, normalize_question


def test_keys_ignore_case_spacing_and_trailing_punctuation_only():
    key = cache_key("How often do backups run?", ["c1", "c2"], "salt")
    assert cache_key("  how OFTEN do   backups run ", ["c1", "c2"], "salt") == key
    assert cache_key("How often do backups run?", ["c2", "c1"], "salt") != key  # other passages (or order)
    assert cache_key("How often do restores run?", ["c1", "c2"], "salt") != key
    assert cache_key("How often do backups run?", ["c1", "c2"], "other model") != key
    assert normalize_question("Hello,  World!?") == "hello, world"


def test_memory_entries_expire_after_the_ttl():
    cache = MemoryCache(ttl=1)

    async def scenario():
        await cache.set("k", {"draft": "answer"})
        fresh = await cache.get("k")
        await asyncio.sleep(1.1)
        return fresh, await cache.get("k")

    assert asyncio.run(scenario()) == ({"draft": "answer"}, None)
