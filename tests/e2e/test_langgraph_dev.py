"""`langgraph dev` (LangGraph Studio's server) serves the same graph from langgraph.json."""

import asyncio

from langgraph_sdk import get_client

from tests.e2e.conftest import BIN, free_port, offline_env, process


def test_langgraph_dev_serves_the_graph_to_the_sdk(e2e_data_dir, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [str(BIN / "langgraph"), "dev", "--port", str(port), "--host", "127.0.0.1", "--no-browser", "--no-reload"]
    with process(args, offline_env(e2e_data_dir, LLM_PROVIDER="local"), f"{url}/ok", tmp_path / "dev.log", timeout=180):
        async def session():
            client = get_client(url=url)
            assistants = await client.assistants.search(graph_id="chat")
            thread = await client.threads.create()
            chunks = [
                part async for part in client.runs.stream(
                    thread["thread_id"], "chat",
                    input={"messages": [{"role": "human", "content": "What is the RPO for conversations?"}]},
                    stream_mode="updates",
                )
            ]
            state = await client.threads.get_state(thread["thread_id"])
            return assistants, chunks, state

        assistants, chunks, state = asyncio.run(session())
    assert assistants and assistants[0]["graph_id"] == "chat"
    nodes = [node for c in chunks if c.event == "updates" for node in c.data]
    assert nodes[:2] == ["guard_input", "route"] and "generate" in nodes and nodes[-1] == "guard_output"
    values = state["values"]
    assert values["route"] == "knowledge" and values["sources"]
    assert [m["type"] for m in values["messages"]] == ["human", "ai"]
