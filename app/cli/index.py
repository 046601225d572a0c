"""Vector store operations: the runbook's prepare / embed / index / add / delete / verify /
rebuild / search scripts, and index alias management."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import console, fail, progress_bar, settings_or_exit
from app.settings import Settings

IndexOption = Annotated[str | None, typer.Option("--index", help="index or alias (default VECTOR_STORE_INDEX)")]


def _store(settings: Settings, index: str | None = None):
    """The store to write to: the primary, mirrored to the embedded replica when enabled."""
    from app.retrieval import build_index_writer
    from app.retrieval.catalog import IndexNameError
    from app.retrieval.embeddings import build_embeddings
    from app.retrieval.store import IndexModelMismatch
    from app.settings import ConfigurationError

    try:
        return build_index_writer(settings, build_embeddings(settings.embedding_model), index)
    except (IndexModelMismatch, IndexNameError, ConfigurationError) as exc:
        fail(str(exc))


def _retriever(settings: Settings, index: str | None, k: int):
    from app.retrieval import build_embedded_store, build_retriever, build_vector_store, uses_replica
    from app.retrieval.embeddings import build_embeddings

    embeddings = build_embeddings(settings.embedding_model)
    replica = build_embedded_store(settings, embeddings, index) if uses_replica(settings) else None
    return build_retriever(settings.model_copy(update={"retrieval_top_k": k}),
                           build_vector_store(settings, embeddings, index), replica)


def _refresh_derived(store) -> None:
    """After writes to an embedded index: catch up its tantivy copy and (re)build a stale HNSW graph."""
    target = getattr(store, "replica", store)
    if not hasattr(target, "ann_status"):
        return
    if target.lexical_status()["behind"]:  # a write's own sync did not run (lock held, crash)
        with console.status("bringing the lexical index up to date"):
            target.sync_lexical()
    if not target.ann_status()["stale"]:
        return
    with console.status(f"building the HNSW graph over {target.count()} chunks"):
        status = target.build_ann()
    console.print(f"HNSW graph: {status['covered']} of {status['chunks']} chunks")


def _print_report(report, store=None) -> None:
    line = (
        f"documents: {report.documents} ({report.unchanged_documents} unchanged), chunks: {report.chunks}, "
        f"written: {report.written}, {report.chunks_per_second:.1f} chunks/s "
        f"(embedding {report.embed_seconds:.1f} s, writing {report.write_seconds:.1f} s)"
    )
    if report.removed_documents:
        line += f", removed documents: {len(report.removed_documents)}"
    if store is not None:
        line += f", index: {getattr(store.path, 'stem', store.path)}"
    console.print(line)
    for error in report.errors:
        console.print(f"[yellow]skipped:[/yellow] {error}")


def index(
    source: Annotated[Path | None, typer.Option(help="directory of documents (.md .txt .html .pdf)")] = None,
    embeddings: Annotated[Path | None, typer.Option(help="directory written by `chatbot embed`")] = None,
    sync: Annotated[bool, typer.Option(help="also remove documents that are no longer in the source")] = False,
    vector_store: Annotated[str | None, typer.Option(help="backend (default VECTOR_STORE)")] = None,
    index: IndexOption = None,
) -> None:
    """Index documents: prepare, embed and write in one go (--source), or load --embeddings."""
    from app.ingestion import index_embeddings

    settings = settings_or_exit(vector_store=vector_store)
    if (source is None) == (embeddings is None):
        fail("give exactly one of --source DIR or --embeddings DIR")
    store = _store(settings, index)
    if source is not None:
        _index_source(settings, store, source, "indexing", sync=sync, graph=index is None)
        return
    with progress_bar("indexing") as (_start, advance):
        report = index_embeddings(store, embeddings, sync=sync, on_progress=advance)
    _print_report(report, store)
    _refresh_derived(store)


def _sync_knowledge_graph(settings: Settings, source: Path, *, sync: bool) -> None:
    """The service's knowledge graph follows its index (`query_knowledge_graph` reads it)."""
    from app.ingestion.knowledge_graph import KnowledgeGraph, graph_path

    graph = KnowledgeGraph(graph_path(settings.data_dir))
    try:
        report = graph.sync_directory(source, sync=sync)
    finally:
        graph.close()
    removed = f", {len(report.removed)} removed" if report.removed else ""
    console.print(f"knowledge graph: {report.entities} entities, {report.edges} relations "
                  f"({len(report.updated)} documents read, {report.unchanged} unchanged{removed})")


