"""Every prompt of the service as a named template, versioned with the code.

Templates are plain text files beside this module (`system.txt`, `rag.txt`, ...), so a
prompt change is a reviewable diff. The passage block format is defined here once:
the `generate` node writes it and the extractive model reads it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

PROMPTS_DIR = Path(__file__).parent
_PASSAGE_HEADER = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


@cache
def load(name: str) -> str:
    """The text of the named template (`load("rag")` reads `rag.txt`), without the final newline."""
    return (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8").rstrip("\n")


@cache
def route_examples() -> dict[str, list[str]]:
    """Example messages per route, for the embedding router."""
    return yaml.safe_load((PROMPTS_DIR / "routes.yaml").read_text(encoding="utf-8"))


@cache
def guardrail_examples() -> dict:
    """Attack examples by category and harmless examples, for the semantic input guard."""
    return yaml.safe_load((PROMPTS_DIR / "guardrails.yaml").read_text(encoding="utf-8"))


@cache
def eval_judge(name: str) -> dict[str, str]:
    """The evaluation judge's `system` and `user` templates for a measure (faithfulness, correctness)."""
    return yaml.safe_load((PROMPTS_DIR / "eval_judge.yaml").read_text(encoding="utf-8"))[name]


@dataclass(frozen=True)
class Passage:
    index: int
    title: str
    text: str


def format_passages(passages: list[Passage]) -> str:
    """Numbered passage blocks: a `[n] title` line, then the text, blank line between."""
    return "\n\n".join(f"[{p.index}] {p.title}\n{p.text.strip()}" for p in passages)


def parse_passages(prompt_text: str) -> list[Passage]:
    """Read back the passages that `format_passages` wrote inside a rendered RAG prompt."""
    if "Passages:\n" not in prompt_text:
        return []
    # The last block is the turn's; earlier ones are the template's worked example.
    body = prompt_text.rsplit("Passages:\n", 1)[1].split("\n\nQuestion: ", 1)[0]
    headers = list(_PASSAGE_HEADER.finditer(body))
    passages = []
    for n, header in enumerate(headers):
        end = headers[n + 1].start() if n + 1 < len(headers) else len(body)
        text = body[header.end() : end].strip()
        passages.append(Passage(int(header.group(1)), header.group(2).strip(), text))
    return passages


def parse_question(prompt_text: str) -> str:
    """The question of a rendered RAG, tool or direct prompt."""
    for marker in ("\nQuestion: ", "Question: ", "User: "):
        if marker in prompt_text:
            tail = prompt_text.rsplit(marker, 1)[1]
            return tail.split("\n", 1)[0].strip()
    return prompt_text.strip()


def parse_tool_result(prompt_text: str) -> str | None:
    """The tool output inside a rendered tool prompt, if this is one."""
    match = re.search(r" returned:\n(.*)\n\nQuestion: ", prompt_text, re.DOTALL)
    return match.group(1).strip() if match else None


@cache
def fingerprint() -> str:
    """A hash of every template: cached answers written with other prompts are not reused."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(PROMPTS_DIR.glob("*.txt")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
