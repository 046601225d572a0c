"""`chatbot eval ...`: datasets, runs, tuning and the report (runbook: evaluate_search.py,
tune_search_params.py, quality_report.py). Results are JSON under `evals/results/`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, track

from app.cli.common import console, fail, settings_or_exit
from evals.results import write_result

evaluation = typer.Typer(help="Measure retrieval and answer quality.", no_args_is_help=True)


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


def _modes(text: str) -> list[str]:
    from evals.retrieval import MODES

    modes = [m.strip() for m in text.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        fail(f"--modes takes some of {','.join(MODES)}")
    return modes


def _print_search(report: dict, modes: list[str], questions: int, passages: int) -> None:
    if "hybrid" in modes:
        summary = report["hybrid"]
        print(f"Average relevance score: {summary['context_relevance']:.2f}")
        print(f"Top-1 accuracy: {summary['hit@1']:.0%}")
        print(f"Top-5 accuracy: {summary['hit@5']:.0%}")
        print(f"MRR: {summary['mrr']:.3f}; nDCG@10: {summary['ndcg@10']:.3f}; context similarity: "
              f"{summary['context_similarity']:.2f} ({questions} questions, {passages} passages read)")
    for mode in (m for m in modes if m != "hybrid"):
        summary = report[mode]
        print(f"{mode}: top-1 {summary['hit@1']:.0%}, top-5 {summary['hit@5']:.0%}, MRR {summary['mrr']:.3f}, "
              f"nDCG@10 {summary['ndcg@10']:.3f}")


@evaluation.command("search")
def search(
    test_queries: Annotated[Path, typer.Option(help="JSONL with question and relevant_doc_ids")],
    top_k: Annotated[int, typer.Option(min=1, max=50, help="passages retrieved per question")] = 10,
    passages: Annotated[int | None, typer.Option(
        min=1, max=20, help="how many the model reads (default: as the configured model does)")] = None,
    index: Annotated[str | None, typer.Option(help="the index (default VECTOR_STORE_INDEX)")] = None,
    modes: Annotated[str, typer.Option(help="the searches to measure: some of hybrid,vector,bm25")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="print the summary per mode as JSON")] = False,
) -> None:
    """Retrieval quality on an embedded index: relevance, top-1/top-5 accuracy, MRR, nDCG@10, per
    search mode (runbook: evaluate_search.py); JSON under evals/results/."""
    from app.llm import passages_read
    from app.retrieval import build_vector_store, hybrid_retriever
    from app.retrieval.embeddings import build_embeddings
    from evals.dataset import load_queries
    from evals.retrieval import evaluate_retrieval

    settings = settings_or_exit(vector_store_index=index)
    chosen = _modes(modes)
    if not test_queries.is_file():
        fail(f"no such file: {test_queries}")
    try:
        queries = load_queries(test_queries)
    except (ValueError, KeyError) as exc:
        fail(f"{test_queries}: {exc}")
    store = _embedded_store(build_vector_store(settings, build_embeddings(settings.embedding_model)))
    passages = passages or passages_read(settings)
    report = evaluate_retrieval(store, hybrid_retriever(settings, store, top_k), queries, passages=passages,
                                modes=chosen,
                                progress=lambda items: track(items, description="searching", console=console))
    summaries = {mode: report[mode] for mode in chosen}
    if as_json:
        print(json.dumps({"questions": len(queries), "passages": passages, "top_k": top_k, **summaries}))
    else:
        _print_search(report, chosen, len(queries), passages)
    worst = sorted(report["per_question"], key=lambda q: (q["mrr"], q["context_relevance"]))[:10]
    path = write_result({"kind": "search", "dataset": str(test_queries), "index": store.path.stem, "top_k": top_k,
                         "passages": passages, "questions": len(queries), "modes": chosen,
                         "summary": summaries.get("hybrid", summaries[chosen[0]]), "by_mode": summaries,
                         "worst": worst})
    console.print(f"results: {path}")


@evaluation.command("embeddings")
def embeddings(
    sample_size: Annotated[int, typer.Option(min=2, max=100_000, help="chunks to sample")] = 100,
    index: Annotated[str | None, typer.Option(help="the index (default VECTOR_STORE_INDEX)")] = None,
    seed: Annotated[int, typer.Option(help="the sample's random seed")] = 0,
) -> None:
    """Embedding health of the index: drift from the model, spread, separation, near duplicates
    (runbook: analyze_embeddings.py --sample-size 100)."""
    from app.retrieval import build_vector_store
    from app.retrieval.embeddings import build_embeddings
    from evals.embeddings import analyze_embeddings

    settings = settings_or_exit(vector_store_index=index)
    store = _embedded_store(build_vector_store(settings, build_embeddings(settings.embedding_model)))
    try:
        with console.status(f"embedding {sample_size} sampled chunks"):
            report = analyze_embeddings(store, sample_size, seed)
    except ValueError as exc:
        fail(str(exc), code=1)
    drift = report["drift"]
    print(f"Chunks: {report['chunks']} ({report['sampled']} sampled from {report['documents_sampled']} documents), "
          f"{report['dimensions']} dimensions, {settings.embedding_model}")
    print(f"Stored vs fresh embedding: cosine mean {drift['mean']:.3f}, min {drift['min']:.3f} "
          f"({drift['below_0.99']} below 0.99{': re-index with this model' if drift['below_0.99'] else ''})")
    if report["spread"] is not None:
        print(f"Spread (mean cosine across documents): {report['spread']:.3f}")
    if report["separation"] is not None:
        print(f"Within a document: {report['within_document']:.3f} (separation {report['separation']:+.3f})")
    print(f"Near duplicates (cosine >= 0.98): {report['near_duplicates']:.0%}")
    path = write_result({"kind": "embeddings", "dataset": store.path.stem, "summary": {}, "report": report})
    console.print(f"results: {path}")


def _embedded_store(store):
    if not hasattr(store, "embed_texts"):
        fail("this measures the embedded index (VECTOR_STORE=embedded)")
    return store


def _dataset(name: str):
    """A dataset by name (evals/datasets/NAME.jsonl) or path."""
    from evals.dataset import DATASETS_DIR, load_dataset

    path = Path(name)
    if path.suffix == ".jsonl" and path.is_file():
        return path.stem, load_dataset(path.stem, path.parent)
    if not (DATASETS_DIR / f"{name}.jsonl").is_file():
        known = ", ".join(sorted(p.stem for p in DATASETS_DIR.glob("*.jsonl")))
        fail(f"no dataset {name!r}: one of {known}, or a .jsonl path")
    return name, load_dataset(name)


@evaluation.command("answers")
def answers(
    dataset: Annotated[str, typer.Option(help="a dataset under evals/datasets/ (name) or a .jsonl path")] = "sample_kb",
    limit: Annotated[int | None, typer.Option(min=1, help="the first N questions only")] = None,
    judge: Annotated[bool, typer.Option(help="grade with the chat model when it is capable (OpenAI, Azure)")] = True,
) -> None:
    """Answer quality through the whole graph: faithfulness, citation and answer correctness
    (LangSmith `evaluate`, offline unless LANGSMITH_API_KEY is set); JSON under evals/results/."""
    from app.services import build_components
    from evals.answers import JudgeGrader, LexicalGrader, answer_evaluator
    from evals.ranking import summarise
    from evals.runner import compile_graph, graph_target, run_experiment, uploading

    # Every question answered afresh: a cached answer would grade an earlier run.
    settings = settings_or_exit(enable_response_cache=False)
    name, items = _dataset(dataset)
    items = [i for i in items if i.reference_answer][:limit]
    if not items:
        fail(f"{dataset}: no question with a reference answer")
    components = build_components(settings)
    models = components.models
    lexical = LexicalGrader(components.embeddings.embed_documents)
    grader = JudgeGrader(models.primary) if judge and models.supports_tools else lexical
    console.print(f"{len(items)} questions, answered by {models.provider}, graded by "
                  f"{'a judge (' + models.model_name + ')' if grader is not lexical else 'lexical measures'}"
                  f"{', uploading to LangSmith' if uploading() else ''}")
    with Progress(console=console) as progress:
        task = progress.add_task("answering", total=len(items))
        rows = asyncio.run(run_experiment(
            graph_target(compile_graph(components)), items, [answer_evaluator(grader, fallback=lexical)],
            dataset=name, experiment_prefix=f"chatbot-{name}",
            metadata={"provider": models.provider, "model": models.model_name},
            progress=lambda: progress.advance(task)))
    components.close()
    summary = summarise([row["scores"] for row in rows])
    methods = _methods(rows)
    for key, value in summary.items():
        print(f"{key.replace('_', ' ').capitalize()}: {value:.2f}" + (f" ({methods[key]})" if key in methods else ""))
    errors = sum(1 for r in rows if r["error"])
    if errors:
        console.print(f"[red]{errors} of {len(rows)} questions failed: they are left out of the scores[/red]")
    worst = sorted(rows, key=lambda r: sum(r["scores"].get(k) or 0 for k in (
        "faithfulness", "citation_correctness", "answer_correctness")))[:10]
    path = write_result({
        "kind": "answers", "dataset": name, "questions": len(rows), "provider": models.provider,
        "model": models.model_name, "methods": methods, "summary": summary,
        "errors": errors,
        "worst": [{"id": r["id"], "question": r["question"], "answer": r["outputs"].get("answer"),
                   "relevant": r["reference"].get("relevant_doc_ids"), **r["scores"],
                   "comments": r["comments"],
                   "passages": [{"document_id": d, "text": t[:400]} for d, t in zip(
                       r["outputs"].get("retrieved", []), r["outputs"].get("passages", []), strict=False)]}
                  for r in worst],
        "rows": [{"id": r["id"], **r["scores"], "methods": r["methods"], "error": r["error"]} for r in rows],
    })
    console.print(f"results: {path}")


def _methods(rows: list[dict]) -> dict[str, str]:
    """Per measure, how its scores were made: "judge", or "judge; lexical (judge failed) for 3"."""
    from collections import Counter

    described = {}
    for key in dict.fromkeys(k for row in rows for k in row["methods"]):
        counts = Counter(row["methods"][key] for row in rows if row["methods"].get(key))
        if not counts:
            continue
        [(usual, _), *others] = counts.most_common()
        described[key] = "; ".join([usual, *(f"{method} for {n}" for method, n in others)])
    return described


class Rating(StrEnum):
    all = "all"
    helpful = "helpful"
    unhelpful = "unhelpful"


@evaluation.command("export-feedback")
def export_feedback(
    output: Annotated[Path, typer.Option(help="the dataset to write (JSONL)")] = Path(
        "evals/datasets/feedback.jsonl"),
    days: Annotated[int | None, typer.Option(min=1, help="ratings of the last N days only")] = None,
    rating: Annotated[Rating, typer.Option(help="which ratings")] = Rating.all,
) -> None:
    """Users' ratings (POST /feedback) as evaluation items: helpful answers become references."""
    import time

    from app.ledgers.feedback import FeedbackStore, to_dataset_rows

    settings = settings_or_exit()
    store = FeedbackStore(settings.ledger_url)
    try:
        since = time.time() - days * 86_400 if days else 0.0
        wanted = {Rating.helpful: 1, Rating.unhelpful: -1}.get(rating)
        rows = to_dataset_rows(store.list(since=since, rating=wanted))
    finally:
        store.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial")
    partial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    partial.replace(output)  # all or nothing
    helpful = sum(1 for r in rows if r["rating"] > 0)
    print(f"{_count(len(rows), 'rating')} ({helpful} helpful, {len(rows) - helpful} to review) written to {output}")


