"""``python -m app.sandbox --host 127.0.0.1 --port 5055``: serve the sandbox (threaded)."""

from __future__ import annotations

import argparse

from app.sandbox.cli import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
