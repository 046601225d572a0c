"""`chatbot eval prepare` and `chatbot eval search` on the real index of the sample knowledge base."""

import json
import re

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
    assert 0 < relevance < 1 and 0 < top1 <= top5 <= 100
    written = json.loads(next((tmp_path / "evals" / "results").glob("search-*.json")).read_text())
    assert written["questions"] == sum(1 for line in dataset.read_text().splitlines() if line.strip())
    assert round(written["summary"]["hit@5"] * 100) == top5 and len(written["worst"]) == 10
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no labels"}\n')
    refused = CliRunner().invoke(cli, ["eval", "search", "--test-queries", str(bad)])
    assert refused.exit_code == 2 and "relevant_doc_ids" in refused.output


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
