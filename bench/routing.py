"""Routing accuracy on `evals/datasets/routing.jsonl`, as the local model's service routes.

Knowledge questions, tool requests (with their arguments) and small talk through the
graph's `route` node: embedding similarity to examples, then each tool's argument
extraction. Also the time a routing decision takes.
"""

from __future__ import annotations

import asyncio
import time

from bench.common import indexed_data_dir


def run() -> dict:
    from app.services import build_components
    from app.settings import load_settings
    from evals.routing import evaluate_routing
    from graphs.context import ChatDependencies

    deps = ChatDependencies.from_components(build_components(load_settings(data_dir=indexed_data_dir(),
                                                                           llm_provider="local")))
    started = time.perf_counter()
    report = asyncio.run(evaluate_routing(deps))
    report["mean_decision_ms"] = round((time.perf_counter() - started) * 1000 / report["cases"], 2)
    return report
