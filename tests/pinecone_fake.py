"""A loopback imitation of Pinecone's data plane, for testing the Pinecone backend here.

Pinecone is a hosted service (Pinecone Local is a Docker image, and Docker does not run
on this machine); its SDK talks to whatever host it is given. This app answers the six
data-plane calls the backend makes, with Pinecone's JSON shapes and the subset of its
filter language the backend writes ($in, $eq, $gte, $lt, $and). Search is exact cosine.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request

LIST_PAGE = 100


def _matches(meta: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    if not flt:
        return True
    if "$and" in flt:
        return all(_matches(meta, f) for f in flt["$and"])
    for field, condition in flt.items():
        value = meta.get(field)
        values = value if isinstance(value, list) else [value]
        for op, arg in condition.items():
            if op == "$in" and not set(values) & set(arg):
                return False
            if op == "$eq" and arg not in values:
                return False
            if op == "$gte" and not (value is not None and value >= arg):
                return False
            if op == "$lt" and not (value is not None and value < arg):
                return False
    return True


def create_app(dimension: int = 384) -> FastAPI:
    app = FastAPI()
    spaces: dict[str, dict[str, dict[str, Any]]] = {}

    def space(namespace: str | None) -> dict[str, dict[str, Any]]:
        return spaces.setdefault(namespace or "", {})

    @app.post("/vectors/upsert")
    async def upsert(request: Request) -> dict[str, Any]:
        body = await request.json()
        for vector in body["vectors"]:
            assert len(vector["values"]) == dimension, "dimension mismatch"
            space(body.get("namespace"))[vector["id"]] = vector
        return {"upsertedCount": len(body["vectors"])}

    @app.post("/query")
    async def query(request: Request) -> dict[str, Any]:
        body = await request.json()
        q = body["vector"]
        qn = math.sqrt(sum(x * x for x in q)) or 1.0
        scored = []
        for vector in space(body.get("namespace")).values():
            if _matches(vector.get("metadata", {}), body.get("filter")):
                v = vector["values"]
                vn = math.sqrt(sum(x * x for x in v)) or 1.0
                scored.append((sum(a * b for a, b in zip(q, v)) / (qn * vn), vector))
        scored.sort(key=lambda item: item[0], reverse=True)
        matches = [{"id": v["id"], "score": s, "metadata": v.get("metadata") if body.get("includeMetadata") else None}
                   for s, v in scored[: body["topK"]]]
        return {"matches": matches, "namespace": body.get("namespace", "")}

    @app.get("/vectors/fetch")
    async def fetch(request: Request) -> dict[str, Any]:
        ids = request.query_params.getlist("ids")
        vectors = space(request.query_params.get("namespace"))
        return {"vectors": {i: vectors[i] for i in ids if i in vectors}, "namespace": request.query_params.get("namespace", "")}

    @app.post("/vectors/delete")
    async def delete(request: Request) -> dict[str, Any]:
        body = await request.json()
        vectors = space(body.get("namespace"))
        if body.get("deleteAll"):
            vectors.clear()
        for i in body.get("ids", []):
            vectors.pop(i, None)
        return {}

    @app.get("/vectors/list")
    async def list_ids(request: Request) -> dict[str, Any]:
        params = request.query_params
        prefix = params.get("prefix", "")
        ids = sorted(i for i in space(params.get("namespace")) if i.startswith(prefix))
        start = int(params.get("paginationToken") or 0)
        limit = int(params.get("limit") or LIST_PAGE)
        page = ids[start : start + limit]
        result: dict[str, Any] = {"vectors": [{"id": i} for i in page], "namespace": params.get("namespace", "")}
        if start + limit < len(ids):
            result["pagination"] = {"next": str(start + limit)}
        return result

    @app.post("/describe_index_stats")
    async def describe_index_stats() -> dict[str, Any]:
        namespaces = {name: {"vectorCount": len(v)} for name, v in spaces.items()}
        total = sum(len(v) for v in spaces.values())
        return {"namespaces": namespaces, "dimension": dimension, "indexFullness": 0.0, "totalVectorCount": total}

    return app
