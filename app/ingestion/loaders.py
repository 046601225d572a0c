"""Loaders: a source file -> Markdown text plus its title, tags and modification time.

Every format is turned into Markdown so that one heading-aware splitter serves them all:
Markdown and text as they are, HTML through markdownify (headings kept, scripts and
styles dropped), PDF through pypdf, one `## Page N` section per page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html", ".pdf": "pdf"}
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
_H1 = re.compile(r"^#\s+(.+)$", re.MULTILINE)


class UnsupportedDocument(ValueError):
    """A file this ingestion cannot read (wrong type, or no text in it)."""


@dataclass
class LoadedDocument:
    text: str  # Markdown
    title: str
    source: str
    modified: str  # ISO 8601, UTC
    tags: list[str] = field(default_factory=list)
    format: str = "markdown"


def _front_matter(text: str) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        return {}, text
    return (meta if isinstance(meta, dict) else {}), text[match.end():]


def _markdown(path: Path) -> tuple[str, str | None, list[str]]:
    meta, body = _front_matter(path.read_text(encoding="utf-8"))
    h1 = _H1.search(body)
    tags = meta.get("tags") or []
    return body, meta.get("title") or (h1.group(1).strip() if h1 else None), [str(t) for t in tags]


def _text(path: Path) -> tuple[str, str | None, list[str]]:
    text = path.read_text(encoding="utf-8")
    first = next((line.strip() for line in text.splitlines() if line.strip()), None)
    return text, first[:200] if first else None, []


def _html(path: Path) -> tuple[str, str | None, list[str]]:
    from bs4 import BeautifulSoup
    from markdownify import markdownify

    soup = BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "noscript"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else None
    if soup.title:
        soup.title.decompose()
    h1 = soup.find("h1")
    body = markdownify(str(soup.body or soup), heading_style="ATX", bullets="-")
    body = re.sub(r"\n{3,}", "\n\n", body).strip()
    return body, title or (h1.get_text(strip=True) if h1 else None), []


def _pdf(path: Path) -> tuple[str, str | None, list[str]]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    pages = [(n, (page.extract_text() or "").strip()) for n, page in enumerate(reader.pages, start=1)]
    body = "\n\n".join(f"## Page {n}\n\n{text}" for n, text in pages if text)
    title = (reader.metadata.title if reader.metadata else None) or None
    return body, title, []


_READERS = {"markdown": _markdown, "text": _text, "html": _html, "pdf": _pdf}


def load_document(path: Path, source: str | None = None) -> LoadedDocument:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UnsupportedDocument(f"{path}: unsupported file type {path.suffix!r}")
    try:
        text, title, tags = _READERS[kind](path)
    except UnsupportedDocument:
        raise
    except Exception as exc:  # a corrupt file is reported by name, not a crash mid-index
        raise UnsupportedDocument(f"{path}: cannot be read as {kind} ({type(exc).__name__}: {exc})") from None
    if not text.strip():
        raise UnsupportedDocument(f"{path}: no text in it")
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
    return LoadedDocument(text, title or path.stem, source or path.as_posix(), modified, tags, kind)
