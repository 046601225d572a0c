"""Evaluation datasets: JSONL files under `evals/datasets/`, one question per line.

Fields: `id`, `question`, `reference_answer`, `relevant_doc_ids` (document ids as the
ingestion names them: the file path under the knowledge base, without its suffix).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DATASETS_DIR = Path(__file__).parent / "datasets"


@dataclass(frozen=True)
class EvalExample:
    id: str
    question: str
    reference_answer: str
    relevant_doc_ids: tuple[str, ...]


def load_dataset(name: str = "sample_kb") -> list[EvalExample]:
    """The examples of `evals/datasets/<name>.jsonl`; a malformed line names its number."""
    path = DATASETS_DIR / f"{name}.jsonl"
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            examples.append(
                EvalExample(row["id"], row["question"], row["reference_answer"], tuple(row["relevant_doc_ids"]))
            )
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{number}: not a valid example ({exc})") from None
    return examples
