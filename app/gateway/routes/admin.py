"""Operator routes: `POST /admin/tools/reload` loads the enabled tool set without a restart."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from app.errors import ApiError
from app.gateway.dependencies import get_services
from app.services import Services
from tools.registry import ToolSpecError

router = APIRouter(prefix="/admin", tags=["operations"])


@router.post("/tools/reload")
async def reload_tools(services: Annotated[Services, Depends(get_services)]) -> dict[str, list[str]]:
    """Read DATA_DIR/tools.json again and load it; a broken module leaves the running set as it was."""
    try:
        names = await asyncio.to_thread(services.reload_tools)
    except (ToolSpecError, ImportError, SyntaxError) as exc:  # build_tools wraps every other failure
        raise ApiError(422, "invalid_tool", str(exc)) from None
    return {"tools": names}
