"""The embedded store's indexes and aliases: versioned files and an atomic pointer.

Each index is one SQLite file under `DATA_DIR/index/`. An alias (`knowledge-base`) names
the index that serves it (`knowledge-base-v2`); `aliases.json` is replaced atomically
(write, fsync, rename), so a reader sees either the old target or the new one, never a
half-built index. A name with no alias is an index of its own, which is how a fresh
installation starts. The same model as OpenSearch's aliases, on a filesystem.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path

from app.retrieval import lexical

ALIASES_FILE = "aliases.json"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_INDEX_FILE_SUFFIXES = ("", "-wal", "-shm", ".hnsw.npz")  # the database, its journal, its ANN graph


class IndexNameError(ValueError):
    """An index or alias name that is not allowed (it would escape the index directory)."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise IndexNameError(f"invalid index name {name!r}: use lowercase letters, digits, '.', '_' or '-'")
    return name


class IndexCatalog:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._cached: tuple[int, dict[str, str]] | None = None

    def path(self, index: str) -> Path:
        return self.root / f"{check_name(index)}.sqlite"

    def aliases(self) -> dict[str, str]:
        """alias -> index; re-read only when the file changed (one stat per call)."""
        file = self.root / ALIASES_FILE
        try:
            stamp = file.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        with self._lock:
            if self._cached is None or self._cached[0] != stamp:
                self._cached = (stamp, json.loads(file.read_text(encoding="utf-8")))
            return dict(self._cached[1])

    def resolve(self, name: str) -> str:
        """The index that serves `name`: its alias target, or the index of that name."""
        return self.aliases().get(check_name(name), name)

    def resolve_path(self, name: str) -> Path:
        return self.path(self.resolve(name))

    def indexes(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.sqlite"))

    def exists(self, index: str) -> bool:
        return self.path(index).is_file()

    def next_version(self, alias: str) -> str:
        """`alias-vN` with N one above any existing version of the alias."""
        pattern = re.compile(rf"^{re.escape(alias)}-v(\d+)$")
        versions = [int(m.group(1)) for name in self.indexes() if (m := pattern.match(name))]
        return f"{alias}-v{max(versions, default=1) + 1}"

    def swap(self, alias: str, index: str) -> str | None:
        """Point `alias` at `index` atomically; returns the index it served before."""
        check_name(alias)
        if not self.exists(index):
            raise FileNotFoundError(f"index {index!r} does not exist")
        if alias == index:
            raise IndexNameError("an alias cannot point at an index of its own name")
        aliases = self.aliases()
        previous = aliases.get(alias, alias if self.exists(alias) else None)
        aliases[alias] = index
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".aliases-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(aliases, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.root / ALIASES_FILE)
        return previous

    def stale(self, alias: str) -> list[str]:
        """Indexes of the alias's family (`alias`, `alias-vN`) that no alias serves."""
        live = set(self.aliases().values())
        family = re.compile(rf"^{re.escape(alias)}(-v\d+)?$")
        return [
            name for name in self.indexes()
            if family.match(name) and name not in live and self.resolve(alias) != name
        ]

    def drop(self, index: str) -> None:
        if index in self.aliases().values():
            raise IndexNameError(f"index {index!r} is serving an alias; swap the alias first")
        for suffix in _INDEX_FILE_SUFFIXES:
            Path(f"{self.path(index)}{suffix}").unlink(missing_ok=True)
        lexical.drop(self.path(index))
