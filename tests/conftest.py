"""Shared fixtures: the real embedding model, and a real index of the sample knowledge base."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("LANGSMITH_TRACING", "false")
os.environ.setdefault("LANGSMITH_TEST_TRACKING", "false")
# The service's JSON log goes to a directory of this test run, not to ./logs of the checkout
# (nor to one shared by every run on the machine, whose 24 h of errors `chatbot health` reads).
os.environ.setdefault("LOG_FILE", os.path.join(tempfile.mkdtemp(prefix="chatbot-tests-"), "chatbot.log"))

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE_BASE = ROOT / "data" / "knowledge_base"


@pytest.fixture(scope="session")
def embeddings():
    from app.retrieval.embeddings import MiniLMEmbeddings

    return MiniLMEmbeddings()


@pytest.fixture(scope="session")
def kb_data_dir(tmp_path_factory, embeddings) -> Path:
    """A DATA_DIR whose index and knowledge graph hold the sample knowledge base (built once per session)."""
    from app.ingestion import index_directory
    from app.ingestion.knowledge_graph import KnowledgeGraph, graph_path
    from app.retrieval import build_vector_store
    from app.settings import Settings

    data_dir = tmp_path_factory.mktemp("kb-data")
    store = build_vector_store(Settings(data_dir=data_dir), embeddings)
    index_directory(store, KNOWLEDGE_BASE)
    store.close()
    graph = KnowledgeGraph(graph_path(data_dir))
    graph.sync_directory(KNOWLEDGE_BASE)
    graph.close()
    return data_dir


@pytest.fixture(scope="session")
def kb_store(kb_data_dir, embeddings):
    from app.retrieval import build_vector_store
    from app.settings import Settings

    return build_vector_store(Settings(data_dir=kb_data_dir), embeddings)


@pytest.fixture
def data_dir_copy(kb_data_dir, tmp_path) -> Path:
    """A private DATA_DIR with a copy of the indexed knowledge base (own conversations)."""
    import shutil

    target = tmp_path / "data"
    shutil.copytree(kb_data_dir, target)
    return target


POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def new_postgres_database():
    """A fresh PostgreSQL database on the server on this machine (its URL), dropped after."""
    import uuid

    import psycopg

    name = f"chatbot_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}); see ../shared/notes/services.md")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this test run, dropped after."""
    with new_postgres_database() as url:
        yield url