def _index_source(settings: Settings, store, source: Path, label: str, *, sync: bool = False,
                  graph: bool = False) -> None:
    """Index a directory into `store` with a progress bar, report, refresh the derived indexes
    and, for the service's own index, its knowledge graph."""
    from app.ingestion import index_directory

    if not source.is_dir():
        fail(f"not a directory: {source}")
    with progress_bar(label) as (start, advance):
        report = index_directory(store, source, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap,
                                 sync=sync, on_start=start, on_progress=advance)
    _print_report(report, store)
    _refresh_derived(store)
    if graph:
        _sync_knowledge_graph(settings, source, sync=sync)


def add(
    documents: Annotated[Path, typer.Option(help="directory of new or changed documents")],
    index: IndexOption = None,
) -> None:
    """Add or update documents without touching the others."""
    settings = settings_or_exit()
    _index_source(settings, _store(settings, index), documents, "adding", graph=index is None)


def delete(
    doc_ids: Annotated[str, typer.Option(help="comma-separated document ids")],
    index: IndexOption = None,
) -> None:
    """Delete documents (all their chunks) by id."""
    settings = settings_or_exit()
    store = _store(settings, index)
    ids = [d.strip() for d in doc_ids.split(",") if d.strip()]
    known = set(store.document_ids())
    removed = store.delete_documents([d for d in ids if d in known])
    if index is None:
        from app.ingestion.knowledge_graph import KnowledgeGraph, graph_path

        graph = KnowledgeGraph(graph_path(settings.data_dir))
        graph.remove_documents(ids)
        graph.close()
    console.print(f"deleted {removed} chunks of {len([d for d in ids if d in known])} documents")
    for missing in (d for d in ids if d not in known):
        console.print(f"[yellow]not in the index:[/yellow] {missing}")


def prepare(
    source: Annotated[Path, typer.Option(help="directory of documents")],
    output: Annotated[Path, typer.Option(help="where to write chunks.jsonl")] = Path("data/processed"),
) -> None:
    """Load and split documents into chunks (step 1 of the runbook's indexing)."""
    from app.ingestion import prepare_directory

    settings = settings_or_exit()
    if not source.is_dir():
        fail(f"not a directory: {source}")
    report = prepare_directory(source, output, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    console.print(f"documents: {report.documents}, chunks: {report.chunks} -> {output}")
    for error in report.errors:
        console.print(f"[yellow]skipped:[/yellow] {error}")


def embed(
    input: Annotated[Path, typer.Option(help="directory written by `chatbot prepare`")] = Path("data/processed"),
    output: Annotated[Path, typer.Option(help="where to write the vectors")] = Path("data/embeddings"),
    model: Annotated[str | None, typer.Option(help="embedding model (default EMBEDDING_MODEL)")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=4096)] = 64,
) -> None:
    """Embed prepared chunks in batches (step 2 of the runbook's indexing)."""
    from app.ingestion import embed_chunks, read_chunks
    from app.retrieval.embeddings import build_embeddings
    from app.settings import ConfigurationError

    settings = settings_or_exit(embedding_model=model)
    try:
        embeddings = build_embeddings(settings.embedding_model)
        total = sum(len(c) for _, c in read_chunks(input))
    except (ConfigurationError, FileNotFoundError) as exc:
        fail(str(exc))
    with progress_bar("embedding") as (start, advance):
        start(total)
        report = embed_chunks(input, output, embeddings.embed_array, embeddings.model_name,
                              batch_size=batch_size, on_progress=lambda n: advance("", n))
    rate = report.chunks / report.seconds if report.seconds else 0.0
    console.print(f"documents: {report.documents}, chunks: {report.chunks}, {rate:.1f} chunks/s -> {output}")


