"""What the OpenAPI document says beyond FastAPI's defaults: every error a route can return,
in the service's one error shape (OpenAI's on /v1/*), and the events a turn streams.

`errors(404, 409, ...)` gives a route's `responses=` entries, each with the error envelope
as its schema and the codes of that status from the error table; `describe_errors(app)`
makes FastAPI's own 422 entry the envelope too, and `EVENT_STREAM` documents the
`text/event-stream` of `/chat/stream` (the WebSocket carries the same events as
`{"event", "data"}` frames).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from app.chat.events import EVENT_TYPES
from app.errors import ErrorCode, ErrorEnvelope
from app.gateway.openai_api.errors import OPENAI_PREFIX, openai_status
from app.gateway.openai_api.schemas import OpenAIErrorEnvelope

ENVELOPE_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these statuses: the error envelope, and which codes each may carry."""
    entries: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        codes = ", ".join(f"`{code}`" for code in ErrorCode if code.status == status)
        entries[status] = {"model": ErrorEnvelope, "description": f"error: {codes}"}
    return entries


def openai_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries of /v1/* routes: OpenAI's error shape (app/gateway/openai_api/errors.py)."""
    entries: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        codes = ", ".join(f"`{code}`" for code in ErrorCode if openai_status(code.status) == status)
        entries[status] = {"model": OpenAIErrorEnvelope, "description": f"error (OpenAI's shape): {codes}"}
    return entries


def _event_schema(event: type) -> dict[str, Any]:
    return {"type": "object", "title": f"{event.__name__}Frame", "required": ["event", "data"],
            "properties": {"event": {"const": event.name}, "data": {"$ref": f"#/components/schemas/{event.__name__}"}}}


EVENT_STREAM: dict[str, Any] = {
    "description": "Server-Sent Events, in order: `metadata`, `token`... (`restart`: drop the tokens so far), "
                   "`approval_required`, `sources`, `final`; or `error`, which ends the stream. Each event's "
                   "`data` is the JSON of its schema.",
    "content": {"text/event-stream": {"schema": {"oneOf": [_event_schema(e) for e in EVENT_TYPES]}}},
}


def describe_errors(app: FastAPI) -> None:
    """Build the document with the error envelope as every 422 and the event schemas in components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for event in EVENT_TYPES:
            schemas.update(_component(event))
        schemas.update(_component(ErrorEnvelope))
        for route, path in document.get("paths", {}).items():
            for operation in path.values():
                if route.startswith(OPENAI_PREFIX):  # invalid requests are 400 there, as OpenAI answers
                    operation.get("responses", {}).pop("422", None)
                    continue
                entry = operation.get("responses", {}).get("422")
                if entry is not None:
                    entry["content"] = {"application/json": {"schema": ENVELOPE_REF}}
                    entry["description"] = f"error: {', '.join(f'`{c}`' for c in ErrorCode if c.status == 422)}"
        text = json.dumps(document)
        for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, where nothing refers to it
            if f'"#/components/schemas/{unused}"' not in text:
                schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _component(model: type) -> dict[str, Any]:
    """A model's schema and those it refers to, as components."""
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    nested = schema.pop("$defs", {})
    return {**nested, model.__name__: schema}
