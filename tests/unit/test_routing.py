import pytest

import prompts
from graphs.routing import EmbeddingRouter
from tools.registry import ToolRegistry


@pytest.fixture(scope="module")
def router(embeddings):
    tools = ToolRegistry.from_modules()
    return EmbeddingRouter(embeddings, prompts.route_examples(), {t.name: t.examples for t in tools})


@pytest.mark.parametrize(
    ("message", "route"),
    [
        ("How do I roll back a model release on Kubernetes?", "knowledge"),
        ("What does ENABLE_FALLBACK_SEARCH do?", "knowledge"),
        ("Which instance types can SageMaker endpoints use?", "knowledge"),
        ("How do I restore the conversation database from a backup?", "knowledge"),
        ("hey, good afternoon", "direct"),
        ("thanks a lot!", "direct"),
        ("what's 12 * 12?", "tool"),
        ("compute 300 / 7", "tool"),
    ],
)
def test_messages_go_to_the_route_of_their_nearest_examples(router, message, route):
    assert router.decide(message).route == route


def test_nothing_alike_defaults_to_the_knowledge_base(router):
    decision = router.decide("zxqv blorp")
    assert decision.route == "knowledge"
