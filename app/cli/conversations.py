"""`chatbot conversations ...`: the runbook's conversation scripts (get, export, list, archive, delete, stats,
metrics)."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer

from app.cli.common import console, fail, settings_or_exit
from app.conversations.transcripts import format_time

conversations = typer.Typer(help="Conversation operations.", no_args_is_help=True)


class Format(StrEnum):
    json = "json"
    markdown = "markdown"


@asynccontextmanager
async def _open():
    from app.conversations.checkpointers import open_checkpointer
    from app.conversations.registry import ConversationRegistry

    settings = settings_or_exit()
    registry = ConversationRegistry(settings.checkpoint_url)
    try:
        async with open_checkpointer(settings.checkpoint_url) as checkpointer:
            yield registry, checkpointer
    finally:
        registry.close()


async def _conversation(conversation_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from app.conversations.transcripts import read_messages

    async with _open() as (registry, checkpointer):
        record = registry.get(conversation_id)
        messages = await read_messages(checkpointer, conversation_id)
    if record is None and not messages:
        fail(f"no conversation {conversation_id!r}", code=1)
    return record or {"id": conversation_id, "status": "unknown", "turns": len(messages) // 2}, messages


@conversations.command("get")
def get(conversation_id: Annotated[str, typer.Argument(help="the conversation")]) -> None:
    """A conversation's status and messages (runbook: get_conversation.py)."""
    record, messages = asyncio.run(_conversation(conversation_id))
    print(f"Conversation: {record['id']} ({record['status']}, {record.get('turns', 0)} turns, "
          f"last turn {format_time(record.get('updated_at'))})")
    for message in messages:
        print(f"{message['role']}: {message['content']}")


@conversations.command("export")
def export(
    conversation_id: Annotated[str, typer.Argument(help="the conversation")],
    format: Annotated[Format, typer.Option(help="json or markdown")] = Format.json,
) -> None:
    """The whole conversation on stdout, as JSON or Markdown (runbook: export_conversation.py)."""
    record, messages = asyncio.run(_conversation(conversation_id))
    if format is Format.json:
        print(json.dumps({**record, "messages": messages}, indent=2, ensure_ascii=False))
        return
    from app.conversations.transcripts import to_markdown

    print(to_markdown(record, messages))


@conversations.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="active or archived")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
) -> None:
    """The most recent conversations (runbook: list_conversations.py)."""
    from app.conversations.registry import STATUSES, ConversationRegistry

    if status is not None and status not in STATUSES:
        fail(f"--status must be one of {', '.join(STATUSES)}")
    registry = ConversationRegistry(settings_or_exit().checkpoint_url)
    try:
        rows = registry.list(status, limit)
    finally:
        registry.close()
    for row in rows:
        print(f"{row['id']}  {row['status']:<8}  {row['turns']:>4} turns  last turn {format_time(row['updated_at'])}"
              f"  owner {row['owner']}")
    console.print(f"{len(rows)} conversation(s)")


@conversations.command("archive")
def archive(older_than: Annotated[float, typer.Option(min=0, help="days since the last turn")]) -> None:
    """Archive conversations idle for longer than --older-than days (runbook: archive_conversations.py)."""
    from app.conversations.registry import ConversationRegistry

    registry = ConversationRegistry(settings_or_exit().checkpoint_url)
    try:
        print(f"archived {registry.archive(older_than)} conversation(s)")
    finally:
        registry.close()


@conversations.command("delete")
def delete(
    older_than: Annotated[float, typer.Option(min=0, help="days since the last turn")],
    status: Annotated[str, typer.Option(help="only conversations with this status")] = "archived",
) -> None:
    """Delete conversations, their checkpoints and every copy of their text (runbook: delete_conversations.py)."""
    from app.conversations.deletion import delete_conversation
    from app.conversations.registry import STATUSES
    from app.llm.response_cache import CacheUnavailable

    if status not in STATUSES:
        fail(f"--status must be one of {', '.join(STATUSES)}")

    async def run() -> int:
        async with _open_for_deletion() as (registry, checkpointer, copies):
            doomed = registry.stale(status, older_than)
            for done, conversation_id in enumerate(doomed):
                try:
                    await delete_conversation(registry, checkpointer, conversation_id, **copies)
                except CacheUnavailable as exc:
                    fail(f"{exc}: deleted {done} of {len(doomed)} conversation(s); run again", code=1)
            return len(doomed)

    print(f"deleted {asyncio.run(run())} conversation(s) with their checkpoints, feedback text, "
          "tool-call arguments and cached answers")


