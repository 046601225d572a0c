"""Metadata filters for search: by document, source path, tags and modification date.

A filter becomes SQL conditions with bound parameters (never string-built from input),
applied before ranking, so that the top k are the best *matching* chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SearchFilter:
    document_ids: tuple[str, ...] = ()
    source_prefix: str | None = None
    tags: tuple[str, ...] = ()  # any of these
    modified_after: str | None = None  # ISO 8601 date or datetime, inclusive
    modified_before: str | None = None  # exclusive

    @classmethod
    def from_value(cls, value: SearchFilter | dict[str, Any] | None) -> SearchFilter | None:
        """Accept LangChain's `filter=` dicts as well as filters."""
        if value is None or isinstance(value, SearchFilter):
            return value
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown filter keys {sorted(unknown)}; use {sorted(known)}")
        normalized = {k: tuple(v) if k in ("document_ids", "tags") else v for k, v in value.items()}
        for key in ("modified_after", "modified_before"):
            if normalized.get(key):
                datetime.fromisoformat(normalized[key])  # raises ValueError on a bad date
        return cls(**normalized)

    def is_empty(self) -> bool:
        return self == SearchFilter()

    def sql(self, alias: str = "chunks") -> tuple[str, list[Any]]:
        """A WHERE clause (without WHERE) over the chunks table, and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.document_ids:
            clauses.append(f"{alias}.document_id IN ({','.join('?' * len(self.document_ids))})")
            params += self.document_ids
        if self.source_prefix:
            escaped = self.source_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(f"json_extract({alias}.metadata, '$.source') LIKE ? ESCAPE '\\'")
            params.append(escaped + "%")
        if self.tags:
            clauses.append(
                f"EXISTS (SELECT 1 FROM json_each({alias}.metadata, '$.tags') "
                f"WHERE value IN ({','.join('?' * len(self.tags))}))"
            )
            params += self.tags
        if self.modified_after:
            clauses.append(f"json_extract({alias}.metadata, '$.modified') >= ?")
            params.append(self.modified_after)
        if self.modified_before:
            clauses.append(f"json_extract({alias}.metadata, '$.modified') < ?")
            params.append(self.modified_before)
        return (" AND ".join(clauses) or "1"), params
