"""Routing accuracy: each message of `routing.jsonl` through the graph's `route` node.

A case is right when the route matches and, for a tool request, the tool and its
arguments do too (arguments compared case-insensitively), so the number measures what
the service would really do with the message, argument extraction included.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from langchain_core.messages import HumanMessage

from evals.dataset import RoutingCase, load_routing_cases
from graphs.context import ChatDependencies
from graphs.nodes import route


def _same(expected: dict | None, actual: dict | None) -> bool:
    def norm(args: dict | None) -> dict:
        return {k: str(v).lower() for k, v in (args or {}).items()}

    return norm(expected) == norm(actual)


async def evaluate_routing(deps: ChatDependencies, cases: list[RoutingCase] | None = None) -> dict[str, Any]:
    cases = cases if cases is not None else load_routing_cases()
    right = route_right = 0
    confusion: Counter[str] = Counter()
    misses = []
    for case in cases:
        decision = await route({"messages": [HumanMessage(case.message)]}, deps)
        call = decision.get("tool_call") or {}
        got_route = decision["route"]
        route_ok = got_route == case.route
        call_ok = case.route != "tool" or (call.get("name") == case.tool and _same(case.args, call.get("args")))
        route_right += route_ok
        right += route_ok and call_ok
        confusion[f"{case.route}->{got_route}"] += 1
        if not (route_ok and call_ok):
            misses.append({"message": case.message, "expected": [case.route, case.tool, case.args],
                           "got": [got_route, call.get("name"), call.get("args")]})
    return {
        "cases": len(cases),
        "accuracy": round(right / len(cases), 3),
        "route_accuracy": round(route_right / len(cases), 3),
        "confusion": dict(sorted(confusion.items())),
        "misses": misses,
    }
