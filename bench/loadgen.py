"""Load generators for loopback benchmarks: wrk when installed, else a threaded http.client one.

Both run a fixed number of connections for a fixed time and stop by themselves; the Python
generator also stops after `max_requests`. Targets must be on this machine (loopback).
"""

import http.client
import math
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Result:
    requests: int
    seconds: float
    p99_ms: float
    errors: int

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0


def _check_loopback(url):
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"benchmarks only target loopback, not {host}")


def _ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url, connections, seconds, threads=2, script=None, headers=None):
    """wrk with latency percentiles (optionally driven by a Lua `script`, sending `headers`);
    non-2xx count as errors."""
    _check_loopback(url)
    seconds = max(1, math.ceil(seconds))  # wrk takes whole seconds ("-d0.5s" is refused)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command += ["-s", str(script)] if script else []
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    elapsed = re.search(r"requests in ([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n_errors = int(errors.group(1)) if errors else 0
    if socket_errors:
        n_errors += sum(int(g) for g in socket_errors.groups())
    return Result(requests, _ms(*elapsed.groups()) / 1000.0, _ms(*p99.groups()), n_errors)


def run_threads(url, connections, seconds, max_requests=200_000, make_body=None, headers=None):
    """Fixed concurrency with keep-alive http.client connections, bounded in time and count.

    GETs `url`; with `make_body(worker_number, request_number) -> bytes`, POSTs JSON instead.
    `headers` go with every request (e.g. a session Cookie).
    """
    headers = dict(headers or {})
    _check_loopback(url)
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + seconds
    latencies, errors, lock = [], [0], threading.Lock()
    budget = [max_requests]

    def worker(number):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine, sent = [], 0
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            sent += 1
            start = time.perf_counter()
            try:
                if make_body is None:
                    conn.request("GET", path, headers=headers)
                else:
                    conn.request(
                        "POST",
                        path,
                        body=make_body(number, sent),
                        headers={**headers, "Content-Type": "application/json"},
                    )
                response = conn.getresponse()
                response.read()
                ok = response.status < 400
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            mine.append(time.perf_counter() - start)
            if not ok:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 15)
    elapsed = time.monotonic() - started
    latencies.sort()
    p99 = latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000 if latencies else 0.0
    return Result(len(latencies), elapsed, p99, errors[0])


def load(url, connections=32, seconds=10, headers=None):
    """Drive `url` (GETs sending `headers`) with whichever generator this machine has."""
    if shutil.which("wrk"):
        return run_wrk(url, connections, seconds, headers=headers)
    return run_threads(url, connections, seconds, headers=headers)


def generator_name():
    return "wrk" if shutil.which("wrk") else "python threads (http.client)"
