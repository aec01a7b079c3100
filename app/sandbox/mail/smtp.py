"""The catcher's SMTP server: aiosmtpd on 127.0.0.1:SANDBOX_SMTP_PORT in a thread of the
sandbox process.

It is a development catcher: it accepts every sender and recipient and any AUTH login (so an
app configured with MAIL_USERNAME/MAIL_PASSWORD works against it too), delivers nothing, and
stores each message. Plain SMTP only: no STARTTLS, no implicit TLS (MAIL_USE_TLS and
MAIL_USE_SSL stay off in development). A message over SANDBOX_MAIL_MAX_BYTES is refused with
552, at MAIL FROM when the client declares its SIZE (smtplib does), else after DATA.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from app.config import ConfigError
from app.sandbox.mail.store import MailStore

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SERVER_NAME = "tradepost-sandbox"  # the EHLO name (never socket.getfqdn(): a DNS lookup)
READY_TIMEOUT = 10.0


class CatchAll:
    """The aiosmtpd handler: store each message, answer 250 with its id."""

    def __init__(self, store: MailStore, public_url: str) -> None:
        self.store = store
        self.public_url = public_url

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        recipients = [str(address) for address in envelope.rcpt_tos]
        sender = "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)  # <>: a bounce
        try:
            message = await asyncio.get_running_loop().run_in_executor(None, self.store.add, raw, sender, recipients)
        except Exception:
            log.exception("could not store a message from %s", sender)
            return "451 Requested action aborted: the sandbox could not store the message"
        log.info(
            "mail #%s to %s: %s  %s/_sandbox/mail/%s",
            message["id"],
            ", ".join(message["to"]),
            message["subject"],
            self.public_url,
            message["id"],
        )
        return f"250 OK: stored as message {message['id']}"


def accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    """Any user name and password log in: the catcher stands in for a relay, not a mailbox."""
    return AuthResult(success=True)


def start_smtp_server(store: MailStore, port: int, max_bytes: int, public_url: str) -> Controller:
    """Listen on 127.0.0.1:``port`` in a daemon thread; ConfigError when the port is taken."""
    # aiosmtpd warns about its own use of a deprecated attribute at every AUTH login.
    logging.getLogger("mail.log").addFilter(lambda record: "login_data is deprecated" not in record.getMessage())
    try:
        _probe(port)  # aiosmtpd would only notice a taken port after READY_TIMEOUT
    except OSError as exc:
        raise _port_error(port, exc) from None
    controller = Controller(
        CatchAll(store, public_url),
        hostname=HOST,
        port=port,
        ready_timeout=READY_TIMEOUT,
        server_hostname=SERVER_NAME,
        ident="Tradepost sandbox mail catcher",
        data_size_limit=max_bytes,
        authenticator=accept_any_login,
        auth_require_tls=False,
    )
    try:
        controller.start()
    except OSError as exc:
        raise _port_error(port, exc) from None
    return controller


def _probe(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((HOST, port))


def _port_error(port: int, exc: OSError) -> ConfigError:
    return ConfigError(
        f"the mail catcher cannot listen on {HOST}:{port} ({exc.strerror or exc}): "
        "set SANDBOX_SMTP_PORT to a free port, or 0 to turn it off"
    )
