"""Legends live updates: event → client latency through the real streaming process.

    .venv/bin/python -m bench.legends_sse [--connections 500] [--messages 100] [--interval 0.05]
                                          [--redis-url URL]

Starts a private Redis (or uses --redis-url) and the streaming process as the Procfile runs it
(gunicorn, one gevent worker), then opens SSE connections with an asyncio client (raw streams,
one process), each with its own member's signed link to one game. A separate publisher process
publishes `--messages` game-wide events on the game's Redis channel, `--interval` s apart, each
carrying its publish time (time.time()); every connection records receive time − publish time
for every event. Measured twice in the same run: with 1 connection (the floor: Redis + the
process + one socket) and with `--connections`; prints p50/p95/p99 of each, the ratio of the
p95s, the target (p95 < 100 ms with 500 connections) and the stream worker's resident memory
idle and with every connection open. Bounded: fixed message counts and a time limit.

`run(quick)` is bench/run_all's entry point (quick: 20 connections, 20 events).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from app.streaming import gunicorn_command
from bench.harness import Row, bench_redis, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPANY_ID = 1
TARGET_P95_MS = 100.0
RUN_LIMIT_SECONDS = 180


def start_stream(port: int, redis_url: str, secret_key: str, log_path: Path) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_MULTIPROC_DIR", "REDIS_"))},
        "TRADEPOST_ENV": "development",
        "SECRET_KEY": secret_key,
        "REDIS_URL": redis_url,
        "APP_BASE_URL": "http://127.0.0.1:1",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO_ROOT),
    }
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            gunicorn_command(f"127.0.0.1:{port}", "--workers", "1", "--worker-connections", "2000"),
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_ready(port: int, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the stream process did not answer")


def worker_rss_kb(master_pid: int) -> int:
    """Resident memory of the gunicorn worker (the master's child), in KiB."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def publisher(redis_url: str, messages: int, interval: float, start_id: int) -> None:
    from redis import Redis

    client = Redis.from_url(redis_url)
    channel = f"legends:{COMPANY_ID}"
    for index in range(messages):
        data = {"event_id": start_id + index, "sent": time.time()}
        client.publish(channel, json.dumps({"event": "leaderboard_moved", "data": data, "user_id": None}))
        time.sleep(interval)
    client.close()


class Connection:
    def __init__(self, port: int, path: str):
        self.port, self.path = port, path
        self.latencies: list[float] = []
        self.received = 0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        await self.writer.drain()
        self.buffer = b""
        while b": connected" not in self.buffer:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise RuntimeError("the stream closed: " + self.buffer.decode(errors="replace")[:300])
            self.buffer += chunk
        self.buffer = b""

    async def read_until(self, count: int) -> None:
        while self.received < count:
            chunk = await self.reader.read(65536)
            if not chunk:
                return
            now = time.time()
            self.buffer += chunk
            *frames, self.buffer = self.buffer.split(b"\n\n")
            for frame in frames:
                start = frame.find(b'"sent":')
                if start < 0:
                    continue
                end = frame.find(b"}", start)
                self.latencies.append((now - float(frame[start + 7 : end])) * 1000)
                self.received += 1

    def close(self) -> None:
        self.writer.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure_once(
    port: int, secret_key: str, redis_url: str, connections: int, messages: int, interval: float, start_id: int
):
    from app.services.legends.live import stream_token

    opened = []
    for user_id in range(1, connections + 1):
        token = stream_token(COMPANY_ID, user_id, secret_key)
        connection = Connection(port, f"/stream/legends/{COMPANY_ID}?token={token}")
        opened.append(connection)
    # open them 50 at a time (a burst of 500 handshakes is not what is measured)
    for index in range(0, len(opened), 50):
        await asyncio.gather(*(c.open() for c in opened[index : index + 50]))
    sender = multiprocessing.Process(target=publisher, args=(redis_url, messages, interval, start_id))
    readers = [asyncio.create_task(c.read_until(messages)) for c in opened]
    sender.start()
    try:
        await asyncio.wait_for(asyncio.gather(*readers), timeout=messages * interval + 60)
    finally:
        sender.join(timeout=30)
    latencies = [value for c in opened for value in c.latencies]
    delivered = sum(c.received for c in opened)
    return opened, latencies, delivered


def report(label: str, latencies: list[float], delivered: int, expected: int) -> float:
    p50, p95, p99 = (percentile(latencies, f) for f in (0.50, 0.95, 0.99))
    print(
        f"{label:<26} delivered {delivered}/{expected}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
        f"p99 {p99:6.1f} ms  max {max(latencies):6.1f} ms  mean {statistics.fmean(latencies):6.1f} ms"
    )
    return p95


def measure(connections: int, messages: int, interval: float, redis_url: str | None = None) -> dict:
    """One run: the floor (1 connection) and `connections`, with a private Redis unless
    `redis_url` is given. {"floor": (latencies, delivered), "loaded": (…), "idle_kb", "open_kb"}."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-sse-"))
    redis_url, redis = bench_redis(redis_url, workdir)
    secret_key = secrets.token_urlsafe(32)
    port = free_port()
    stream = start_stream(port, redis_url, secret_key, workdir / "stream.log")
    try:
        wait_ready(port)
        idle_kb = worker_rss_kb(stream.pid)
        print(f"stream process: gunicorn --worker-class gevent (1 worker) on :{port}; Redis {redis_url}")
        print(f"{messages} game-wide events, {interval * 1000:.0f} ms apart, publish → client receive")

        async def both():
            floor_conns, floor, floor_n = await measure_once(port, secret_key, redis_url, 1, messages, interval, 1)
            for c in floor_conns:
                c.close()
            await asyncio.sleep(0.5)
            conns, latencies, delivered = await measure_once(
                port, secret_key, redis_url, connections, messages, interval, 10_000
            )
            open_kb = worker_rss_kb(stream.pid)
            for c in conns:
                c.close()
            return {"floor": (floor, floor_n), "loaded": (latencies, delivered), "idle_kb": idle_kb, "open_kb": open_kb}

        return asyncio.run(asyncio.wait_for(both(), timeout=RUN_LIMIT_SECONDS))
    finally:
        stream.terminate()
        stream.wait(timeout=15)
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def run(quick: bool) -> list[Row]:
    """run_all's entry point: 500 connections and 100 events (quick: 20 connections, 20 events)."""
    connections, messages = (20, 20) if quick else (500, 100)
    found = measure(connections, messages, 0.05)
    floor_p95 = percentile(found["floor"][0], 0.95)
    latencies, delivered = found["loaded"]
    p50, p95, p99 = (percentile(latencies, f) for f in (0.50, 0.95, 0.99))
    expected = messages * connections
    return [
        Row(
            f"Legends SSE event → browser, {connections} connections",
            f"p95 {p95:.1f} ms (p50 {p50:.1f}, p99 {p99:.1f}), {delivered}/{expected} delivered",
            f"1 connection p95 {floor_p95:.1f} ms",
            None,
            f"p95 < {TARGET_P95_MS:.0f} ms with 500 connections, all delivered",
            p95 < TARGET_P95_MS and delivered == expected,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    started = time.monotonic()
    found = measure(args.connections, args.messages, args.interval, args.redis_url)
    floor, floor_n = found["floor"]
    latencies, delivered = found["loaded"]
    base_p95 = report("1 connection (floor)", floor, floor_n, args.messages)
    p95 = report(f"{args.connections} connections", latencies, delivered, args.messages * args.connections)
    print(f"p95 ratio {args.connections} connections / 1 connection: {p95 / base_p95:.1f}x")
    verdict = "PASS" if p95 < TARGET_P95_MS else "FAIL"
    print(f"target p95 < {TARGET_P95_MS:.0f} ms with {args.connections} connections: {verdict} ({p95:.1f} ms)")
    per_conn = (found["open_kb"] - found["idle_kb"]) / max(args.connections, 1)
    print(
        f"stream worker RSS: {found['idle_kb'] / 1024:.1f} MiB idle, {found['open_kb'] / 1024:.1f} MiB with "
        f"{args.connections} connections open (~{per_conn:.0f} KiB per connection)"
    )
    print(f"run took {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
