"""Sustained turns per second: 1 process, 1 process with 2 workers, 2 replicas behind HAProxy.

Each set-up serves from one PostgreSQL and one Redis (as a deployment does) and answers
through a real OpenAI-compatible HTTP server that streams each answer over 2 s (40 words,
50 ms apart): the model's time is long, the gateway's is what is measured. Turns arrive
open-loop (a new `POST /chat/stream` every 1/rate s, whatever the earlier ones do) for
WINDOW seconds at each rate; a rate is sustained when every turn finishes and the p95 of
request -> first token stays <= 100 ms. Reported per rate: first-token p50/p95, errors, and
CPU per turn (the service processes' user+system time over the turns they served).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.common import ROOT, console, indexed_data_dir, percentiles

RATES = (5, 10, 20, 30, 40)
WINDOW = 15.0
TARGET_P95_MS = 100.0
REDIS_URL = "redis://127.0.0.1:6379/8"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _one_turn(client: httpx.AsyncClient, n: int) -> float | None:
    started = time.perf_counter()
    first = None
    try:
        async with client.stream("POST", "/chat/stream", json={"message": f"How are backups taken? ({n})"}) as response:
            if response.status_code != 200:
                return None
            async for line in response.aiter_lines():
                if first is None and line.startswith("event: token"):
                    first = (time.perf_counter() - started) * 1000
                if line.startswith("event: error"):
                    return None
    except httpx.HTTPError:
        return None
    return first


async def _at_rate(url: str, rate: float) -> dict:
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        tasks, started = [], time.perf_counter()
        for n in range(int(rate * WINDOW)):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(_one_turn(client, n)))
        results = await asyncio.gather(*tasks)
    firsts = [r for r in results if r is not None]
    return {"turns": len(results), "errors": len(results) - len(firsts),
            "first_token": percentiles(firsts) if firsts else None}


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their children (workers)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        for task in [pid, *_children(pid)]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


@contextlib.contextmanager
def _services(setup: str, data_dir: Path, peer_url: str, database: str):
    """The service for a set-up; yields (url, pids)."""
    env = {**os.environ, "DATA_DIR": str(data_dir), "DATABASE_URL": database, "REDIS_URL": REDIS_URL,
           "LLM_PROVIDER": "openai", "LLM_MODEL": "peer-model", "OPENAI_BASE_URL": f"{peer_url}/v1",
           "OPENAI_API_KEY": "sk-bench", "RATE_LIMIT_PER_MINUTE": "1000000", "LOG_FILE": str(data_dir / "bench.log"),
           "LOG_LEVEL": "WARNING"}
    chatbot = str(Path(sys.executable).parent / "chatbot")
    ports = [_free_port() for _ in range(2 if setup == "2 replicas" else 1)]
    workers = ["--workers", "2"] if setup == "1 process, 2 workers" else []
    logs = [(data_dir / f"serve-{p}.log").open("wb") for p in ports]
    processes = [subprocess.Popen([chatbot, "serve", "--port", str(p), *workers], env=env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT) for p, log in zip(ports, logs, strict=True)]
    lb = None
    try:
        url = f"http://127.0.0.1:{ports[0]}"
        if len(ports) > 1:
            lb, url = _haproxy(ports)
        for port, proc, log in zip(ports, processes, logs, strict=True):
            _wait(f"http://127.0.0.1:{port}/health/live", proc, Path(log.name))
        _wait(f"{url}/health/live")
        yield url, [p.pid for p in processes]
    finally:
        for proc in [*processes, *([lb] if lb else [])]:
            proc.terminate()
            proc.wait(30)
        for log in logs:
            log.close()


def _haproxy(ports: list[int]) -> tuple[subprocess.Popen, str]:
    executable = shutil.which("haproxy")
    if executable is None:
        raise RuntimeError("the 2-replica set-up needs HAProxy: apt-get install haproxy")
    from tests.load_balancer import haproxy_config

    lb_port = _free_port()
    config = Path(tempfile.mkdtemp()) / "haproxy.cfg"
    config.write_text(haproxy_config(lb_port, {f"r{n}": port for n, port in enumerate(ports)}))
    return subprocess.Popen([executable, "-f", str(config), "-db"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL), f"http://127.0.0.1:{lb_port}"


def _wait(url: str, proc: subprocess.Popen | None = None, log: Path | None = None, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"{url} did not answer:\n{tail}")


def _measure(setup: str, data_dir: Path, peer_url: str, database: str) -> dict:
    curve = []
    with _services(setup, data_dir, peer_url, database) as (url, pids):
        asyncio.run(_at_rate(url, 2))  # warm up
        for rate in RATES:
            console.print(f"{setup}: {rate} turns/s for {WINDOW:.0f} s")
            cpu_before = _cpu_seconds(pids)
            point = asyncio.run(_at_rate(url, rate))
            served = point["turns"] - point["errors"]
            point["cpu_ms_per_turn"] = round((_cpu_seconds(pids) - cpu_before) * 1000 / max(1, served), 1)
            curve.append({"rate": rate, **point})
            if point["errors"] or (point["first_token"] or {}).get("p95_ms", 1e9) > 4 * TARGET_P95_MS:
                break  # past saturation: higher rates only queue more
    sustained = [p["rate"] for p in curve
                 if not p["errors"] and p["first_token"] and p["first_token"]["p95_ms"] <= TARGET_P95_MS]
    return {"sustained_turns_per_second": max(sustained, default=0), "curve": curve}


def run() -> dict:
    import redis

    from tests.conftest import new_postgres_database
    from tests.openai_peer import Peer, PeerServer

    data_dir = indexed_data_dir()
    answer = " ".join(["Backups run hourly and are kept for thirty days."] * 4) + " [1]"  # 40 words
    results = {"model": "OpenAI-compatible peer, 40 words 50 ms apart (2 s)", "window_s": WINDOW,
               "target_first_token_p95_ms": TARGET_P95_MS, "cpus": os.cpu_count()}
    with PeerServer(Peer(answer=answer, word_delay=0.05)) as peer:
        for setup in ("1 process", "1 process, 2 workers", "2 replicas"):
            redis.from_url(REDIS_URL).flushdb()
            with new_postgres_database() as database:
                run_dir = data_dir.with_name(f"{data_dir.name}-{uuid.uuid4().hex[:6]}")
                shutil.copytree(data_dir, run_dir)
                results[setup] = _measure(setup, run_dir, peer.url, database)
                shutil.rmtree(run_dir, ignore_errors=True)
    return results
