from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import load_settings


@contextmanager
def running_app(data_dir, **overrides):
    """The real app (lifespan and all) on a private DATA_DIR, served in-process."""
    settings = load_settings(data_dir=data_dir, **overrides)
    with TestClient(create_app(settings)) as client:
        yield client


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
