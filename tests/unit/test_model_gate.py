"""LLM_RATE_LIMIT and LLM_MAX_QUEUE: turns are paced, and refused at once past the queue."""

import asyncio
import time

import pytest

from app.llm.gate import LocalModelGate, Overloaded


async def _turns(gate: LocalModelGate, count: int) -> tuple[list[float], list[int]]:
    started = time.perf_counter()
    admitted, refused = [], []

    async def one():
        try:
            async with gate.turn():
                admitted.append(time.perf_counter() - started)
        except Overloaded as exc:
            refused.append(exc.retry_after)

    await asyncio.gather(*(one() for _ in range(count)))
    return sorted(admitted), refused


def test_turns_are_paced_at_the_rate():
    admitted, refused = asyncio.run(_turns(LocalModelGate(rate=10, max_queue=100), 25))
    assert refused == [] and len(admitted) == 25
    # A burst of one second's worth (10), then one every 0.1 s.
    assert admitted[9] < 0.05 and 1.3 <= admitted[-1] < 2.0


def test_turns_past_the_queue_are_refused_at_once_with_a_retry_hint():
    gate = LocalModelGate(rate=2, max_queue=3)
    admitted, refused = asyncio.run(_turns(gate, 10))
    # Two pass at once (one second's worth), three wait, five are refused without waiting.
    assert len(admitted) == 5 and len(refused) == 5
    assert all(hint >= 1 for hint in refused)
    assert gate.state()["rejected_total"] == 5 and gate.state()["waiting"] == 0


def test_without_a_rate_nothing_waits_and_the_state_says_so():
    gate = LocalModelGate(rate=None, max_queue=1)
    admitted, refused = asyncio.run(_turns(gate, 5))
    assert len(admitted) == 5 and refused == []
    assert gate.state()["rate_limit_per_second"] is None


def test_admission_refuses_while_the_queue_is_full():
    async def admit_three():
        gate = LocalModelGate(rate=0.5, max_queue=1)
        first = gate.admit_now()
        await first.wait()  # the one slot of the next 2 s is taken
        second = gate.admit_now()  # waits for the next slot: the queue of one is full
        with pytest.raises(Overloaded) as refused:
            gate.admit_now()
        second.release()
        return refused.value.retry_after

    assert asyncio.run(admit_three()) >= 2


def test_turns_admitted_together_at_an_idle_gate_are_not_refused():
    """A turn is admitted before its transport starts and waits for its slot after: two that
    arrive together at an idle gate with a queue of one are one that starts and one that waits."""

    async def arrive_together():
        gate = LocalModelGate(rate=0.5, max_queue=1)
        tickets = [gate.admit_now(), gate.admit_now()]  # neither has reached its wait yet
        with pytest.raises(Overloaded):
            gate.admit_now()
        started = time.perf_counter()
        await asyncio.gather(*(ticket.wait() for ticket in tickets))
        return time.perf_counter() - started, gate.state()

    waited, state = asyncio.run(arrive_together())
    assert waited >= 1.5  # the second waited for the next slot
    assert state["admitted_total"] == 2 and state["rejected_total"] == 1 and state["waiting"] == 0
