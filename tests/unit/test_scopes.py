"""Least privilege: a scope the service does not know grants nothing, and an unknown caller
runs only what any chat user may (chat tools without side effects)."""

from types import SimpleNamespace

import pytest
from langgraph.runtime import Runtime, ServerInfo

from app.access.keys import LOCAL_PRINCIPAL, Principal
from graphs.context import RunContext, run_caller
from tools.registry import ToolRegistry


@pytest.mark.parametrize("scopes", [frozenset(), frozenset({"superuser"}), frozenset({"*"}), frozenset({"Admin"})])
def test_scopes_the_service_does_not_know_grant_nothing(scopes):
    caller = Principal("mallory", scopes, "0badc0de")
    assert not caller.may("chat") and not caller.may("admin")


def test_admin_includes_chat_and_chat_is_not_admin():
    assert Principal("ops", frozenset({"admin"})).may("chat")
    assert not Principal("alice", frozenset({"chat"})).may("admin")
    assert LOCAL_PRINCIPAL.may("admin")


async def test_tools_follow_the_same_rule():
    registry = ToolRegistry.from_modules()
    for scopes in (frozenset({"superuser"}), frozenset()):
        outcome = await registry.run("calculate", {"expression": "1+1"}, scopes=scopes)
        assert outcome.outcome == "forbidden"
    assert (await registry.run("calculate", {"expression": "1+1"}, scopes=None)).ok  # unknown caller: chat tools
    assert (await registry.run("query_analytics", {"metric": "cost"}, scopes=None)).outcome == "forbidden"


def test_a_run_without_context_has_no_caller_and_a_server_user_is_the_only_truth():
    bare = run_caller(Runtime())
    assert (bare.owner, bare.scopes, bare.conversation_id) == (None, None, None)
    context = RunContext(owner="alice", scopes=frozenset({"chat"}), conversation_id="c1")
    caller = run_caller(Runtime(context=context))
    assert (caller.owner, caller.scopes, caller.conversation_id) == ("alice", frozenset({"chat"}), "c1")
    # Under LangGraph Server, a client's own context counts for nothing: its authenticated user does.
    forged = RunContext(owner="ops", scopes=frozenset({"admin"}))
    user = SimpleNamespace(identity="alice", permissions=["chat"], is_authenticated=True)
    served = run_caller(Runtime(context=forged, server_info=ServerInfo("a", "chat", user)))
    assert (served.owner, served.scopes) == ("alice", frozenset({"chat"}))
    anonymous = run_caller(Runtime(context=forged, server_info=ServerInfo("a", "chat", None)))
    assert (anonymous.owner, anonymous.scopes) == (None, None)
