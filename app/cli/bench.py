"""`chatbot bench ...`: the runbook's benchmark scripts against the configured index."""

from __future__ import annotations

import json
import time
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


@bench.command("search")
def search(
    queries: Annotated[Path, typer.Option(help="queries: .txt (one a line) or .jsonl with `question`")],
    iterations: Annotated[int, typer.Option(min=1, max=100_000, help="searches in all")] = 100,
    top_k: Annotated[int, typer.Option(min=1, max=100)] = 5,
) -> None:
    """Hybrid search latency (p50/p95/p99), question embedding included."""
    from app.embeddings import MiniLMEmbeddings, build_embeddings
    from app.retrieval import HybridRetriever, build_vector_store

    settings = settings_or_exit()
    if not queries.is_file():
        fail(f"no such file: {queries}")
    questions = read_queries(queries)
    if not questions:
        fail(f"no queries in {queries}")
    store = build_vector_store(settings, build_embeddings(settings.embedding_model))
    retriever = HybridRetriever(store=store, k=top_k, rrf_k=settings.rrf_k)
    retriever.invoke(questions[0])
    samples = []
    for n in track(range(iterations), description="searching", console=console):
        MiniLMEmbeddings._cached_query.cache_clear()  # every search embeds its question
        started = time.perf_counter()
        retriever.invoke(questions[n % len(questions)])
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()

    def pick(q: float) -> float:
        return round(samples[min(len(samples) - 1, int(q * len(samples)))], 2)

    print(json.dumps({"index": store.path.stem, "chunks": store.count(), "queries": len(questions),
                      "iterations": iterations, "p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}))
