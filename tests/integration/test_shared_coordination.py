"""The model gate and the turn locks shared through a real Redis (127.0.0.1:6379): two
"replicas" (two gates, two lock tables, each with its own client) behave as one; a holder
that dies loses its lock one lease later; Redis going away is survived as documented."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis.asyncio as redis

from app.conversations.locks import RedisTurnLocks
from app.errors import ServiceError
from app.llm.gate import Overloaded
from app.llm.shared_gate import RedisModelGate

REDIS_URL = "redis://127.0.0.1:6379/0"
DOWN_URL = "redis://127.0.0.1:1/0"  # nothing listens there


def _client(url: str = REDIS_URL):
    return redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


async def _turns(gates: list[RedisModelGate], count: int) -> tuple[list[float], int]:
    started, admitted, refused = time.monotonic(), [], 0

    async def one(gate: RedisModelGate) -> None:
        nonlocal refused
        try:
            ticket = await gate.admit()
        except Overloaded:
            refused += 1
            return
        await ticket.wait()
        admitted.append(time.monotonic() - started)

    await asyncio.gather(*(one(gates[n % len(gates)]) for n in range(count)))
    return sorted(admitted), refused


def test_two_replicas_share_one_rate_and_one_queue():
    async def scenario():
        key = f"test:gate:{uuid.uuid4().hex}"
        clients = [_client(), _client()]
        gates = [RedisModelGate(c, rate=4, max_queue=4, key=key) for c in clients]
        try:
            return await _turns(gates, 16)
        finally:
            for client in clients:
                await client.aclose()

    admitted, refused = asyncio.run(scenario())
    # A burst of one second's worth (4) at once, then 4 queued at 0.25 s apart; the other 8
    # are refused at once, whichever replica they came to: 4 per second for the deployment.
    assert len(admitted) == 8 and refused == 8
    assert admitted[3] < 0.2 and 0.9 <= admitted[-1] < 1.4


def test_a_refused_turn_gets_the_time_until_it_would_be_admitted():
    async def scenario():
        client = _client()
        gate = RedisModelGate(client, rate=0.5, max_queue=1, key=f"test:gate:{uuid.uuid4().hex}")
        try:
            await gate.admit()  # starts now
            await gate.admit()  # waits 2 s
            with pytest.raises(Overloaded) as refused:
                await gate.admit()
            return refused.value.retry_after, gate.state()
        finally:
            await client.aclose()

    retry_after, state = asyncio.run(scenario())
    assert retry_after == 2 and state["admitted_total"] == 2 and state["rejected_total"] == 1


def test_without_redis_the_gate_paces_this_replica_alone():
    async def scenario():
        client = _client(DOWN_URL)
        gate = RedisModelGate(client, rate=2, max_queue=1)
        try:
            admitted, refused = await _turns([gate], 5)
            return admitted, refused, gate.state()
        finally:
            await client.aclose()

    admitted, refused, state = asyncio.run(scenario())
    assert len(admitted) == 3 and refused == 2  # the per-process gate: 2 at once, 1 waiting
    assert state["redis_failures"] == 5 and state["fallback"]["admitted_total"] == 3


def test_turns_of_one_conversation_run_one_at_a_time_across_replicas():
    async def scenario():
        prefix = f"test:lock:{uuid.uuid4().hex}:"
        clients = [_client(), _client()]
        replicas = [RedisTurnLocks(c, prefix=prefix, poll_seconds=0.01) for c in clients]
        inside, most, order = 0, 0, []

        async def turn(n: int) -> None:
            nonlocal inside, most
            async with replicas[n % 2].hold("c1"):
                inside += 1
                most = max(most, inside)
                order.append(n)
                await asyncio.sleep(0.05)
                inside -= 1

        async def other() -> float:  # another conversation is not held up
            started = time.monotonic()
            async with replicas[1].hold("c2"):
                return time.monotonic() - started

        await asyncio.gather(*(turn(n) for n in range(6)), other())
        for client in clients:
            await client.aclose()
        return most, order

    most, order = asyncio.run(scenario())
    assert most == 1 and sorted(order) == list(range(6))


def test_a_lock_outlives_a_dead_holder_by_one_lease_and_a_live_holder_keeps_it():
    async def scenario():
        prefix = f"test:lock:{uuid.uuid4().hex}:"
        client = _client()
        locks = RedisTurnLocks(client, prefix=prefix, poll_seconds=0.02)
        dead = client.lock(prefix + "c1", timeout=0.6)  # a replica that took the lock and died
        await dead.acquire()
        started = time.monotonic()
        async with locks.hold("c1", lease_seconds=0.6):
            waited = time.monotonic() - started
            await asyncio.sleep(1.0)  # longer than the lease: renewed while held
            still_held = await client.exists(prefix + "c1")
        await client.aclose()
        return waited, still_held

    waited, still_held = asyncio.run(scenario())
    assert 0.4 <= waited < 1.0 and still_held == 1


def test_without_redis_a_turn_falls_back_to_this_replica_and_a_decision_is_refused():
    async def scenario():
        client = _client(DOWN_URL)
        locks, inside, most = RedisTurnLocks(client), 0, 0

        async def turn() -> None:
            nonlocal inside, most
            async with locks.hold("c1"):  # this replica's lock: still one at a time here
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.05)
                inside -= 1

        try:
            await asyncio.gather(turn(), turn(), turn())
            with pytest.raises(ServiceError) as refused:
                async with locks.hold("c1", required=True):
                    pass
            return most, refused.value
        finally:
            await client.aclose()

    most, refused = asyncio.run(scenario())
    assert most == 1 and refused.code == "unavailable" and refused.status == 503
