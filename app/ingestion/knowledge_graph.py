"""The knowledge graph beside the index: who depends on, uses, runs on or owns what.

Built at index time from the source documents (`app.ingestion.relations`) into
`DATA_DIR/knowledge-graph.sqlite` (beside `DATA_DIR/index/`, whose every `.sqlite` file is
an index), and kept up to date document by document: a
document whose text is unchanged (same hash) is not read again, a changed one has its
edges replaced in one transaction, and with `sync` a removed one loses its edges. Every
edge keeps the document and the sentence or table row it came from.
"""

from __future__ import annotations

import difflib
import hashlib
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.ingestion.loaders import UnsupportedDocument, load_document
from app.ingestion.relations import Relation, entity_key, extract_relations

SCHEMA = """
CREATE TABLE IF NOT EXISTS kg_documents (
    document_id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kg_edges (
    source_key TEXT NOT NULL,
    source TEXT NOT NULL,
    relation TEXT NOT NULL,
    target_key TEXT NOT NULL,
    target TEXT NOT NULL,
    document_id TEXT NOT NULL,
    evidence TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kg_edges_source ON kg_edges (source_key);
CREATE INDEX IF NOT EXISTS kg_edges_target ON kg_edges (target_key);
CREATE INDEX IF NOT EXISTS kg_edges_document ON kg_edges (document_id);
"""
FILE_NAME = "knowledge-graph.sqlite"
MAX_EVIDENCE_CHARS = 300


@dataclass
class GraphReport:
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    entities: int = 0
    edges: int = 0


@dataclass(frozen=True)
class Edge:
    source: str
    relation: str
    target: str
    document_id: str
    evidence: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "relation": self.relation, "target": self.target,
                "document_id": self.document_id, "evidence": self.evidence}


def graph_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


class KnowledgeGraph:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    # Writing (at index time)

    def replace_document(self, document_id: str, content_hash: str, relations: list[Relation]) -> None:
        rows = [(entity_key(r.source), r.source, r.relation, entity_key(r.target), r.target, document_id,
                 r.evidence[:MAX_EVIDENCE_CHARS]) for r in relations]
        with self._lock, self._db:  # one transaction: the old edges or the new, never half
            self._db.execute("DELETE FROM kg_edges WHERE document_id = ?", (document_id,))
            self._db.executemany("INSERT INTO kg_edges VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.execute("INSERT INTO kg_documents VALUES (?, ?) ON CONFLICT (document_id) DO UPDATE "
                             "SET content_hash = excluded.content_hash", (document_id, content_hash))

    def remove_documents(self, document_ids: list[str]) -> None:
        with self._lock, self._db:
            for document_id in document_ids:
                self._db.execute("DELETE FROM kg_edges WHERE document_id = ?", (document_id,))
                self._db.execute("DELETE FROM kg_documents WHERE document_id = ?", (document_id,))

    def sync_directory(self, root: Path, *, sync: bool = False) -> GraphReport:
        """Bring the graph up to date with the documents under `root` (as `chatbot index` does)."""
        from app.ingestion.pipeline import document_id_for, find_sources

        report = GraphReport()
        known = self.document_hashes()
        seen = set()
        for path in find_sources(root):
            document_id = document_id_for(path, root)
            seen.add(document_id)
            content_hash = hashlib.sha256(path.read_bytes()).hexdigest()
            if known.get(document_id) == content_hash:
                report.unchanged += 1
                continue
            try:
                text = load_document(path).text
            except UnsupportedDocument:
                continue  # the index reports it; an unreadable file keeps its old edges
            self.replace_document(document_id, content_hash, extract_relations(text))
            report.updated.append(document_id)
        if sync:
            report.removed = sorted(set(known) - seen)
            self.remove_documents(report.removed)
        report.entities, report.edges = self.size()
        return report

    # Reading (the query_knowledge_graph tool)

    def document_hashes(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT document_id, content_hash FROM kg_documents"))

    def size(self) -> tuple[int, int]:
        with self._lock:
            entities = self._db.execute("SELECT count(*) FROM (SELECT source_key FROM kg_edges UNION "
                                        "SELECT target_key FROM kg_edges)").fetchone()[0]
            edges = self._db.execute("SELECT count(*) FROM kg_edges").fetchone()[0]
        return entities, edges

    def entity_names(self) -> dict[str, str]:
        """Every entity's key and its most used spelling."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, name FROM (SELECT key, name, count(*) AS n FROM ("
                "SELECT source_key AS key, source AS name FROM kg_edges UNION ALL "
                "SELECT target_key, target FROM kg_edges) GROUP BY key, name ORDER BY n ASC)").fetchall()
        return dict(rows)  # the most used spelling comes last and wins

    def find_entity(self, name: str) -> str | None:
        """The key of the entity `name` means: exact, then a word match, then a close spelling."""
        names = self.entity_names()
        key = entity_key(name)
        if key in names:
            return key
        words = [k for k in names if f" {key} " in f" {k} " or f" {k} " in f" {key} "]
        if words:
            return min(words, key=len)
        close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.8)
        return close[0] if close else None

    def edges(self, key: str, direction: str) -> list[Edge]:
        """Edges into the entity (`dependents`), out of it (`dependencies`), or both (`related`)."""
        where = {"dependents": "target_key = ?", "dependencies": "source_key = ?",
                 "related": "(source_key = ? OR target_key = ?)"}[direction]
        params = (key, key) if direction == "related" else (key,)
        with self._lock:
            rows = self._db.execute(f"SELECT source, relation, target, document_id, evidence FROM kg_edges "
                                    f"WHERE {where} ORDER BY relation, source, target, document_id", params).fetchall()
        return [Edge(*row) for row in rows]

    def close(self) -> None:
        self._db.close()


def describe(entity_key_: str, edges: list[Edge]) -> dict[str, Any]:
    """Edges grouped by the entity at their other end: what it relies on, what relies on it."""
    groups: dict[str, dict[str, dict[str, Any]]] = {"dependencies": {}, "dependents": {}}
    for edge in edges:
        incoming = entity_key(edge.target) == entity_key_
        other = edge.source if incoming else edge.target
        group = groups["dependents" if incoming else "dependencies"].setdefault(
            entity_key(other), {"entity": other, "relations": set(), "documents": set()})
        group["relations"].add(edge.relation)
        group["documents"].add(edge.document_id)
    return {
        side: [{"entity": g["entity"], "relations": sorted(g["relations"]), "documents": sorted(g["documents"])}
               for g in sorted(found.values(), key=lambda g: g["entity"].lower())]
        for side, found in groups.items()
    }
