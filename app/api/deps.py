"""FastAPI dependencies: the running services and the caller, injected into thin routes."""

from __future__ import annotations

from fastapi import Request, WebSocket

from app.conversations import LOCAL_OWNER
from app.runtime import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_ws_services(websocket: WebSocket) -> Services:
    return websocket.app.state.services


def get_owner(request: Request) -> str:
    """Whose conversations the caller reads and writes (one owner while no API keys are set)."""
    return LOCAL_OWNER


def get_ws_owner(websocket: WebSocket) -> str:
    return LOCAL_OWNER