@asynccontextmanager
async def _open_for_deletion():
    """What `delete_conversation` needs: the registry, the checkpointer and the stores holding copies.

    The response cache is reached only in Redis: a server's in-memory cache is its own
    (its entries expire after CACHE_TTL).
    """
    from app.ledgers.feedback import FeedbackStore
    from app.ledgers.tool_calls import ToolCallLedger
    from app.llm.response_cache import RedisCache

    settings = settings_or_exit()
    feedback, tool_calls = FeedbackStore(settings.ledger_url), ToolCallLedger(settings.ledger_url)
    cache = (RedisCache(settings.redis_url, settings.cache_ttl)
             if settings.enable_response_cache and settings.redis_url else None)
    try:
        async with _open() as (registry, checkpointer):
            yield registry, checkpointer, {"feedback": feedback, "tool_calls": tool_calls, "cache": cache}
    finally:
        feedback.close()
        tool_calls.close()
        if cache is not None:
            await cache.aclose()


@conversations.command("stats")
def stats() -> None:
    """How many conversations, by status, and how long (runbook: conversation_stats.py)."""
    from app.conversations.registry import ConversationRegistry

    registry = ConversationRegistry(settings_or_exit().checkpoint_url)
    try:
        report = registry.stats()
    finally:
        registry.close()
    print(f"Conversations: {report['conversations']:,}")
    for status, counts in report["by_status"].items():
        print(f"  {status}: {counts['conversations']:,} ({counts['turns']:,} turns)")
    print(f"Turns: {report['turns']:,} (mean {report['mean_turns']} per conversation)")
    print(f"Oldest: {format_time(report['oldest'])}; latest turn: {format_time(report['latest_turn'])}")


@conversations.command("metrics")
def metrics(
    date: Annotated[str | None, typer.Option(help="the day, YYYY-MM-DD (UTC); default today")] = None,
) -> None:
    """One day's conversations: started, active, answers, latency, tokens, cost and ratings
    (runbook: conversation_metrics.py --date)."""
    import datetime as dt

    from app.conversations.registry import ConversationRegistry
    from app.ledgers.feedback import FeedbackStore
    from app.ledgers.usage import UsageLedger

    settings = settings_or_exit()
    try:
        day = dt.date.fromisoformat(date) if date else dt.datetime.now(dt.UTC).date()
    except ValueError:
        fail(f"--date must be YYYY-MM-DD, not {date!r}")
    start = dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
    registry = ConversationRegistry(settings.checkpoint_url)
    ledger = UsageLedger.from_settings(settings)
    feedback = FeedbackStore(settings.ledger_url)
    try:
        started = registry.started_per_day(start).get(day.isoformat(), 0)
        [usage] = ledger.report(day.isoformat(), day.isoformat()) or [None]
        active = ledger.conversations(day.isoformat(), day.isoformat())
        latencies = ledger.latencies(day.isoformat(), day.isoformat())
        ratings = feedback.summary(start, start + 86_400)
    finally:
        registry.close()
        ledger.close()
        feedback.close()
    print(f"Date: {day.isoformat()}")
    print(f"Conversations started: {started:,}; with a model answer: {active:,}")
    if usage:
        answered = usage["calls"] - usage["failed_calls"]
        print(f"Model answers: {answered:,} ({usage['failed_calls']:,} calls retried, failed or interrupted)")
        print(f"Tokens: {usage['total_tokens']:,} ({usage['prompt_tokens']:,} prompt, "
              f"{usage['completion_tokens']:,} completion); estimated cost ${usage['cost_usd']:,.2f}")
    else:
        print("Model answers: 0")
    if latencies:
        import numpy as np

        p50, p95 = np.percentile(latencies, [50, 95]) / 1000
        print(f"Model latency: p50 {p50:.2f} s, p95 {p95:.2f} s ({len(latencies):,} answers)")
    if ratings["ratings"]:
        print(f"Ratings: {ratings['ratings']:,}, {ratings['helpful_share']:.0%} helpful")
    else:
        print("Ratings: none")
