"""The runbook's operational checks: `profile` (profile_request.py), `health` (daily_health_check.py),
`check-latency` (check_latency.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.common import console, fail, settings_or_exit

SLO_TTFT_SECONDS = 0.5  # runbook: streaming latency (time to first token) < 500 ms
SLO_RESPONSE_SECONDS = 3.0  # runbook: response latency p95 < 3 s
MAX_ERROR_RATE = 0.05


def profile(query: Annotated[str, typer.Option(help="the question to answer")]) -> None:
    """One turn in-process, with the time of each part (runbook: profile_request.py)."""
    from app.chat.events import ErrorEvent, FinalEvent, TokenEvent
    from app.chatbot import Chatbot
    from app.observability.timing import turn_timings

    settings = settings_or_exit()

    async def run() -> tuple[float, float | None, dict[str, float], str]:
        async with Chatbot.open(settings) as bot:  # in-process: the local operator
            parts: dict[str, float] = {}
            token = turn_timings.set(parts)
            started = time.perf_counter()
            first_token = None
            route = "?"
            try:
                async for event in bot.stream(query):
                    if isinstance(event, TokenEvent) and first_token is None:
                        first_token = time.perf_counter() - started
                    elif isinstance(event, FinalEvent):
                        route = event.route
                    elif isinstance(event, ErrorEvent):
                        fail(f"the turn failed: {event.error.message}", code=1)
            finally:
                turn_timings.reset(token)
            return time.perf_counter() - started, first_token, parts, route

    total, first_token, parts, route = asyncio.run(run())
    known = {"Vector search": parts.get("vector_search", 0.0), "LLM generation": parts.get("llm_generation", 0.0),
             "Tool execution": parts.get("tool_execution", 0.0)}
    print(f"Total time: {total:.3f}s (route: {route}; first token after {first_token or total:.3f}s)")
    for name, seconds in known.items():
        print(f"  {name}: {seconds:.3f}s")
    print(f"  Other: {max(0.0, total - sum(known.values())):.3f}s")


def _get(url: str, api_key: str | None) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.get(url, headers=headers, timeout=5)


def _histogram_quantile(text: str, name: str, q: float, **labels: str) -> tuple[float | None, int]:
    """The upper bound of the bucket holding quantile `q` (summed over matching series), and the count."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket" and all(sample.labels.get(k) == v for k, v in labels.items()):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    if not buckets or not (total := buckets.get(float("inf"), 0.0)):
        return None, 0
    bound = next(b for b in sorted(buckets) if buckets[b] >= q * total)
    return bound, int(total)


def _log_errors(log_file: Path | None, since: float) -> tuple[int, int, int]:
    """(request lines, 5xx request lines, ERROR lines) of the JSON log since a time."""
    requests = failed = errors = 0
    if log_file is None or not log_file.is_file():
        return 0, 0, 0
    with log_file.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                record = json.loads(line)
                at = dt.datetime.strptime(record["time"][:19], "%Y-%m-%d %H:%M:%S").timestamp()
            except (ValueError, KeyError):
                continue
            if at < since:
                continue
            errors += record.get("level") == "ERROR"
            if record.get("logger") == "chatbot.request":
                requests += 1
                failed += int(record.get("status", 0)) >= 500
    return requests, failed, errors


def _details(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if k != "status")


def _print_readiness(ready: dict[str, Any]) -> list[str]:
    """Print /health/ready's components (with their details when the key is an admin's); the problems."""
    problems = []
    components = {name: c if isinstance(c, dict) else {"status": c}
                  for name, c in (ready.get("components") or {}).items()}
    print(f"Service: {ready.get('status', '?')}")
    for name, component in components.items():
        state, details = component.get("status", "?"), _details(component)
        print(f"  {name}: {state}" + (f" ({details})" if details else ""))
        if state == "down":
            problems.append(f"{name} is down")
    for extra in ("fallback_search", "model_gate"):
        if isinstance(ready.get(extra), dict):
            print(f"  {extra}: {_details(ready[extra])}")
    # The service shows details to the admin scope only (an admin key, or the local owner).
    if components and not any(set(c) - {"status"} for c in components.values()):
        print("  (status only: details need an admin key, --api-key or $CHATBOT_API_KEY)")
    return problems


