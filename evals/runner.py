"""The evaluation runner: LangSmith's `evaluate` over the service's own graph.

Offline by default: with no LANGSMITH_API_KEY, results are not uploaded, tracing is off
and the client points at a closed local port, so an evaluation makes no network call
and needs no key. With a key, the dataset is created (or reused) in LangSmith under
`chatbot-<name>-<content hash>` and the experiment is uploaded there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import sys
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph
from langsmith import Client, aevaluate, tracing_context
from langsmith.schemas import Example, LangSmithInfo

from app.access.keys import LOCAL_PRINCIPAL
from app.services import Components
from evals.dataset import EvalExample
from graphs.builder import build_graph
from graphs.context import ChatDependencies, RunContext
from graphs.state import STATE_KEYS

# Example ids are stable (derived from the item id), so runs compare item by item.
_NAMESPACE = uuid.UUID("5b0f6d1e-8f7c-4a5e-9d43-2f1c7e0a9b11")
_OFFLINE_API_URL = "http://127.0.0.1:9"  # the discard port: nothing listens, nothing leaves


def uploading() -> bool:
    return bool(os.environ.get("LANGSMITH_API_KEY"))


def offline_client() -> Client:
    """A client that sends nothing: no run sampled, server info given, a closed port if anything tried."""
    return Client(api_key="offline", api_url=_OFFLINE_API_URL, tracing_sampling_rate=0.0,
                  info=LangSmithInfo(), auto_batch_tracing=False)


def examples_of(items: Sequence[EvalExample], dataset_id: uuid.UUID | None = None) -> list[Example]:
    return [
        Example(id=uuid.uuid5(_NAMESPACE, item.id), dataset_id=dataset_id or _NAMESPACE,
                inputs={"question": item.question},
                outputs={"reference_answer": item.reference_answer, "relevant_doc_ids": list(item.relevant_doc_ids)},
                metadata={"item_id": item.id})
        for item in items
    ]


def _uploaded_dataset(client: Client, name: str, items: Sequence[EvalExample]) -> list[Example]:
    """The items as examples of a LangSmith dataset named by its content (a changed file, or
    another --limit, is another dataset); examples missing there (an earlier upload that
    failed half-way) are added under their stable ids."""
    digest = hashlib.sha256(json.dumps([dataclasses.astuple(i) for i in items]).encode()).hexdigest()[:8]
    dataset_name = f"chatbot-{name}-{digest}"
    if client.has_dataset(dataset_name=dataset_name):
        dataset = client.read_dataset(dataset_name=dataset_name)
    else:
        dataset = client.create_dataset(dataset_name, description=f"evals/datasets/{name}.jsonl")
    wanted = examples_of(items, dataset.id)
    present = {e.id for e in client.list_examples(dataset_id=dataset.id)}
    missing = [e for e in wanted if e.id not in present]
    if missing:
        client.create_examples(dataset_id=dataset.id, examples=[
            {"id": e.id, "inputs": e.inputs, "reference_outputs": e.outputs, "metadata": e.metadata}
            for e in missing])
    return list(client.list_examples(dataset_id=dataset.id, example_ids=[e.id for e in wanted]))


def graph_target(graph) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    """The service's graph as an evaluation target: one new conversation per question.

    Its outputs: the answer, the passages the model read (text), the documents it cited
    and retrieved, the route and provider, and the turn's time.
    """

    async def answer(inputs: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        # The evaluation runs in-process as the local operator: every tool.
        conversation = f"eval-{uuid.uuid4().hex}"
        context = RunContext(owner=LOCAL_PRINCIPAL.owner, scopes=LOCAL_PRINCIPAL.scopes, conversation_id=conversation)
        state = await graph.ainvoke({"messages": [("user", inputs["question"])]},
                                    {"configurable": {"thread_id": conversation}}, context=context,
                                    output_keys=list(STATE_KEYS))
        documents = state.get("documents", [])
        read = documents[: state.get("passages_shown", 0)]
        return {
            "answer": state.get("answer", ""),
            "passages": [d.page_content for d in read],
            "cited": [s["document_id"] for s in state.get("sources", [])],
            "retrieved": [d.metadata.get("document_id") for d in documents],
            "route": state.get("route"),
            "provider": state.get("provider"),
            "seconds": round(time.perf_counter() - started, 3),
        }

    return answer


def compile_graph(components: Components) -> CompiledStateGraph:
    """The service's graph on its components, with conversations kept in memory (an evaluation
    writes no history)."""
    return build_graph(ChatDependencies.from_components(components), InMemorySaver())


async def run_experiment(target, items: Sequence[EvalExample], evaluators: list, *, dataset: str,
                         experiment_prefix: str, metadata: dict[str, Any] | None = None,
                         progress: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Run the target on every item and score it; one row per item: inputs, outputs, scores."""
    upload = uploading()

    async def counted(inputs: dict[str, Any]) -> dict[str, Any]:
        try:
            with tracing_context(enabled=upload):  # `evaluate` traces its target unless told here
                return await target(inputs)
        finally:
            if progress is not None:
                progress()

    client = Client() if upload else offline_client()
    data = _uploaded_dataset(client, dataset, items) if upload else examples_of(items)
    # LangSmith prints to stdout (the experiment's URL when uploading) and draws a tqdm bar:
    # the caller's output and progress stay its own.
    os.environ.setdefault("TQDM_DISABLE", "1")
    printed = contextlib.redirect_stdout(sys.stderr if upload else io.StringIO())
    with tracing_context(enabled=upload), printed, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*'upload_results' parameter is in beta")
        results = await aevaluate(counted, data=data, evaluators=evaluators, experiment_prefix=experiment_prefix,
                                  metadata=metadata or {}, max_concurrency=1, client=client,
                                  upload_results=upload, disable_evaluator_tracing=not upload)
        rows = [row async for row in results]
    out = []
    for row in rows:
        example = row["example"]
        scores = {r.key: r.score for r in row["evaluation_results"]["results"]}
        comments = {r.key: r.comment for r in row["evaluation_results"]["results"] if r.comment}
        methods = {r.key: (r.evaluator_info or {}).get("method") for r in row["evaluation_results"]["results"]}
        out.append({"id": (example.metadata or {}).get("item_id"), "question": example.inputs["question"],
                    "outputs": row["run"].outputs or {}, "reference": example.outputs,
                    "scores": scores, "comments": comments, "methods": methods,
                    "error": str(row["run"].error) if row["run"].error else None})
    return out
