"""Processes for end-to-end tests: the real service and `langgraph dev` on free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app.gateway.factory import create_app
from app.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "LANGSMITH_API"))}
    env.update(
        DATA_DIR=str(data_dir),
        LANGGRAPH_CLI_NO_ANALYTICS="1",
        LANGGRAPH_NO_VERSION_CHECK="true",
        LANGSMITH_TRACING="false",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def sse_pairs(lines) -> list[tuple[str, str]]:
    """(event, raw data) pairs of a Server-Sent Events body, given its lines."""
    events, name = [], None
    for line in lines:
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and name:
            events.append((name, line.split(":", 1)[1].strip()))
    return events


@contextmanager
def process(args: list[str], env: dict[str, str], ready_url: str, log: Path, timeout: float = 120):
    """Start `args`, wait until `ready_url` answers, stop it (and its children) afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{args[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
                try:
                    if httpx.get(ready_url, timeout=2).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{args[0]} not ready after {timeout} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)


@pytest.fixture(scope="module")
def e2e_data_dir(tmp_path_factory, kb_data_dir) -> Path:
    target = tmp_path_factory.mktemp("e2e") / "data"
    shutil.copytree(kb_data_dir, target)
    return target


@pytest.fixture(scope="module")
def service_url(e2e_data_dir, tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("logs") / "service.log"
    args = [str(BIN / "chatbot"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with process(args, offline_env(e2e_data_dir, LLM_PROVIDER="local"), f"{url}/health", log):
        yield url


@contextmanager
def serving(data_dir, **overrides):
    """The real app (extractive answers unless overridden) on a real socket on every interface
    (as `uvicorn app.main:app --host 0.0.0.0`), served from a thread of this process."""
    import uvicorn

    settings = load_settings(data_dir=data_dir, **{"llm_provider": "extractive", **overrides})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="0.0.0.0", port=port, log_level="warning",
                                           ws_max_size=settings.max_request_bytes))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    try:
        yield port, settings
    finally:
        server.should_exit = True
        thread.join(15)
