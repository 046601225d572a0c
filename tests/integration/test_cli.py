"""The runbook's vector store operations through the `chatbot` command."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.retrieval import lexical
from app.retrieval.catalog import IndexCatalog
from tests.conftest import KNOWLEDGE_BASE


@pytest.fixture
def indexed(tmp_path, kb_data_dir):
    """DATA_DIR starts with the session's index of the sample knowledge base."""
    shutil.copytree(kb_data_dir, tmp_path / "data")


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()

    def invoke(*args, code=0):
        result = runner.invoke(cli, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def test_the_runbook_indexing_steps(run, tmp_path):
    processed, embedded = tmp_path / "processed", tmp_path / "embeddings"
    documents = len(list(KNOWLEDGE_BASE.glob("*.md")))
    assert f"documents: {documents}, chunks:" in run("prepare", "--source", str(KNOWLEDGE_BASE), "--output",
                                                     str(processed))
    run("embed", "--input", str(processed), "--output", str(embedded), "--batch-size", "100")
    assert json.loads((embedded / "manifest.json").read_text())["dimensions"] == 384
    out = run("index", "--embeddings", str(embedded), "--vector-store", "embedded", "--index", "knowledge-base")
    assert "chunks/s" in out
    out = run("verify", "--index", "knowledge-base")
    assert "status: OK" in out and f"documents: {documents}" in out and "dimensions: 384" in out
    out = run("search", "--query", "How do I roll back a Kubernetes deployment?", "--top-k", "5")
    lines = out.splitlines()
    assert lines[0] == "Top 5 results:" and lines[1].startswith("1. (score: 0.")
    assert "[kubernetes-model-deployment]" in lines[1]


def test_add_delete_and_sync(indexed, run, tmp_path):
    kb = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE_BASE, kb)
    documents = len(list(KNOWLEDGE_BASE.glob("*.md")))
    out = run("index", "--source", str(kb))
    assert f"({documents} unchanged)" in out and f"(0 documents read, {documents} unchanged)" in out
    new_docs = tmp_path / "new_docs"
    new_docs.mkdir()
    (new_docs / "gpu-quotas.md").write_text("# GPU quotas\n\nEach team may use 8 A100 GPUs at once.\n")
    assert "documents: 1 " in run("add", "--documents", str(new_docs))
    assert "[gpu-quotas]" in run("search", "--query", "How many A100 GPUs may a team use?", "--top-k", "1")
    assert "deleted" in run("delete", "--doc-ids", "gpu-quotas,sagemaker-deployment")
    (kb / "lambda-serverless-inference.md").unlink()
    assert "removed documents: 1" in run("index", "--source", str(kb), "--sync")
    out = run("verify")
    assert f"documents: {documents - 1}" in out and "status: OK" in out  # sagemaker came back, lambda went


def test_rebuild_swap_and_prune(indexed, run, tmp_path):
    out = run("rebuild", "--old-index", "knowledge-base", "--new-index", "knowledge-base-v2", "--reindex")
    assert "built knowledge-base-v2" in out
    assert "serves" not in run("indexes", "list").split("knowledge-base-v2")[1].splitlines()[0]
    run("indexes", "swap", "--alias", "knowledge-base", "--index", "knowledge-base-v2")
    assert "serves knowledge-base" in run("indexes", "list")
    assert "status: OK" in run("verify")
    assert "deleted index knowledge-base" in run("indexes", "prune")
    out = run("rebuild", "--source", str(KNOWLEDGE_BASE), "--swap")
    assert "knowledge-base-v2 -> knowledge-base-v3" in " ".join(out.split())


def test_operator_mistakes_get_clear_errors(run, tmp_path):
    assert "not a directory" in run("index", "--source", str(tmp_path / "missing"), code=2)
    assert "exactly one of" in run("index", code=2)
    assert "the index is empty" in run("verify", code=1)
    assert "does not exist" in run("indexes", "swap", "--alias", "knowledge-base", "--index", "nope", code=2)
    assert "invalid index name" in run("verify", "--index", "../../etc", code=2)


def test_bench_search_prints_percentiles(indexed, run, tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text("How do I deploy a model?\nWhat is the RPO?\n")
    result = json.loads(run("bench", "search", "--queries", str(queries), "--iterations", "20").strip().splitlines()[-1])
    assert result["iterations"] == 20 and 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]


def test_snapshot_copies_the_serving_index(indexed, run, tmp_path):
    assert "snapshot written" in run("snapshot", "--name", "kb-before-upgrade")
    backup = tmp_path / "data" / "backups" / "kb-before-upgrade.sqlite"
    import sqlite3

    from app.ingestion.pipeline import load_directory
    from app.settings import Settings

    settings = Settings()
    chunks = sum(len(c) for _, c in load_directory(KNOWLEDGE_BASE, chunk_size=settings.chunk_size,
                                                    chunk_overlap=settings.chunk_overlap))
    with sqlite3.connect(backup) as conn:
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == chunks


