"""The response cache (ENABLE_RESPONSE_CACHE, CACHE_TTL): an answer per (question, context).

The key is the normalized question plus the ids of the passages the model would read
(chunk ids are hashes of their text, so the same ids mean the same context), the models
and the prompt templates: a changed document, model or prompt is a different key, never
a stale answer. In memory by default; in Redis when REDIS_URL is set, shared by replicas.
Only answers from the first-choice provider are cached, so an outage's degraded answers
do not outlive it.

Entries are shared by every owner, so each cache also remembers which conversation
wrote which keys: deleting a conversation purges the answers its turns wrote
(`forget_conversation`). The in-memory cache is per process: only a deletion in the
serving process reaches it (a CLI deletion reaches Redis, not a server's memory).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol

from cachetools import TTLCache

log = logging.getLogger("chatbot.cache")
_SPACE = re.compile(r"\s+")
MEMORY_ENTRIES = 10_000
KEY_PREFIX = "chatbot:answer:"
WRITTEN_PREFIX = "chatbot:answers-of:"  # a Redis set per conversation: the keys its turns wrote


class CacheUnavailable(RuntimeError):
    """The cache could not purge a conversation's answers (Redis is down): the deletion must wait."""


def normalize_question(question: str) -> str:
    """Case, spacing and trailing punctuation do not make another question."""
    return _SPACE.sub(" ", question).strip().rstrip("?!. ").lower()


def cache_key(question: str, passage_ids: Sequence[str], salt: str) -> str:
    """`salt` names what else shapes the answer: the model chain and the prompt templates."""
    material = json.dumps([normalize_question(question), list(passage_ids), salt])
    return KEY_PREFIX + hashlib.sha256(material.encode("utf-8")).hexdigest()


def current_conversation() -> str | None:
    """The conversation of the graph run calling (its `thread_id`), if called inside one."""
    from langgraph.config import get_config

    try:
        return get_config().get("configurable", {}).get("thread_id")
    except RuntimeError:  # not inside a run
        return None


class ResponseCache(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def set(self, key: str, value: dict[str, Any], conversation_id: str | None = None) -> None:
        """`conversation_id`: the writer, by default the calling graph run's conversation."""

    async def forget_conversation(self, conversation_id: str) -> int:
        """Drop the entries the conversation wrote; how many keys it had."""

    async def aclose(self) -> None:
        """Release the connection, if any."""


class MemoryCache:
    """Per process, bounded, entries expire after `ttl` seconds."""

    def __init__(self, ttl: int, entries: int = MEMORY_ENTRIES):
        self._entries: TTLCache = TTLCache(maxsize=entries, ttl=ttl)
        # conversation id -> keys it wrote; a write renews it, so it outlives each of its keys.
        self._written: TTLCache = TTLCache(maxsize=entries, ttl=ttl)

    async def get(self, key: str) -> dict[str, Any] | None:
        return self._entries.get(key)

    async def set(self, key: str, value: dict[str, Any], conversation_id: str | None = None) -> None:
        self._entries[key] = value
        if conversation := conversation_id or current_conversation():
            self._written[conversation] = {*self._written.get(conversation, ()), key}

    async def forget_conversation(self, conversation_id: str) -> int:
        keys = self._written.pop(conversation_id, set())
        for key in keys:
            self._entries.pop(key, None)
        return len(keys)

    async def aclose(self) -> None:
        self._entries.clear()


class RedisCache:
    """Shared by every replica; Redis expires entries (SET ... EX ttl)."""

    def __init__(self, url: str, ttl: int):
        import redis.asyncio as redis

        self._client = redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.ttl = ttl

    async def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = await self._client.get(key)
        except Exception as exc:  # a cache that is down is a miss, never a failed answer
            log.warning("response cache unavailable: %s", type(exc).__name__)
            return None
        return json.loads(raw) if raw else None

    async def set(self, key: str, value: dict[str, Any], conversation_id: str | None = None) -> None:
        conversation = conversation_id or current_conversation()
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(key, json.dumps(value), ex=self.ttl)
                if conversation:
                    written = WRITTEN_PREFIX + conversation
                    pipe.sadd(written, key).expire(written, self.ttl)
                await pipe.execute()
        except Exception as exc:
            log.warning("response cache unavailable: %s", type(exc).__name__)

    async def forget_conversation(self, conversation_id: str) -> int:
        written = WRITTEN_PREFIX + conversation_id
        try:
            keys = await self._client.smembers(written)
            await self._client.delete(*keys, written)
        except Exception as exc:
            raise CacheUnavailable(f"response cache unavailable: {type(exc).__name__}") from None
        return len(keys)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_response_cache(enabled: bool, ttl: int, redis_url: str | None) -> ResponseCache | None:
    if not enabled:
        return None
    return RedisCache(redis_url, ttl) if redis_url else MemoryCache(ttl)
