"""Scale-out on this machine: replicas of the service (`chatbot serve` processes) behind a
real HAProxy (round robin, health-checked on /health/live), on one PostgreSQL and one
Redis, answering through a real OpenAI-compatible HTTP server that streams word by word.

Two replicas serve at first; the third is in HAProxy's list but down until a test starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time

import httpx
import pytest
import redis

from tests.conftest import new_postgres_database
from tests.e2e.conftest import BIN, free_port, offline_env, process, sse_pairs
from tests.load_balancer import haproxy_config
from tests.openai_peer import Peer, PeerServer

HAPROXY = shutil.which("haproxy")
REDIS_URL = "redis://127.0.0.1:6379/7"  # a database of its own, emptied at the start
ADMIN_KEY = "cb_5ca1e0ut_" + "s" * 40
ANSWER = "Conversations are checkpointed after every turn [1]."


class Cluster:
    def __init__(self, url: str, peer: Peer, replicas: dict[str, dict], stack: contextlib.ExitStack):
        self.url, self.peer, self.replicas, self.stack = url, peer, replicas, stack

    def start(self, name: str) -> None:
        replica = self.replicas[name]
        args = [str(BIN / "chatbot"), "serve", "--host", "127.0.0.1", "--port", str(replica["port"])]
        replica["process"] = self.stack.enter_context(
            process(args, replica["env"], f"http://127.0.0.1:{replica['port']}/health/live", replica["log"]))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, kb_data_dir):
    assert HAPROXY, "HAProxy is needed: apt-get install haproxy (make test does)"
    redis.from_url(REDIS_URL).flushdb()
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(new_postgres_database())
        peer = stack.enter_context(PeerServer(Peer(answer=ANSWER, word_delay=0.02)))
        replicas = {}
        for name in ("r1", "r2", "r3"):
            data_dir = tmp_path_factory.mktemp(name) / "data"
            shutil.copytree(kb_data_dir, data_dir)  # its own embedded index; everything else is shared
            env = offline_env(data_dir, DATABASE_URL=database, REDIS_URL=REDIS_URL, LLM_PROVIDER="openai",
                              LLM_MODEL="peer-model", OPENAI_BASE_URL=f"{peer.url}/v1", OPENAI_API_KEY="sk-test",
                              CHATBOT_BOOTSTRAP_KEY=ADMIN_KEY, LLM_RATE_LIMIT="5", LLM_MAX_QUEUE="2",
                              RATE_LIMIT_PER_MINUTE="40", ENABLE_RESPONSE_CACHE="true",
                              LOG_FILE=str(data_dir / "chatbot.log"))
            replicas[name] = {"port": free_port(), "env": env, "log": data_dir / "service.log"}
        lb_port = free_port()
        config = tmp_path_factory.mktemp("haproxy") / "haproxy.cfg"
        config.write_text(haproxy_config(lb_port, {n: r["port"] for n, r in replicas.items()}))
        cluster = Cluster(f"http://127.0.0.1:{lb_port}", peer, replicas, stack)
        for name in ("r1", "r2"):
            cluster.start(name)
        stack.enter_context(process([HAPROXY, "-f", str(config), "-db"], os.environ.copy(),
                                    f"{cluster.url}/health/live", config.with_suffix(".log")))
        _wait_until_serving(cluster.url, {"r1", "r2"})
        yield cluster


def _wait_until_serving(url: str, replicas: set[str], timeout: float = 30) -> None:
    deadline, seen = time.monotonic() + timeout, set()
    while seen != replicas:
        assert time.monotonic() < deadline, f"only {seen} of {replicas} serve"
        with contextlib.suppress(httpx.HTTPError):
            seen.add(httpx.get(f"{url}/health/live", timeout=2).headers.get("x-replica"))
        seen &= replicas
        time.sleep(0.1)


def _key(cluster: Cluster, owner: str) -> dict[str, str]:
    """A chat key of its own for each test (per-key limits are shared by the replicas)."""
    from app.access.keys import KeyStore

    store = KeyStore(cluster.replicas["r1"]["env"]["DATABASE_URL"])
    key = store.create(owner, ["chat"])
    store.close()
    return {"Authorization": f"Bearer {key}"}


def _transcript(cluster: Cluster, conversation_id: str, headers: dict[str, str]) -> dict:
    return httpx.get(f"{cluster.url}/conversations/{conversation_id}", headers=headers, timeout=30).json()


def test_a_conversation_continues_turn_by_turn_across_replicas_streaming_included(cluster):
    headers = _key(cluster, "alice")
    served, conversation_id = [], None
    with httpx.Client(base_url=cluster.url, headers=headers, timeout=60) as client:
        for n in range(4):
            body = {"message": f"How often are conversations checkpointed? ({n})",
                    **({"conversation_id": conversation_id} if conversation_id else {})}
            if n % 2:
                with client.stream("POST", "/chat/stream", json=body) as response:
                    events = sse_pairs(response.iter_lines())
                    served.append(response.headers["x-replica"])
                assert [name for name, _ in events][-1] == "final"
            else:
                response = client.post("/chat", json=body)
                assert response.status_code == 200, response.text
                conversation_id = conversation_id or response.json()["conversation_id"]
                served.append(response.headers["x-replica"])
    assert set(served) == {"r1", "r2"}
    detail = _transcript(cluster, conversation_id, headers)
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"] * 4 and detail["turns"] == 4


def test_turns_of_one_conversation_are_serialised_across_replicas(cluster):
    headers = _key(cluster, "bob")
    first = httpx.post(f"{cluster.url}/chat", json={"message": "Where are checkpoints kept?"}, headers=headers,
                       timeout=60).json()
    conversation_id = first["conversation_id"]
    cluster.peer.word_delay = 0.1  # each answer takes ~0.8 s: overlapping turns would interleave

    async def both():
        async with httpx.AsyncClient(base_url=cluster.url, headers=headers, timeout=60) as client:
            return await asyncio.gather(*(client.post("/chat", json={"message": f"Turn {n}: and the RPO?",
                                                                     "conversation_id": conversation_id})
                                          for n in (1, 2)))

    try:
        responses = asyncio.run(both())
    finally:
        cluster.peer.word_delay = 0.02
    assert [r.status_code for r in responses] == [200, 200]
    assert {r.headers["x-replica"] for r in responses} == {"r1", "r2"}
    roles = [m["role"] for m in _transcript(cluster, conversation_id, headers)["messages"]]
    assert roles == ["user", "assistant"] * 3  # one after the other, never question, question, answer, answer


def test_an_approved_tool_call_runs_once_when_two_approvals_race(cluster):
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    cluster.peer.tool_call = {"name": "deploy_model", "arguments": {"model_name": "churn-classifier",
                                                                    "environment": "production"}}
    try:
        asked = httpx.post(f"{cluster.url}/chat", json={"message": "Ship the churn model to production"},
                           headers=admin, timeout=60).json()
    finally:
        cluster.peer.tool_call = None
    assert asked["pending_approval"]["tool"] == "deploy_model"
    conversation_id = asked["conversation_id"]

    async def race():
        async with httpx.AsyncClient(base_url=cluster.url, headers=admin, timeout=60) as client:
            return await asyncio.gather(*(client.post(f"/conversations/{conversation_id}/approve",
                                                      json={"approved": True}) for _ in range(2)))

    decisions = asyncio.run(race())
    assert sorted(r.status_code for r in decisions) == [200, 409]
    assert {r.headers["x-replica"] for r in decisions} == {"r1", "r2"}
    refused = next(r for r in decisions if r.status_code == 409)
    assert refused.json()["error"]["code"] == "nothing_to_approve"
    import psycopg

    with psycopg.connect(cluster.replicas["r1"]["env"]["DATABASE_URL"]) as db:
        runs = db.execute("SELECT count(*) FROM tool_calls WHERE tool = 'deploy_model' AND conversation_id = %s "
                          "AND outcome = 'success'", (conversation_id,)).fetchone()[0]
    assert runs == 1


def test_limits_the_response_cache_and_the_model_gate_are_shared(cluster):
    headers = _key(cluster, "carol")
    question = {"message": "Which database keeps the checkpoints in production?"}
    with httpx.Client(base_url=cluster.url, headers=headers, timeout=60) as client:
        answers = [client.post("/chat", json=question) for _ in range(2)]
        assert [a.json()["cached"] for a in answers] == [False, True]  # the second replica found the first's answer
        assert {a.headers["x-replica"] for a in answers} == {"r1", "r2"}
        codes = [client.get("/conversations").status_code for _ in range(40)]
    assert codes.count(429) >= 2  # 40 a minute for the key, counted across both replicas

    async def burst():
        async with httpx.AsyncClient(base_url=cluster.url, headers=_key(cluster, "dave"), timeout=60) as client:
            return await asyncio.gather(*(client.post("/chat", json={"message": f"Burst question {n}?"})
                                          for n in range(36)))

    started = time.monotonic()
    responses = asyncio.run(burst())
    elapsed = time.monotonic() - started
    answered = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 503]
    assert len(answered) + len(refused) == 36 and refused[0].headers["retry-after"]
    assert {r.headers["x-replica"] for r in refused} == {"r1", "r2"}
    # One LLM_RATE_LIMIT (5/s, a burst of 5, 2 queued) for the deployment, not one per replica.
    assert len(answered) <= 7 + 5 * elapsed + 1, (len(answered), elapsed)


def test_a_replica_killed_mid_stream_loses_no_completed_turn(cluster):
    headers = _key(cluster, "erin")
    first = httpx.post(f"{cluster.url}/chat", json={"message": "What is the RTO?"}, headers=headers,
                       timeout=60).json()
    conversation_id = first["conversation_id"]
    cluster.peer.answer = " ".join(["Restores take fifteen minutes."] * 60) + " [1]"
    cluster.peer.word_delay = 0.05
    try:
        with pytest.raises(httpx.HTTPError), httpx.stream(
                "POST", f"{cluster.url}/chat/stream", headers=headers, timeout=60,
                json={"message": "Tell me all about restores", "conversation_id": conversation_id}) as response:
            victim = cluster.replicas[response.headers["x-replica"]]["process"]
            for line in response.iter_lines():
                if line.startswith("event: token"):
                    os.killpg(victim.pid, signal.SIGKILL)  # mid-answer
            pytest.fail("the stream ended normally although its replica was killed")
    finally:
        cluster.peer.answer, cluster.peer.word_delay = ANSWER, 0.02
    victim.wait(10)
    time.sleep(1.0)  # HAProxy marks it down after two failed checks (0.3 s apart)
    with httpx.Client(base_url=cluster.url, headers=headers, timeout=60) as client:
        after = [client.post("/chat", json={"message": "And the RPO?", "conversation_id": conversation_id})
                 for _ in range(3)]
    assert [r.status_code for r in after] == [200, 200, 200]
    roles = [m["role"] for m in _transcript(cluster, conversation_id, headers)["messages"]]
    assert roles[:2] == ["user", "assistant"] and roles[-6:] == ["user", "assistant"] * 3
    assert roles.count("assistant") == 4  # the killed turn left no answer, and nothing was doubled


def test_a_third_replica_joins_and_takes_its_share(cluster):
    cluster.start("r3")
    live = {n for n, r in cluster.replicas.items() if r.get("process") is not None and r["process"].poll() is None}
    assert "r3" in live and len(live) >= 2
    _wait_until_serving(cluster.url, live)
    headers = _key(cluster, "frank")
    served = [httpx.post(f"{cluster.url}/chat", json={"message": f"Scale question {n}?"}, headers=headers,
                         timeout=60).headers["x-replica"] for n in range(3 * len(live))]
    assert set(served) == live