class Metric(StrEnum):
    relevance = "relevance"
    ndcg = "ndcg"
    mrr = "mrr"
    hit5 = "hit5"


@evaluation.command("tune")
def tune(
    metric: Annotated[Metric, typer.Option(help="what to maximise (relevance: context relevance)")] = Metric.relevance,
    trials: Annotated[int, typer.Option("--trials", "--optimization-trials", min=1, max=1000)] = 30,
    dataset: Annotated[str, typer.Option(help="labelled questions (name or .jsonl path)")] = "sample_kb",
    source: Annotated[Path | None, typer.Option(help="the documents (default KNOWLEDGE_BASE_DIR)")] = None,
    chunk_sizes: Annotated[bool, typer.Option(help="also try chunk sizes (re-indexes a scratch copy)")] = True,
    holdout: Annotated[float, typer.Option(min=0.0, max=0.9, help="share of questions held out")] = 0.3,
    apply: Annotated[bool, typer.Option(help="write the best settings to the settings file")] = False,
    settings_file: Annotated[Path, typer.Option(help="where --apply writes")] = Path(".env"),
) -> None:
    """Search the hybrid search's settings (runbook: tune_search_params.py); prints the best."""
    from app.llm import passages_read
    from app.retrieval import build_vector_store
    from app.retrieval.embeddings import build_embeddings
    from evals import tuning

    settings = settings_or_exit()
    name, items = _dataset(dataset)
    source = source or settings.knowledge_base_dir
    if chunk_sizes and not source.is_dir():
        fail(f"no documents at {source}: pass --source or --no-chunk-sizes")
    embeddings = build_embeddings(settings.embedding_model)
    existing = None if chunk_sizes else (settings.chunk_size, _embedded_store(build_vector_store(settings, embeddings)))
    indexes = tuning.ScratchIndexes(settings, embeddings, source, existing)
    space = tuning.SearchSpace(settings, tuning.CHUNK_SIZES if chunk_sizes else ())
    try:
        with Progress(console=console) as progress:
            task = progress.add_task(f"tuning {metric.value}", total=trials)
            if not items:
                raise ValueError("the dataset is empty")
            result = tuning.tune(
                settings, indexes, items, metric=metric.value, trials=trials, passages=passages_read(settings),
                holdout=holdout, space=space,
                on_trial=lambda n, value: progress.update(task, advance=1, description=f"trial {n + 1}: {value:.3f}"),
                on_build=lambda size: progress.console.print(f"indexing with {size}-character chunks"))
    except ValueError as exc:
        fail(f"{dataset}: {exc}")
    finally:
        indexes.close()
    key = result["metric"]
    current, best = result["current"], result["best"]
    print(f"{key} on {result['questions']['tuning']} tuning questions: {current['tuning'][key]:.3f} now, "
          f"{best['tuning'][key]:.3f} best")
    if best["held_out"]:
        print(f"{key} on {result['questions']['held_out']} held-out questions: {current['held_out'][key]:.3f} now, "
              f"{best['held_out'][key]:.3f} with the best settings")
    lines = tuning.settings_lines(best["settings"])
    print("best settings: " + " ".join(f"{k}={v}" for k, v in lines.items()))
    write_result({"kind": "tune", "dataset": name, **result})
    if apply:
        write_settings(settings_file, lines)
        if best["settings"]["chunk_size"] != settings.chunk_size:
            console.print(f"the chunk size changed: re-index (chatbot rebuild --source {source} --swap)")


