"""The OpenAPI document says what the service does: who may call, every error in its one
shape, and the events a turn streams."""

from app.chat.events import EVENT_TYPES


def test_the_api_key_security_schemes_are_published_on_every_route_but_health(extractive_client):
    document = extractive_client.get("/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {"ApiKeyBearer", "ApiKeyHeader"}
    assert document["components"]["securitySchemes"]["ApiKeyBearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            secured = {name for entry in operation.get("security", []) for name in entry}
            if path.startswith("/health"):
                assert not secured, path
            else:
                assert secured == {"ApiKeyBearer", "ApiKeyHeader"}, (method, path)


def test_every_error_response_is_the_error_envelope(extractive_client):
    document = extractive_client.get("/openapi.json").json()
    statuses = set()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")) and not path.startswith("/graph"):
                    schema = response["content"]["application/json"]["schema"]
                    envelope = "OpenAIErrorEnvelope" if path.startswith("/v1/") else "ErrorEnvelope"
                    assert schema == {"$ref": f"#/components/schemas/{envelope}"}, (path, status)
                    statuses.add(status)
    assert {"404", "409", "413", "422", "429", "503"} <= statuses
    chat = document["paths"]["/chat"]["post"]["responses"]
    assert "`approval_pending`" in chat["409"]["description"] and "`overloaded`" in chat["503"]["description"]
    # What the document promises is what a refusal sends.
    refused = extractive_client.post("/chat", json={"message": ""}).json()
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert set(refused) == set(envelope["properties"]) == {"error"}
    assert set(refused["error"]) == set(document["components"]["schemas"]["ErrorDetail"]["properties"])


def test_the_event_stream_of_a_turn_is_documented(extractive_client):
    document = extractive_client.get("/openapi.json").json()
    stream = document["paths"]["/chat/stream"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    documented = {frame["properties"]["event"]["const"]: frame["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
                  for frame in stream["schema"]["oneOf"]}
    assert documented == {event.name: event.__name__ for event in EVENT_TYPES}
    assert {"metadata", "token", "restart", "approval_required", "sources", "final", "error"} == set(documented)
    final = document["components"]["schemas"]["FinalEvent"]["properties"]
    assert set(final) == set(document["components"]["schemas"]["ChatResponse"]["properties"])


def test_the_openai_routes_declare_openais_error_shape_and_answer_with_it(extractive_client):
    document = extractive_client.get("/openapi.json").json()
    completions = document["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert "422" not in completions and {"400", "401", "404", "413", "429", "503"} <= set(completions)
    assert "`unsupported_parameter`" in completions["400"]["description"]
    assert "text/event-stream" in completions["200"]["content"]
    refused = extractive_client.post("/v1/chat/completions", json={"model": "chatbot-rag", "messages": []})
    assert refused.status_code == 400
    detail = document["components"]["schemas"]["OpenAIErrorDetail"]["properties"]
    assert set(refused.json()) == {"error"} and set(refused.json()["error"]) == set(detail)
    assert refused.json()["error"]["param"] == "messages" and refused.json()["error"]["type"] == "invalid_request_error"
