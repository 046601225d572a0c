"""Answer quality: faithfulness, citation correctness and answer correctness.

Each evaluator reads one run's outputs (the answer, the passages the model read and the
documents it cited) and the example's reference (answer and relevant documents):

- faithfulness: the share of the answer's claims (its sentences) that the passages it read
  support;
- citation correctness: the share of the answer's citations that name a document the
  question's label says holds the answer (an answer with no citation scores 0);
- answer correctness: how much of the reference answer the answer states.

Two ways to judge, reported under `method` with every score:

- `judge`: a capable chat model (OpenAI, Azure) grades faithfulness and correctness with the
  prompts in `prompts/eval_judge.yaml`, returning JSON {"score", "reason"};
- `lexical`: no capable model (the local one cannot grade): a claim is supported when at least
  SUPPORTED of its content words appear in the passages, or when its embedding is within
  cosine SIMILAR of a passage sentence; correctness is the share of the reference's content
  words the answer contains, with the embedding cosine of the two reported beside it.

Citation correctness needs no model: it compares document ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

import prompts
from app.words import content_words

SUPPORTED = 0.7  # share of a claim's content words found in the passages
SIMILAR = 0.75  # cosine of a claim and a passage sentence that support it
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_MARKER = re.compile(r"\s*\[\d+\]")
def claims(answer: str) -> list[str]:
    """The answer's sentences with citation markers removed, each with a content word at least."""
    text = _MARKER.sub("", answer)
    return [s.strip() for s in _SENTENCE.split(text) if content_words(s)]


class LexicalGrader:
    """Faithfulness and correctness without a model judge: word overlap and embeddings."""

    method = "lexical"

    def __init__(self, embed: Callable[[list[str]], Sequence[Sequence[float]]]):
        self._embed = embed

    def _vectors(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._embed(texts), dtype=np.float32) if texts else np.zeros((0, 1), np.float32)

    def faithfulness(self, answer: str, passages: list[str]) -> tuple[float, str]:
        said = claims(answer)
        if not said:
            return 1.0, "no claim to support"
        context_words = content_words(" ".join(passages))
        sentences = [s for p in passages for s in claims(p)]
        similarity = self._vectors(said) @ self._vectors(sentences).T if sentences else np.zeros((len(said), 0))
        unsupported = []
        for n, claim in enumerate(said):
            words = content_words(claim)
            covered = len(words & context_words) / len(words)
            close = similarity.shape[1] and float(similarity[n].max()) >= SIMILAR
            if covered < SUPPORTED and not close:
                unsupported.append(claim)
        score = 1 - len(unsupported) / len(said)
        return score, ("unsupported: " + " | ".join(unsupported)[:300]) if unsupported else "every claim supported"

    def correctness(self, answer: str, reference: str) -> tuple[float, str]:
        expected = content_words(reference)
        if not expected:
            return 0.0, "no reference answer"
        found = expected & content_words(answer)
        cosine = float((self._vectors([answer]) @ self._vectors([reference]).T)[0, 0]) if answer.strip() else 0.0
        return len(found) / len(expected), f"{len(found)}/{len(expected)} reference words; cosine {cosine:.2f}"

    def similarity(self, answer: str, reference: str) -> float:
        if not answer.strip() or not reference.strip():
            return 0.0
        return float((self._vectors([answer]) @ self._vectors([reference]).T)[0, 0])


class JudgeGrader:
    """Faithfulness and correctness graded by a capable chat model (LLM-as-judge)."""

    method = "judge"

    def __init__(self, model: BaseChatModel):
        self._model = model

    def _grade(self, name: str, **fields: str) -> tuple[float, str]:
        prompt = prompts.eval_judge(name)
        reply = self._model.invoke([SystemMessage(content=prompt["system"]),
                                    HumanMessage(content=prompt["user"].format(**fields))])
        return parse_grade(str(reply.content))

    def faithfulness(self, answer: str, passages: list[str]) -> tuple[float, str]:
        context = "\n\n".join(f"[{n}] {p}" for n, p in enumerate(passages, start=1))
        return self._grade("faithfulness", answer=answer, context=context or "(no passage)")

    def correctness(self, answer: str, reference: str) -> tuple[float, str]:
        return self._grade("correctness", answer=answer, reference=reference)


def parse_grade(text: str) -> tuple[float, str]:
    """The judge's JSON {"score": 0..1, "reason": ...}, tolerant of a fenced block around it."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match is None:
        raise ValueError(f"the judge's reply is not JSON: {text[:200]!r}")
    grade = json.loads(match.group(0))
    score = float(grade["score"])
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"the judge's score {score} is outside 0..1")
    return score, str(grade.get("reason", ""))[:300]


def citation_correctness(cited: list[str], relevant: Sequence[str]) -> tuple[float, str]:
    """The share of cited documents that the label lists as holding the answer."""
    if not cited:
        return 0.0, "no citation"
    right = [c for c in cited if c in set(relevant)]
    return len(right) / len(cited), f"{len(right)}/{len(cited)} citations name a relevant document"


def answer_evaluator(grader: LexicalGrader | JudgeGrader, fallback: LexicalGrader | None = None,
                     no_answer: str | None = None):
    """A LangSmith evaluator (outputs, reference_outputs) giving the three answer scores.

    A judge whose reply cannot be read (or whose call fails) is replaced by `fallback` for
    that answer, and the score says so in its method.
    """
    no_answer = no_answer or prompts.load("no_answer")

    def graded(measure: str, *args: str) -> tuple[float, str, str]:
        try:
            return (*getattr(grader, measure)(*args), grader.method)
        except Exception as exc:  # noqa: BLE001 - a judge's failure must not lose the other scores
            if fallback is None:
                raise
            score, reason = getattr(fallback, measure)(*args)
            return score, f"{reason} (judge failed: {type(exc).__name__})", f"{fallback.method} (judge failed)"

    def evaluate_answer(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
        if not outputs or "answer" not in outputs:  # the turn failed: nothing to score, not a perfect score
            return {"results": [{"key": key, "score": None, "comment": "the turn failed",
                                 "evaluator_info": {"method": "none"}}
                                for key in ("faithfulness", "citation_correctness", "answer_correctness")]}
        answer = outputs.get("answer", "")
        abstained = answer.startswith(no_answer)
        faithful, why_faithful, faithful_method = (1.0, "abstained", "rule") if abstained else graded(
            "faithfulness", answer, outputs.get("passages", []))
        correct, why_correct, correct_method = graded("correctness", answer,
                                                      reference_outputs.get("reference_answer", ""))
        cited, why_cited = citation_correctness(outputs.get("cited", []),
                                                reference_outputs.get("relevant_doc_ids", []))
        results = [
            {"key": "faithfulness", "score": faithful, "comment": why_faithful,
             "evaluator_info": {"method": faithful_method}},
            {"key": "citation_correctness", "score": cited, "comment": why_cited,
             "evaluator_info": {"method": "labels"}},
            {"key": "answer_correctness", "score": correct, "comment": why_correct,
             "evaluator_info": {"method": correct_method}},
        ]
        embedder = grader if isinstance(grader, LexicalGrader) else fallback
        if embedder is not None:
            results.append({"key": "answer_similarity", "evaluator_info": {"method": "embedding"},
                            "score": embedder.similarity(answer, reference_outputs.get("reference_answer", ""))})
        return {"results": results}

    return evaluate_answer
