"""Gateway overhead: request to first streamed token, with an instant model.

The service runs as its own process (uvicorn), the client sends 200 sequential
`POST /chat/stream` requests over loopback and times the first `token` event. Two
set-ups separate the costs:
- `instant_parts`: instant chat model, fixed retrieval and routing: what the gateway,
  the graph and the checkpointer add by themselves (target p95 < 15 ms);
- `real_retrieval`: instant chat model, real routing and hybrid retrieval: everything a
  turn costs before the model's first token.
- `hardening_off` / `hardening_on`: the real-retrieval set-up without and with the gateway's
  hardening: an API key checked on every request (with its per-key limits), the input and
  output guardrails, and the request metrics and JSON log line.
"""

from __future__ import annotations

import itertools
import os
import time

import httpx
from langchain_core.documents import Document
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever
from rich.progress import track

from bench.common import console, indexed_data_dir, percentiles, running_service

REQUESTS = 200
WARMUP = 10


class FixedRetriever(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        meta = {"document_id": "bench", "title": "Bench", "section": "", "score": 1.0}
        return [Document(page_content="Fixed passage for the benchmark.", metadata=meta)]

    async def _aget_relevant_documents(self, query: str, *, run_manager=None) -> list[Document]:
        return self._get_relevant_documents(query)  # instant: no worker thread


class FixedRouter:
    def decide(self, message: str):
        from graphs.routing import RouteDecision

        return RouteDecision("knowledge", None, 1.0)


def instant_model() -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.repeat(AIMessage(content="An instant answer from the bench [1].")))


def create_bench_app():
    """App factory for uvicorn: the real app with the parts named by BENCH_PARTS swapped."""
    from dataclasses import replace
    from functools import partial

    from app.chatbot import Chatbot
    from app.gateway.factory import create_app

    parts = os.environ["BENCH_PARTS"]

    def swap(deps):
        deps = replace(deps, chat_model=instant_model())
        if parts == "instant_parts":
            deps = replace(deps, retriever=FixedRetriever(), router=FixedRouter())
        if parts == "hardening_off":
            deps = replace(deps, guard=None)
        return deps

    app = create_app(chatbot_factory=partial(Chatbot.open, customize=swap))
    if parts == "hardening_off":  # no key check, no request metrics or log lines
        from starlette.middleware import Middleware

        from app.gateway.authentication import Authenticate
        from app.gateway.request_log import ObserveRequests

        app.user_middleware = [Middleware(LocalCaller) if m.cls is Authenticate else m
                               for m in app.user_middleware if m.cls is not ObserveRequests]
    return app


class LocalCaller:
    """What the routes need from authentication, without it: every caller is the local owner."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        from app.access.keys import LOCAL_PRINCIPAL

        if scope["type"] in ("http", "websocket"):
            scope.setdefault("state", {})["principal"] = LOCAL_PRINCIPAL
        await self.app(scope, receive, send)


def _first_token_ms(client: httpx.Client, url: str, n: int) -> float:
    started = time.perf_counter()
    with client.stream("POST", url, json={"message": f"How do I deploy a model? ({n})"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("event: token"):
                return (time.perf_counter() - started) * 1000
    raise RuntimeError("the stream ended without a token")


def _measure(parts: str, data_dir, headers: dict[str, str] | None = None) -> dict:
    env = {"BENCH_PARTS": parts, "DATA_DIR": str(data_dir), "LLM_PROVIDER": "extractive",
           "RATE_LIMIT_PER_MINUTE": "100000", "LOG_FILE": str(data_dir / "chatbot.log")}
    with running_service("bench.gateway_overhead:create_bench_app", env, factory=True) as base, \
            httpx.Client(timeout=30, headers=headers or {}) as client:
        url = f"{base}/chat/stream"
        for n in range(WARMUP):
            _first_token_ms(client, url, n)
        samples = [_first_token_ms(client, url, n) for n in track(range(REQUESTS), description=parts, console=console)]
    return percentiles(samples)


def run() -> dict:
    import shutil

    from app.access.keys import KeyStore
    from app.settings import Settings

    data_dir = indexed_data_dir()
    results = {
        "requests": REQUESTS,
        "instant_parts_ttft": _measure("instant_parts", data_dir),
        "real_retrieval_ttft": _measure("real_retrieval", data_dir),
        "target_p95_ms": 15,
    }
    open_dir = data_dir.with_name(data_dir.name + "-open")  # no key in it: local-only mode
    shutil.copytree(data_dir, open_dir)
    off = _measure("hardening_off", open_dir)
    store = KeyStore(Settings(data_dir=data_dir).ledger_url)
    key = store.create("bench", ["chat"])
    store.close()
    on = _measure("hardening_on", data_dir, {"Authorization": f"Bearer {key}"})
    shutil.rmtree(open_dir, ignore_errors=True)
    results["hardening"] = {"off": off, "on": on, "p50_ratio": round(on["p50_ms"] / off["p50_ms"], 3),
                            "p95_ratio": round(on["p95_ms"] / off["p95_ms"], 3),
                            "p95_added_ms": round(on["p95_ms"] - off["p95_ms"], 2)}
    return results
