"""`chatbot eval answers` through the whole graph: offline LangSmith runs, lexical grading for the
extractive model, a judge over a real OpenAI-compatible HTTP server, and the report."""

import json
import re

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.openai_peer import Peer, PeerServer


@pytest.fixture
def workdir(data_dir_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    monkeypatch.delenv("LANGSMITH_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _result(workdir, kind: str) -> dict:
    [path] = (workdir / "evals" / "results").glob(f"{kind}-*.json")
    return json.loads(path.read_text())


def test_answers_are_graded_lexically_without_a_capable_model(workdir, monkeypatch):
    monkeypatch.setenv("LLM_PROVIDER", "extractive")
    result = CliRunner().invoke(cli, ["eval", "answers", "--dataset", "sample_kb", "--limit", "4"])
    assert result.exit_code == 0, result.output
    assert re.search(r"Faithfulness: [\d.]+ \(lexical\)", result.output)
    assert re.search(r"Citation correctness: [\d.]+ \(labels\)", result.output)
    written = _result(workdir, "answers")
    assert written["questions"] == 4 and written["errors"] == 0 and written["provider"] == "extractive"
    assert written["methods"]["answer_correctness"] == "lexical"
    # The extractive model copies passages: every claim is in what it read.
    assert written["summary"]["faithfulness"] == 1.0
    assert [row["id"] for row in written["rows"]] == ["kb-001", "kb-002", "kb-003", "kb-004"]
    assert all(w["passages"] and w["answer"] for w in written["worst"])

    report = CliRunner().invoke(cli, ["eval", "report", "--days", "7"])
    assert report.exit_code == 0, report.output
    html = next((workdir / "reports").glob("quality-*.html")).read_text()
    assert "answers: sample_kb (extractive)" in html and "<svg" in html and written["worst"][0]["question"] in html


def test_unknown_dataset_is_refused_with_the_known_ones(workdir):
    result = CliRunner().invoke(cli, ["eval", "answers", "--dataset", "nope"])
    assert result.exit_code == 2 and "sample_kb" in result.output


@pytest.mark.parametrize(("reply", "method"), [
    ('```json\n{"score": 1, "reason": "states the reference"}\n```', "judge"),
    ("I think it is fine.", "lexical (judge failed)"),
])
def test_a_capable_model_judges_and_an_unreadable_verdict_falls_back(workdir, monkeypatch, reply, method):
    # The peer answers every request the same: the turn's answer and the judge's verdict.
    with PeerServer(Peer(answer=reply)) as peer:
        monkeypatch.setenv("LLM_PROVIDER", "openai")
        monkeypatch.setenv("LLM_MODEL", "peer-model")
        monkeypatch.setenv("OPENAI_BASE_URL", f"{peer.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        result = CliRunner().invoke(cli, ["eval", "answers", "--limit", "2"])
        judged = [p for _, p, _ in peer.requests]
    assert result.exit_code == 0, result.output
    written = _result(workdir, "answers")
    assert written["methods"]["faithfulness"] == method and written["methods"]["answer_correctness"] == method
    if method == "judge":
        # The verdict, not word overlap: the reply shares no word with the reference answers.
        assert written["summary"]["answer_correctness"] == 1.0 and written["summary"]["faithfulness"] == 1.0
        # Per question: one answer, then one verdict per measure.
        assert len(judged) >= 2 * 3
    else:
        assert written["summary"]["answer_correctness"] < 0.5
