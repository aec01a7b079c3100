"""`make run`: the whole development stack under honcho, on the ports you choose.

    PORT=5100 SANDBOX_PORT=5155 REDIS_PORT=6390 SANDBOX_SMTP_PORT=1125 make run

Reads `.env` (the real environment wins), resolves the ports and the URLs built from them
with the app's own configuration, then starts honcho on Procfile.dev with every one of
those values in the environment of each process. honcho itself must not read `.env` (it
would let `.env` override the real environment) and gives each process type its own PORT
(web first gets the base port we pass), so the URLs the other processes need are pinned
here rather than derived from their PORT.
"""

import os
import shutil
import sys

from app.config import INSTANCE_DIR, ConfigError, DevelopmentConfig, env_value, load_env_file

# Where the web process and the RQ worker write their metrics (prometheus_client multiprocess
# mode), emptied at each start: /metrics then adds up both processes.
DEFAULT_METRICS_DIR = INSTANCE_DIR / "prometheus"


def stack_environment(environ=None):
    """The environment every process of `make run` gets (`.env` already merged)."""
    env = dict(os.environ if environ is None else environ)
    config = DevelopmentConfig()
    env.update(
        PORT=str(config.PORT),
        SANDBOX_PORT=str(config.SANDBOX_PORT),
        REDIS_PORT=str(config.REDIS_PORT),
        LEGENDS_STREAM_PORT=str(config.LEGENDS_STREAM_PORT),
        LEGENDS_STREAM_URL=config.LEGENDS_STREAM_URL,
        APP_BASE_URL=config.APP_BASE_URL,
        SANDBOX_URL=config.SANDBOX_URL,
        # the sandbox's mail catcher listens where the app sends (unless MAIL_* say otherwise)
        SANDBOX_SMTP_PORT=str(config.SANDBOX_SMTP_PORT),
        MAIL_SERVER=config.MAIL_SERVER,
        MAIL_PORT=str(config.MAIL_PORT),
    )
    # Left unset, REDIS_URL means "devredis serves REDIS_PORT" (set, devredis just waits).
    if env_value("REDIS_URL") is None:
        env.pop("REDIS_URL", None)
    env["PROMETHEUS_MULTIPROC_DIR"] = env_value("PROMETHEUS_MULTIPROC_DIR") or str(DEFAULT_METRICS_DIR)
    return env, config


def fresh_metrics_dir(path):
    """An empty metrics directory: values left by the processes of an earlier run would be
    added to this run's."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def main():
    load_env_file()
    try:
        env, config = stack_environment()
    except ConfigError as exc:
        sys.exit(f"make run: {exc}")
    fresh_metrics_dir(env["PROMETHEUS_MULTIPROC_DIR"])
    print(
        f"\n  Tradepost:        {config.APP_BASE_URL}  (listening on 127.0.0.1:{config.PORT})\n"
        f"  Sandbox (Stripe/Whop emulators): {config.SANDBOX_URL}/_sandbox/\n"
        f"  Mail:             {config.SANDBOX_URL}/_sandbox/mail  (the app sends to "
        f"{config.MAIL_SERVER}:{config.MAIL_PORT})\n"
        f"  Redis:            {config.REDIS_URL}\n"
        f"  Legends live:     {config.LEGENDS_STREAM_URL}  (server-sent events)\n"
        "  Demo sign-ins are listed above (ROLE EMAIL PASSWORD). Ctrl-C stops everything.\n",
        flush=True,
    )
    honcho = shutil.which("honcho", path=env.get("PATH")) or "honcho"
    os.execvpe(honcho, [honcho, "start", "-f", "Procfile.dev", "-e", os.devnull, "-p", str(config.PORT)], env)


if __name__ == "__main__":
    main()
