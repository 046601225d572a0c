"""`GET /metrics`: the Prometheus exposition of every metric the process keeps (admin scope)."""

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.gateway.dependencies import AdminCaller

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(_caller: AdminCaller) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
