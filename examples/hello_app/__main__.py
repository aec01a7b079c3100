"""`python -m examples.hello_app --port 5300`: serve the hello app (settings from the environment)."""

import argparse

from examples.hello_app.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="The Tradepost hello app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5300)
    args = parser.parse_args()
    create_app().run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
