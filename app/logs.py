"""Logging for every process that builds the app (web, `flask` commands, RQ jobs).

One place: `configure_logging(app)` gives the app's loggers (`app` — Flask's `app.logger` —
and every `app.*` module logger) one handler writing plain, human-readable lines to stderr
at LOG_LEVEL (INFO by default), so INFO lines such as the development email transport's are
seen. The root logger is left alone: libraries (werkzeug, RQ) keep their own handlers, and
under pytest the app's records reach pytest's capture through propagation.
"""

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
_HANDLER_NAME = "tradepost"


def configure_logging(app):
    """Send the app's log records at LOG_LEVEL and above to stderr (not under tests,
    where pytest captures them). Safe to call once per app built in one process."""
    logger = logging.getLogger("app")
    for handler in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(handler)
    logger.setLevel(app.config["LOG_LEVEL"])
    if app.testing:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(handler)
