"""Evaluation datasets: JSONL files under `evals/datasets/`, one question per line.

Fields: `id`, `question`, `reference_answer`, `relevant_doc_ids` (document ids as the
ingestion names them: the file path under the knowledge base, without its suffix).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

DATASETS_DIR = Path(__file__).parent / "datasets"
T = TypeVar("T")


@dataclass(frozen=True)
class EvalExample:
    id: str
    question: str
    reference_answer: str
    relevant_doc_ids: tuple[str, ...]


def _read_rows(name: str, build: Callable[[dict], T], directory: Path = DATASETS_DIR) -> list[T]:
    """One item per line of `evals/datasets/<name>.jsonl`; a malformed line names its number."""
    path = directory / f"{name}.jsonl"
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(build(json.loads(line)))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{number}: not a valid item ({exc})") from None
    return items


def load_dataset(name: str = "sample_kb", directory: Path = DATASETS_DIR) -> list[EvalExample]:
    """The questions of `<directory>/<name>.jsonl` with their reference answers and documents."""
    return _read_rows(name, lambda row: EvalExample(row["id"], row["question"], row["reference_answer"],
                                                    tuple(row["relevant_doc_ids"])), directory)


def load_queries(source: str | Path) -> list[dict]:
    """Labelled search queries `{question, relevant_doc_ids, ...}`: a dataset by name
    (`evals/datasets/NAME.jsonl`), or a JSONL file (or a JSON list) by path."""
    path = Path(source)
    if not path.is_file():
        path = DATASETS_DIR / f"{source}.jsonl"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in DATASETS_DIR.glob("*.jsonl")))
        raise ValueError(f"no dataset {str(source)!r}: one of {known}, or a .jsonl path")
    text = path.read_text(encoding="utf-8")
    rows = json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines()
                                                           if line.strip()]
    if not rows or not all("question" in r and r.get("relevant_doc_ids") for r in rows):
        raise ValueError("each query needs `question` and a non-empty `relevant_doc_ids`")
    return rows


@dataclass(frozen=True)
class RoutingCase:
    message: str
    route: str  # knowledge, tool, direct
    tool: str | None = None
    args: dict | None = None


def load_routing_cases(name: str = "routing") -> list[RoutingCase]:
    """The messages of `evals/datasets/<name>.jsonl` with the route (and tool call) each should take."""
    return _read_rows(name, lambda row: RoutingCase(row["message"], row["route"], row.get("tool"), row.get("args")))


@dataclass(frozen=True)
class GuardrailCase:
    text: str
    expected: str  # block, allow
    category: str  # injection, a harm category, or harmless


def load_guardrail_cases(name: str = "guardrails") -> list[GuardrailCase]:
    """Attacks that must be blocked and harmless messages that must not be."""
    return _read_rows(name, lambda row: GuardrailCase(row["text"], row["expected"], row["category"]))
