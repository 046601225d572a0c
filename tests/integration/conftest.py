from __future__ import annotations

import json
from contextlib import contextmanager
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection

from app.access.keys import LOCAL_PRINCIPAL, Principal
from app.gateway.dependencies import chat_caller
from app.gateway.factory import create_app
from app.settings import load_settings

LOOPBACK_PEER = ("127.0.0.1", 50000)


class LoopbackClient(TestClient):
    """A test client that is on this machine: its peer is loopback and its requests and
    WebSockets are addressed to 127.0.0.1 (local-only mode serves nothing else)."""

    def __init__(self, app, **kwargs):
        super().__init__(app, base_url="http://127.0.0.1", client=LOOPBACK_PEER, **kwargs)

    def websocket_connect(self, url: str, *args, **kwargs):
        return super().websocket_connect(urljoin("ws://127.0.0.1", url), *args, **kwargs)


@contextmanager
def running_app(data_dir, **overrides):
    """The real app (lifespan and all) on a private DATA_DIR, served in-process to a client on
    loopback (local-only mode serves loopback peers only)."""
    settings = load_settings(data_dir=data_dir, **overrides)
    with LoopbackClient(create_app(settings)) as client:
        yield client


def create_keys(data_dir, scopes_by_owner: dict[str, list[str]]) -> dict[str, str]:
    """API keys created in DATA_DIR's key table, by owner (the service then requires keys)."""
    from app.access.keys import KeyStore

    store = KeyStore(load_settings(data_dir=data_dir).ledger_url)
    try:
        return {owner: store.create(owner, scopes) for owner, scopes in scopes_by_owner.items()}
    finally:
        store.close()


def sse_events(response) -> list[tuple[str, dict]]:
    """Parse a Server-Sent Events body into (event, data) pairs."""
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and name:
            events.append((name, json.loads(line.split(":", 1)[1].strip())))
            name = None
    return events


@pytest.fixture
def extractive_client(data_dir_copy):
    with running_app(data_dir_copy, llm_provider="extractive") as client:
        yield client


BOB = {"x-test-owner": "bob"}  # the second owner's header; without it the caller is alice


def header_caller(connection: HTTPConnection) -> Principal:
    """The caller a test header names (the local owner's scopes: local-only mode)."""
    return Principal(connection.headers.get("x-test-owner", "alice"), LOCAL_PRINCIPAL.scopes)


@pytest.fixture(params=["sqlite", "postgresql"])
def owners_client(request, data_dir_copy):
    """The app (extractive model) where a test header says who calls, so that two owners can be
    played against each other through the real routes; on SQLite and on PostgreSQL."""
    overrides = {"llm_provider": "extractive"}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    with running_app(data_dir_copy, **overrides) as client:
        client.app.dependency_overrides[chat_caller] = header_caller
        yield client
