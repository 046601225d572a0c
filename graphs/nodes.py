"""The graph's nodes: small async functions `(state, deps[, runtime]) -> partial state update`.

`deps` (the shared parts) is bound at build time; `runtime` is LangGraph's, carrying the
run's context (who calls, in which conversation: `graphs.context.run_caller`) and the
stream writer."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import StreamWriter, interrupt

import prompts
from app.llm.failover import AnswerInterrupted
from app.llm.response_cache import cache_key
from app.observability import metrics
from app.observability.timing import timed
from app.safety.guardrails import carries_instructions
from app.safety.pii import redact
from app.safety.streaming import RedactedStream
from graphs.budget import PromptPlan, earlier_messages, plan_turn
from graphs.calls import model_kwargs
from graphs.citations import resolve_citations, source_entry
from graphs.context import ChatDependencies, RunContext, run_caller
from graphs.state import ChatState
from graphs.stream import write_restart, write_token

log = logging.getLogger("chatbot.graph")
REFUSALS = {
    "empty_message": "Please send a question: the message was empty.",
    "message_too_long": "That message is too long for me; please shorten it.",
}
_PER_TURN_RESET = {
    "route": None,
    "route_score": 0.0,
    "blocked_reason": None,
    "tool_call": None,
    "tool_result": None,
    "documents": [],
    "draft": "",
    "passages_shown": 0,
    "sources": [],
    "message_id": None,
    "degraded": False,
    "cached": False,
    "usage": {},
}


def new_message_id() -> str:
    """The id of an answer's message: feedback on the answer names it."""
    return f"msg-{uuid.uuid4().hex}"


def latest_question(state: ChatState) -> str:
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            return str(message.content).strip()
    return ""


async def guard_input(state: ChatState, deps: ChatDependencies) -> dict[str, Any]:
    """Refuse what must not reach the model; mask personal data in what may.

    The user's message is replaced in the conversation by its masked text (same message
    id), so neither the checkpoint nor any model sees the email, number or key.
    """
    question = latest_question(state)
    reason, refusal = None, None
    if not question:
        reason = "empty_message"
    elif len(question) > deps.max_message_chars:
        reason = "message_too_long"
    elif deps.guard is not None:
        verdict = await asyncio.to_thread(deps.guard.check, question)
        if verdict.blocked:
            reason, refusal = verdict.reason, verdict.refusal
    update: dict[str, Any] = dict(_PER_TURN_RESET)
    masked, found = redact(question)
    if found:
        last = next(m for m in reversed(state["messages"]) if isinstance(m, HumanMessage))
        update["messages"] = [HumanMessage(content=masked, id=last.id)]
        for kind in set(found):
            metrics.GUARDRAIL_BLOCKS.labels(f"input_{kind.lower()}_masked").inc()
    if reason is None:
        return update
    metrics.GUARDRAIL_BLOCKS.labels(reason).inc()
    log.warning("guard_input blocked a message: %s", reason)  # the reason only, never the text
    refusal = refusal or REFUSALS[reason]
    return {
        **update,
        "route": "blocked",
        "blocked_reason": reason,
        "answer": refusal,
        "provider": "guardrail",
        "message_id": (message_id := new_message_id()),
        "messages": [*update.get("messages", []), AIMessage(content=refusal, id=message_id)],
    }


async def route(state: ChatState, deps: ChatDependencies) -> dict[str, Any]:
    question = latest_question(state)
    if deps.tool_calling_model is not None:
        try:
            # Bound per call: the enabled tools can be reloaded while the service runs.
            decision = await deps.tool_calling_model.bind_tools(deps.tools.langchain_tools()).ainvoke(
                [SystemMessage(prompts.load("router")), HumanMessage(question)]
            )
        except Exception as exc:  # the model is down: the embedding router still routes
            log.warning("the tool-calling router failed (%s); routing by embeddings", type(exc).__name__)
        else:
            if decision.tool_calls:
                call = decision.tool_calls[0]
                return {"route": "tool", "tool_call": {"name": call["name"], "args": call["args"]}}
            word = str(decision.content).strip().lower()
            return {"route": "direct" if word.startswith("direct") else "knowledge"}

    decision = deps.router.decide(question)
    if decision.route == "tool" and decision.tool in deps.tools:
        extract = deps.tools.get(decision.tool).extract_arguments
        arguments = extract(question) if extract else None
        if arguments is not None:
            return {
                "route": "tool",
                "route_score": decision.score,
                "tool_call": {"name": decision.tool, "args": arguments},
            }
        return {"route": "knowledge", "route_score": decision.score}
    return {"route": decision.route, "route_score": decision.score}


