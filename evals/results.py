"""Evaluation results: one JSON file per run under `evals/results/`, read back by the report.

Every file has `kind` (search, answers, tune), `at` (UTC, ISO 8601), `dataset` and
`summary` (metric name to mean score); the rest depends on the kind.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

RESULTS_DIR = Path("evals/results")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_result(result: dict[str, Any], directory: Path = RESULTS_DIR) -> Path:
    """Write one run's result; the name sorts by time."""
    directory.mkdir(parents=True, exist_ok=True)
    at = result.setdefault("at", now())
    path = directory / f"{result['kind']}-{at.replace(':', '').replace('+0000', 'Z')}.json"
    n = 1
    while path.exists():  # two runs in one second
        path = path.with_name(f"{path.stem.split('~')[0]}~{n}.json")
        n += 1
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def read_results(directory: Path = RESULTS_DIR, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every readable result at or after `since`, oldest first (unreadable files are skipped)."""
    results = []
    for path in sorted(directory.glob("*.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
            at = dt.datetime.fromisoformat(result["at"])
        except (ValueError, KeyError, TypeError):
            continue
        if since is None or at >= since:
            results.append({**result, "file": path.name})
    return sorted(results, key=lambda r: r["at"])
