"""The failover model's rules: which errors are retried, how long it waits, and that a
stream which breaks after its first token is reported, never continued by another model."""

import asyncio

import httpx
import openai
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from app.llm.failover import AnswerInterrupted, FailoverChatModel, RetryPolicy, chain_names, is_transient

REQUEST = httpx.Request("POST", "http://peer/v1/chat/completions")


def status_error(cls, status, headers=None):
    return cls("failed", response=httpx.Response(status, request=REQUEST, headers=headers or {}), body=None)


@pytest.mark.parametrize("error, transient", [
    (status_error(openai.RateLimitError, 429), True),
    (status_error(openai.InternalServerError, 503), True),
    (openai.APITimeoutError(request=REQUEST), True),
    (openai.APIConnectionError(request=REQUEST), True),
    (httpx.RemoteProtocolError("peer closed connection"), True),
    (status_error(openai.BadRequestError, 400), False),
    (status_error(openai.AuthenticationError, 401), False),
    (status_error(openai.NotFoundError, 404), False),
    (ValueError("a bug"), False),
])
def test_only_transient_errors_are_retried(error, transient):
    assert is_transient(error) is transient


def test_backoff_doubles_with_jitter_and_is_capped():
    policy = RetryPolicy(max_retries=5, base_delay=1.0, max_delay=5.0)
    error = status_error(openai.RateLimitError, 429)
    for attempt, (low, high) in enumerate([(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (2.5, 5.0), (2.5, 5.0)]):
        delays = {policy.delay(attempt, error) for _ in range(200)}
        assert all(low <= d <= high for d in delays) and len(delays) > 100  # jittered


def test_retry_after_wins_when_longer_but_not_past_the_cap():
    policy = RetryPolicy(base_delay=0.1, max_delay=10.0)
    assert policy.delay(0, status_error(openai.RateLimitError, 429, {"retry-after": "3"})) == 3.0
    assert policy.delay(0, status_error(openai.RateLimitError, 429, {"retry-after": "600"})) == 10.0


def test_the_chain_ends_with_extractive_once():
    assert chain_names("openai", ["azure", "local"]) == ["openai", "azure", "local", "extractive"]
    assert chain_names("local", ["local", "extractive"]) == ["local", "extractive"]


class Scripted(BaseChatModel):
    """Streams `text` word by word, raising `error` after `fail_after` words (None: never)."""

    text: str = "one two three"
    fail_after: int | None = None
    error: Exception = ConnectionResetError("dropped")
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        raise NotImplementedError

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs):
        self.calls += 1
        for n, word in enumerate(self.text.split()):
            if self.fail_after is not None and n == self.fail_after:
                raise self.error
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))


def failover(*models, retries=1):
    async def no_sleep(seconds):
        return None

    return FailoverChatModel(providers=[(f"m{n}", m) for n, m in enumerate(models)],
                             policy=RetryPolicy(max_retries=retries), sleep=no_sleep)


def test_a_failure_before_the_first_token_is_retried_then_fails_over():
    first = Scripted(fail_after=0, error=status_error(openai.InternalServerError, 500))
    second = Scripted(text="fallback answer")
    reply = asyncio.run(failover(first, second).ainvoke([HumanMessage("q")]))
    assert reply.content == "fallback answer "
    assert reply.response_metadata["provider"] == "m1" and reply.response_metadata["degraded"] is True
    assert reply.response_metadata["failed_providers"] == ["m0"] and first.calls == 2


def test_a_failure_after_the_first_token_is_reported_not_spliced():
    first = Scripted(fail_after=2)
    second = Scripted(text="fallback answer")
    chain = failover(first, second)

    async def consume():
        return [chunk.content async for chunk in chain.astream([HumanMessage("q")])]

    with pytest.raises(AnswerInterrupted) as caught:
        asyncio.run(consume())
    assert caught.value.provider == "m0" and first.calls == 1 and second.calls == 0
    rest = chain.without("m0")
    assert rest.provider_names == ["m1"]
    assert asyncio.run(rest.ainvoke([HumanMessage("q")])).content == "fallback answer "
