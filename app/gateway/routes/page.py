"""The chat page: `GET /` and its files under `/static/`, and `GET /me`, who the page speaks as.

The page is plain ES modules, CSS and two vendored libraries (marked, DOMPurify): no build
step. Its files hold no data and are served to anyone (a browser cannot send the key for
a navigation); everything the page shows comes from the API, with the key the reader gives
it in a header. Each file is sent with a strict Content-Security-Policy (scripts and
styles from this origin only: no inline script, no `eval`, no other host), `nosniff`, and
no framing; the body limit applies to every request as it does to the API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.gateway.dependencies import ChatCaller

PAGE_DIR = Path(__file__).resolve().parents[1] / "page"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated (ETag): a new version of the page is seen at once
}
router = APIRouter(tags=["page"])


class Me(BaseModel):
    owner: str
    scopes: list[str]
    keys_required: bool  # false in local-only mode: the page needs no key


@router.get("/", include_in_schema=False)
async def chat_page() -> FileResponse:
    return FileResponse(PAGE_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/me", response_model=Me)
async def whoami(caller: ChatCaller) -> Me:
    """The caller: its owner and scopes (the page shows Approve to admins), and whether keys are required."""
    return Me(owner=caller.owner, scopes=sorted(caller.scopes), keys_required=caller.key_prefix is not None)


class PageFiles:
    """The page's files, each response with PAGE_HEADERS."""

    def __init__(self) -> None:
        self.files: ASGIApp = StaticFiles(directory=PAGE_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.lower().encode(), v.encode()) for k, v in PAGE_HEADERS.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.files(scope, receive, with_headers)
