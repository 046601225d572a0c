"""The routing table (evals/datasets/routing.jsonl) through the service's route node, local model config."""

import json

from app.services import build_components
from app.settings import load_settings
from evals.dataset import load_routing_cases
from evals.routing import evaluate_routing
from graphs.context import ChatDependencies


def test_the_routing_table_has_every_kind_of_message():
    routes = [case.route for case in load_routing_cases()]
    assert len(routes) >= 30 and {routes.count(r) >= 8 for r in ("knowledge", "tool", "direct")} == {True}
    tools = {case.tool for case in load_routing_cases() if case.route == "tool"}
    assert tools == {"query_knowledge_graph", "deploy_model", "query_analytics", "calculate"}


async def test_messages_take_their_route_and_tool_calls_with_the_local_model(data_dir_copy):
    deps = ChatDependencies.from_components(build_components(load_settings(data_dir=data_dir_copy,
                                                                            llm_provider="local")))
    assert deps.tool_calling_model is None  # the local model cannot call tools: embeddings and extraction route
    report = await evaluate_routing(deps)
    print(json.dumps(report, indent=1))  # the accuracy, and what was missed (pytest -s shows it)
    assert report["accuracy"] >= 0.9, report["misses"]
    # The safe direction: no knowledge question or small talk is ever sent to a tool.
    assert not any(key.endswith("->tool") and not key.startswith("tool") for key in report["confusion"])
