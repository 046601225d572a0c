"""Per-key limits: requests per minute and tokens per day, shared by replicas through Redis.

`limits` keeps the counters: a moving window of requests per key, and a daily token
counter per key (UTC days). In memory by default (one replica); in Redis when REDIS_URL
is set, so every replica counts against the same budget. A Redis that cannot be reached
lets requests through and logs an error: the limits protect capacity, they do not gate
correctness.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

log = logging.getLogger("chatbot.rate_limits")


@dataclass(frozen=True)
class Refusal:
    reason: str  # requests_per_minute, tokens_per_day
    retry_after: int  # seconds


def _seconds_to_midnight(now: float) -> float:
    tomorrow = dt.datetime.fromtimestamp(now, dt.UTC).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(), dt.UTC).timestamp() - now


class KeyRateLimits:
    def __init__(self, requests_per_minute: int, tokens_per_day: int, redis_url: str | None = None):
        self.requests_per_minute, self.tokens_per_day = requests_per_minute, tokens_per_day
        self._storage: Storage = (RedisStorage(f"async+{redis_url}", implementation="redispy",
                                               key_prefix="chatbot-limits") if redis_url else MemoryStorage())
        self._requests = MovingWindowRateLimiter(self._storage)
        self._per_minute = RateLimitItemPerMinute(requests_per_minute)

    @staticmethod
    def _token_key(key_id: str, now: float) -> str:
        return f"tokens/{key_id}/{dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()}"

    async def admit(self, key_id: str) -> Refusal | None:
        """Count one request of this key; a Refusal when it is over a limit."""
        now = time.time()
        try:
            if await self._storage.get(self._token_key(key_id, now)) >= self.tokens_per_day:
                return Refusal("tokens_per_day", math.ceil(_seconds_to_midnight(now)))
            if not await self._requests.hit(self._per_minute, key_id):
                stats = await self._requests.get_window_stats(self._per_minute, key_id)
                return Refusal("requests_per_minute", max(1, math.ceil(stats.reset_time - now)))
        except Exception as exc:  # an unreachable Redis: let the request through, loudly
            log.error("rate limit storage failed (%s): request let through", type(exc).__name__)
        return None

    async def spend_tokens(self, key_id: str, tokens: int) -> None:
        """Add a turn's tokens to the key's count for today."""
        if tokens <= 0:
            return
        now = time.time()
        try:
            await self._storage.incr(self._token_key(key_id, now), math.ceil(_seconds_to_midnight(now)) + 60,
                                     amount=tokens)
        except Exception as exc:
            log.error("rate limit storage failed (%s): %d tokens not counted", type(exc).__name__, tokens)

    async def ping(self) -> bool:
        try:
            return bool(await self._storage.check())
        except Exception:
            return False