def health(
    url: Annotated[str, typer.Option(help="the running service")] = "http://127.0.0.1:8000",
    api_key: Annotated[str | None, typer.Option(help="an admin key (default: $CHATBOT_API_KEY)")] = None,
    hours: Annotated[float, typer.Option(min=0.1, help="how far back to read the log")] = 24,
) -> None:
    """Daily health check: dependencies, errors in the log, latency p95, tokens today (runbook:
    daily_health_check.py). Exits 1 when something is wrong."""
    from app.ledgers.usage import UsageLedger

    settings = settings_or_exit()
    api_key = api_key or os.environ.get("CHATBOT_API_KEY")
    problems: list[str] = []
    try:
        ready = _get(f"{url.rstrip('/')}/health/ready", api_key).json()
    except Exception as exc:
        fail(f"the service at {url} does not answer: {type(exc).__name__}", code=1)
    problems += _print_readiness(ready)

    requests, failed, errors = _log_errors(settings.log_file, time.time() - hours * 3600)
    rate = failed / requests if requests else 0.0
    print(f"Log ({hours:g} h): {requests:,} requests, {failed:,} failed (5xx, {rate:.1%}), {errors:,} ERROR lines")
    if rate > MAX_ERROR_RATE:
        problems.append(f"error rate {rate:.1%} > {MAX_ERROR_RATE:.0%}")

    response = _get(f"{url.rstrip('/')}/metrics", api_key)
    if response.status_code != 200:
        problems.append(f"/metrics answered {response.status_code} (an admin key is needed when keys are set)")
    else:
        ttft, turns = _histogram_quantile(response.text, "chatbot_time_to_first_token_seconds", 0.95)
        search, _ = _histogram_quantile(response.text, "chatbot_vector_search_duration_seconds", 0.95)
        print(f"Time to first token p95 (since start, {turns:,} turns): "
              f"{'-' if ttft is None else f'<= {ttft:g} s'} (SLO {SLO_TTFT_SECONDS:g} s)")
        print(f"Vector search p95: {'-' if search is None else f'<= {search:g} s'} (SLO 0.1 s)")
        if ttft is not None and ttft > SLO_TTFT_SECONDS:
            problems.append(f"time to first token p95 <= {ttft:g} s is over the {SLO_TTFT_SECONDS:g} s SLO")

    ledger = UsageLedger.from_settings(settings)
    try:
        today = dt.datetime.now(dt.UTC).date().isoformat()
        rows = ledger.report(today, today)
    finally:
        ledger.close()
    tokens = sum(r["total_tokens"] for r in rows)
    print(f"Tokens today: {tokens:,} (${sum(r['cost_usd'] for r in rows):,.2f})")
    for problem in problems:
        console.print(f"[red]PROBLEM[/red] {problem}")
    if problems:
        raise typer.Exit(1)
    print("OK")


def check_latency(
    threshold: Annotated[float, typer.Option(help="milliseconds (runbook: 3000)")] = 3000,
    url: Annotated[str, typer.Option(help="the running service")] = "http://127.0.0.1:8000",
    api_key: Annotated[str | None, typer.Option(help="an admin key (default: $CHATBOT_API_KEY)")] = None,
) -> None:
    """Response latency p95 (time to first token) against a threshold (runbook: check_latency.py); exit 1 over it."""
    response = _get(f"{url.rstrip('/')}/metrics", api_key or os.environ.get("CHATBOT_API_KEY"))
    if response.status_code != 200:
        fail(f"/metrics answered {response.status_code}", code=1)
    p95, turns = _histogram_quantile(response.text, "chatbot_time_to_first_token_seconds", 0.95)
    if p95 is None:
        print("no turns measured yet")
        return
    print(f"time to first token p95 <= {p95 * 1000:g} ms over {turns:,} turns (threshold {threshold:g} ms)")
    if p95 * 1000 > threshold:
        raise typer.Exit(1)
