"""A replica under more load than its model allows answers 503 with Retry-After, at once."""

from concurrent.futures import ThreadPoolExecutor

from tests.integration.conftest import running_app


def test_turns_past_the_queue_get_503_with_retry_after(data_dir_copy):
    with running_app(data_dir_copy, llm_provider="extractive", llm_rate_limit=1, llm_max_queue=1) as client:
        def ask(n):
            return client.post("/chat", json={"message": f"What is the RPO for conversations? ({n})"})

        with ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(ask, range(6)))
        refused = [r for r in responses if r.status_code == 503]
        answered = [r for r in responses if r.status_code == 200]
        gate = client.get("/health/ready").json()["model_gate"]
        stream = None
        if refused:  # the streaming endpoint refuses before the stream starts, with a status code
            client.app.state.chatbot.services.gate.waiting = 1  # as if one turn were waiting
            stream = client.post("/chat/stream", json={"message": "hello"})
            client.app.state.chatbot.services.gate.waiting = 0
    assert len(answered) >= 2 and len(refused) >= 2 and len(answered) + len(refused) == 6
    for response in refused:
        assert response.json()["error"]["code"] == "overloaded"
        assert int(response.headers["retry-after"]) >= 1
    assert gate["rejected_total"] == len(refused) and gate["rate_limit_per_second"] == 1.0
    assert stream.status_code == 503 and stream.json()["error"]["code"] == "overloaded"
