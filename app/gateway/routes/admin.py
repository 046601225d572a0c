"""Operator routes: `POST /admin/tools/reload` loads the enabled tool set without a restart."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from app.errors import ErrorCode, ServiceError
from app.gateway.dependencies import AdminCaller, ChatbotDep
from app.gateway.openapi import errors
from tools.registry import ToolSpecError

router = APIRouter(prefix="/admin", tags=["operations"])


@router.post("/tools/reload", responses=errors(403, 422))
async def reload_tools(bot: ChatbotDep, _caller: AdminCaller) -> dict[str, list[str]]:
    """Read DATA_DIR/tools.json again and load it; a broken module leaves the running set as it was."""
    try:
        names = await asyncio.to_thread(bot.reload_tools)
    except (ToolSpecError, ImportError, SyntaxError) as exc:  # the registry wraps every other failure
        raise ServiceError(ErrorCode.INVALID_TOOL, problem=str(exc)) from None
    return {"tools": names}
