"""The offline runner: LangSmith's `evaluate` with no network, and failed turns scored as failed."""

import asyncio
import datetime as dt
import socket

from evals.answers import answer_evaluator
from evals.dataset import EvalExample
from evals.report import build_report
from evals.runner import run_experiment

ITEMS = [EvalExample("q-1", "How often do backups run?", "Every hour.", ("backup",)),
         EvalExample("q-2", "Who owns the pager?", "The platform team.", ("oncall",))]


class Grader:
    method = "lexical"

    def faithfulness(self, answer, passages):
        return 1.0, "ok"

    def correctness(self, answer, reference):
        return (1.0, "ok") if answer == reference else (0.0, "no")


async def target(inputs):
    if inputs["question"].startswith("Who"):
        raise RuntimeError("the model is down")
    return {"answer": "Every hour.", "passages": ["Backups run every hour."], "cited": ["backup"]}


def test_an_offline_run_connects_nowhere_and_keeps_failures_apart(monkeypatch):
    monkeypatch.delenv("LANGSMITH_API_KEY", raising=False)
    connections = []
    real_connect = socket.socket.connect

    def record(self, address):
        connections.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", record)
    rows = asyncio.run(run_experiment(target, ITEMS, [answer_evaluator(Grader(), no_answer="I could not find")],
                                      dataset="unit", experiment_prefix="unit"))
    assert connections == []
    by_id = {row["id"]: row for row in rows}
    assert by_id["q-1"]["scores"] == {"faithfulness": 1.0, "citation_correctness": 1.0, "answer_correctness": 1.0}
    assert by_id["q-1"]["methods"]["faithfulness"] == "lexical" and by_id["q-1"]["error"] is None
    # A turn that failed is no perfect answer: it has no score at all.
    assert "the model is down" in by_id["q-2"]["error"]
    assert set(by_id["q-2"]["scores"].values()) == {None}


def test_the_report_escapes_what_results_contain():
    now = dt.datetime.now(dt.UTC)
    result = {"kind": "answers", "at": now.isoformat(), "dataset": "sample_kb", "provider": "local",
              "summary": {"faithfulness": 0.5},
              "worst": [{"question": "<script>alert(1)</script>", "answer": "<img src=x onerror=alert(1)>",
                         "faithfulness": 0.0, "passages": [{"document_id": "<b>doc</b>", "text": "t"}]}]}
    html = build_report([result], {"ratings": 1, "helpful": 0, "helpful_share": 0.0,
                                   "unhelpful": [{"question": "q", "answer": "a", "comment": "<i>bad</i>"}]},
                        days=7, now=now)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;b&gt;doc&lt;/b&gt;" in html and "&lt;i&gt;bad&lt;/i&gt;" in html
    assert "answers: sample_kb (local)" in html and html.count("<svg") == 1