def verify(index: IndexOption = None, query: str = "How do I deploy a model?") -> None:
    """Check an index: counts, dimensions, orphans, duplicates, and a sample query."""
    settings = settings_or_exit()
    store = _store(settings, index)
    primary = getattr(store, "primary", store)  # with a replica, verify the primary
    report = primary.integrity() if hasattr(primary, "integrity") else {**primary.stats(), "problems": []}
    problems = list(report["problems"]) + ([] if report["chunks"] else ["the index is empty"])
    for key in ("path", "embedding_model", "dimensions", "documents", "chunks", "lexical_entries"):
        if key in report:
            print(f"{key}: {report[key]}")
    if hasattr(primary, "ann_status"):
        ann = primary.ann_status()
        print(f"hnsw: {'on, covering ' + str(ann['covered']) + ' chunks' if ann['enabled'] else 'off (exact search)'}")
        if ann["stale"]:
            problems.append("the HNSW graph is missing or stale: run `chatbot index` or `chatbot rebuild`")
        lex = primary.lexical_status()
        print(f"lexical index: tantivy covering {lex['covered']} of {lex['chunks']} chunks, {lex['dead']} deleted")
        if lex["behind"]:
            problems.append(f"the lexical index lags {lex['behind']} chunks (searched with FTS5 meanwhile): "
                            "run `chatbot index`")
    if report["chunks"]:
        try:
            hits = _retriever(settings, index, 3).invoke(query)
            ranked = ", ".join(f"{d.metadata['document_id']} ({d.metadata['score']:.2f})" for d in hits)
            print(f"sample query: {query!r} -> {ranked}")
        except Exception as exc:  # a search that fails is a finding of the check, not a crash
            problems.append(f"the sample query failed: {type(exc).__name__}: {exc}")
    for problem in problems:
        console.print(f"[red]problem:[/red] {problem}")
    print("status: " + ("FAILED" if problems else "OK"))
    if problems:
        raise typer.Exit(1)


def search(
    query: Annotated[str, typer.Option(help="the question to search for")],
    top_k: Annotated[int, typer.Option(min=1, max=100)] = 5,
    index: IndexOption = None,
    document_id: Annotated[list[str] | None, typer.Option(help="only these documents (repeatable)")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="only documents with one of these tags")] = None,
    since: Annotated[str | None, typer.Option(help="only documents modified on or after this ISO date")] = None,
) -> None:
    """Hybrid search, printed as the runbook's ranked lines."""
    settings = settings_or_exit()
    retriever = _retriever(settings, index, top_k)
    where = {k: v for k, v in {"document_ids": document_id, "tags": tag, "modified_after": since}.items() if v}
    try:
        docs = retriever.invoke(query, filter=where or None)
    except ValueError as exc:
        fail(f"invalid filter: {exc}")
    print(f"Top {len(docs)} results:")
    for rank, doc in enumerate(docs, start=1):
        meta = doc.metadata
        section = f" › {meta['section']}" if meta.get("section") else ""
        print(f"{rank}. (score: {meta['score']:.2f}) {meta.get('title')}{section} [{meta.get('document_id')}]")


def _admin(settings: Settings):
    from app.retrieval.admin import build_admin
    from app.retrieval.embeddings import build_embeddings
    from app.settings import ConfigurationError

    try:
        return build_admin(settings, build_embeddings(settings.embedding_model))
    except ConfigurationError as exc:
        fail(str(exc))


