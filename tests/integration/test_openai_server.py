"""The OpenAI code path against a real OpenAI-compatible server: llama-cpp-python's
server running the packaged Gemma model on loopback (as vLLM or Ollama would be used)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from app.llm.local import packaged_gemma_path
from tests.integration.conftest import running_app, sse_events


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_gemma_path()),
         "--model_alias", "gemma-3-270m", "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "2048", "--verbose", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"llama_cpp.server did not start: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_answers_stream_through_the_openai_provider(llama_server, data_dir_copy):
    settings = dict(llm_provider="openai", llm_model="gemma-3-270m", openai_base_url=llama_server,
                    llm_max_tokens=24, llm_timeout=60)
    with running_app(data_dir_copy, **settings) as client:
        assert client.get("/health").json()["components"]["model"]["provider"] == "openai"
        with client.stream("POST", "/chat/stream", json={"message": "What is the RPO for conversations?"}) as response:
            events = sse_events(response)
    names = [name for name, _ in events]
    assert names[0] == "metadata" and names[-1] == "final" and "error" not in names
    assert names.count("token") >= 2  # the answer came token by token, not at once
    final = events[-1][1]
    assert final["provider"] == "openai" and final["degraded"] is False and final["answer"].strip()
    assert final["usage"]["output_tokens"] > 0 and final["usage"]["input_tokens"] > 0
