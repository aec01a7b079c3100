"""In-process CPU per request of bare hello, the app's /healthz signed out and signed in (the
signed-in floor) and the Legends board tab: what a gunicorn worker spends in the WSGI app,
without the load generator and the other processes of a shared machine in the figure
(bench.legends_leaderboard measures the same through wrk), and the function calls per request
(a figure the machine's load does not move).

    BENCH_DB_PREFIX=tp_me_ BENCH_REDIS_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python -m bench.request_cpu                      # 100,000 members, ~1 minute
    .venv/bin/python -m bench.request_cpu --keep                   # keep the database ...
    .venv/bin/python -m bench.request_cpu --reuse                  # ... and measure it again
    .venv/bin/python -m bench.request_cpu --reuse --profile board  # pyinstrument of one target
    .venv/bin/python -m bench.request_cpu --reuse --profile board --cprofile tottime  # cProfile

Seeds the database as bench.legends_leaderboard does (production configuration, PostgreSQL),
builds the app as `wsgi.py` does in a process of its own (the access log to /dev/null, as the
benchmark's gunicorn has it), signs in through the real form, then calls the WSGI app for each
target like a sync worker does (environ in, body iterated and closed): `process_time` over
--requests requests after 50 warm-ups, the best of --rounds rounds.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

from bench import harness
from bench.harness import ROOT, drop_database, migrated_database

DATABASE_URL = harness.database_url("request_cpu")


def _environ(path: str, query: str = "", headers: dict[str, str] | None = None) -> dict:
    import io

    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench",  # the sign-in's: Flask-Login's session protection compares them
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        environ[f"HTTP_{name.upper().replace('-', '_')}"] = value  # a request header, as WSGI names it
    return environ


def _call(app, environ: dict) -> tuple[str, bytes]:
    import io

    environ = dict(environ)
    environ["wsgi.input"] = io.BytesIO(b"")
    answer = []
    body = app(environ, lambda status, headers, exc_info=None: answer.append(status))
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return answer[0], data


_gc_spent = [0.0, 0, 0.0]  # seconds in collections, how many, when the running one started


def _gc_watch(phase: str, info: dict) -> None:
    if phase == "start":
        _gc_spent[2] = time.process_time()
    else:
        _gc_spent[0] += time.process_time() - _gc_spent[2]
        _gc_spent[1] += 1


def _gc_note() -> str:
    return f"{_gc_spent[1]} collections, {_gc_spent[0] * 1000:.0f} ms in all"


def _measure_here(slug: str, requests: int, rounds: int, profile: str | None, cprofile: str | None) -> None:
    """Inside the app's environment: the figures, one line per target."""
    import re
    from urllib.parse import urlencode

    import bench.hello
    from bench.legends_leaderboard import VIEWER_EMAIL, VIEWER_PASSWORD
    from wsgi import app

    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = "bench"
    page = client.get("/signin").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    signed = client.post("/signin", data={"email": VIEWER_EMAIL, "password": VIEWER_PASSWORD, "csrf_token": token})
    assert signed.status_code == 303, signed.status_code
    cookie = client.get_cookie("session")
    headers = {"Cookie": f"session={cookie.value}"}
    query = urlencode({"category": "xp", "period": "all", "scope": "all"})
    targets = {
        "hello": (bench.hello.app, _environ("/")),
        "anon": (app, _environ("/healthz")),
        "floor": (app, _environ("/healthz", headers=headers)),
        "board": (app, _environ(f"/legends/{slug}/board", query, {**headers, "HX-Request": "true"})),
    }
    status, body = _call(*targets["board"])
    if not status.startswith("200") or b"Your rank: <strong>#" not in body or body.count(b"<tr") < 100:
        raise RuntimeError(f"the board did not render: {status}")
    if profile and cprofile:  # "SORT" or "SORT:callers:PATTERN" / "SORT:callees:PATTERN"
        import cProfile
        import pstats

        target, environ = targets[profile]
        for _ in range(50):
            _call(target, environ)
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(requests):
            _call(target, environ)
        profiler.disable()
        sort, _, rest = cprofile.partition(":")
        which, _, pattern = rest.partition(":")
        stats = pstats.Stats(profiler).sort_stats(sort)
        if which == "callees":
            stats.print_callees(pattern)
        elif which == "callers":
            stats.print_callers(pattern)
        else:
            stats.print_stats(60)
        return
    if profile:
        from pyinstrument import Profiler

        target, environ = targets[profile]
        for _ in range(50):
            _call(target, environ)
        profiler = Profiler(interval=0.0001)
        profiler.start()
        for _ in range(requests):
            _call(target, environ)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return
    import gc

    gc.callbacks.append(_gc_watch)
    spent: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(50):
        for target, environ in targets.values():
            _call(target, environ)
    for _ in range(rounds):  # interleaved: a busy moment of the machine touches every target alike
        for name, (target, environ) in targets.items():
            started = time.process_time()
            for _ in range(requests):
                _call(target, environ)
            spent[name].append((time.process_time() - started) / requests * 1e6)
    calls = {name: _calls(target, environ) for name, (target, environ) in targets.items()}
    print(f"CPU per request, µs (best and median of {rounds} rounds of {requests}), and function calls:")
    print(f"  (collector: {_gc_note()})", flush=True)
    hello = min(spent["hello"])
    for name, figures in spent.items():
        best, middle = min(figures), statistics.median(figures)
        print(
            f"  {name:6} {best:7.1f}  {middle:7.1f}   hello/this {hello / best:.2f}   {calls[name]:5} calls", flush=True
        )


