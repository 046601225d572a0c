"""`chatbot`: the runbook's `python scripts/...` lines as subcommands."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated

import typer

from app.cli import index as index_commands
from app.cli.bench import bench
from app.cli.common import console, fail, settings_or_exit
from app.cli.conversations import conversations
from app.cli.db import db
from app.cli.evals import enable_hybrid_search, evaluation
from app.cli.keys import keys
from app.cli.llm import context, cost_analysis, llm, rate_limits, usage
from app.cli.ops import check_latency, health, profile
from app.cli.smoke import smoke_test
from app.cli.tools import tools

cli = typer.Typer(help="Operate the chatbot service.", no_args_is_help=True, add_completion=False)
for command in (index_commands.index, index_commands.add, index_commands.delete, index_commands.prepare,
                index_commands.embed, index_commands.verify, index_commands.search, index_commands.rebuild,
                index_commands.snapshot):
    cli.command()(command)
cli.add_typer(index_commands.indexes, name="indexes")
cli.add_typer(bench, name="bench")
cli.add_typer(llm, name="llm")
cli.add_typer(conversations, name="conversations")
cli.add_typer(tools, name="tools")
cli.add_typer(keys, name="keys")
cli.add_typer(evaluation, name="eval")
cli.add_typer(db, name="db")
cli.command("rate-limits")(rate_limits)
cli.command()(usage)
cli.command("cost-analysis")(cost_analysis)
cli.command()(context)
cli.command()(profile)
cli.command()(health)
cli.command("check-latency")(check_latency)
cli.command("smoke-test")(smoke_test)
cli.command("enable-hybrid-search")(enable_hybrid_search)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    reload: Annotated[bool, typer.Option(help="restart on code changes")] = False,
    workers: Annotated[int, typer.Option(min=1, help="worker processes (share REDIS_URL and DATABASE_URL)")] = 1,
) -> None:
    """Run the gateway (the same app as `uvicorn app.main:app`).

    In local-only mode (no API key yet, AUTH_REQUIRED unset) it binds only to loopback:
    the local owner has every scope, admin included."""
    import uvicorn

    from app.access.keys import KeyStore
    from app.access.local_only import LOCAL_ONLY_HINT, is_loopback
    from app.ledgers.schema import SchemaBehind

    settings = settings_or_exit()  # fail here, clearly, on a bad configuration
    try:
        store = KeyStore(settings.ledger_url, settings.auth_required)  # and on a database that is behind
    except SchemaBehind as exc:
        fail(f"refusing to start: {exc}")
    try:
        local_only = not store.keys_configured()
    finally:
        store.close()
    if local_only and not is_loopback(host) and settings.chatbot_bootstrap_key is None:
        fail(f"refusing to serve local-only mode on {host}: {LOCAL_ONLY_HINT}")
    # Our JSON logging (configured by the app) replaces uvicorn's own handlers and access log.
    # Frames above the request limit are refused by uvicorn before they are buffered.
    if workers > 1 and not settings.redis_url:
        console.print(f"[yellow]{workers} workers without REDIS_URL: each has its own model gate and turn locks")
    uvicorn.run("app.gateway.factory:create_app", factory=True, host=host, port=port, reload=reload, log_config=None,
                ws_max_size=settings.max_request_bytes, workers=workers)


@cli.command()
def ask(
    message: Annotated[str, typer.Argument(help="the question")],
    conversation_id: Annotated[str | None, typer.Option(help="continue this conversation")] = None,
) -> None:
    """Ask the chatbot once, in-process (no server), streaming the answer."""
    from app.chat.events import ErrorEvent, FinalEvent, TokenEvent
    from app.chatbot import Chatbot
    from app.errors import ServiceError

    settings = settings_or_exit()

    async def run() -> None:
        # In-process, on the service's data: the local operator, every tool.
        async with Chatbot.open(settings) as bot:
            async for event in bot.stream(message, conversation_id):
                if isinstance(event, TokenEvent):
                    print(event.text, end="", flush=True)
                elif isinstance(event, FinalEvent):
                    print()
                    console.print_json(json.dumps({k: v for k, v in event.payload().items() if k != "answer"}))
                elif isinstance(event, ErrorEvent):
                    fail(event.error.message, code=1)

    try:
        asyncio.run(run())
    except ServiceError as refused:
        fail(refused.message, code=1)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cli()


if __name__ == "__main__":
    main()
