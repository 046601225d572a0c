"""One error shape for every failure: `{"error": {"code", "message", "details"}}`.

Codes are stable strings clients can branch on; messages are for people and never
carry secrets or stack traces.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("chatbot.errors")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def validation_error_code(errors: list[dict[str, Any]]) -> tuple[int, str, str]:
    """Map pydantic errors to the API's codes (the first error decides)."""
    first = errors[0] if errors else {}
    field = (list(first.get("loc", ())) or [None])[-1]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return 400, "malformed_json", "the request body is not valid JSON"
    if field == "message" and kind == "string_too_short":
        return 422, "empty_message", "message must not be empty"
    if field == "message" and kind == "string_too_long":
        limit = first.get("ctx", {}).get("max_length")
        return 422, "message_too_long", f"message is longer than {limit} characters"
    if field == "conversation_id":
        return 422, "invalid_conversation_id", (
            "conversation_id must be 1-64 letters, digits, '_' or '-'"
        )
    return 422, "validation_error", "the request does not match the expected schema"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        status, code, message = validation_error_code(errors)
        details = [
            {"loc": list(e.get("loc", [])), "msg": e.get("msg"), "type": e.get("type")} for e in errors
        ]
        return error_response(status, code, message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(
            error_body(code, message), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        return error_response(500, "internal_error", "the service failed to handle this request")
