"""The runbook's LLM scripts: `llm test` (test_llm.py), `usage`, `rate-limits`, `context`."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from app.cli.common import console, fail, settings_or_exit
from app.settings import ConfigurationError

llm = typer.Typer(help="Chat model providers.", no_args_is_help=True)


def one_provider(provider: str | None, model: str | None, endpoint: str | None) -> dict[str, object]:
    """Settings overrides that send calls to one provider only (no fallbacks)."""
    overrides: dict[str, object] = {"llm_provider": provider, "llm_model": model, "llm_fallbacks": ""}
    if endpoint:
        overrides["azure_openai_endpoint" if (provider or "") == "azure" else "openai_base_url"] = endpoint
    return overrides


@llm.command("test")
def test(
    provider: Annotated[str | None, typer.Option(help="local, openai, azure, extractive; default LLM_PROVIDER")] = None,
    model: Annotated[str | None, typer.Option(help="the model (default: LLM_MODEL, or the provider's)")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Azure endpoint, or an OpenAI-compatible base URL")] = None,
    prompt: Annotated[str, typer.Option(help="what to send")] = "Hello, how are you?",
) -> None:
    """Send one prompt to one provider and report its reply, first-token time and usage."""
    from langchain_core.messages import HumanMessage

    from app.llm import build_chat_models
    from app.llm.failover import describe_error

    settings = settings_or_exit(**one_provider(provider, model, endpoint))
    try:
        chat = build_chat_models(settings).primary
    except ConfigurationError as exc:
        fail(f"configuration error: {exc}")

    def run() -> None:
        started = time.perf_counter()
        first_token = None
        reply = None
        for chunk in chat.stream([HumanMessage(prompt)]):
            if chunk.content and first_token is None:
                first_token = time.perf_counter() - started
            print(chunk.content, end="", flush=True)
            reply = chunk if reply is None else reply + chunk
        print()
        usage = (reply.usage_metadata if reply is not None else None) or {}
        console.print(
            f"provider: {settings.llm_provider}, model: {settings.llm_model or '(default)'}, "
            f"first token: {first_token if first_token is not None else float('nan'):.2f} s, "
            f"total: {time.perf_counter() - started:.2f} s, "
            f"tokens: {usage.get('input_tokens', '?')} prompt / {usage.get('output_tokens', '?')} completion"
        )

    try:
        run()
    except Exception as exc:  # report the failure's kind and status, never a key or the prompt
        fail(f"{settings.llm_provider} failed: {describe_error(exc)}", code=1)

def rate_limits(
    url: Annotated[str, typer.Option(help="the running service")] = "http://127.0.0.1:8000",
) -> None:
    """The model gate of a running replica: rate, queue, admitted and rejected turns (runbook: check_rate_limits.py)."""
    import httpx

    try:
        body = httpx.get(f"{url.rstrip('/')}/health/ready", timeout=5).json()
    except (httpx.HTTPError, ValueError) as exc:
        fail(f"could not read {url}/health/ready: {type(exc).__name__}", code=1)
    gate = body.get("model_gate") or {}
    rate = gate.get("rate_limit_per_second")
    print(f"rate limit: {f'{rate} requests/s' if rate else 'none (LLM_RATE_LIMIT unset)'}")
    print(f"queue: {gate.get('waiting', 0)} waiting of {gate.get('max_queue', '?')} (LLM_MAX_QUEUE)")
    print(f"admitted: {gate.get('admitted_total', 0)}, rejected with 503: {gate.get('rejected_total', 0)}, "
          f"mean wait: {gate.get('mean_wait_seconds', 0.0)} s")


def usage(
    date: Annotated[str | None, typer.Option(help="one day, YYYY-MM-DD (UTC); default today")] = None,
    days: Annotated[int | None, typer.Option(min=1, max=366, help="the last N days, one line each")] = None,
) -> None:
    """Token usage and estimated cost from the usage ledger (runbook: get_token_usage.py, analyze_token_usage.py)."""
    import datetime as dt

    from app.ledgers.usage import UsageLedger

    settings = settings_or_exit()
    today = dt.datetime.now(dt.UTC).date()
    try:
        last = dt.date.fromisoformat(date) if date else today
    except ValueError:
        fail(f"--date must be YYYY-MM-DD, not {date!r}")
    first = last - dt.timedelta(days=(days or 1) - 1)
    ledger = UsageLedger.from_settings(settings)
    try:
        rows = ledger.report(first.isoformat(), last.isoformat())
        providers = ledger.by_provider(first.isoformat(), last.isoformat())
    finally:
        ledger.close()
    if days:
        print(f"{'Date':<12}{'Total tokens':>14}{'Prompt':>12}{'Completion':>12}{'Calls':>8}{'Cost':>11}")
        for row in rows:
            print(f"{row['date']:<12}{row['total_tokens']:>14,}{row['prompt_tokens']:>12,}"
                  f"{row['completion_tokens']:>12,}{row['calls']:>8,}{'$' + format(row['cost_usd'], ',.2f'):>11}")
    total = {key: sum(row[key] for row in rows)
             for key in ("total_tokens", "prompt_tokens", "completion_tokens", "cost_usd", "calls", "failed_calls")}
    print(f"Date: {last.isoformat()}" if not days else f"Days: {first.isoformat()} to {last.isoformat()}")
    print(f"Total tokens: {total['total_tokens']:,}")
    print(f"Prompt tokens: {total['prompt_tokens']:,}")
    print(f"Completion tokens: {total['completion_tokens']:,}")
    print(f"Estimated cost: ${total['cost_usd']:,.2f}")
    print(f"Model calls: {total['calls']:,} ({total['failed_calls']:,} retried, failed or interrupted)")
    for row in providers:
        print(f"  {row['provider']} / {row['model']}: {row['calls']:,} calls, {row['total_tokens']:,} tokens, "
              f"${row['cost_usd']:,.2f}")


def cost_analysis(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (UTC); default this month")] = None,
) -> None:
    """A month's model cost: by provider, by outcome, the costliest conversations, the month's
    projection and where to save (runbook: cost_analysis.py --month YYYY-MM)."""
    import calendar
    import datetime as dt

    from app.ledgers.usage import UsageLedger

    settings = settings_or_exit()
    today = dt.datetime.now(dt.UTC).date()
    try:
        first = dt.date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
    except ValueError:
        fail(f"--month must be YYYY-MM, not {month!r}")
    days_in_month = calendar.monthrange(first.year, first.month)[1]
    last = first.replace(day=days_in_month)
    ledger = UsageLedger.from_settings(settings)
    try:
        span = (first.isoformat(), last.isoformat())
        days, providers = ledger.report(*span), ledger.by_provider(*span)
        outcomes, costliest = ledger.by_outcome(*span), ledger.top_conversations(*span)
    finally:
        ledger.close()
    cost = sum(d["cost_usd"] for d in days)
    prompt, completion = sum(d["prompt_tokens"] for d in days), sum(d["completion_tokens"] for d in days)
    answered = outcomes.get("answered", {"calls": 0, "cost_usd": 0.0})
    wasted = cost - answered["cost_usd"]
    print(f"Month: {first:%Y-%m} ({len(days)} {'day' if len(days) == 1 else 'days'} with model calls)")
    print(f"Estimated cost: ${cost:,.2f} for {prompt + completion:,} tokens "
          f"({prompt:,} prompt, {completion:,} completion)")
    if answered["calls"]:
        answers = f"{answered['calls']:,} answer{'' if answered['calls'] == 1 else 's'}"
        # Everything spent (retries included) over what users got.
        print(f"Per answer: ${cost / answered['calls']:,.4f} ({answers}, retries and failures included)")
    if first <= today <= last:
        print(f"Projected for the month: ${cost / today.day * days_in_month:,.2f} at this month's daily rate")
    for row in providers:
        print(f"  {row['provider']} / {row['model']}: {row['calls']:,} calls, {row['total_tokens']:,} tokens, "
              f"${row['cost_usd']:,.2f}")
    for outcome, row in sorted(outcomes.items()):
        print(f"  {outcome}: {row['calls']:,} calls, ${row['cost_usd']:,.2f}")
    if costliest:
        print("Costliest conversations:")
        for row in costliest:
            print(f"  {row['conversation_id']}: ${row['cost_usd']:,.4f}, {row['total_tokens']:,} tokens, "
                  f"{row['calls']} calls")
    # Where the money goes, with the knob that bounds it.
    if prompt + completion and prompt / (prompt + completion) > 0.8:
        print(f"Saving: prompts are {prompt / (prompt + completion):.0%} of the tokens; MAX_PASSAGES, "
              f"MAX_HISTORY_MESSAGES and MAX_CONTEXT_LENGTH bound them (chatbot context shows one turn's)")
    if cost and wasted / cost > 0.05:
        print(f"Saving: {wasted / cost:.0%} of the cost went to calls that did not answer (retried, failed, "
              f"interrupted): check provider errors and LLM_MAX_RETRIES")
    if cost and not settings.enable_response_cache:
        print("Saving: ENABLE_RESPONSE_CACHE is off: repeated questions are answered again")


def context(
    conversation_id: Annotated[str, typer.Option(help="the conversation to analyse")],
) -> None:
    """The token breakdown of a conversation's last prompt (runbook: analyze_context_size.py)."""
    from langchain_core.messages import HumanMessage

    from app.chatbot import Chatbot
    from graphs.nodes import plan_prompt

    settings = settings_or_exit()

    async def run() -> None:
        async with Chatbot.open(settings) as bot:
            snapshot = await bot.graph.aget_state({"configurable": {"thread_id": conversation_id}})
            messages = snapshot.values.get("messages", []) if snapshot else []
            if not messages:
                fail(f"no conversation {conversation_id!r}", code=1)
            last_question = max(n for n, m in enumerate(messages) if isinstance(m, HumanMessage))
            # The state as the last turn's model call saw it: up to its question, its passages.
            state = {**snapshot.values, "messages": messages[: last_question + 1]}
            plan = plan_prompt(state, bot.dependencies)
            print(f"Conversation: {conversation_id}")
            print(f"Messages: {len(messages)}")
            print(f"Total tokens: {plan.total_tokens:,} of {plan.window:,} "
                  f"(MAX_CONTEXT_LENGTH {settings.max_context_length:,} less {settings.llm_max_tokens} for the answer)")
            print(f"  System prompt: {plan.system_tokens:,}")
            summary = (f", {plan.history_summarized} summarised in {plan.summary_tokens:,} tokens"
                       if plan.summary_tokens else "")
            print(f"  Conversation history: {plan.history_tokens:,} "
                  f"({plan.history_kept} messages kept, {plan.history_dropped} left out{summary})")
            print(f"  Retrieved context: {plan.context_tokens:,} ({plan.passages} passages)")
            print(f"  Current query: {plan.query_tokens:,}")

    asyncio.run(run())
