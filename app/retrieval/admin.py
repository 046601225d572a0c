"""Index administration for `chatbot rebuild`, `chatbot indexes ...` and `chatbot snapshot`.

One interface over the backends that have versioned indexes behind an alias: the
embedded store (files and `aliases.json`) and OpenSearch (indexes and `_aliases`).
Pinecone has no aliases: its indexes are managed in Pinecone's console.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from app.retrieval.catalog import IndexCatalog, IndexNameError, check_name
from app.retrieval.store import EmbeddedVectorStore
from app.settings import ConfigurationError, Settings


@dataclass
class IndexInfo:
    name: str
    chunks: int
    embedding_model: str | None
    serves: list[str] = field(default_factory=list)
    shadowed: bool = False  # an embedded index named like an alias, hidden by it


def _family(alias: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(alias)}(-v\d+)?$")


def next_version(alias: str, names: list[str]) -> str:
    pattern = re.compile(rf"^{re.escape(alias)}-v(\d+)$")
    versions = [int(m.group(1)) for name in names if (m := pattern.match(name))]
    return f"{alias}-v{max(versions, default=1) + 1}"


class EmbeddedAdmin:
    def __init__(self, settings: Settings, embeddings: Embeddings):
        self.catalog = IndexCatalog(settings.index_dir)
        self.ann_min_chunks = settings.ann_min_chunks
        self.embeddings = embeddings
        self.backups = settings.data_dir / "backups"

    def _recorded_model(self, path: Path) -> str | None:
        with sqlite3.connect(path) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'embedding_model'").fetchone()
        return row[0] if row else None

    def indexes(self) -> list[IndexInfo]:
        aliases = self.catalog.aliases()
        infos = []
        for name in self.catalog.indexes():
            with sqlite3.connect(self.catalog.path(name)) as conn:
                chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
            infos.append(IndexInfo(name, chunks, self._recorded_model(self.catalog.path(name)),
                                   [a for a, t in aliases.items() if t == name], name in aliases))
        return infos

    def next_version(self, alias: str) -> str:
        return self.catalog.next_version(alias)

    def exists(self, index: str) -> bool:
        return self.catalog.exists(index)

    def open_new(self, index: str) -> EmbeddedVectorStore:
        return EmbeddedVectorStore(self.catalog.path(index), self.embeddings, ann_min_chunks=self.ann_min_chunks)

    def open_live(self, alias: str) -> EmbeddedVectorStore:
        path = self.catalog.resolve_path(alias)
        if not path.is_file():
            raise FileNotFoundError(f"no index serves {alias!r}: build one with --source DIR")
        # Opened under the model it was built with: a rebuild only reads its texts.
        return EmbeddedVectorStore(path, self.embeddings, model_name=self._recorded_model(path))

    def swap(self, alias: str, index: str) -> str | None:
        return self.catalog.swap(alias, index)

    def stale(self, alias: str) -> list[str]:
        return self.catalog.stale(alias)

    def drop(self, index: str) -> None:
        self.catalog.drop(index)

    def snapshot(self, alias: str, name: str | None = None) -> str:
        """An online copy of the serving index (SQLite's backup API: consistent under writes)."""
        source = self.catalog.resolve_path(alias)
        if not source.is_file():
            raise FileNotFoundError(f"no index serves {alias!r}")
        self.backups.mkdir(parents=True, exist_ok=True)
        target = self.backups / f"{check_name(name or _snapshot_name(source.stem))}.sqlite"
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return str(target)


class OpenSearchAdmin:
    def __init__(self, store: Any, repository: str | None):
        self.store = store
        self.client = store.client
        self.repository = repository

    def _aliases(self) -> dict[str, list[str]]:
        """index -> aliases, for every index of the cluster."""
        return {name: list(body.get("aliases", {})) for name, body in self.client.indices.get_alias(index="*").items()}

    def indexes(self) -> list[IndexInfo]:
        infos = []
        for name, aliases in sorted(self._aliases().items()):
            if name.startswith("."):
                continue
            meta = next(iter(self.client.indices.get_mapping(index=name).values()))["mappings"].get("_meta", {})
            chunks = self.client.count(index=name)["count"]
            infos.append(IndexInfo(name, chunks, meta.get("embedding_model"), aliases))
        return infos

    def next_version(self, alias: str) -> str:
        return next_version(alias, list(self._aliases()))

    def exists(self, index: str) -> bool:
        return bool(self.client.indices.exists(index=index))

    def open_new(self, index: str) -> Any:
        from app.retrieval.opensearch import OpenSearchStore

        store = OpenSearchStore(self.client, index, self.store._embedding, model_name=self.store.model_name,
                                rrf_k=self.store.rrf_k)
        store.create_index(index, len(self.store._embedding.embed_query("dimension probe")))
        return store

    def open_live(self, alias: str) -> Any:
        if not self.client.indices.exists_alias(name=alias):
            raise FileNotFoundError(f"no index serves {alias!r}: build one with --source DIR")
        return self.store

    def swap(self, alias: str, index: str) -> str | None:
        if not self.exists(index):
            raise FileNotFoundError(f"index {index!r} does not exist")
        old = self.store.swap_alias(index)
        return ", ".join(old) or None

    def stale(self, alias: str) -> list[str]:
        family = _family(alias)
        return [name for name, aliases in self._aliases().items() if family.match(name) and not aliases]

    def drop(self, index: str) -> None:
        if self._aliases().get(index):
            raise IndexNameError(f"index {index!r} is serving an alias; swap the alias first")
        self.client.indices.delete(index=index)

    def snapshot(self, alias: str, name: str | None = None) -> str:
        if not self.repository:
            raise ConfigurationError("set VECTOR_STORE_SNAPSHOT_REPOSITORY to a registered snapshot repository")
        snapshot = name or _snapshot_name(alias)
        self.store.snapshot(self.repository, snapshot)
        return f"{self.repository}/{snapshot}"


def _snapshot_name(base: str) -> str:
    return f"{base}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def build_admin(settings: Settings, embeddings: Embeddings) -> EmbeddedAdmin | OpenSearchAdmin:
    match settings.vector_store:
        case "embedded":
            return EmbeddedAdmin(settings, embeddings)
        case "opensearch":
            from app.retrieval import build_vector_store

            return OpenSearchAdmin(build_vector_store(settings, embeddings), settings.vector_store_snapshot_repository)
        case other:
            raise ConfigurationError(f"VECTOR_STORE={other} has no index aliases to manage; use its own console")
