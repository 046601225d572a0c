"""API keys: who is calling, and what they may do.

A key is `cb_<prefix>_<secret>`; the database keeps its SHA-256 hash (keys are long random
strings, so a fast hash is safe), its owner, its scopes (`chat`, `admin`; `admin` includes
`chat`) and whether it was revoked. Every request looks its key up, so a revoked key
stops working at once, on every replica. With no key in the database the service
runs in local-only mode: a caller on this machine (loopback peer, no proxy) is the one local
owner, anyone else is refused. Once a key has been created (even if all are revoked since),
or with AUTH_REQUIRED=true, keys are required.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.conversations.registry import LOCAL_OWNER
from app.ledgers.database import Database

SCOPES = ("chat", "admin")
SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    prefix TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION,
    last_used_at DOUBLE PRECISION
)
"""
MAX_KEY_CHARS = 512
KEYS_CONFIGURED_TTL = 2.0  # seconds a replica trusts its count of active keys (local-only mode check)


@dataclass(frozen=True)
class Principal:
    owner: str
    scopes: frozenset[str]
    key_prefix: str | None = None  # None: local-only mode

    def may(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


LOCAL_PRINCIPAL = Principal(LOCAL_OWNER, frozenset(SCOPES))


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# A proxy in front of the service means the network is behind it: local-only mode refuses.
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str | None) -> bool:
    """Whether an address (or bind host) is this machine only: 127/8, ::1, `localhost`."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def local_only_refusal(peer_host: str | None, host_header: str | None, header_names: set[str]) -> str | None:
    """Why a caller may not be the local owner in local-only mode (None: it may).

    Only the TCP peer counts (never a forwarded header), and the Host header must name
    this machine too, so a web page that rebinds its DNS name to 127.0.0.1 is refused.
    """
    if not is_loopback(peer_host):
        return "local-only mode serves clients on this machine only"
    if forwarded := sorted(header_names & set(FORWARDING_HEADERS)):
        return f"local-only mode refuses proxied requests ({', '.join(forwarded)} is set)"
    try:
        name = urlsplit(f"//{host_header or ''}").hostname
    except ValueError:
        name = None
    if not is_loopback(name):
        return "local-only mode answers only requests addressed to localhost"
    return None


LOCAL_ONLY_HINT = ("no API key exists yet: create one with `chatbot keys create --owner NAME --scopes admin` "
                   "(or give CHATBOT_BOOTSTRAP_KEY), or set AUTH_REQUIRED=true, to open the service to a network")


class KeyStore:
    def __init__(self, url: str, required: bool = False):
        self.required = required  # AUTH_REQUIRED: keys even before the first one exists
        self._db = Database(url)
        self._db.execute(SCHEMA)
        self._configured: tuple[float, bool] = (0.0, False)

    def create(self, owner: str, scopes: list[str]) -> str:
        """A new key for `owner`; the only time its secret is seen."""
        if owner == LOCAL_OWNER:
            raise ValueError(f"the owner name {LOCAL_OWNER!r} is reserved for local-only mode")
        unknown = set(scopes) - set(SCOPES)
        if unknown or not scopes:
            raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
        prefix = secrets.token_hex(4)
        key = f"cb_{prefix}_{secrets.token_urlsafe(24)}"
        self._db.execute("INSERT INTO api_keys (prefix, key_hash, owner, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
                         (prefix, _hash(key), owner, ",".join(sorted(set(scopes))), time.time()))
        self._configured = (0.0, False)
        return key

    def ensure(self, key: str, owner: str, scopes: list[str]) -> bool:
        """Store a key given from outside (a container's bootstrap secret) unless it is stored
        already; only its hash is kept. Returns whether it was added."""
        if len(key) < 32:
            raise ValueError("a bootstrap key must be at least 32 characters")
        if owner == LOCAL_OWNER or not scopes or set(scopes) - set(SCOPES):
            raise ValueError(f"a bootstrap key needs an owner other than {LOCAL_OWNER!r} and scopes among "
                             f"{', '.join(SCOPES)}")
        if self._db.execute("SELECT 1 FROM api_keys WHERE key_hash = ?", (_hash(key),)):
            return False
        matched = re.fullmatch(r"cb_([0-9a-f]{8})_.+", key)
        prefix = matched.group(1) if matched else _hash(key)[:8]
        self._db.execute("INSERT INTO api_keys (prefix, key_hash, owner, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
                         (prefix, _hash(key), owner, ",".join(sorted(set(scopes))), time.time()))
        self._configured = (0.0, False)
        return True

    def authenticate(self, key: str) -> Principal | None:
        """The key's principal, or None for an unknown or revoked key."""
        if not 32 <= len(key) <= MAX_KEY_CHARS:  # no key is this short or long: no lookup
            return None
        rows = self._db.execute("SELECT prefix, owner, scopes FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                                (_hash(key),))
        if not rows:
            return None
        prefix, owner, scopes = rows[0]
        return Principal(owner, frozenset(scopes.split(",")), prefix)

    def touch(self, prefix: str) -> None:
        self._db.execute("UPDATE api_keys SET last_used_at = ? WHERE prefix = ?", (time.time(), prefix))

    def revoke(self, prefix: str) -> bool:
        rows = self._db.execute("UPDATE api_keys SET revoked_at = ? WHERE prefix = ? AND revoked_at IS NULL "
                                "RETURNING prefix", (time.time(), prefix.removeprefix("cb_").split("_")[0]))
        self._configured = (0.0, False)
        return bool(rows)

    def keys_configured(self) -> bool:
        """Whether keys are in use: any key was ever created, revoked ones included, so that
        revoking the last key closes the service instead of opening it (cached briefly:
        this is asked by requests without a key)."""
        checked_at, configured = self._configured
        if time.monotonic() - checked_at > KEYS_CONFIGURED_TTL:
            configured = self.required or bool(self._db.execute("SELECT 1 FROM api_keys LIMIT 1"))
            self._configured = (time.monotonic(), configured)
        return configured

    def list(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT prefix, owner, scopes, created_at, revoked_at, last_used_at FROM api_keys "
                                "ORDER BY created_at")
        keys = ("prefix", "owner", "scopes", "created_at", "revoked_at", "last_used_at")
        return [dict(zip(keys, row)) for row in rows]

    def ping(self) -> None:
        self._db.execute("SELECT 1")

    def close(self) -> None:
        self._db.close()
