"""The mail catcher: an SMTP server in the sandbox process that keeps every message it is
sent, shown at ``/_sandbox/mail`` and as JSON at ``/_sandbox/mail.json``.

Development and tests send the app's mail here (MAIL_SERVER=127.0.0.1,
MAIL_PORT=SANDBOX_SMTP_PORT); nothing is delivered anywhere. What each module holds:

* ``smtp.py``   — the aiosmtpd server on 127.0.0.1:SANDBOX_SMTP_PORT (a thread), accepting
                  any sender, recipient and login, refusing messages over SANDBOX_MAIL_MAX_BYTES
* ``parse.py``  — MIME to what a developer reads: addresses, subject, text and HTML, links
* ``store.py``  — the ``mail_messages`` table in SANDBOX_DATABASE (raw bytes + parsed JSON),
                  the newest SANDBOX_MAIL_KEEP messages
* ``pages.py``  — the pages, the HTML preview (strict CSP), the ``.eml`` download, the JSON
* ``templates/mail/`` — the pages' templates
"""

from __future__ import annotations

from flask import Flask

from app.sandbox.mail import pages
from app.sandbox.mail.smtp import HOST, start_smtp_server
from app.sandbox.mail.store import MailStore


def init_app(app: Flask) -> None:
    """Mount the mail pages on ``app`` and open the store. The SMTP server is the process's
    (``start_smtp``): building a sandbox app, as CLI commands and tests do, listens on nothing."""
    app.extensions["sandbox_mail"] = MailStore(app.config["SANDBOX_DATABASE"], app.config["SANDBOX_MAIL_KEEP"])
    app.extensions["sandbox_smtp"] = None
    app.register_blueprint(pages.bp)


def start_smtp(app: Flask) -> None:
    """Start the SMTP server on SANDBOX_SMTP_PORT unless it is 0 (ConfigError if taken)."""
    port = app.config["SANDBOX_SMTP_PORT"]
    if not port:
        return
    start_smtp_server(
        app.extensions["sandbox_mail"], port, app.config["SANDBOX_MAIL_MAX_BYTES"], app.config["SANDBOX_PUBLIC_URL"]
    )
    app.extensions["sandbox_smtp"] = {"host": HOST, "port": port}
