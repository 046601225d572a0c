"""The product's two new doors: the OpenAI-compatible API and the chat page.

- `openai_first_token`: request to first streamed token through `POST /v1/chat/completions`
  (`stream: true`) against `POST /chat/stream`, on the same service (instant chat model,
  real routing and hybrid retrieval: bench/gateway_overhead.py's `real_retrieval`), the two
  requests alternating so that both see the same machine. Target: p50 ratio <= 1.05.
  `with_history` sends a 4-message conversation (two user messages to guard, one assistant
  message) instead of one question.
- `page`: the chat page's first load in headless Chromium (Playwright): bytes transferred
  (document and every file it loads) and time to interactive (navigation start until the
  page has asked who it speaks as and listed the conversations), over fresh browser contexts.
"""

from __future__ import annotations

import json
import shutil
import time

import httpx
from rich.progress import track

from bench.common import console, indexed_data_dir, percentiles, running_service

REQUESTS = 150
WARMUP = 10
PAGE_LOADS = 20
HISTORY = [{"role": "user", "content": "What is the RPO for conversations?"},
           {"role": "assistant", "content": "Five minutes [1]."}]


def _chat_first_token_ms(client: httpx.Client, n: int) -> float:
    started = time.perf_counter()
    with client.stream("POST", "/chat/stream", json={"message": f"How do I deploy a model? ({n})"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("event: token"):
                return (time.perf_counter() - started) * 1000
    raise RuntimeError("the stream ended without a token")


def _openai_first_token_ms(client: httpx.Client, n: int, history: list[dict] | None = None) -> float:
    body = {"model": "chatbot-rag", "stream": True,
            "messages": [*(history or []), {"role": "user", "content": f"How do I deploy a model? ({n})"}]}
    started = time.perf_counter()
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                return (time.perf_counter() - started) * 1000
    raise RuntimeError("the stream ended without content")


def _first_tokens(base: str) -> dict:
    chat, openai, history = [], [], []
    with httpx.Client(base_url=base, timeout=30) as client:
        for n in range(WARMUP):
            _chat_first_token_ms(client, n)
            _openai_first_token_ms(client, n)
        for n in track(range(REQUESTS), description="/chat/stream vs /v1/chat/completions", console=console):
            chat.append(_chat_first_token_ms(client, n))
            openai.append(_openai_first_token_ms(client, n))
            history.append(_openai_first_token_ms(client, n, HISTORY))
    chat_p, openai_p, history_p = percentiles(chat), percentiles(openai), percentiles(history)
    return {"requests": REQUESTS, "chat_stream": chat_p, "openai": openai_p, "openai_with_history": history_p,
            "p50_ratio": round(openai_p["p50_ms"] / chat_p["p50_ms"], 3),
            "p95_ratio": round(openai_p["p95_ms"] / chat_p["p95_ms"], 3),
            "with_history_p50_ratio": round(history_p["p50_ms"] / chat_p["p50_ms"], 3),
            "target_p50_ratio": 1.05}


PAGE_READY = "#conversations[aria-busy=false]"  # asked /me and listed the conversations
LOAD_FACTS = """() => {
    const navigation = performance.getEntriesByType('navigation')[0];
    const files = performance.getEntriesByType('resource');
    return {bytes: navigation.transferSize + files.reduce((sum, f) => sum + f.transferSize, 0),
            files: files.length + 1, interactive_ms: performance.now()};
}"""


def _page_loads(base: str) -> dict:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise RuntimeError("the page benchmark needs Chromium: apt-get install chromium")
    loads = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        for _ in track(range(PAGE_LOADS), description="chat page first loads", console=console):
            context = browser.new_context()  # a first visit: nothing cached
            page = context.new_page()
            page.goto(f"{base}/")
            page.wait_for_selector(PAGE_READY, state="attached")
            loads.append(page.evaluate(LOAD_FACTS))
            context.close()
        browser.close()
    interactive = percentiles([load["interactive_ms"] for load in loads])
    return {"loads": PAGE_LOADS, "bytes_transferred": max(load["bytes"] for load in loads),
            "files": loads[0]["files"], "time_to_interactive": interactive}


def run() -> dict:
    data_dir = indexed_data_dir()
    env = {"BENCH_PARTS": "real_retrieval", "DATA_DIR": str(data_dir), "LLM_PROVIDER": "extractive",
           "RATE_LIMIT_PER_MINUTE": "100000", "LOG_FILE": str(data_dir / "chatbot.log")}
    with running_service("bench.gateway_overhead:create_bench_app", env, factory=True) as base:
        return {"openai_first_token": _first_tokens(base), "page": _page_loads(base)}
