"""The error table and the one error shape: `{"error": {"code", "message", "details"}}`.

Every failure a client can see is an `ErrorCode`: a stable string clients branch on,
with its HTTP status and its message. Code raises `ServiceError(ErrorCode.X, ...)`;
the gateway's exception handlers and its middleware answer with the same writer
(`error_response`), so the status always comes from the table, never from a call site.
Messages are for people and never carry secrets or stack traces.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel


class ErrorCode(StrEnum):
    """code -> (HTTP status, message template). A template's `{names}` come from the raiser."""

    status: int
    template: str

    def __new__(cls, code: str, status: int, template: str) -> ErrorCode:
        member = str.__new__(cls, code)
        member._value_ = code
        member.status, member.template = status, template
        return member

    BAD_REQUEST = ("bad_request", 400, "the request is not valid")
    MALFORMED_JSON = ("malformed_json", 400, "the request body is not valid JSON")
    UNSUPPORTED_PARAMETER = ("unsupported_parameter", 400, "the service does not support {what}")
    UNAUTHORIZED = ("unauthorized", 401, "an API key is required (Authorization: Bearer or X-API-Key)")
    FORBIDDEN = ("forbidden", 403, "this API key lacks the {scope!r} scope")
    LOCAL_ONLY = ("local_only", 403, "{reason}; {hint}")
    FORBIDDEN_ORIGIN = ("forbidden_origin", 403, "requests from this page's origin are not allowed (ALLOWED_ORIGINS)")
    NOT_FOUND = ("not_found", 404, "not found")
    MODEL_NOT_FOUND = ("model_not_found", 404, "the model {model!r} does not exist (GET /v1/models lists it)")
    CONVERSATION_NOT_FOUND = ("conversation_not_found", 404, "no conversation {conversation_id!r}")
    MESSAGE_NOT_FOUND = ("message_not_found", 404, "conversation {conversation_id} has no answer {message_id}")
    SOURCE_NOT_FOUND = ("source_not_found", 404, "no passage {chunk_id!r} in the knowledge base")
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405, "method not allowed")
    APPROVAL_PENDING = ("approval_pending", 409,
                        "{reason}: approve or reject it first (POST /conversations/{{id}}/approve)")
    NOTHING_TO_APPROVE = ("nothing_to_approve", 409,
                          "conversation {conversation_id!r} has no tool call waiting for approval")
    PAYLOAD_TOO_LARGE = ("payload_too_large", 413, "request bodies are limited to {limit} bytes")
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", 415, "request bodies must be application/json")
    EMPTY_MESSAGE = ("empty_message", 422, "message must not be empty")
    MESSAGE_TOO_LONG = ("message_too_long", 422, "message is longer than {limit} characters")
    INVALID_CONVERSATION_ID = ("invalid_conversation_id", 422,
                               "conversation_id must be 1-64 letters, digits, '_' or '-'")
    VALIDATION_ERROR = ("validation_error", 422, "the request does not match the expected schema")
    INVALID_TOOL = ("invalid_tool", 422, "{problem}")
    RATE_LIMITED = ("rate_limited", 429, "this API key is over its {limit}")
    INTERNAL_ERROR = ("internal_error", 500, "the service failed to handle this request")
    UNAVAILABLE = ("unavailable", 503, "{what} cannot be reached; try again")
    OVERLOADED = ("overloaded", 503, "too many requests are waiting for the model; retry in {retry_after} s")
    HTTP_ERROR = ("http_error", 400, "the request could not be served")  # another status the framework sent

    @classmethod
    def for_status(cls, status: int) -> ErrorCode | None:
        """The generic code of an HTTP status (a framework's own 404, 405, ...)."""
        return _GENERIC.get(status)


_GENERIC = {400: ErrorCode.BAD_REQUEST, 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.FORBIDDEN,
            404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED, 413: ErrorCode.PAYLOAD_TOO_LARGE,
            415: ErrorCode.UNSUPPORTED_MEDIA_TYPE, 429: ErrorCode.RATE_LIMITED, 503: ErrorCode.UNAVAILABLE}


class ServiceError(Exception):
    """The one exception a client sees: a code from the table, its message, details, headers."""

    def __init__(self, code: ErrorCode, message: str | None = None, *, details: Any = None,
                 headers: dict[str, str] | None = None, **fields: Any):
        self.code = code
        self.message = message if message is not None else code.template.format(**fields)
        super().__init__(self.message)
        self.details, self.headers = details, headers or {}

    @property
    def status(self) -> int:
        return self.code.status

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """The body of every error response (and the `data` of a stream's `error` event)."""

    error: ErrorDetail


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, "details": details}}


def error_response(error: ServiceError, status: int | None = None) -> JSONResponse:
    """The response for an error: a handler returns it, a middleware calls it as an ASGI app."""
    return JSONResponse(error.body(), status_code=status or error.status, headers=error.headers or None)


def validation_error(errors: list[dict[str, Any]]) -> ServiceError:
    """Pydantic's errors as the API's codes (the first error decides), with every error in `details`."""
    first = errors[0] if errors else {}
    field = (list(first.get("loc", ())) or [None])[-1]
    kind = first.get("type", "")
    details = [{"loc": list(e.get("loc", [])), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
    if kind == "json_invalid":
        return ServiceError(ErrorCode.MALFORMED_JSON, details=details)
    if field == "message" and kind == "string_too_short":
        return ServiceError(ErrorCode.EMPTY_MESSAGE, details=details)
    if field == "message" and kind == "string_too_long":
        return ServiceError(ErrorCode.MESSAGE_TOO_LONG, details=details, limit=first.get("ctx", {}).get("max_length"))
    if field == "conversation_id":
        return ServiceError(ErrorCode.INVALID_CONVERSATION_ID, details=details)
    return ServiceError(ErrorCode.VALIDATION_ERROR, details=details)
