"""Checkpoint write cost per turn: SQLite (the default) and PostgreSQL (DATABASE_URL).

A turn here is the real graph's shape of state (the conversation's messages, growing
turn by turn) written by LangGraph's savers once per turn, as the service does
(durability "exit"); the node itself is instant, and the same graph without a
checkpointer gives the baseline that is subtracted. 20 conversations of 10 turns.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from langchain_core.messages import AIMessage
from langgraph.graph import START, StateGraph
from rich.progress import track

from bench.common import console, percentiles
from graphs.state import ChatInput

CONVERSATIONS = 20
TURNS = 10
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _graph(checkpointer):
    def answer(state: ChatInput) -> dict:
        return {"messages": [AIMessage("Backups run every hour and are kept for 30 days [1]. " * 3)]}

    builder = StateGraph(ChatInput)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    return builder.compile(checkpointer=checkpointer)


async def _turns(url: str | None) -> list[float]:
    from app.conversations.checkpointers import open_checkpointer

    async def run(graph) -> list[float]:
        samples = []
        for _ in track(range(CONVERSATIONS), description=f"turns ({(url or 'none').split(':')[0]})", console=console):
            config = {"configurable": {"thread_id": uuid.uuid4().hex}}
            for turn in range(TURNS):
                started = time.perf_counter()
                await graph.ainvoke({"messages": [("user", f"question {turn}: how often do backups run?")]},
                                    config if url else None, durability="exit")
                samples.append((time.perf_counter() - started) * 1000)
        return samples

    if url is None:
        return await run(_graph(None))
    async with open_checkpointer(url) as saver:
        return await run(_graph(saver))


def _postgres_database():
    import psycopg

    name = f"chatbot_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    admin.execute(f'CREATE DATABASE "{name}"')
    return admin, name, POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def run() -> dict:
    baseline = asyncio.run(_turns(None))
    scratch = Path(tempfile.mkdtemp(prefix="chatbot-bench-memory-"))
    results = {"turns": CONVERSATIONS * TURNS, "no_checkpointer": percentiles(baseline)}
    results["sqlite"] = percentiles(asyncio.run(_turns(f"sqlite:///{scratch / 'checkpoints.sqlite'}")))
    try:
        admin, name, url = _postgres_database()
    except Exception as exc:  # say so in the results rather than fail the other benchmarks
        results["postgresql"] = f"not measured: {type(exc).__name__}"
        return results
    try:
        results["postgresql"] = percentiles(asyncio.run(_turns(url)))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    base = results["no_checkpointer"]["p50_ms"]
    results["write_cost_p50_ms"] = {k: round(results[k]["p50_ms"] - base, 2) for k in ("sqlite", "postgresql")}
    return results
