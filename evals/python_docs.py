"""An external evaluation set nobody on this project wrote: the Python FAQ, from Debian's python3.11-doc.

Each FAQ question (a section title ending in "?") is a query; its reference answer is
the section's first paragraph; its relevant documents are the pages the answer points
to (`:mod:`, `:func:`, `:class:`, `:meth:`, `:exc:`, `:ref:`, `:doc:` references resolved
to the page that defines them). The corpus to search is every page except the FAQ itself
(otherwise each question would find its own heading). Questions whose answer references
no page are left out. The build is deterministic: the same package gives the same file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SOURCES = Path("/usr/share/doc/python3.11/html/_sources")
_SECTION = re.compile(r"^(?P<title>[^\n]*\?)\n(?P<rule>[-=~^\"'`#*+]{3,})\n", re.MULTILINE)
_ROLE = re.compile(r":(?P<role>mod|func|class|meth|exc|ref|doc|data|attr):`(?P<target>[^`]+)`")
_LABEL = re.compile(r"^\.\. _(?P<label>[^:]+):\s*$", re.MULTILINE)
_MODULE = re.compile(r"^\.\. module:: (?P<module>\S+)", re.MULTILINE)


def document_id(path: Path, root: Path) -> str:
    """As the ingestion names it: the path under the corpus root without its last suffix."""
    return path.relative_to(root).with_suffix("").as_posix()


def _targets(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Where each `.. _label:` and each `.. module::` is defined (document ids)."""
    labels, modules = {}, {}
    for path in sorted(root.rglob("*.rst.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        doc = document_id(path, root)
        for match in _LABEL.finditer(text):
            labels.setdefault(match.group("label").strip().lower(), doc)
        for match in _MODULE.finditer(text):
            modules.setdefault(match.group("module"), doc)
    return labels, modules


def _resolve(role: str, target: str, labels: dict[str, str], modules: dict[str, str]) -> str | None:
    target = target.split("<")[-1].rstrip(">").strip().lstrip("~!.")  # "text <target>", "~os.path.join"
    if role == "ref":
        return labels.get(target.lower())
    if role == "doc":
        return None  # relative paths in the FAQ are rare; skipped rather than guessed
    name = target.removesuffix("()")
    parts = name.split(".")
    for n in range(len(parts), 0, -1):  # the longest module prefix: os.path.join -> os.path
        if (doc := modules.get(".".join(parts[:n]))) is not None:
            return doc
    return None


def _plain(text: str) -> str:
    text = re.sub(r":[a-z:]+:`([^`<]+?)(?:\s*<[^>]+>)?`", lambda m: m.group(1).strip().lstrip("~!"), text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"`([^`<]+?)\s*<[^>]+>`_", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def build(root: Path = SOURCES) -> list[dict]:
    """The FAQ questions with their reference answers and relevant pages."""
    labels, modules = _targets(root)
    items = []
    for path in sorted((root / "faq").glob("*.rst.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        sections = list(_SECTION.finditer(text))
        for n, section in enumerate(sections):
            if len(section.group("rule")) < len(section.group("title").rstrip()) - 2:
                continue  # not a title underline
            body = text[section.end(): sections[n + 1].start() if n + 1 < len(sections) else len(text)]
            relevant = sorted({doc for m in _ROLE.finditer(body)
                               if (doc := _resolve(m.group("role"), m.group("target"), labels, modules))
                               and not doc.startswith("faq/")})
            paragraphs = [p for p in body.split("\n\n") if p.strip() and not p.lstrip().startswith("..")
                          and not p.startswith((" ", "\t"))]  # prose, not code or directives
            answer = next((p for p in paragraphs if len(p) >= 60 and not p.rstrip().endswith("::")),
                          paragraphs[0] if paragraphs else None)
            if not relevant or answer is None:
                continue
            items.append({
                "id": f"pyfaq-{len(items) + 1:03d}",
                "question": section.group("title").strip(),
                "reference_answer": _plain(answer)[:600],
                "relevant_doc_ids": relevant,
                "source": document_id(path, root),
            })
    return items


def write(items: list[dict], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")


def link_corpus(root: Path, target: Path) -> int:
    """Link every page but the FAQ under `target` (document ids as in the dataset); returns the count."""
    count = 0
    for path in sorted(root.rglob("*.rst.txt")):
        relative = path.relative_to(root)
        if relative.parts[0] == "faq":
            continue
        link = target / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(path)
        count += 1
    return count
