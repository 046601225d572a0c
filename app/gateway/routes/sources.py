"""`GET /sources/{chunk_id}`: the passage an answer's `[n]` cites, as the knowledge base holds it.

Every answer's `sources` name their passages by `chunk_id`; the chat page shows the one a
reader clicks. The knowledge base is shared by everyone with the chat scope (documents
carry no owner), so any chat caller may read any passage, as any answer may cite it.
The text is returned as text: a page must not render it as HTML.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from app.errors import ErrorCode, ServiceError
from app.gateway.dependencies import ChatCaller, ServicesDep
from app.gateway.openapi import errors

router = APIRouter(prefix="/sources", tags=["sources"])
ChunkId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


class Passage(BaseModel):
    chunk_id: str
    document_id: str | None
    title: str | None
    section: str | None
    source: str | None  # the file it was indexed from, relative to the knowledge base
    text: str


@router.get("/{chunk_id}", response_model=Passage, responses=errors(404, 422, 503))
async def get_source(chunk_id: ChunkId, _caller: ChatCaller, services: ServicesDep,
                     document_id: Annotated[str | None, Query(max_length=512)] = None) -> Passage:
    """One passage of the knowledge base: its document, section, source file and text (`document_id`,
    which every source names too, is needed where the store files chunks under their document: Pinecone)."""
    document = await asyncio.to_thread(services.store.passage, chunk_id, document_id)
    if document is None:
        raise ServiceError(ErrorCode.SOURCE_NOT_FOUND, chunk_id=chunk_id)
    meta = document.metadata
    return Passage(chunk_id=chunk_id, document_id=meta.get("document_id"), title=meta.get("title"),
                   section=meta.get("section"), source=meta.get("source"), text=document.page_content)
