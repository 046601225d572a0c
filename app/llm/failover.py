"""Provider failover: retries with backoff on transient errors, then the next provider.

`FailoverChatModel` tries its providers in order (LLM_PROVIDER, then LLM_FALLBACKS, then
`extractive`). Each provider gets up to `LLM_MAX_RETRIES` retries, with exponential
backoff and jitter, on errors that a retry can cure: rate limits (429), timeouts,
dropped connections and 5xx. A request error (any other 4xx) is not retried: the same
request would fail again, so the next provider answers at once.

Streams are never spliced. A provider that fails before its first token is replaced
silently; one that fails after it has streamed part of an answer raises
`AnswerInterrupted`, so that the caller can tell the client to discard the partial
answer before another provider starts over (`without` gives the remaining chain).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from langchain_core.callbacks import AsyncCallbackManager, AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import agenerate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from app.ledgers.usage import ModelCall
from app.llm.tokens import estimate_tokens
from app.observability import metrics
from app.observability.timing import add_timing

log = logging.getLogger("chatbot.llm")
# Keys every provider sets on its last chunk; the failover model sets them once, for the
# provider that answered (merged chunks would otherwise concatenate the strings).
_OWN_METADATA = ("provider", "degraded")
NO_STREAM_TAG = "nostream"  # LangGraph does not stream the tokens of runs tagged so


class AnswerInterrupted(RuntimeError):
    """A provider failed after streaming part of its answer; the part must be discarded."""

    def __init__(self, provider: str, cause: BaseException):
        super().__init__(f"{provider} failed mid-answer: {type(cause).__name__}")
        self.provider = provider
        self.cause = cause


class AllProvidersFailed(RuntimeError):
    """Every provider of the chain failed (the extractive one included)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay: float = 1.0  # seconds before the first retry; doubles on each one
    max_delay: float = 30.0

    def delay(self, attempt: int, error: BaseException) -> float:
        """Seconds to wait before retry number `attempt + 1`.

        Exponential with "equal jitter" (half fixed, half random), so that replicas that
        failed together do not retry together; a server's Retry-After wins when longer.
        """
        backoff = min(self.max_delay, self.base_delay * 2**attempt)
        wait = backoff / 2 + random.uniform(0, backoff / 2)
        return min(self.max_delay, max(wait, retry_after(error) or 0.0))


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def retry_after(error: BaseException) -> float | None:
    # Duck-typed: the openai SDK's responses are not always `httpx.Response` instances.
    headers = getattr(getattr(error, "response", None), "headers", None)
    try:
        return float(headers.get("retry-after", "")) if headers is not None else None
    except (TypeError, ValueError):
        return None


def is_transient(error: BaseException) -> bool:
    """Rate limits, timeouts, lost connections and server errors: worth a retry."""
    status = _status(error)
    if status is not None:
        return status in (408, 429) or status >= 500
    # LangChain's provider errors say it themselves (ModelError.is_retryable).
    retryable = getattr(error, "is_retryable", None)
    if isinstance(retryable, bool):
        return retryable
    # Without a status: the request never got an answer (timeout, reset, refused).
    try:
        import openai

        if isinstance(error, openai.APIConnectionError | openai.APITimeoutError):
            return True
    except ImportError:  # pragma: no cover - openai is a dependency of langchain-openai
        pass
    return isinstance(error, httpx.TransportError | asyncio.TimeoutError | TimeoutError | ConnectionError)


@dataclass
class _Attempt:
    """What one attempt of one provider has done so far."""

    provider: str
    position: int  # in the chain: 0 is the first choice
    conversation_id: str | None  # the caller's, for the usage ledger
    started: float = field(default_factory=time.perf_counter)
    streamed: bool = False  # part of the answer went out
    inner_degraded: bool = False  # the provider says its answer is degraded (extractive)
    text_chunks: int = 0
    reported: dict[str, int] = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0})


