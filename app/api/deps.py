"""FastAPI dependencies: the running services, injected into thin routes."""

from __future__ import annotations

from fastapi import Request, WebSocket

from app.runtime import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_ws_services(websocket: WebSocket) -> Services:
    return websocket.app.state.services
