"""API keys: who is calling, and what they may do.

A key is `cb_<prefix>_<secret>`; the database keeps its SHA-256 hash (keys are long random
strings, so a fast hash is safe), its owner, its scopes (`chat`, `admin`; `admin` includes
`chat`) and whether it was revoked. Every request looks its key up, so a revoked key
stops working at once, on every replica. With no key in the database the service
runs in local-only mode (app/access/local_only.py). Once a key has been created (even if
all are revoked since), or with AUTH_REQUIRED=true, keys are required.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from app.ledgers.database import Database, owned
from app.ledgers.tables import api_keys

SCOPES = ("chat", "admin")
LOCAL_OWNER = "local"  # the owner of every conversation while the service runs without API keys
MAX_KEY_CHARS = 512
KEYS_CONFIGURED_TTL = 2.0  # seconds a replica trusts its count of active keys (local-only mode check)


@dataclass(frozen=True)
class Principal:
    owner: str
    scopes: frozenset[str]
    key_prefix: str | None = None  # None: local-only mode, or an operator in-process

    def may(self, scope: str) -> bool:
        """Whether this caller has `scope`; scopes it does not know grant nothing."""
        return scope in self.scopes or "admin" in self.scopes


# The local owner (local-only mode) and an operator in-process (the CLI, notebooks, evaluations).
LOCAL_PRINCIPAL = Principal(LOCAL_OWNER, frozenset(SCOPES))


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _checked_scopes(scopes: list[str]) -> str:
    if not scopes or set(scopes) - set(SCOPES):
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
    return ",".join(sorted(set(scopes)))


class KeyStore:
    def __init__(self, db: Database | str, required: bool = False):
        self.required = required  # AUTH_REQUIRED: keys even before the first one exists
        self._db, self._owns_db = owned(db)
        self._db.require("ledgers")
        self._configured: tuple[float, bool] = (0.0, False)
        # Every request runs these: built once, their parameters bound at each call.
        k = api_keys.c
        self._active = select(k.prefix, k.owner, k.scopes).where(k.key_hash == bindparam("hash"),
                                                                 k.revoked_at.is_(None))
        self._touch = api_keys.update().where(k.prefix == bindparam("key")).values(last_used_at=bindparam("at"))

    def _insert(self, prefix: str, key: str, owner: str, scopes: list[str]) -> None:
        self._db.execute(api_keys.insert().values(prefix=prefix, key_hash=_hash(key), owner=owner,
                                                  scopes=_checked_scopes(scopes), created_at=time.time()))
        self._configured = (0.0, False)

    def create(self, owner: str, scopes: list[str]) -> str:
        """A new key for `owner`; the only time its secret is seen."""
        if owner == LOCAL_OWNER:
            raise ValueError(f"the owner name {LOCAL_OWNER!r} is reserved for local-only mode")
        _checked_scopes(scopes)
        prefix = secrets.token_hex(4)
        key = f"cb_{prefix}_{secrets.token_urlsafe(24)}"
        self._insert(prefix, key, owner, scopes)
        return key

    def ensure(self, key: str, owner: str, scopes: list[str]) -> bool:
        """Store a key given from outside (a container's bootstrap secret) unless it is stored
        already; only its hash is kept. Returns whether it was added."""
        if len(key) < 32:
            raise ValueError("a bootstrap key must be at least 32 characters")
        if owner == LOCAL_OWNER or not scopes or set(scopes) - set(SCOPES):
            raise ValueError(f"a bootstrap key needs an owner other than {LOCAL_OWNER!r} and scopes among "
                             f"{', '.join(SCOPES)}")
        if self._db.execute(select(api_keys.c.prefix).where(api_keys.c.key_hash == _hash(key))):
            return False
        matched = re.fullmatch(r"cb_([0-9a-f]{8})_.+", key)
        self._insert(matched.group(1) if matched else _hash(key)[:8], key, owner, scopes)
        return True

    def authenticate(self, key: str) -> Principal | None:
        """The key's principal, or None for an unknown or revoked key."""
        if not 32 <= len(key) <= MAX_KEY_CHARS:  # no key is this short or long: no lookup
            return None
        rows = self._db.execute(self._active, {"hash": _hash(key)})
        if not rows:
            return None
        prefix, owner, scopes = rows[0]
        return Principal(owner, frozenset(scopes.split(",")), prefix)

    def touch(self, prefix: str) -> None:
        self._db.execute(self._touch, {"key": prefix, "at": time.time()})

    def revoke(self, prefix: str) -> bool:
        k = api_keys.c
        rows = self._db.execute(
            api_keys.update().where(k.prefix == prefix.removeprefix("cb_").split("_")[0], k.revoked_at.is_(None))
            .values(revoked_at=time.time()).returning(k.prefix))
        self._configured = (0.0, False)
        return bool(rows)

    def keys_configured(self) -> bool:
        """Whether keys are in use: any key was ever created, revoked ones included, so that
        revoking the last key closes the service instead of opening it (cached briefly:
        this is asked by requests without a key)."""
        configured = self.known_keys_configured()
        if configured is None:
            configured = self.required or bool(self._db.execute(select(api_keys.c.prefix).limit(1)))
            self._configured = (time.monotonic(), configured)
        return configured

    def known_keys_configured(self) -> bool | None:
        """`keys_configured` while its cached answer is fresh, without touching the database; else None."""
        checked_at, configured = self._configured
        return configured if time.monotonic() - checked_at <= KEYS_CONFIGURED_TTL else None

    def list(self) -> list[dict[str, Any]]:
        columns = ("prefix", "owner", "scopes", "created_at", "revoked_at", "last_used_at")
        rows = self._db.execute(select(*(api_keys.c[c] for c in columns)).order_by(api_keys.c.created_at))
        return [dict(zip(columns, row)) for row in rows]

    def ping(self) -> None:
        self._db.execute(select(1))

    def close(self) -> None:
        if self._owns_db:
            self._db.close()
