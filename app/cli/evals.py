"""`chatbot eval ...`: evaluation datasets and runs (runbook: evaluate_search.py)."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import track

from app.cli.common import console, fail, settings_or_exit

evaluation = typer.Typer(help="Measure retrieval and answer quality.", no_args_is_help=True)
RESULTS_DIR = Path("evals/results")


class Corpus(StrEnum):
    python_docs = "python-docs"


@evaluation.command("prepare")
def prepare(
    corpus: Annotated[Corpus, typer.Argument(help="python-docs: the Python FAQ of Debian's python3.11-doc")],
    output: Annotated[Path, typer.Option(help="where to write the dataset")] = Path(
        "evals/datasets/python_docs.jsonl"),
    sources: Annotated[Path | None, typer.Option(help="the reST sources (default: the installed package)")] = None,
    corpus_dir: Annotated[Path, typer.Option(help="where to link the pages to index")] = Path(
        "data/corpora/python-docs"),
) -> None:
    """Build an external dataset from an installed package, the same way every time."""
    from evals import python_docs

    root = sources or python_docs.SOURCES
    if not (root / "faq").is_dir():
        fail(f"no Python documentation sources at {root}: apt-get install python3.11-doc", code=1)
    items = python_docs.build(root)
    python_docs.write(items, output)
    corpus = python_docs.link_corpus(root, corpus_dir)
    pages = len({d for item in items for d in item["relevant_doc_ids"]})
    print(f"{len(items)} questions from the Python FAQ, labelled with {pages} pages, written to {output}")
    print(f"corpus: {corpus} pages (every page but the FAQ) linked under {corpus_dir}")
    console.print(f"index and search it: chatbot index --source {corpus_dir} --index python-docs; "
                  f"chatbot eval search --test-queries {output} --index python-docs")


def _load_queries(path: Path) -> list[dict]:
    """JSONL (or a JSON list) of {question, relevant_doc_ids[, reference_answer]}."""
    text = path.read_text(encoding="utf-8")
    rows = json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines() if
                                                           line.strip()]
    if not rows or not all("question" in r and r.get("relevant_doc_ids") for r in rows):
        raise ValueError("each query needs `question` and a non-empty `relevant_doc_ids`")
    return rows


@evaluation.command("search")
def search(
    test_queries: Annotated[Path, typer.Option(help="JSONL with question and relevant_doc_ids")],
    top_k: Annotated[int, typer.Option(min=1, max=50, help="passages retrieved per question")] = 10,
    passages: Annotated[int, typer.Option(min=1, max=20, help="how many the model reads (for relevance)")] = 4,
    index: Annotated[str | None, typer.Option(help="the index (default VECTOR_STORE_INDEX)")] = None,
) -> None:
    """Retrieval quality on an embedded index: relevance, top-1/top-5 accuracy, MRR, nDCG@10
    (runbook: evaluate_search.py); JSON under evals/results/."""
    from app.embeddings import build_embeddings
    from app.retrieval import HybridRetriever, build_vector_store
    from evals.retrieval import evaluate_retrieval

    settings = settings_or_exit(vector_store_index=index)
    if not test_queries.is_file():
        fail(f"no such file: {test_queries}")
    try:
        queries = _load_queries(test_queries)
    except (ValueError, KeyError) as exc:
        fail(f"{test_queries}: {exc}")
    store = build_vector_store(settings, build_embeddings(settings.embedding_model))
    if not hasattr(store, "embed_texts"):
        fail("chatbot eval search measures the embedded index (VECTOR_STORE=embedded)")
    retriever = HybridRetriever(store=store, k=top_k, rrf_k=settings.rrf_k)
    report = evaluate_retrieval(store, retriever, queries, passages=passages,
                                progress=lambda items: track(items, description="searching", console=console))
    summary = report["hybrid"]
    print(f"Average relevance score: {summary['context_relevance']:.2f}")
    print(f"Top-1 accuracy: {summary['hit@1']:.0%}")
    print(f"Top-5 accuracy: {summary['hit@5']:.0%}")
    print(f"MRR: {summary['mrr']:.3f}; nDCG@10: {summary['ndcg@10']:.3f} ({len(queries)} questions)")
    worst = sorted(report["per_question"], key=lambda q: (q["mrr"], q["context_relevance"]))[:10]
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result = {"kind": "search", "at": at, "dataset": str(test_queries), "index": store.path.stem, "top_k": top_k,
              "passages": passages, "questions": len(queries), "summary": summary, "worst": worst}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"search-{at.replace(':', '')}.json"
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    console.print(f"results: {path}")
