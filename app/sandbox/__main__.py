"""``python -m app.sandbox --host 127.0.0.1 --port 5055``: serve the sandbox (threaded).

Reads `.env` first, like every entry point; the port defaults to SANDBOX_PORT (5055)."""

from __future__ import annotations

import argparse
import sys

from app.config import DEFAULT_SANDBOX_PORT, ConfigError, env_port, load_env_file
from app.sandbox.cli import serve


def main() -> None:
    load_env_file()
    parser = argparse.ArgumentParser(prog="python -m app.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: SANDBOX_PORT, else 5055")
    args = parser.parse_args()
    try:
        port = args.port or env_port("SANDBOX_PORT", DEFAULT_SANDBOX_PORT)
        serve(args.host, port)
    except ConfigError as exc:
        sys.exit(f"sandbox: {exc}")


if __name__ == "__main__":
    main()
