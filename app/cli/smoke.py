"""`chatbot smoke-test`: after a deploy or a restore, prove the running service really answers
(runbook: smoke_test.py). Exits 1 when a check fails."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Annotated

import typer

QUESTION = "What is the RPO for conversations?"
FOLLOW_UP = "And how often are backups taken?"


def _checks(client, conversation_id: str) -> list[tuple[str, Callable[[], str]]]:
    """(name, check): a check returns what it saw, or raises AssertionError with what went wrong."""

    def health() -> str:
        body = client.get("/health").json()
        components = body.get("components", {})
        down = [name for name, c in components.items() if c.get("status") == "down"]
        assert body.get("status") in ("ok", "degraded") and not down, f"status {body.get('status')}, down: {down}"
        model, store = components.get("model", {}), components.get("vector_store", {})
        if "provider" not in model:  # the service shows details to the admin scope only
            return f"{body['status']} (status only: details need an admin key)"
        return f"{body['status']}, model {model['provider']}/{model.get('model')}, {store.get('chunks', '?')} chunks"

    def chat() -> str:
        response = client.post("/chat", json={"message": QUESTION, "conversation_id": conversation_id})
        assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:200]}"
        body = response.json()
        assert body["answer"].strip(), "an empty answer"
        assert body["route"] == "knowledge" and body["sources"], f"route {body['route']}, no source cited"
        return f"{body['provider']}, cites {body['sources'][0]['document_id']}"

    def stream() -> str:
        events, name = [], None
        with client.stream("POST", "/chat/stream", json={"message": FOLLOW_UP,
                                                         "conversation_id": conversation_id}) as response:
            assert response.status_code == 200, f"HTTP {response.status_code}"
            for line in response.iter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and name:
                    events.append((name, json.loads(line[5:])))
        kinds = [k for k, _ in events]
        assert "error" not in kinds, f"error event: {dict(events).get('error')}"
        assert "token" in kinds and kinds[-1] == "final", f"events {kinds[:3]}...{kinds[-2:]}"
        return f"{kinds.count('token')} token events"

    def history() -> str:
        response = client.get(f"/conversations/{conversation_id}")
        assert response.status_code == 200, f"HTTP {response.status_code}"
        roles = [m["role"] for m in response.json()["messages"]]
        assert roles == ["user", "assistant"] * 2, f"messages {roles}"
        return "both turns kept"

    def metrics() -> str:
        response = client.get("/metrics")
        assert response.status_code == 200 and "chatbot_time_to_first_token_seconds" in response.text, \
            f"HTTP {response.status_code}"
        return "exported"

    return [("health", health), ("chat", chat), ("stream", stream), ("conversation history", history),
            ("metrics", metrics)]


def smoke_test(
    url: Annotated[str, typer.Option(help="the running service")] = "http://127.0.0.1:8000",
    api_key: Annotated[str | None, typer.Option(help="an API key (default: $CHATBOT_API_KEY)")] = None,
    timeout: Annotated[float, typer.Option(min=1, help="seconds per request")] = 120,
) -> None:
    """Ask the running service a question, stream a follow-up, read the history back, check health
    and metrics (runbook: smoke_test.py, after a restore). Exits 1 on a failure."""
    import httpx

    api_key = api_key or os.environ.get("CHATBOT_API_KEY")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    conversation_id = f"smoke-{uuid.uuid4().hex[:12]}"
    failed = 0
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout) as client:
        for name, check in _checks(client, conversation_id):
            started = time.perf_counter()
            try:
                seen = check()
            except (AssertionError, httpx.HTTPError, KeyError, ValueError) as exc:
                failed += 1
                reason = str(exc) or type(exc).__name__
                print(f"FAIL {name}: {reason} ({(time.perf_counter() - started) * 1000:.0f} ms)")
                continue
            print(f"PASS {name}: {seen} ({(time.perf_counter() - started) * 1000:.0f} ms)")
    print(f"{'all checks passed' if not failed else f'{failed} check(s) failed'} (conversation {conversation_id})")
    if failed:
        raise typer.Exit(1)
