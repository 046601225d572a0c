"""The chat models through the whole service: time to first token, tokens/s, and what they answer.

The service runs as its own process; every question of the sample set is asked over
`POST /chat/stream`. Per provider:
- `ttft`: request to first token event; `decode_tokens_per_s`: completion tokens over
  the time from first token to the final event;
- `cited_relevant`: share of answers whose first citation is a relevant document;
- `fact_recall`: mean share of the reference answer's content words found in the answer
  (`chatbot eval answers`' lexical answer correctness);
- `no_answer`: share of answers that say the passages do not answer.
"""

from __future__ import annotations

import json
import time

import httpx
from rich.progress import track

import prompts
from app.words import content_words
from bench.common import console, indexed_data_dir, percentiles, running_service, sample_questions


def _ask(client: httpx.Client, url: str, question: str) -> dict:
    started = time.perf_counter()
    first = None
    name = None
    final = None
    with client.stream("POST", url, json={"message": question}) as response:
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name:
                if name == "token" and first is None:
                    first = time.perf_counter()
                if name == "final":
                    final = json.loads(line[5:])
    done = time.perf_counter()
    return {"final": final, "ttft_ms": ((first or done) - started) * 1000, "decode_s": done - (first or done)}


def _measure(provider: str, data_dir, questions: list[dict]) -> dict:
    env = {"DATA_DIR": str(data_dir), "LLM_PROVIDER": provider}
    with running_service("app.main:app", env) as base, httpx.Client(timeout=300) as client:
        _ask(client, f"{base}/chat/stream", "warm up: what is a canary release?")
        results = [
            (item, _ask(client, f"{base}/chat/stream", item["question"]))
            for item in track(questions, description=f"answers ({provider})", console=console)
        ]

    no_answer = prompts.load("no_answer")
    ttft, rates, cited, recall, empty = [], [], 0, [], 0
    examples = []
    for item, result in results:
        final = result["final"]
        ttft.append(result["ttft_ms"])
        tokens = final["usage"].get("output_tokens", 0)
        if result["decode_s"] > 0 and tokens > 1:
            rates.append(tokens / result["decode_s"])
        sources = [s["document_id"] for s in final["sources"]]
        cited += bool(sources and sources[0] in item["relevant_doc_ids"])
        reference = content_words(item["reference_answer"])
        recall.append(len(reference & content_words(final["answer"])) / max(1, len(reference)))
        empty += final["answer"].startswith(no_answer)
        if len(examples) < 5:
            examples.append({"question": item["question"], "answer": final["answer"], "reference": item["reference_answer"]})
    n = len(results)
    return {
        "questions": n,
        "ttft": percentiles(ttft),
        "decode_tokens_per_s": round(sum(rates) / len(rates), 1) if rates else None,
        "cited_relevant": round(cited / n, 3),
        "fact_recall": round(sum(recall) / n, 3),
        "no_answer": round(empty / n, 3),
        "examples": examples,
    }


def run(limit: int | None = None) -> dict:
    questions = sample_questions()[:limit]
    data_dir = indexed_data_dir()
    return {provider: _measure(provider, data_dir, questions) for provider in ("local", "extractive")}