async def retrieve(state: ChatState, deps: ChatDependencies) -> dict[str, Any]:
    question = latest_question(state)
    with timed("vector_search"):
        documents = []
        if named := deps.named_documents(question):
            documents = await deps.retriever.ainvoke(question, filter={"document_ids": named})
        if not documents:
            documents = await deps.retriever.ainvoke(question)
    return {"documents": _without_injected_instructions(documents)}


def _without_injected_instructions(documents: list[Document]) -> list[Document]:
    """Passages that try to instruct the model are dropped, not read (indirect injection)."""
    clean = [d for d in documents if not carries_instructions(d.page_content)]
    if len(clean) < len(documents):
        metrics.GUARDRAIL_BLOCKS.labels("injection_in_document").inc(len(documents) - len(clean))
        log.warning("dropped %d retrieved passage(s) carrying instructions: %s", len(documents) - len(clean),
                    ", ".join(sorted({str(d.metadata.get("document_id")) for d in documents if d not in clean})))
    return clean


async def call_tool(state: ChatState, deps: ChatDependencies, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Run the chosen tool; a call that needs approval first waits for a person's decision.

    `interrupt` checkpoints the turn and ends the run; the decision resumes it here
    (`Command(resume={"approved": ..., "comment": ...})`), after a restart too.
    Nothing before the interrupt has side effects, since the node runs again on resume.
    The caller (owner, scopes) comes from the run's context, so after a resume it is whoever
    sent the decision: only a caller with the admin scope can approve, and the approver
    recorded is that caller, never the decision's own `by` (any client can write that).
    """
    call = state.get("tool_call") or {}
    name, arguments = call.get("name", ""), call.get("args", {})
    caller = run_caller(runtime)
    conversation_id, owner, scopes = caller.conversation_id, caller.owner, caller.scopes
    reason = deps.tools.approval_reason(name, arguments)
    if reason is None:
        with timed("tool_execution"):
            outcome = await deps.tools.run(name, arguments, conversation_id=conversation_id, scopes=scopes)
        return {"tool_result": outcome.as_dict()}
    decision = interrupt({"tool": name, "arguments": arguments, "reason": reason})
    decision = decision if isinstance(decision, dict) else {}
    comment = decision.get("comment")
    may_approve = owner is not None and scopes is not None and "admin" in scopes
    if decision.get("approved") is True and may_approve:
        with timed("tool_execution"):
            outcome = await deps.tools.run(name, arguments, conversation_id=conversation_id, decided_by=owner,
                                           scopes=scopes)
        return {"tool_result": outcome.as_dict()}
    if decision.get("approved") is True:
        # Refusing instead (a second interrupt) would replay this approval under the next
        # resumer's config: the request ends, rejected, and can be asked for again.
        log.warning("an approval of %s without the admin scope was recorded as a rejection", name)
        comment = "; ".join(filter(None, ["approval needs the admin scope", comment and str(comment)]))
    outcome = await deps.tools.reject(name, arguments, decided_by=owner or "unknown", comment=comment,
                                      conversation_id=conversation_id)
    return {"tool_result": outcome.as_dict()}


def _passages(documents: list[Document]) -> list[prompts.Passage]:
    passages = []
    for index, doc in enumerate(documents, start=1):
        title = doc.metadata.get("title", "")
        if section := doc.metadata.get("section"):
            title = f"{title} — {section}"
        passages.append(prompts.Passage(index, title, doc.page_content))
    return passages


def _tool_text(result: dict[str, Any]) -> str:
    """A tool outcome as the line the model reads (and the extractive model quotes)."""
    value = result.get("result")
    if isinstance(value, dict) and "summary" in value:  # a rejected call has one too
        return str(value["summary"])
    if not result.get("ok"):
        return f"The tool failed: {result.get('error')}"
    return json.dumps(value, default=str)


def plan_prompt(state: ChatState, deps: ChatDependencies) -> PromptPlan:
    """The turn's prompt within the context budget, with its token breakdown."""
    question = latest_question(state)
    system = prompts.load("system")
    if state.get("route") == "tool":
        result = state.get("tool_result") or {}
        turn = prompts.load("tool").format(tool_name=result.get("tool"), tool_result=_tool_text(result),
                                           question=question)
        plan = PromptPlan(messages=[SystemMessage(system), HumanMessage(turn)], system_tokens=deps.count_tokens(system),
                          query_tokens=deps.count_tokens(turn))
        return plan
    knowledge = state.get("route") != "direct"
    return plan_turn(
        system=system,
        earlier=earlier_messages(state.get("messages", [])),
        turn_template=prompts.load("rag" if knowledge else "direct"),
        question=question,
        passages=_passages(state.get("documents", [])) if knowledge else [],
        count=deps.count_tokens,
        max_context_tokens=deps.max_context_tokens,
        answer_tokens=deps.answer_tokens,
        max_history_messages=deps.max_history_messages,
        max_passages=deps.max_passages,
        summary=state.get("summary", ""),
        summarized=state.get("summarized", 0),
    )


def build_prompt(state: ChatState, deps: ChatDependencies) -> list[BaseMessage]:
    """The messages for the model: system prompt, recent history, and the turn's prompt."""
    return plan_prompt(state, deps).messages


async def _write_answer(model: Any, messages: list[BaseMessage], write: StreamWriter,
                        conversation_id: str | None) -> BaseMessage:
    """The model's reply, streamed as `token` custom events as it is written: only text the
    output guard would leave as it is (app/safety/streaming.py)."""
    redacted = RedactedStream()
    reply: Any = None
    async for chunk in model.astream(messages, **model_kwargs(conversation_id)):
        reply = chunk if reply is None else reply + chunk
        if chunk.content and (text := redacted.feed(str(chunk.content))):
            write_token(write, text)
    if tail := redacted.rest():
        write_token(write, tail)
    return reply if reply is not None else AIMessage(content="")


async def generate(state: ChatState, deps: ChatDependencies, runtime: Runtime[RunContext]) -> dict[str, Any]:
    if state.get("route") == "tool" and deps.tool_calling_model is None:
        # A model that cannot call tools cannot be trusted to restate their results
        # either (Gemma 270M restated 0 of 4 calculator results correctly): the tool's
        # own summary is the answer.
        return {"draft": _tool_text(state.get("tool_result") or {}), "provider": "tool", "usage": {}}
    plan = plan_prompt(state, deps)
    messages = plan.messages
    documents = state.get("documents", [])
    key = None
    # Only answers that depend on nothing but the question and the passages are shared
    # (the cache is shared by every owner): not ones written with a conversation's history.
    if (deps.response_cache is not None and state.get("route") == "knowledge" and plan.history_kept == 0
            and plan.summary_tokens == 0):
        key = cache_key(latest_question(state), [d.id or "" for d in documents[: plan.passages]], deps.cache_salt)
        hit = await deps.response_cache.get(key)
        metrics.CACHE_LOOKUPS.labels("miss" if hit is None else "hit").inc()
        if hit is not None:
            return {**hit, "degraded": False, "usage": {}, "cached": True}
    conversation_id = run_caller(runtime).conversation_id
    model = deps.chat_model
    while True:
        try:
            reply = await _write_answer(model, messages, runtime.stream_writer, conversation_id)
            break
        except AnswerInterrupted as exc:
            # Part of an answer reached the client: tell it to discard that part, then
            # let the next provider answer from the start (never a spliced answer).
            write_restart(runtime.stream_writer, exc.provider, "provider_failed")
            model = model.without(exc.provider)
    meta = reply.response_metadata or {}
    usage = dict(reply.usage_metadata or {})
    answer = {
        # Masked already: the draft is in the state a `langgraph dev` client can stream.
        "draft": _redacted(str(reply.content).strip()),
        # The passages the model read: the first n by rank. Only these can be cited.
        "passages_shown": plan.passages,
        "provider": meta.get("provider", meta.get("model_provider", "unknown")),
    }
    # Degraded: the fallback model answered, or the fallback search found the passages.
    degraded = bool(meta.get("degraded")) or any(d.metadata.get("degraded") for d in documents)
    if key is not None and not degraded and answer["draft"]:
        await deps.response_cache.set(key, answer, conversation_id=conversation_id)
    return {
        **answer,
        "degraded": degraded,
        "usage": {k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens") if k in usage},
    }


def _redacted(text: str) -> str:
    text, found = redact(text)
    for kind in set(found):
        metrics.GUARDRAIL_BLOCKS.labels(f"output_{kind.lower()}_redacted").inc()
    return text


async def guard_output(state: ChatState, deps: ChatDependencies) -> dict[str, Any]:
    draft = state.get("draft", "").strip()
    sources: list[dict[str, Any]] = []
    if not draft:
        answer = prompts.load("no_answer")
    elif state.get("route") == "knowledge":
        documents = state.get("documents", [])[: state.get("passages_shown", 0)]
        answer, cited = resolve_citations(draft, documents)
        sources = [source_entry(n, documents[n - 1]) for n in cited]
    else:
        answer = draft
    answer = _redacted(answer)  # personal data and keys never leave in an answer
    message_id = new_message_id()
    return {"answer": answer, "sources": sources, "message_id": message_id,
            # The cited documents travel with the message: feedback on it labels them.
            "messages": [AIMessage(content=answer, id=message_id,
                                   response_metadata={"cited": [s["document_id"] for s in sources],
                                                      "sources": sources})]}