def write_settings(settings_file: Path, lines: dict[str, str]) -> None:
    """Set these variables in the settings file (`.env`), keeping its other lines."""
    from dotenv import set_key

    settings_file.touch(exist_ok=True)
    for variable, value in lines.items():
        set_key(settings_file, variable, value, quote_mode="never")
    console.print(f"written to {settings_file}: {' '.join(f'{k}={v}' for k, v in lines.items())}; "
                  "restart the service to use them")


def enable_hybrid_search(
    bm25_weight: Annotated[float, typer.Option(min=0.0, max=1.0, help="the BM25 ranking's weight")] = 0.5,
    vector_weight: Annotated[float, typer.Option(min=0.0, max=1.0, help="the vector ranking's weight")] = 0.5,
    rrf_k: Annotated[int | None, typer.Option(min=1, max=1000, help="the fusion constant (default: keep)")] = None,
    settings_file: Annotated[Path, typer.Option(help="where to write")] = Path(".env"),
) -> None:
    """Weigh the hybrid search's two rankings (runbook: enable_hybrid_search.py --bm25-weight 0.3
    --vector-weight 0.7); measure first with `chatbot eval search`."""
    if bm25_weight == 0 and vector_weight == 0:
        fail("the weights cannot both be 0")
    lines = {"BM25_WEIGHT": str(bm25_weight), "VECTOR_WEIGHT": str(vector_weight)}
    if rrf_k is not None:
        lines["RRF_K"] = str(rrf_k)
    write_settings(settings_file, lines)


@evaluation.command("report")
def report(
    days: Annotated[int, typer.Option(min=1, max=366, help="the period")] = 7,
    output_dir: Annotated[Path, typer.Option(help="where to write the HTML")] = Path("reports"),
) -> None:
    """The quality report of the last N days, as HTML (runbook: quality_report.py --days 7)."""
    import time

    from app.ledgers.feedback import FeedbackStore
    from evals.report import build_report
    from evals.results import read_results

    settings = settings_or_exit()
    now = dt.datetime.now(dt.UTC)
    results = read_results(since=now - dt.timedelta(days=days))
    store = FeedbackStore(settings.ledger_url)
    try:
        since = time.time() - days * 86_400
        feedback = {**store.summary(since), "unhelpful": store.list(since=since, rating=-1)[-10:]}
    finally:
        store.close()
    html = build_report(results, feedback, days=days, now=now)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / f"quality-{now:%Y-%m-%d}.html"
    path.write_text(html, encoding="utf-8")
    print(f"{_count(len(results), 'evaluation run')} and {_count(feedback['ratings'], 'rating')} of the last "
          f"{days} days: {path}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
