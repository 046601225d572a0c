"""Response cache keys: the same question and context hit, anything else misses; entries expire."""

import asyncio

from app.llm.response_cache import MemoryCache, cache_key, normalize_question


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


def test_forgetting_a_conversation_drops_the_entries_it_wrote_only():
    cache = MemoryCache(ttl=60)

    async def scenario():
        await cache.set("k1", {"draft": "one"}, conversation_id="c1")
        await cache.set("k2", {"draft": "two"}, conversation_id="c1")
        await cache.set("k3", {"draft": "three"}, conversation_id="c2")
        forgotten = await cache.forget_conversation("c1")
        return forgotten, [await cache.get(k) for k in ("k1", "k2", "k3")], await cache.forget_conversation("c1")

    assert asyncio.run(scenario()) == (2, [None, None, {"draft": "three"}], 0)


def test_the_writer_is_the_conversation_of_the_graph_run_calling():
    from langchain_core.runnables import RunnableLambda

    cache = MemoryCache(ttl=60)

    async def node(_):  # as the graph's generate node calls it: no conversation id passed
        await cache.set("k", {"draft": "answer"})

    async def scenario():
        await RunnableLambda(node).ainvoke(None, {"configurable": {"thread_id": "c1"}})
        await cache.set("outside", {"draft": "no run"})  # outside a run: no writer, nothing to forget
        return await cache.forget_conversation("c1"), await cache.get("k"), await cache.get("outside")

    assert asyncio.run(scenario()) == (1, None, {"draft": "no run"})
