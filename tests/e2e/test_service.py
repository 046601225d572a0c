"""The service as operators run it: `chatbot serve`, over real HTTP and WebSocket."""

import asyncio
import json

import httpx
import websockets
from langserve import RemoteRunnable


def test_health_reports_every_component_up(service_url):
    response = httpx.get(f"{service_url}/health")
    assert response.status_code == 200
    components = response.json()["components"]
    assert {c["status"] for c in components.values()} == {"ok"}
    assert components["model"]["provider"] == "local"


def test_remote_runnable_invokes_the_graph_over_http(service_url):
    graph = RemoteRunnable(f"{service_url}/graph")
    config = {"configurable": {"thread_id": "langserve-1"}}
    out = graph.invoke({"messages": [{"type": "human", "content": "What is 6 * 7?"}]}, config=config)
    assert out["route"] == "tool" and out["answer"] == "6 * 7 = 42"
    out = graph.invoke({"messages": [{"type": "human", "content": "How do I roll back a Kubernetes deployment?"}]}, config=config)
    assert out["route"] == "knowledge" and out["sources"]
    # The output is the public response, not the graph's state; the thread remembers the first turn.
    assert out["conversation_id"] == "langserve-1" and "messages" not in out and "draft" not in out
    assert len(httpx.get(f"{service_url}/conversations/langserve-1").json()["messages"]) == 4


def test_sse_streams_tokens_over_http(service_url):
    events = []
    with httpx.stream("POST", f"{service_url}/chat/stream", json={"message": "What is the RPO for conversations?"}, timeout=120) as response:
        assert response.status_code == 200
        name = None
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name:
                events.append((name, json.loads(line[5:])))
    names = [n for n, _ in events]
    assert names[0] == "metadata" and names[-1] == "final" and names.count("token") > 1


def test_websocket_streams_the_same_events(service_url):
    async def converse():
        async with websockets.connect(service_url.replace("http", "ws") + "/ws/chat") as ws:
            await ws.send(json.dumps({"message": "What is the RPO for conversations?", "conversation_id": "ws-e2e"}))
            frames = []
            while not frames or frames[-1]["event"] not in ("final", "error"):
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 120)))
            return frames

    frames = asyncio.run(converse())
    names = [f["event"] for f in frames]
    assert names[0] == "metadata" and names[-2:] == ["sources", "final"] and names.count("token") > 1
    assert frames[-1]["data"]["conversation_id"] == "ws-e2e"


def test_bad_requests_do_not_take_the_service_down(service_url):
    assert httpx.post(f"{service_url}/chat", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert httpx.post(f"{service_url}/chat", json={"message": "y" * 1_000_000}).status_code == 413
    assert httpx.get(f"{service_url}/health").status_code == 200


def test_langserve_publishes_playground_and_schemas(service_url):
    assert httpx.get(f"{service_url}/graph/playground/").status_code == 200
    schema = httpx.get(f"{service_url}/graph/input_schema").json()
    assert "messages" in json.dumps(schema)


def test_smoke_test_passes_against_the_running_service_and_fails_against_none(service_url):
    from typer.testing import CliRunner

    from app.cli import cli
    from tests.e2e.conftest import free_port

    result = CliRunner().invoke(cli, ["smoke-test", "--url", service_url])
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines() if line.startswith(("PASS", "FAIL"))] == [
        "PASS health", "PASS chat", "PASS stream", "PASS conversation history", "PASS metrics"]
    nothing = CliRunner().invoke(cli, ["smoke-test", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2"])
    assert nothing.exit_code == 1 and nothing.output.count("FAIL") == 5 and "5 check(s) failed" in nothing.output