def rebuild(
    old_index: Annotated[str | None, typer.Option(help="the alias to rebuild (default VECTOR_STORE_INDEX)")] = None,
    new_index: Annotated[str | None, typer.Option(help="name of the new index (default ALIAS-vN)")] = None,
    reindex: Annotated[bool, typer.Option(help="re-embed the chunks of the live index into the new one")] = False,
    source: Annotated[Path | None, typer.Option(help="build the new index from these documents instead")] = None,
    swap: Annotated[bool, typer.Option(help="point the alias at the new index when it is complete")] = False,
) -> None:
    """Build a new index beside the live one; --swap switches the alias atomically."""
    from app.ingestion import copy_index
    from app.retrieval.catalog import IndexNameError, check_name

    settings = settings_or_exit()
    alias = old_index or settings.vector_store_index
    if reindex == (source is not None):
        fail("give exactly one of --reindex (re-embed the live chunks) or --source DIR")
    if source is not None and not source.is_dir():
        fail(f"not a directory: {source}")  # before a new, empty index is created
    admin = _admin(settings)
    try:
        target = check_name(new_index or admin.next_version(alias))
        if admin.exists(target):
            fail(f"index {target!r} exists already; choose another --new-index or prune it")
        live = admin.open_live(alias) if reindex else None
        new = admin.open_new(target)
        if source is not None:
            _index_source(settings, new, source, f"building {target}")
        else:
            with progress_bar(f"building {target}") as (start, advance):
                report = copy_index(live, new, on_start=start, on_progress=advance)
            _print_report(report, new)
            _refresh_derived(new)
        if swap:
            previous = admin.swap(alias, target)
            console.print(f"alias {alias}: {previous} -> {target} (the old index stays until `chatbot indexes prune`)")
        else:
            console.print(f"built {target}; serve it with `chatbot indexes swap --alias {alias} --index {target}`")
    except (IndexNameError, FileNotFoundError) as exc:
        fail(str(exc))


def snapshot(
    name: Annotated[str | None, typer.Option(help="snapshot name (default INDEX-YYYYmmdd-HHMMSS)")] = None,
    index: IndexOption = None,
) -> None:
    """Back up the serving index (embedded: a consistent file copy; OpenSearch: a snapshot)."""
    from app.retrieval.catalog import IndexNameError
    from app.settings import ConfigurationError

    settings = settings_or_exit()
    try:
        where = _admin(settings).snapshot(index or settings.vector_store_index, name)
    except (IndexNameError, FileNotFoundError, ConfigurationError) as exc:
        fail(str(exc))
    console.print(f"snapshot written: {where}")


indexes = typer.Typer(help="List, swap and prune indexes and their aliases.", no_args_is_help=True)


@indexes.command("list")
def list_indexes() -> None:
    """Every index with its size, model and the aliases it serves."""
    for info in _admin(settings_or_exit()).indexes():
        serves = f", serves {', '.join(info.serves)}" if info.serves else ""
        shadowed = " (shadowed by an alias)" if info.shadowed else ""
        print(f"{info.name}: {info.chunks} chunks, model {info.embedding_model or '-'}{serves}{shadowed}")


@indexes.command("swap")
def swap_alias(
    alias: Annotated[str, typer.Option(help="the alias the service reads (VECTOR_STORE_INDEX)")],
    index: Annotated[str, typer.Option(help="the index it should serve")],
) -> None:
    """Point an alias at another index, atomically; running services follow it."""
    from app.retrieval.catalog import IndexNameError

    try:
        previous = _admin(settings_or_exit()).swap(alias, index)
    except (IndexNameError, FileNotFoundError) as exc:
        fail(str(exc))
    console.print(f"alias {alias}: {previous} -> {index}")


@indexes.command("prune")
def prune(alias: Annotated[str | None, typer.Option(help="prune this alias's old versions")] = None) -> None:
    """Delete the old versions of an alias's index that nothing serves any more."""
    settings = settings_or_exit()
    admin = _admin(settings)
    stale = admin.stale(alias or settings.vector_store_index)
    for name in stale:
        admin.drop(name)
        console.print(f"deleted index {name}")
    if not stale:
        console.print("nothing to prune")
