"""JSON logs with request ids and secrets masked.

Logs are JSON lines, to stdout and to LOG_FILE (`logs/chatbot.log`): one `request` line per
HTTP request and WebSocket session (app/gateway/request_log.py), `ERROR` lines for
failures, so the runbook's `grep -c ERROR logs/chatbot.log` counts them. The formatter
masks secrets (`app.safety.secrets`) in every field of every line: the message, fields
passed as `extra=`, exception text and stack traces. Every line carries the id of the
request it was written for (`request_id`).
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from logging.handlers import WatchedFileHandler
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

from app.safety.secrets import mask_value

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # a client's X-Request-ID we keep


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
    # Our request lines replace the access log; a schema check is not news (`chatbot db` reports migrations).
    for noisy in ("uvicorn.access", "httpx", "httpx2", "httpcore", "alembic.runtime.migration"):
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
