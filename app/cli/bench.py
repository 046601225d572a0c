"""`chatbot bench ...`: the runbook's benchmark scripts against the configured index."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import track

from app.cli.common import console, fail, settings_or_exit

bench = typer.Typer(help="Measure the running configuration (JSON on stdout).", no_args_is_help=True)


def read_queries(path: Path) -> list[str]:
    """One query per line (.txt), or JSON lines / a JSON list with a `question` field."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".jsonl", ".json"):
        lines = [line for line in text.splitlines() if line.strip()]
        rows = json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in lines]
        return [r["question"] if isinstance(r, dict) else str(r) for r in rows]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def percentiles(samples: list[float], unit: str = "ms") -> dict[str, float | None]:
    ordered = sorted(samples)

    def pick(q: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else None

    return {f"p50_{unit}": pick(0.5), f"p95_{unit}": pick(0.95), f"p99_{unit}": pick(0.99)}


@bench.command("search")
def search(
    queries: Annotated[Path, typer.Option(help="queries: .txt (one a line) or .jsonl with `question`")],
    iterations: Annotated[int, typer.Option(min=1, max=100_000, help="searches in all")] = 100,
    top_k: Annotated[int, typer.Option(min=1, max=100)] = 5,
) -> None:
    """Hybrid search latency (p50/p95/p99), question embedding included."""
    from app.retrieval import build_vector_store, hybrid_retriever
    from app.retrieval.embeddings import build_embeddings

    settings = settings_or_exit()
    if not queries.is_file():
        fail(f"no such file: {queries}")
    questions = read_queries(queries)
    if not questions:
        fail(f"no queries in {queries}")
    embeddings = build_embeddings(settings.embedding_model)
    store = build_vector_store(settings, embeddings)
    retriever = hybrid_retriever(settings, store, top_k, ThreadPoolExecutor(max_workers=4))  # as the service runs it
    retriever.invoke(questions[0])
    samples = []
    for n in track(range(iterations), description="searching", console=console):
        embeddings.clear_query_cache()  # every search embeds its question
        started = time.perf_counter()
        retriever.invoke(questions[n % len(questions)])
        samples.append((time.perf_counter() - started) * 1000)
    print(json.dumps({"index": store.path.stem, "chunks": store.count(), "queries": len(questions),
                      "iterations": iterations, **percentiles(samples)}))


def _prompts(deps, questions: list[str]) -> list:
    """The prompts the service sends for these questions: retrieval and context budget included."""
    from langchain_core.messages import HumanMessage

    from graphs.nodes import plan_prompt

    plans = []
    for question in questions:
        documents = deps.retriever.invoke(question)
        state = {"messages": [HumanMessage(question)], "route": "knowledge", "documents": documents}
        plans.append(plan_prompt(state, deps))
    return plans


async def _time_calls(models, plans: list, iterations: int) -> dict:
    """Call the model on the plans in turn; first token, whole answer and decode rate per call."""
    first_token, total, decode_rates, prompt_tokens, completion_tokens = [], [], [], [], []
    failures = 0
    for n in track(range(iterations), description=f"asking {models.provider}", console=console):
        plan = plans[n % len(plans)]
        started = time.perf_counter()
        first, reply = None, None
        async for chunk in models.chain.astream(plan.messages):
            if chunk.content and first is None:
                first = time.perf_counter() - started
            reply = chunk if reply is None else reply + chunk
        elapsed = time.perf_counter() - started
        if reply is None or (reply.response_metadata or {}).get("provider") != models.provider:
            failures += 1  # the chain's last resort answered: the provider failed (its log says why)
            continue
        usage = reply.usage_metadata or {}
        out = usage.get("output_tokens") or models.count_tokens(str(reply.content))
        first_token.append((first or elapsed) * 1000)
        total.append(elapsed * 1000)
        prompt_tokens.append(usage.get("input_tokens") or plan.total_tokens)
        completion_tokens.append(out)
        if first is not None and elapsed > first and out > 1:
            decode_rates.append((out - 1) / (elapsed - first))

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 1) if values else None

    return {"provider": models.provider, "model": models.model_name, "iterations": iterations,
            "answered": len(total), "failed": failures, "first_token": percentiles(first_token),
            "total": percentiles(total), "decode_tokens_per_s": mean(decode_rates),
            "mean_prompt_tokens": mean(prompt_tokens), "mean_completion_tokens": mean(completion_tokens)}


@bench.command("llm")
def llm(
    iterations: Annotated[int, typer.Option(min=1, max=10_000, help="model calls in all")] = 50,
    provider: Annotated[str | None, typer.Option(help="local, openai, azure; default LLM_PROVIDER")] = None,
    model: Annotated[str | None, typer.Option(help="the model (default: LLM_MODEL, or the provider's)")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Azure endpoint, or an OpenAI-compatible base URL")] = None,
    queries: Annotated[Path | None, typer.Option(help="questions (.txt or .jsonl); default: the sample set")] = None,
) -> None:
    """Chat model latency on the service's own prompts (runbook: benchmark_llm.py).

    Each question is retrieved and budgeted as a chat turn would be; only the model call is
    timed: first token, whole answer, completion tokens/s. Calls go to one provider (no
    fallbacks, no retries) and are recorded in the usage ledger like any other.
    """
    import asyncio

    from app.cli.llm import one_provider
    from app.llm.failover import describe_error
    from app.services import build_components
    from evals.dataset import load_dataset
    from graphs.context import ChatDependencies

    settings = settings_or_exit(**one_provider(provider, model, endpoint), llm_max_retries=0)
    if queries is not None and not queries.is_file():
        fail(f"no such file: {queries}")
    questions = read_queries(queries) if queries else [e.question for e in load_dataset()]
    if not questions:
        fail(f"no queries in {queries}")
    components = build_components(settings)
    try:
        if components.models.provider == "local":
            components.models.primary.load()
        plans = _prompts(ChatDependencies.from_components(components), questions)
        report = asyncio.run(_time_calls(components.models, plans, iterations))
    except Exception as exc:  # report the failure's kind, never a key or a prompt
        fail(f"{components.models.provider} failed: {describe_error(exc)}", code=1)
    finally:
        components.close()
    print(json.dumps(report))
