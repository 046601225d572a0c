"""Shared pieces of the benchmarks: percentiles, the sample questions, a scratch index."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE_BASE = ROOT / "data" / "knowledge_base"
console = Console(stderr=True)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50_ms": pick(0.50),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "mean_ms": round(statistics.fmean(ordered), 2),
    }


def sample_questions() -> list[dict]:
    from dataclasses import asdict

    from evals.dataset import load_dataset

    return [asdict(e) for e in load_dataset("sample_kb")]


def indexed_data_dir() -> Path:
    """A scratch DATA_DIR with the sample knowledge base indexed (deleted at exit)."""
    import atexit

    from app.ingestion import index_directory
    from app.ingestion.knowledge_graph import KnowledgeGraph, graph_path
    from app.retrieval import build_vector_store
    from app.retrieval.embeddings import MiniLMEmbeddings
    from app.settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="chatbot-bench-"))
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    store = build_vector_store(Settings(data_dir=data_dir), MiniLMEmbeddings())
    index_directory(store, KNOWLEDGE_BASE)
    store.close()
    graph = KnowledgeGraph(graph_path(data_dir))
    graph.sync_directory(KNOWLEDGE_BASE)
    graph.close()
    return data_dir


@contextmanager
def running_service(app: str, env: dict[str, str], *, factory: bool = False, startup_seconds: float = 120):
    """The service as its own uvicorn process on a free loopback port; yields its base URL."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [sys.executable, "-m", "uvicorn", app, *(["--factory"] if factory else []),
            "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start")
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(20)