def test_opensearch_index_lifecycle_through_the_cli(run, tmp_path, monkeypatch):
    """index, rebuild --reindex and --source, swap, prune, verify against osmem."""
    import uuid

    from osmem_server import OsmemServer

    corpus = tmp_path / "kb"
    corpus.mkdir()
    (corpus / "restarts.md").write_text("# Restarts\n\nRestart the worker with systemctl restart worker.\n")
    (corpus / "backups.md").write_text("# Backups\n\nThe database is backed up every five minutes.\n")
    alias = f"kb-{uuid.uuid4().hex[:6]}"
    with OsmemServer.start(japanese=False) as server:
        monkeypatch.setenv("VECTOR_STORE", "opensearch")
        monkeypatch.setenv("VECTOR_STORE_URL", server.url)
        monkeypatch.setenv("VECTOR_STORE_INDEX", alias)
        assert "written: 2" in run("index", "--source", str(corpus))
        assert "written: 2" in run("rebuild", "--reindex", "--new-index", f"{alias}-v2")
        run("indexes", "swap", "--alias", alias, "--index", f"{alias}-v2")
        listing = run("indexes", "list")
        assert f"{alias}-v2: 2 chunks, model all-MiniLM-L6-v2, serves {alias}" in listing
        assert f"deleted index {alias}-v1" in run("indexes", "prune")
        out = " ".join(run("rebuild", "--source", str(corpus), "--swap").split())
        assert f"{alias}-v2 -> {alias}-v3" in out
        verify = run("verify", code=1)  # osmem has no hybrid search: verify says so
        assert "documents: 2" in verify and "the sample query failed" in verify
        assert "VECTOR_STORE_SNAPSHOT_REPOSITORY" in run("snapshot", code=2)


def test_verify_finds_a_lagging_lexical_index_and_index_catches_it_up(indexed, run, tmp_path):
    catalog = IndexCatalog(tmp_path / "data" / "index")
    lexical.drop(catalog.resolve_path("knowledge-base"))  # as if every write's sync had failed
    out = run("verify", code=1)
    assert "the lexical index lags" in out and "sample query: 'How do I deploy a model?' -> " in out
    assert f"({len(list(KNOWLEDGE_BASE.glob('*.md')))} unchanged)" in run("index", "--source", str(KNOWLEDGE_BASE))
    out = run("verify")
    assert "status: OK" in out and "lexical index: tantivy covering" in out


def test_context_prints_the_runbook_breakdown_of_a_conversation(indexed, run, tmp_path, monkeypatch):
    from tests.integration.conftest import running_app

    monkeypatch.setenv("LLM_PROVIDER", "extractive")
    with running_app(tmp_path / "data", llm_provider="extractive") as client:
        for question in ("What is the RPO for conversations?", "How long are conversations kept?"):
            client.post("/chat", json={"message": question, "conversation_id": "abc123"})
    out = run("context", "--conversation-id", "abc123")
    lines = out.splitlines()
    assert lines[0] == "Conversation: abc123" and lines[1] == "Messages: 4"
    parts = {line.split(":")[0].strip(): int(line.split(":")[1].split()[0].replace(",", "")) for line in lines[3:7]}
    assert set(parts) == {"System prompt", "Conversation history", "Retrieved context", "Current query"}
    assert parts["Conversation history"] > 0 and parts["Retrieved context"] > 0
    total = int(lines[2].split(":")[1].split()[0].replace(",", ""))
    assert total == sum(parts.values()) + 8  # and each of the two turn messages' role lines
    assert "no conversation 'nope'" in run("context", "--conversation-id", "nope", code=1)


def test_cost_analysis_reports_a_months_spend_and_where_to_save(tmp_path, monkeypatch):
    import datetime as dt

    from app.ledgers.usage import ModelCall, UsageLedger, parse_prices

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLM_PRICES", '{"house-model": [0.001, 0.002]}')
    ledger = UsageLedger(f"sqlite:///{tmp_path / 'usage.sqlite'}", parse_prices('{"house-model": [0.001, 0.002]}'))
    at = dt.datetime(2026, 10, 5, 12, tzinfo=dt.UTC).timestamp()
    ledger.record(ModelCall("azure", "house-model", "answered", 9000, 500, 10.0, "c-1"), at=at)
    ledger.record(ModelCall("azure", "house-model", "failed", 9000, 0, 10.0, "c-2"), at=at)
    ledger.record(ModelCall("azure", "house-model", "answered", 1000, 100, 10.0, "c-1"), at=at + 86_400 * 40)
    ledger.close()
    result = CliRunner().invoke(cli, ["cost-analysis", "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "Estimated cost: $0.02 for 18,500 tokens (18,000 prompt, 500 completion)" in result.output
    assert "Month: 2026-10 (1 day with model calls)" in result.output
    assert "Per answer: $0.0190 (1 answer, retries and failures included)" in result.output
    assert "Projected" not in result.output  # a past month
    # The costliest first: c-1's answer ($0.010) before c-2's failed call ($0.009).
    assert result.output.index("  c-1: $0.0100") < result.output.index("  c-2: $0.0090")
    assert "prompts are 97% of the tokens" in result.output and "47% of the cost went to calls" in result.output
    bad = CliRunner().invoke(cli, ["cost-analysis", "--month", "October"])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
