"""`python -m bench [name ...]`: run the benchmarks one after another, print JSON.

Benchmarks run sequentially on purpose: on 2 cores, anything measured beside another
load measures the contention.
"""

from __future__ import annotations

import json
import os
import platform
import sys

os.environ.setdefault("LANGSMITH_TRACING", "false")

from bench import (  # noqa: E402
    answers,
    chat_page,
    gateway_overhead,
    guardrails,
    ingestion,
    memory,
    python_docs,
    queue,
    routing,
    scale,
    search,
    throughput,
)

BENCHMARKS = {
    "gateway": gateway_overhead.run,
    "chat_page": chat_page.run,
    "search": search.run,
    "ingestion": ingestion.run,
    "scale": scale.run,
    "answers": answers.run,
    "memory": memory.run,
    "queue": queue.run,
    "routing": routing.run,
    "guardrails": guardrails.run,
    "python_docs": python_docs.run,
    "throughput": throughput.run,
}


def main(names: list[str]) -> None:
    unknown = set(names) - BENCHMARKS.keys()
    if unknown:
        sys.exit(f"unknown benchmark(s) {sorted(unknown)}; choose from {sorted(BENCHMARKS)}")
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    for name in names or list(BENCHMARKS):
        results[name] = BENCHMARKS[name]()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
