"""`chatbot keys ...`: API keys (create, list, revoke); the database keeps only their hashes."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import console, fail, settings_or_exit
from app.conversations.transcripts import format_time

keys = typer.Typer(help="API keys: each has an owner and scopes (chat, admin).", no_args_is_help=True)


def _store():
    from app.access.keys import KeyStore

    return KeyStore(settings_or_exit().ledger_url)


@keys.command("create")
def create(
    owner: Annotated[str, typer.Option(help="whose conversations the key reads and writes")],
    scopes: Annotated[str, typer.Option(help="comma-separated: chat, admin (admin includes chat)")] = "chat",
) -> None:
    """Create a key and print it (once: only its hash is stored)."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", owner):
        fail("--owner must be 1-64 letters, digits or _ . @ -")
    store = _store()
    try:
        key = store.create(owner, [s.strip() for s in scopes.split(",") if s.strip()])
    except ValueError as exc:
        fail(str(exc))
    finally:
        store.close()
    print(key)
    console.print(f"key for {owner} ({scopes}); store it now, it is not shown again. "
                  "With a key configured, every route but /health needs one.")


@keys.command("list")
def list_() -> None:
    """Every key: prefix, owner, scopes, created, last used, revoked."""
    store = _store()
    try:
        rows = store.list()
    finally:
        store.close()
    for row in rows:
        state = f"revoked {format_time(row['revoked_at'])}" if row["revoked_at"] else "active"
        print(f"cb_{row['prefix']}  {row['owner']:<20} {row['scopes']:<11} created {format_time(row['created_at'])}"
              f"  last used {format_time(row['last_used_at'])}  {state}")
    console.print(f"{len(rows)} key(s); keys are required: {'yes' if rows else 'no (local-only mode)'}")


@keys.command("revoke")
def revoke(prefix: Annotated[str, typer.Argument(help="the key's prefix (cb_xxxxxxxx) or the key")]) -> None:
    """Revoke a key: it stops working on the next request, on every replica."""
    store = _store()
    try:
        revoked = store.revoke(prefix)
    finally:
        store.close()
    if not revoked:
        fail(f"no active key {prefix!r}", code=1)
    print(f"revoked {prefix}")
