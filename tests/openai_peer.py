"""A real HTTP server speaking OpenAI's chat completions protocol, failing on command.

It serves `/v1/chat/completions` (OpenAI and OpenAI-compatible servers) and
`/openai/deployments/{name}/chat/completions` (Azure OpenAI) over TCP on loopback, so
the SDKs, their HTTP clients and the failover logic all run for real. Each request takes
the next behaviour from `plan` (then `default`):

- `ok`: an answer (streamed as Server-Sent Events when asked, with usage);
- `429`, `500`, `400`: that status with OpenAI's error body (`429-retry-after`: with `Retry-After: 1`);
- `timeout`: answers after `slow_seconds`, longer than the client waits;
- `drop`: streams `drop_after` tokens of the answer (3), then closes the connection mid-stream.

Requests that offer tools (the service's router) are answered "knowledge" apart from the
plan, with a call of `tool_call` (`{"name", "arguments"}`) when it is set, or with a 500
when `fail_routing` is set; `offered_tools` records the tool names each offered.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

ERRORS = {
    "429": (429, "rate_limit_exceeded", "Rate limit reached"),
    "429-retry-after": (429, "rate_limit_exceeded", "Rate limit reached"),
    "500": (500, "server_error", "The server had an error"),
    "400": (400, "invalid_request_error", "Invalid request"),
}


@dataclass
class Peer:
    answer: str = "Backups run every hour [1]."
    default: str = "ok"
    plan: list[str] = field(default_factory=list)
    slow_seconds: float = 3.0
    drop_after: int = 3  # words a `drop` streams before the connection breaks
    word_delay: float = 0.005  # seconds between streamed words
    streamed_words: int = 0  # words streamed so far (it stops when the client closes the stream)
    requests: list[tuple[float, str, str]] = field(default_factory=list)  # (time, path, behaviour)
    fail_routing: bool = False  # answer the router's tool-calling requests with 500s
    routing_requests: list[str] = field(default_factory=list)
    tool_call: dict | None = None  # the router's requests choose this tool: {"name", "arguments"}
    offered_tools: list[list[str]] = field(default_factory=list)
    url: str = ""

    def behaviours(self) -> list[str]:
        return [b for _, _, b in self.requests]

    def request_times(self) -> list[float]:
        return [t for t, _, _ in self.requests]


def _chunk(content: str | None = None, finish: str | None = None, usage: dict | None = None) -> str:
    body = {
        "id": "chatcmpl-peer", "object": "chat.completion.chunk", "created": int(time.time()), "model": "peer-model",
        "choices": [] if usage else [{"index": 0, "delta": {"content": content} if content else {},
                                      "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


def _tool_call_response(call: dict, stream: bool):
    """The model chooses a tool: OpenAI's `tool_calls`, whole or as a stream."""
    function = {"name": call["name"], "arguments": json.dumps(call["arguments"])}
    tool_call = {"id": "call_peer", "type": "function", "function": function}
    if not stream:
        return JSONResponse({
            "id": "chatcmpl-peer", "object": "chat.completion", "created": int(time.time()), "model": "peer-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [tool_call]},
                         "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
        })

    def chunk(delta: dict, finish: str | None = None) -> str:
        body = {"id": "chatcmpl-peer", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": "peer-model", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"

    async def events():
        yield chunk({"role": "assistant", "tool_calls": [{"index": 0, **tool_call}]})
        yield chunk({}, "tool_calls")
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def build_app(peer: Peer) -> FastAPI:
    app = FastAPI()

    async def complete(request: Request):
        body = await request.json()
        if body.get("tools"):  # the service's tool-calling router: answered apart from the plan
            behaviour = "500" if peer.fail_routing else "route"
            peer.routing_requests.append(behaviour)
            peer.offered_tools.append([t["function"]["name"] for t in body["tools"]])
            if behaviour == "route" and peer.tool_call is not None:
                return _tool_call_response(peer.tool_call, bool(body.get("stream")))
        else:
            behaviour = peer.plan.pop(0) if peer.plan else peer.default
            peer.requests.append((time.monotonic(), request.url.path, behaviour))
        if behaviour in ERRORS:
            status, code, message = ERRORS[behaviour]
            headers = {"retry-after": "1"} if behaviour == "429-retry-after" else {}
            return JSONResponse({"error": {"message": message, "type": code, "code": code}}, status, headers=headers)
        if behaviour == "timeout":
            await asyncio.sleep(peer.slow_seconds)
        answer = "knowledge" if behaviour == "route" else peer.answer
        words = [w + " " for w in answer.split(" ")]
        words[-1] = words[-1].rstrip()
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                 "total_tokens": prompt_tokens + len(words)}
        if not body.get("stream"):
            return JSONResponse({
                "id": "chatcmpl-peer", "object": "chat.completion", "created": int(time.time()), "model": "peer-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                             "finish_reason": "stop"}],
                "usage": usage,
            })

        async def events():
            yield _chunk("")
            for n, word in enumerate(words):
                if behaviour == "drop" and n == peer.drop_after:
                    raise ConnectionResetError("the peer drops the connection mid-stream")
                if await request.is_disconnected():  # as a real server does: the client went away, stop
                    return
                yield _chunk(word)
                peer.streamed_words += 1
                await asyncio.sleep(peer.word_delay)
            yield _chunk(finish="stop")
            if (body.get("stream_options") or {}).get("include_usage"):
                yield _chunk(usage=usage)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    app.post("/v1/chat/completions")(complete)
    app.post("/openai/deployments/{deployment}/chat/completions")(complete)
    return app


class PeerServer:
    """`with PeerServer() as peer:` serves a `Peer` on a free loopback port."""

    def __init__(self, peer: Peer | None = None):
        self.peer = peer or Peer()
        config = uvicorn.Config(build_app(self.peer), host="127.0.0.1", port=0, log_level="critical")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Peer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the OpenAI peer did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.peer.url = f"http://127.0.0.1:{port}"
        return self.peer

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
