"""query_knowledge_graph: what depends on X, what X uses, from the graph built at index time.

The graph (`app.ingestion.knowledge_graph`) holds the relations the knowledge base states
in its tables and sentences; every answer names the documents each relation comes from.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from langchain_core.tools import InjectedToolArg
from pydantic import Field

from app.ingestion.knowledge_graph import KnowledgeGraph, describe, graph_path

TOOL_SPEC = {
    "name": "query_knowledge_graph",
    "description": (
        "Look up how services and systems relate in the knowledge base: what depends on or uses an "
        "entity (dependents), what an entity depends on, uses or runs on (dependencies), or both (related)."
    ),
    "timeout_seconds": 5.0,
    "scope": "chat",  # read-only, what the knowledge base already tells chat users
    "examples": [
        "What depends on PostgreSQL?",
        "Which services use Redis?",
        "What does the Feature Store depend on?",
        "Which services would be affected if S3 goes down?",
        "What does the Chatbot Service use?",
        "Who uses the MLflow Model Registry?",
        "Show the dependencies of the Deployment Pipeline",
        "What is connected to Prometheus?",
    ],
}



def configure(settings: Any) -> dict[str, Any]:
    """The graph beside the index of the configured DATA_DIR."""
    return {"graph": KnowledgeGraph(graph_path(settings.data_dir))}


def query_knowledge_graph(
    entity: Annotated[str, Field(min_length=1, max_length=100, description=(
        "The service, system or component, e.g. 'PostgreSQL' or 'Feature Store'"))],
    direction: Annotated[Literal["dependents", "dependencies", "related"], Field(description=(
        "dependents: what relies on it; dependencies: what it relies on; related: both"))] = "related",
    graph: Annotated[KnowledgeGraph | None, InjectedToolArg] = None,
) -> dict[str, Any]:
    if graph is None:
        raise RuntimeError("the knowledge graph is not configured")
    key = graph.find_entity(entity)
    if key is None:
        return {"entity": entity, "direction": direction, "dependents": [], "dependencies": [],
                "summary": f"The knowledge graph has nothing about {entity!r}."}
    name = graph.entity_names()[key]
    edges = graph.edges(key, direction)
    answer = {"entity": name, "direction": direction, **describe(key, edges), "edges": [e.as_dict() for e in edges]}
    answer["summary"] = _summary(name, direction, answer)
    return answer


def _items(results: list[dict[str, Any]]) -> str:
    return "; ".join(f"{r['entity']} ({', '.join(x.replace('_', ' ') for x in r['relations'])}; "
                     f"source: {', '.join(r['documents'])})" for r in results)


def _summary(name: str, direction: str, answer: dict[str, Any]) -> str:
    parts = []
    if direction in ("dependents", "related") and answer["dependents"]:
        parts.append(f"These depend on or use {name}: {_items(answer['dependents'])}.")
    if direction in ("dependencies", "related") and answer["dependencies"]:
        parts.append(f"{name} depends on or uses: {_items(answer['dependencies'])}.")
    return " ".join(parts) or f"The knowledge graph records no {direction} of {name}."


_DEPENDENTS = [
    r"what (?:else )?(?:depends|relies) on (?P<e>.+)",
    r"(?:which|what) (?:services|systems|components|models|teams|things)? ?"
    r"(?:depend on|rely on|use|uses|call|read from|need) (?P<e>.+)",
    r"who (?:uses|depends on|relies on|calls) (?P<e>.+)",
    r"(?:what|which services|which systems|who) (?:would be|is|are|gets?) (?:affected|impacted|hit)"
    r" (?:if|when|by) (?P<e>.+?)(?: (?:goes|is|went|were) (?:down|offline|unavailable|out))?",
    r"dependents of (?P<e>.+)",
]
_DEPENDENCIES = [
    r"what (?:does|do) (?P<e>.+?) (?:depend on|rely on|use|need|run on|require)",
    r"(?:show |list |what are )?(?:the )?dependencies of (?P<e>.+)",
    r"what is (?P<e>.+?) (?:backed by|built on|running on)",
]
_RELATED = [
    r"(?:what|which services) (?:is|are) (?:connected|related|linked) to (?P<e>.+)",
    r"how (?:is|are) (?P<e>.+?) (?:connected|related)(?: to .+)?",
]


def extract_arguments(message: str) -> dict[str, Any] | None:
    """Arguments from a plain-language question, for chat models without tool calling."""
    text = re.sub(r"\s+", " ", message.strip()).rstrip("?!. ")
    for direction, patterns in (("dependents", _DEPENDENTS), ("dependencies", _DEPENDENCIES),
                                ("related", _RELATED)):
        for pattern in patterns:
            match = re.fullmatch(rf"(?:please |can you |tell me )?{pattern}", text, flags=re.IGNORECASE)
            if match:
                entity = re.sub(r"^(?:the|our|a|an) ", "", match.group("e").strip(" '\"`"), flags=re.IGNORECASE)
                if entity:
                    return {"entity": entity[:100], "direction": direction}
    return None