def _calls(target, environ) -> int:
    """Python and C function calls per request (a figure the machine's load does not move)."""
    count = [0]

    def counter(_frame, event, _arg):
        if event in ("call", "c_call"):
            count[0] += 1

    sys.setprofile(counter)
    try:
        for _ in range(20):
            _call(target, environ)
    finally:
        sys.setprofile(None)
    return count[0] // 20


def main() -> None:
    parser = argparse.ArgumentParser(description="In-process CPU per request: hello, signed-in floor, board.")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--reuse", action="store_true", help="measure the database kept by --keep")
    parser.add_argument("--profile", choices=("hello", "anon", "floor", "board"), help="pyinstrument of one target")
    parser.add_argument(
        "--cprofile", metavar="SORT[:callers|callees:PATTERN]", help="with --profile: cProfile instead, by SORT"
    )
    parser.add_argument("--verbose", action="store_true", help="show the app's log (stderr)")
    parser.add_argument("--here", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.here:
        return _measure_here(args.here, args.requests, args.rounds, args.profile, args.cprofile)
    env = harness.production_env(8000, DATABASE_URL, harness.redis_url())
    slug_file = ROOT / "instance" / f"{harness.DB_PREFIX}request_cpu.slug"
    if env.get("SECRET_KEY") and args.reuse:
        env["SECRET_KEY"] = slug_file.with_suffix(".key").read_text()
    try:
        if not args.reuse:
            migrated_database(DATABASE_URL, env)
            out = harness.run_module(["bench.legends_leaderboard", "--seed-only", "--members", str(args.members)], env)
            slug_file.parent.mkdir(exist_ok=True)
            slug_file.write_text(out.strip().splitlines()[-1])
            slug_file.with_suffix(".key").write_text(env["SECRET_KEY"])
        slug = slug_file.read_text()
        command = [sys.executable, "-m", "bench.request_cpu", "--here", slug]
        command += ["--requests", str(args.requests), "--rounds", str(args.rounds)]
        command += ["--profile", args.profile] if args.profile else []
        command += ["--cprofile", args.cprofile] if args.cprofile else []
        with open(os.devnull, "w") as devnull:  # the access log, as the benchmark's gunicorn has it
            subprocess.run(command, cwd=ROOT, env=env, check=True, stderr=None if args.verbose else devnull)
    finally:
        if not args.keep and not args.reuse:
            drop_database(DATABASE_URL)
            harness.drop_template()


if __name__ == "__main__":
    main()
