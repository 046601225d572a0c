"""The extractive provider: a chat model that needs no LLM at all.

It reads the passages back out of the rendered RAG prompt, picks the sentences most
similar to the question, and quotes them with their citation numbers. It is the last
link of every fallback chain, so that when every model fails the user still gets a
grounded answer; its replies are marked `degraded`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

import prompts
from app.words import content_words

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(\[])")


def split_sentences(text: str) -> list[str]:
    """Sentences and list items of a passage, with Markdown headings and fences dropped."""
    sentences = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*> ").strip()
        if not line or line.startswith(("#", "```", "|")):
            continue
        sentences.extend(s.strip() for s in _SENTENCE_END.split(line) if len(s.strip()) > 20)
    return sentences


def _terms(text: str) -> set[str]:
    """Content words, crudely stemmed (plural `s` dropped) so "images" matches "image"."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in content_words(text)}


def _overlap(question: str, sentence: str) -> float:
    q = _terms(question)
    return len(q & _terms(sentence)) / len(q) if q else 0.0


@dataclass(frozen=True)
class RankedSentence:
    score: float
    passage: int  # the passage's citation number
    position: int  # the sentence's place within its passage
    sentence: str


def rank_sentences(
    question: str, passages: list[prompts.Passage], embeddings: Embeddings | None = None
) -> list[RankedSentence]:
    """Every sentence of the passages, most relevant to the question first.

    Word overlap with the question, mixed with embedding similarity when embeddings are
    given. A sentence is scored with its passage title, since "Images may be up to
    10 GB" alone does not say it is about Lambda.
    """
    candidates = [(p, n, s) for p in passages for n, s in enumerate(split_sentences(p.text))]
    if not candidates:
        return []
    scores = [_overlap(question, f"{p.title} {s}") for p, _, s in candidates]
    if embeddings is not None:
        texts = [question] + [f"{p.title}: {s}" for p, _, s in candidates]
        vectors = np.array(embeddings.embed_documents(texts))
        cosine = vectors[1:] @ vectors[0]
        scores = [0.6 * c + 0.4 * o for c, o in zip(cosine.tolist(), scores)]
    ranked = [RankedSentence(score, p.index, n, s) for score, (p, n, s) in zip(scores, candidates)]
    return sorted(ranked, key=lambda r: r.score, reverse=True)


class ExtractiveChatModel(BaseChatModel):
    """Answers by quoting the retrieved sentences most relevant to the question."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    embeddings: Embeddings | None = None
    max_sentences: int = 3
    min_similarity: float = 0.25

    @property
    def _llm_type(self) -> str:
        return "extractive"

    def get_num_tokens(self, text: str) -> int:
        return len(text.split())

    def answer(self, prompt_text: str) -> str:
        """The reply to one rendered prompt (RAG, tool or direct)."""
        tool_result = prompts.parse_tool_result(prompt_text)
        if tool_result is not None:
            return tool_result
        passages = prompts.parse_passages(prompt_text)
        if not passages:
            return prompts.load("direct_fallback")
        question = prompts.parse_question(prompt_text)
        ranked = rank_sentences(question, passages, self.embeddings)
        chosen = [r for r in ranked[: self.max_sentences] if r.score >= self.min_similarity]
        if not chosen:
            return prompts.load("no_answer")
        # Quote in reading order within the ranking's pick, each with its citation.
        chosen.sort(key=lambda r: (r.passage, r.position))
        return " ".join(f"{r.sentence} [{r.passage}]" for r in chosen)

    def _reply(self, messages: list[BaseMessage]) -> str:
        return self.answer(str(messages[-1].content))

    def _metadata(self) -> dict[str, Any]:
        return {"provider": "extractive", "model_name": "extractive", "degraded": True}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self._reply(messages)
        message = AIMessage(content=text, response_metadata=self._metadata(), usage_metadata=_usage(messages, text))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        text = self._reply(messages)
        for piece in re.findall(r"\S+\s*", text):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                response_metadata=self._metadata(),
                usage_metadata=_usage(messages, text),
                chunk_position="last",
            )
        )


def _usage(messages: list[BaseMessage], text: str) -> dict[str, int]:
    """Word counts stand in for tokens: no model, no tokenizer, nothing billed."""
    prompt_words = sum(len(str(m.content).split()) for m in messages)
    answer_words = len(text.split())
    return {"input_tokens": prompt_words, "output_tokens": answer_words, "total_tokens": prompt_words + answer_words}
