"""The answer evaluators on hand-made cases, with the real embedding model and a fake judge."""

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from evals.answers import (
    JudgeGrader,
    LexicalGrader,
    answer_evaluator,
    citation_correctness,
    claims,
    parse_grade,
)

PASSAGES = ["Backups of the conversation database run every hour. They are kept for 30 days in a second region."]


@pytest.fixture(scope="module")
def lexical(embeddings):
    return LexicalGrader(embeddings.embed_documents)


def test_claims_are_sentences_without_citation_markers():
    assert claims("Backups run hourly [1]. They are kept 30 days [2].\n\nOK.") == [
        "Backups run hourly.", "They are kept 30 days.", "OK."]


def test_a_claim_the_passages_do_not_hold_is_unfaithful(lexical):
    supported, why = lexical.faithfulness("Backups run every hour [1].", PASSAGES)
    assert supported == 1.0 and why == "every claim supported"
    half, why = lexical.faithfulness("Backups run every hour [1]. Restores need a ticket to the CFO.", PASSAGES)
    assert half == 0.5 and "CFO" in why


def test_correctness_is_the_share_of_reference_words_stated(lexical):
    score, _ = lexical.correctness("They run every hour.", "Backups run every hour.")
    assert score == pytest.approx(3 / 4)  # backups, run, every, hour: all but "backups"
    assert lexical.correctness("Nothing relevant here.", "Backups run every hour.")[0] == 0.0
    assert lexical.similarity("Backups run hourly.", "Backups happen every hour.") > \
        lexical.similarity("Backups run hourly.", "The canteen opens at noon.")


def test_citations_are_right_when_they_name_a_relevant_document():
    assert citation_correctness(["backup", "api"], ["backup"]) == (0.5, "1/2 citations name a relevant document")
    assert citation_correctness([], ["backup"])[0] == 0.0


def test_the_judges_verdict_is_read_strictly():
    assert parse_grade('Sure!\n```json\n{"score": 0.5, "reason": "half"}\n```') == (0.5, "half")
    for bad in ("no json", '{"score": 3}', '{"reason": "no score"}'):
        with pytest.raises((ValueError, KeyError)):
            parse_grade(bad)


def test_a_failing_judge_is_replaced_by_the_fallback_for_that_answer(lexical):
    judge = JudgeGrader(FakeListChatModel(responses=['{"score": 1, "reason": "ok"}', "cannot say"]))
    evaluate = answer_evaluator(judge, fallback=lexical, no_answer="I could not find")
    results = {r["key"]: r for r in evaluate(
        {"answer": "Backups run every hour [1].", "passages": PASSAGES, "cited": ["backup"]},
        {"reference_answer": "Backups run every hour.", "relevant_doc_ids": ["backup"]})["results"]}
    assert results["faithfulness"]["score"] == 1.0 and results["faithfulness"]["evaluator_info"]["method"] == "judge"
    assert results["answer_correctness"]["evaluator_info"]["method"] == "lexical (judge failed)"
    assert results["citation_correctness"]["score"] == 1.0
    assert "answer_similarity" in results


def test_an_abstention_is_faithful_but_not_correct(lexical):
    evaluate = answer_evaluator(lexical, no_answer="I could not find")
    results = {r["key"]: r["score"] for r in evaluate(
        {"answer": "I could not find this in the knowledge base.", "passages": PASSAGES, "cited": []},
        {"reference_answer": "Backups run every hour.", "relevant_doc_ids": ["backup"]})["results"]}
    assert results["faithfulness"] == 1.0 and results["answer_correctness"] == 0.0
    assert results["citation_correctness"] == 0.0
