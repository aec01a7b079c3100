"""gunicorn reads this file from the working directory (`gunicorn wsgi:app`, the Procfile).

With PROMETHEUS_MULTIPROC_DIR set, each worker writes its metrics to files there and /metrics
adds them up; when a worker exits, its live gauges (DB connections in use) must stop counting.
"""

import os


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
