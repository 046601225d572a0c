"""`chatbot eval prepare`, `search` and `tune` on the real index of the sample knowledge base."""

import json
import re
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.conftest import ROOT
from tests.unit.test_eval_metrics import _sources


def test_eval_search_prints_the_runbooks_lines_and_writes_results(data_dir_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.chdir(tmp_path)
    dataset = ROOT / "evals" / "datasets" / "sample_kb.jsonl"
    result = CliRunner().invoke(cli, ["eval", "search", "--test-queries", str(dataset)])
    assert result.exit_code == 0, result.output
    relevance = float(re.search(r"Average relevance score: ([\d.]+)", result.output).group(1))
    top1 = int(re.search(r"Top-1 accuracy: (\d+)%", result.output).group(1))
    top5 = int(re.search(r"Top-5 accuracy: (\d+)%", result.output).group(1))
    assert 0 < relevance <= 1 and 0 < top1 <= top5 <= 100
    written = json.loads(next((tmp_path / "evals" / "results").glob("search-*.json")).read_text())
    assert written["questions"] == sum(1 for line in dataset.read_text().splitlines() if line.strip())
    assert round(written["summary"]["hit@5"] * 100) == top5 and len(written["worst"]) == 10
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no labels"}\n')
    refused = CliRunner().invoke(cli, ["eval", "search", "--test-queries", str(bad)])
    assert refused.exit_code == 2 and "relevant_doc_ids" in refused.output


def test_eval_search_measures_each_mode_and_prints_json(data_dir_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.chdir(tmp_path)
    dataset = ROOT / "evals" / "datasets" / "sample_kb.jsonl"
    result = CliRunner().invoke(cli, ["eval", "search", "--test-queries", str(dataset), "--modes", "hybrid,vector,bm25",
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"hybrid", "vector", "bm25"} <= set(report) and report["questions"] == 68
    for mode in ("hybrid", "vector", "bm25"):
        assert 0 < report[mode]["hit@1"] <= report[mode]["hit@5"] <= 1 and 0 < report[mode]["ndcg@10"] <= 1
    assert "context_relevance" in report["hybrid"] and "context_relevance" not in report["bm25"]
    written = json.loads(next((tmp_path / "evals" / "results").glob("search-*.json")).read_text())
    assert written["modes"] == ["hybrid", "vector", "bm25"] and written["by_mode"]["bm25"] == report["bm25"]
    refused = CliRunner().invoke(cli, ["eval", "search", "--test-queries", str(dataset), "--modes", "fuzzy"])
    assert refused.exit_code == 2 and "hybrid,vector,bm25" in refused.output


def test_eval_prepare_builds_the_dataset_and_links_the_corpus(tmp_path):
    _sources(tmp_path / "sources")
    result = CliRunner().invoke(cli, ["eval", "prepare", "python-docs", "--sources", str(tmp_path / "sources"),
                                      "--output", str(tmp_path / "pydocs.jsonl"),
                                      "--corpus-dir", str(tmp_path / "corpus")])
    assert result.exit_code == 0, result.output
    assert "2 questions from the Python FAQ, labelled with 3 pages" in result.output
    lines = (tmp_path / "pydocs.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["pyfaq-001", "pyfaq-002"]
    missing = CliRunner().invoke(cli, ["eval", "prepare", "python-docs", "--sources", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "apt-get install python3.11-doc" in " ".join(missing.output.split())


def test_eval_tune_prints_the_best_settings_and_applies_them(data_dir_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.chdir(tmp_path)
    env_file = tmp_path / "tuned.env"
    env_file.write_text("LLM_PROVIDER=extractive\n")
    result = CliRunner().invoke(cli, ["eval", "tune", "--metric", "ndcg", "--optimization-trials", "4",
                                      "--no-chunk-sizes", "--apply", "--settings-file", str(env_file)])
    assert result.exit_code == 0, result.output
    now, best = map(float, re.search(r"ndcg@10 on 4\d tuning questions: ([\d.]+) now, ([\d.]+) best",
                                     result.output).groups())
    assert best >= now  # the current settings are the first trial
    assert re.search(r"ndcg@10 on 2\d held-out questions", result.output)
    written = json.loads(next((tmp_path / "evals" / "results").glob("tune-*.json")).read_text())
    assert written["trials"] == 4 and written["best"]["tuning"]["ndcg@10"] == best
    applied = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert applied["LLM_PROVIDER"] == "extractive"  # the rest of the file is kept
    assert applied["RRF_K"] == str(written["best"]["settings"]["rrf_k"])
    assert float(applied["BM25_WEIGHT"]) + float(applied["VECTOR_WEIGHT"]) == pytest.approx(1.0)
    assert applied["CHUNK_SIZE"] == "800"  # not searched: the index keeps its chunks
    # The settings file now configures the search the service runs.
    from app.settings import Settings
    tuned = Settings(_env_file=env_file)
    assert tuned.rrf_k == written["best"]["settings"]["rrf_k"]


def test_eval_embeddings_reports_vectors_the_model_did_not_write(data_dir_copy, tmp_path, monkeypatch):
    import sqlite3

    import numpy as np

    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.chdir(tmp_path)
    healthy = CliRunner().invoke(cli, ["eval", "embeddings", "--sample-size", "40"])
    assert healthy.exit_code == 0, healthy.output
    assert "cosine mean 1.000" in healthy.output and "(0 below 0.99)" in healthy.output
    separation = float(re.search(r"separation ([+-][\d.]+)", healthy.output).group(1))
    assert separation > 0  # chunks of one document are closer to each other than to others

    # Vectors written by "another model": random unit vectors in place of five chunks'.
    index = next((data_dir_copy / "index").glob("*.sqlite"))
    with sqlite3.connect(index) as conn:
        rows = conn.execute("SELECT rowid, vector FROM chunks ORDER BY rowid LIMIT 5").fetchall()
        rng = np.random.default_rng(0)
        for rowid, blob in rows:
            vector = rng.standard_normal(len(blob) // 4).astype(np.float32)
            conn.execute("UPDATE chunks SET vector = ? WHERE rowid = ?",
                         ((vector / np.linalg.norm(vector)).tobytes(), rowid))
    drifted = CliRunner().invoke(cli, ["eval", "embeddings", "--sample-size", "1000"])
    assert drifted.exit_code == 0, drifted.output
    assert "(5 below 0.99: re-index with this model)" in drifted.output


def test_enable_hybrid_search_writes_the_runbooks_weights(tmp_path):
    env_file = tmp_path / "settings.env"
    env_file.write_text("LLM_PROVIDER=extractive\nBM25_WEIGHT=0.5\n")
    result = CliRunner().invoke(cli, ["enable-hybrid-search", "--bm25-weight", "0.3", "--vector-weight", "0.7",
                                      "--settings-file", str(env_file)])
    assert result.exit_code == 0, result.output
    from app.settings import Settings
    settings = Settings(_env_file=env_file)
    assert (settings.bm25_weight, settings.vector_weight, settings.llm_provider) == (0.3, 0.7, "extractive")
    assert env_file.read_text().count("BM25_WEIGHT") == 1  # replaced, not appended twice
    refused = CliRunner().invoke(cli, ["enable-hybrid-search", "--bm25-weight", "0", "--vector-weight", "0",
                                       "--settings-file", str(env_file)])
    assert refused.exit_code == 2 and "both be 0" in refused.output


def test_eval_tune_tries_chunk_sizes_on_scratch_indexes_only(data_dir_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.chdir(tmp_path)
    live = {p.name: p.stat().st_mtime_ns for p in (data_dir_copy / "index").iterdir()}
    scratch_before = set(Path(tempfile.gettempdir()).glob("chatbot-tune-*"))
    result = CliRunner().invoke(cli, ["eval", "tune", "--trials", "3", "--source", str(ROOT / "data" / "knowledge_base")])
    assert result.exit_code == 0, result.output
    assert "indexing with 800-character chunks" in result.output
    written = json.loads(next((tmp_path / "evals" / "results").glob("tune-*.json")).read_text())
    assert written["best"]["settings"]["chunk_size"] in (400, 600, 800, 1200)
    # The service's index is untouched and the scratch indexes are gone.
    assert {p.name: p.stat().st_mtime_ns for p in (data_dir_copy / "index").iterdir()} == live
    assert set(Path(tempfile.gettempdir()).glob("chatbot-tune-*")) == scratch_before
    too_few = CliRunner().invoke(cli, ["eval", "tune", "--trials", "1", "--no-chunk-sizes", "--holdout", "0.9",
                                       "--dataset", str(_tiny_dataset(tmp_path))])
    assert too_few.exit_code == 2 and "too few" in too_few.output


def _tiny_dataset(directory: Path) -> Path:
    path = directory / "tiny.jsonl"
    path.write_text(json.dumps({"id": "t-1", "question": "What is the RPO?", "reference_answer": "One hour.",
                                "relevant_doc_ids": ["backup-and-disaster-recovery"]}) + "\n")
    return path
