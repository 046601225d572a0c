"""Errors on /v1/* in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

The rest of the service answers errors as `{"error": {"code", "message", "details"}}`
(app/errors.py). OpenAI clients read OpenAI's shape, and raise by status
(`openai.AuthenticationError` on 401, `RateLimitError` on 429, `BadRequestError` on 400),
so every error on /v1/*, including the 401, 413 and 429 that middleware answers before a
route runs, is rewritten here, once, by the middleware that wraps them all. The stable
service code stays in `code`; invalid requests are 400, as OpenAI answers them.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ErrorCode

OPENAI_PREFIX = "/v1/"
_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}


def openai_error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _TYPES.get(status, "invalid_request_error")


def openai_status(status: int) -> int:
    """OpenAI answers a request that does not validate with 400, not 422."""
    return 400 if status == 422 else status


def _param(details: Any) -> str | None:
    if isinstance(details, dict):
        return details.get("param")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        location = [str(part) for part in details[0].get("loc", []) if part != "body"]
        return ".".join(location) or None
    return None


def _message(code: str, message: str, details: Any) -> str:
    first = details[0] if isinstance(details, list) and details and isinstance(details[0], dict) else {}
    if first.get("type") == "extra_forbidden":
        return f"Unrecognized request argument supplied: {first.get('loc', ['?'])[-1]}"
    if code in (ErrorCode.VALIDATION_ERROR, ErrorCode.INVALID_CONVERSATION_ID) and first.get("msg"):
        return f"{message}: {_param(details)}: {first['msg']}"
    return message


def openai_error(body: dict[str, Any], status: int) -> dict[str, Any]:
    """The service's error body as OpenAI's."""
    error = body.get("error") or {}
    code, details = str(error.get("code", "http_error")), error.get("details")
    return {"error": {"message": _message(code, str(error.get("message", "")), details),
                      "type": openai_error_type(status), "param": _param(details), "code": code}}


class OpenAIErrors:
    """Rewrites the error responses of /v1/* (JSON bodies with status >= 400)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(OPENAI_PREFIX):
            return await self.app(scope, receive, send)
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewriting_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message  # held until the body is read
                return
            if start is None:
                return await send(message)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await self._send_rewritten(start, b"".join(chunks), send)

        await self.app(scope, receive, rewriting_send)

    @staticmethod
    async def _send_rewritten(start: Message, body: bytes, send: Send) -> None:
        status = start["status"]
        try:
            parsed = json.loads(body)
            body = json.dumps(openai_error(parsed, status)).encode() if "error" in parsed else body
        except (ValueError, TypeError, AttributeError):
            pass  # not the service's JSON error: sent as it is
        headers = MutableHeaders(raw=list(start.get("headers", [])))
        headers["content-length"] = str(len(body))
        await send({**start, "status": openai_status(status), "headers": headers.raw})
        await send({"type": "http.response.body", "body": body, "more_body": False})
