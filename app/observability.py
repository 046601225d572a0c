"""Structured logs, request ids, per-request metrics, and the turn's time breakdown.

- Logs are JSON lines, to stdout and to LOG_FILE (`logs/chatbot.log`): one `request` line
  per HTTP request and WebSocket session (method, route, status, duration, request id),
  `ERROR` lines for failures, so the runbook's `grep -c ERROR logs/chatbot.log` counts them.
  The formatter masks secrets (`app.redaction`) in every field of every line: the message,
  fields passed as `extra=`, exception text and stack traces.
- Each request gets an id (the client's `X-Request-ID` when it is sane, a new one otherwise),
  returned as the `X-Request-ID` header and stamped on every log line of the request.
- `timed(part)` measures a part of a turn (vector search, LLM generation, tool execution):
  the same number feeds the Prometheus histograms and `chatbot profile`'s breakdown.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from logging.handlers import WatchedFileHandler
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics
from app.redaction import mask_value

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# The current turn's seconds per part, when someone (chatbot profile) collects them.
turn_timings: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("turn_timings", default=None)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _Context(logging.Filter):
    """Stamps the request id on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class MaskingJsonFormatter(JsonFormatter):
    """JSON lines with secrets masked in every field, the ones passed via `extra=` too."""

    def process_log_record(self, log_data: dict) -> dict:
        # After formatting, so exception text and stack traces are masked as well.
        return mask_value(super().process_log_record(log_data))


def configure_logging(log_file: Path | None, level: str = "INFO") -> None:
    """JSON lines to stdout and (when set) LOG_FILE; replaces earlier handlers of ours."""
    formatter = MaskingJsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                                     rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    unwritable = None
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(WatchedFileHandler(log_file, encoding="utf-8"))  # follows logrotate
        except OSError as exc:  # a read-only disk must not stop the service: stdout still has every line
            unwritable = f"{log_file}: {type(exc).__name__}"
    root = logging.getLogger()
    # Every earlier handler goes (ours from a previous app, the CLI's plain stderr one):
    # a handler without the masking formatter must not print what ours would mask.
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if getattr(handler, "_chatbot", False):
            handler.close()
    for handler in handlers:
        handler._chatbot = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        handler.addFilter(_Context())
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpx2", "httpcore"):  # our request lines replace the access log
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # `uvicorn app.main:app` gives its loggers handlers of their own, which would print
    # (unmasked, e.g. a WebSocket URL with ?api_key=) beside ours: route them through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        for handler in list(uvicorn_logger.handlers):
            uvicorn_logger.removeHandler(handler)
        uvicorn_logger.propagate = True
    if unwritable:
        logging.getLogger("chatbot").error("LOG_FILE cannot be written (%s): logging to stdout only", unwritable)


@contextmanager
def timed(part: str) -> Iterator[None]:
    """Time one part of a turn into its histogram and, when collected, the turn's breakdown."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - started
        if part == "vector_search":  # model and tool times have their own histograms, by provider and tool
            metrics.SEARCH_LATENCY.observe(seconds)
        if (collected := turn_timings.get()) is not None:
            collected[part] = collected.get(part, 0.0) + seconds


log = logging.getLogger("chatbot.request")


class ObserveRequests:
    """Outermost middleware: request id, one log line and the metrics of every request."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500 if scope["type"] == "http" else 101

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            elif message["type"] == "websocket.close" and status == 101:
                status = 403 if message.get("code") == 1008 else status
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "WS")
            metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
            metrics.HTTP_LATENCY.labels(route, method).observe(seconds)
            principal = scope.get("state", {}).get("principal")
            line = {"method": method, "path": scope["path"], "route": route, "status": status,
                    "duration_ms": round(seconds * 1000, 2), "owner": getattr(principal, "owner", None)}
            level = logging.ERROR if status >= 500 else logging.INFO
            log.log(level, "request %s %s %s", method, scope["path"], status, extra=line)
            request_id.reset(token)


def configure_tracing() -> bool:
    """LangSmith tracing exactly when LANGSMITH_API_KEY is set; otherwise off, with no network calls."""
    import os

    enabled = bool(os.environ.get("LANGSMITH_API_KEY"))
    os.environ["LANGSMITH_TRACING"] = "true" if enabled else "false"
    os.environ["LANGCHAIN_TRACING_V2"] = os.environ["LANGSMITH_TRACING"]
    return enabled
