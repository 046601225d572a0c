"""`chatbot`: the runbook's `python scripts/...` lines as subcommands."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.settings import ConfigurationError, Settings, load_settings

cli = typer.Typer(help="Operate the chatbot service.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def _store(settings: Settings):
    from app.embeddings import build_embeddings
    from app.retrieval import build_vector_store

    return build_vector_store(settings, build_embeddings(settings.embedding_model))


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    reload: Annotated[bool, typer.Option(help="restart on code changes")] = False,
) -> None:
    """Run the gateway (the same app as `uvicorn app.main:app`)."""
    import uvicorn

    _settings()  # fail here, clearly, on a bad configuration
    uvicorn.run("app.main:app", host=host, port=port, reload=reload, log_level="info")


@cli.command()
def index(
    source: Annotated[Path, typer.Option(help="directory of Markdown/text documents")] = Path("data/knowledge_base"),
    sync: Annotated[bool, typer.Option(help="also remove documents no longer in SOURCE")] = False,
) -> None:
    """Index a directory into VECTOR_STORE_INDEX (unchanged documents are skipped)."""
    from app.ingest import find_sources, index_directory

    settings = _settings()
    if not source.is_dir():
        console.print(f"[red]not a directory:[/red] {source}")
        raise typer.Exit(2)
    store = _store(settings)
    total = len(find_sources(source))
    with Progress(
        TextColumn("[bold]indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[doc]}"),
        TimeElapsedColumn(), console=console,
    ) as progress:
        task = progress.add_task("index", total=total, doc="")
        report = index_directory(
            store, source, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap, sync=sync,
            on_document=lambda doc, _written: progress.update(task, advance=1, doc=doc),
        )
    rate = report.written / report.seconds if report.seconds else 0.0
    console.print(
        f"documents: {report.documents} ({report.unchanged_documents} unchanged), chunks: {report.chunks}, "
        f"written: {report.written} ({rate:.1f} chunks/s), removed documents: {len(report.removed_documents)}, "
        f"index: {store.path}"
    )


@cli.command()
def search(
    query: Annotated[str, typer.Option(help="the question to search for")],
    top_k: Annotated[int, typer.Option(help="how many results")] = 5,
) -> None:
    """Hybrid search of the index, printed as the runbook's ranked lines."""
    from app.retrieval import HybridRetriever

    settings = _settings()
    retriever = HybridRetriever(store=_store(settings), k=top_k, rrf_k=settings.rrf_k)
    docs = retriever.invoke(query)
    print(f"Top {len(docs)} results:")
    for rank, doc in enumerate(docs, start=1):
        meta = doc.metadata
        section = f" › {meta['section']}" if meta.get("section") else ""
        print(f"{rank}. (score: {meta['score']:.2f}) {meta.get('title')}{section} [{meta.get('document_id')}]")


@cli.command()
def ask(
    message: Annotated[str, typer.Argument(help="the question")],
    conversation_id: Annotated[str | None, typer.Option(help="continue this conversation")] = None,
) -> None:
    """Ask the chatbot once, in-process (no server), streaming the answer."""
    from app.conversation import new_conversation_id, stream_turn
    from app.runtime import open_services

    settings = _settings()

    async def run() -> None:
        async with open_services(settings) as services:
            async for event in stream_turn(services.graph, message, conversation_id or new_conversation_id()):
                if event.event == "token":
                    print(event.data["text"], end="", flush=True)
                elif event.event == "final":
                    print()
                    console.print_json(json.dumps({k: v for k, v in event.data.items() if k != "answer"}))
                elif event.event == "error":
                    console.print(f"[red]{event.data['error']['message']}[/red]")
                    raise typer.Exit(1)

    asyncio.run(run())


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cli()


if __name__ == "__main__":
    main()