class FailoverChatModel(BaseChatModel):
    """Providers in order of preference, each retried on transient errors."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    providers: list[tuple[str, BaseChatModel]]
    policy: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], Any] = asyncio.sleep
    # Estimates usage when a provider reports none: ~4 characters a token; each streamed
    # delta of an OpenAI-compatible server is one token.
    count_tokens: Callable[[str], int] = estimate_tokens
    model_names: dict[str, str] = {}  # provider -> its model, for the usage ledger
    on_call: Callable[[ModelCall], Awaitable[None]] | None = None  # the usage ledger's recorder

    @property
    def _llm_type(self) -> str:
        return "failover"

    @property
    def provider_names(self) -> list[str]:
        return [name for name, _ in self.providers]

    def without(self, provider: str) -> FailoverChatModel:
        """The providers after `provider`: where to start over after an interrupted answer."""
        names = self.provider_names
        rest = self.providers[names.index(provider) + 1:] if provider in names else self.providers
        return self.model_copy(update={"providers": rest})

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        failures: list[tuple[str, str]] = []  # (provider, what went wrong)
        conversation_id = kwargs.pop("conversation_id", None)  # for the usage ledger; no provider's parameter
        for position, (name, model) in enumerate(self.providers):
            attempt = 0
            while True:
                state = _Attempt(name, position, conversation_id)
                try:
                    async for chunk in self._stream_once(model, messages, state, stop, run_manager, **kwargs):
                        yield chunk
                except Exception as exc:
                    if await self._retry_after_failure(exc, state, attempt, failures):
                        attempt += 1
                        continue
                    break
                yield await self._answered(messages, state, attempt, failures)
                return
        raise AllProvidersFailed("; ".join(f"{n}: {why}" for n, why in failures) or "no providers configured")

    async def _stream_once(self, model: BaseChatModel, messages: list[BaseMessage], state: _Attempt,
                           stop: list[str] | None, run_manager: AsyncCallbackManagerForLLMRun | None,
                           **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        """One attempt of one provider. Chunks before its first token are held back, so an
        attempt that fails before any text is replaced without the client seeing it."""
        config = {"callbacks": _child_callbacks(run_manager), "tags": [NO_STREAM_TAG]}
        held: list[ChatGenerationChunk] = []
        async for chunk in model.astream(messages, config=config, stop=stop, **kwargs):
            state.inner_degraded = state.inner_degraded or bool(chunk.response_metadata.get("degraded"))
            out = ChatGenerationChunk(message=_strip_own_metadata(chunk))
            for key in state.reported:
                state.reported[key] += (chunk.usage_metadata or {}).get(key, 0)
            state.text_chunks += bool(out.text)
            if not state.streamed and not out.text:
                held.append(out)  # dropped if this attempt fails before a token
                continue
            if not state.streamed:
                state.streamed = True
                for early in held:
                    yield early
            if run_manager and out.text:
                await run_manager.on_llm_new_token(out.text, chunk=out)
            yield out
        if not state.streamed:
            for early in held:  # an answer with no text at all
                yield early

    async def _retry_after_failure(self, exc: Exception, state: _Attempt, attempt: int,
                                   failures: list[tuple[str, str]]) -> bool:
        """After a failed attempt: whether to retry the same provider (after its delay).
        A failure after part of the answer was streamed raises `AnswerInterrupted`."""
        name, elapsed = state.provider, time.perf_counter() - state.started
        if state.streamed:
            metrics.LLM_REQUESTS.labels(name, "interrupted").inc()
            await self._record(state, "interrupted", elapsed, completion=state.text_chunks)
            log.warning("provider %s failed mid-answer: %s", name, type(exc).__name__)
            raise AnswerInterrupted(name, exc) from exc
        if is_transient(exc) and attempt < self.policy.max_retries:
            delay = self.policy.delay(attempt, exc)
            metrics.LLM_REQUESTS.labels(name, "retried").inc()
            await self._record(state, "retried", elapsed)
            log.warning("provider %s: %s after %.2f s; retry %d in %.2f s",
                        name, describe_error(exc), elapsed, attempt + 1, delay)
            await self.sleep(delay)
            return True
        metrics.LLM_REQUESTS.labels(name, "failed").inc()
        await self._record(state, "failed", elapsed)
        log.warning("provider %s failed: %s; %s", name, describe_error(exc),
                    "trying the next provider" if state.position + 1 < len(self.providers) else "none left")
        failures.append((name, describe_error(exc)))
        return False

    async def _answered(self, messages: list[BaseMessage], state: _Attempt, attempt: int,
                        failures: list[tuple[str, str]]) -> ChatGenerationChunk:
        """The last chunk of an answer: who wrote it, after what, and its usage."""
        name = state.provider
        metrics.LLM_REQUESTS.labels(name, "answered").inc()
        estimate = None
        prompt, completion = state.reported["input_tokens"], state.reported["output_tokens"]
        if not completion:  # some OpenAI-compatible servers stream no usage
            prompt = sum(self.count_tokens(str(m.content)) for m in messages)
            completion = state.text_chunks
            estimate = {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}
        await self._record(state, "answered", time.perf_counter() - state.started, prompt, completion,
                           estimate is not None)
        return ChatGenerationChunk(message=AIMessageChunk(
            content="",
            usage_metadata=estimate,
            response_metadata={
                "provider": name,
                "attempts": attempt + 1,
                "failed_providers": [failed for failed, _ in failures],
                # Not the first choice, or a provider that says so itself (extractive).
                "degraded": state.position > 0 or state.inner_degraded,
                "usage_estimated": estimate is not None,
            },
        ))

    async def _record(self, state: _Attempt, outcome: str, seconds: float, prompt: int = 0, completion: int = 0,
                      estimated: bool = False) -> None:
        provider = state.provider
        if outcome == "answered":
            metrics.LLM_LATENCY.labels(provider).observe(seconds)
            metrics.LLM_TOKENS.labels(provider, "prompt").inc(prompt)
            metrics.LLM_TOKENS.labels(provider, "completion").inc(completion)
            add_timing("llm_generation", seconds)
        if self.on_call is None:
            return
        await self.on_call(ModelCall(
            provider=provider, model=self.model_names.get(provider, provider), outcome=outcome,
            prompt_tokens=prompt, completion_tokens=completion, latency_ms=round(seconds * 1000, 1),
            conversation_id=state.conversation_id, estimated=estimated,
        ))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # The service is async; this is for scripts and notebooks that call `invoke`.
        return asyncio.run(self._agenerate(messages, stop, None, **kwargs))

    def get_num_tokens(self, text: str) -> int:
        return self.count_tokens(text)


def _child_callbacks(run_manager: AsyncCallbackManagerForLLMRun | None) -> AsyncCallbackManager | None:
    """Callbacks for a provider's run, nested under this one (traces show every attempt)."""
    if run_manager is None:
        return None
    manager = AsyncCallbackManager(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def _strip_own_metadata(chunk: BaseMessage) -> AIMessageChunk:
    metadata = {k: v for k, v in (chunk.response_metadata or {}).items() if k not in _OWN_METADATA}
    return AIMessageChunk(
        content=chunk.content,
        usage_metadata=getattr(chunk, "usage_metadata", None),
        response_metadata=metadata,
        id=chunk.id,
    )


def describe_error(error: BaseException) -> str:
    """The error's kind and status, never its message (which may echo a key or a prompt)."""
    status = _status(error)
    return f"{type(error).__name__}" + (f" (HTTP {status})" if status else "")


def chain_names(primary: str, fallbacks: Sequence[str]) -> list[str]:
    """The provider order: primary, fallbacks (no repeats), extractive last."""
    names: list[str] = []
    for name in [primary, *fallbacks, "extractive"]:
        if name not in names:
            names.append(name)
    return names
