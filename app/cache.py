"""The response cache (ENABLE_RESPONSE_CACHE, CACHE_TTL): an answer per (question, context).

The key is the normalized question plus the ids of the passages the model would read
(chunk ids are hashes of their text, so the same ids mean the same context), the models
and the prompt templates: a changed document, model or prompt is a different key, never
a stale answer. In memory by default; in Redis when REDIS_URL is set, shared by replicas.
Only answers from the first-choice provider are cached, so an outage's degraded answers
do not outlive it.
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


def normalize_question(question: str) -> str:
    """Case, spacing and trailing punctuation do not make another question."""
    return _SPACE.sub(" ", question).strip().rstrip("?!. ").lower()


def cache_key(question: str, passage_ids: Sequence[str], salt: str) -> str:
    """`salt` names what else shapes the answer: the model chain and the prompt templates."""
    material = json.dumps([normalize_question(question), list(passage_ids), salt])
    return KEY_PREFIX + hashlib.sha256(material.encode("utf-8")).hexdigest()


class ResponseCache(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def set(self, key: str, value: dict[str, Any]) -> None: ...


class MemoryCache:
    """Per process, bounded, entries expire after `ttl` seconds."""

    def __init__(self, ttl: int, entries: int = MEMORY_ENTRIES):
        self._entries: TTLCache = TTLCache(maxsize=entries, ttl=ttl)

    async def get(self, key: str) -> dict[str, Any] | None:
        return self._entries.get(key)

    async def set(self, key: str, value: dict[str, Any]) -> None:
        self._entries[key] = value


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

    async def set(self, key: str, value: dict[str, Any]) -> None:
        try:
            await self._client.set(key, json.dumps(value), ex=self.ttl)
        except Exception as exc:
            log.warning("response cache unavailable: %s", type(exc).__name__)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_response_cache(enabled: bool, ttl: int, redis_url: str | None) -> ResponseCache | None:
    if not enabled:
        return None
    return RedisCache(redis_url, ttl) if redis_url else MemoryCache(ttl)
