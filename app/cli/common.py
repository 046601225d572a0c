"""What every subcommand shares: settings loading, the console, progress bars."""

from __future__ import annotations

from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.settings import ConfigurationError, Settings, load_settings

console = Console(stderr=True)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigurationError as exc:
        fail(f"configuration error: {exc}")


def fail(message: str, code: int = 2) -> None:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(code)


@contextmanager
def progress_bar(label: str):
    """A Rich progress bar on stderr: chunks done of the total, current document, time."""
    with Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[item]}"),
        TimeElapsedColumn(), console=console,
    ) as progress:
        task = progress.add_task(label, total=None, item="")
        yield (
            lambda total: progress.update(task, total=total),
            lambda item, n: progress.update(task, advance=n, item=item),
        )
