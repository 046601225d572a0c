"""Cross-site requests: what another web page may make a visitor's browser send here.

Browsers apply no CORS to WebSockets and send "simple" cross-site POSTs (text/plain,
form bodies) without asking, so a page on any site could drive the service as whoever
the browser can reach it as. This middleware refuses, before authentication:
- a WebSocket handshake whose `Origin` is neither this service's own nor in ALLOWED_ORIGINS
  (closed before it is accepted, code 1008);
- a state-changing request (POST, PUT, PATCH, DELETE) with such an `Origin` (403
  `forbidden_origin`), or with a body that is not `application/json` (415
  `unsupported_media_type`): a JSON body always needs a CORS preflight, which is off
  unless ALLOWED_ORIGINS names the page.
Clients that are not browsers send no `Origin` and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from app.access.credentials import header_map
from app.errors import ErrorCode, ServiceError, error_response

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def same_origin(origin: str, host_header: str | None) -> bool:
    """Whether `origin` names the host the request was sent to (scheme aside: TLS may end
    at a proxy in front)."""
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    return bool(netloc) and netloc == (host_header or "").lower()


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length", "0").strip()
    return "transfer-encoding" in headers or not length.isdigit() or int(length) > 0


def _is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


class SameOriginPolicy:
    def __init__(self, app: ASGIApp, allowed_origins: frozenset[str] = frozenset()):
        self.app, self.allowed_origins = app, allowed_origins

    def _origin_allowed(self, headers: dict[str, str]) -> bool:
        origin = headers.get("origin")
        if origin is None:
            return True
        return origin.rstrip("/").lower() in self.allowed_origins or same_origin(origin, headers.get("host"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if not self._origin_allowed(header_map(scope)):
                await send({"type": "websocket.close", "code": 1008,
                            "reason": "forbidden_origin: this page's origin may not open the socket"})
                return
        elif scope["type"] == "http" and scope["method"] in STATE_CHANGING:
            headers = header_map(scope)
            if not self._origin_allowed(headers):
                return await error_response(ServiceError(ErrorCode.FORBIDDEN_ORIGIN))(scope, receive, send)
            if _has_body(headers) and not _is_json(headers.get("content-type", "")):
                return await error_response(ServiceError(ErrorCode.UNSUPPORTED_MEDIA_TYPE))(scope, receive, send)
        await self.app(scope, receive, send)
