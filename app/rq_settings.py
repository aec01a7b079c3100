"""RQ's settings module: `rq worker -c app.rq_settings ...` and `rq cron -c app.rq_settings ...`.

RQ imports this before it connects, so the worker and the cron scheduler read `.env` and
the same configuration as the web app (REDIS_URL or REDIS_PORT) instead of a `--url` the
shell had to expand. In production the configuration is validated here too: a worker
refuses to start with missing or development secrets, as the web app does.
"""

from app.config import config_from_env, load_env_file

load_env_file()
_config = config_from_env()()
_config.validate()

REDIS_URL = _config.REDIS_URL
QUEUES = list(_config.RQ_QUEUES)
