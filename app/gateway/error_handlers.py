"""Every failure a route can meet, answered in the one error shape (app/errors.py)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import ErrorCode, ServiceError, error_response, validation_error

log = logging.getLogger("chatbot.errors")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """The framework's own refusals (an unknown path, a method not allowed, LangServe's)."""
        code = ErrorCode.for_status(exc.status_code) or ErrorCode.HTTP_ERROR
        message = exc.detail if isinstance(exc.detail, str) else str(code).replace("_", " ")
        return error_response(ServiceError(code, message, headers=exc.headers), status=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        return error_response(ServiceError(ErrorCode.INTERNAL_ERROR))
