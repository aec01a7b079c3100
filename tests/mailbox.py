"""Reading the mail the sandbox's catcher received, as a test would read its inbox: over HTTP
from `SANDBOX_URL/_sandbox/mail.json` (newest first).

The catcher answers the sender's SMTP DATA only once the message is stored, so mail sent in
the test's own process (an RQ job drained with `run_jobs()`) can be read at once; mail sent
by another process (the browser suite's worker) is waited for with `wait_for_mail`.
"""

import re
from urllib.parse import urlsplit

from tests import loopback
from tests.waiting import wait_until


def mail_json(sandbox_url, **filters):
    """The caught messages, newest first; `to=` and `since=` filter as the endpoint does."""
    response = loopback.get(sandbox_url + "/_sandbox/mail.json", params=filters, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def last_mail_id(sandbox_url):
    """The newest message's id (0 when there is none): pass it as `since` to see only what
    comes after this moment."""
    messages = mail_json(sandbox_url)
    return messages[0]["id"] if messages else 0


def wait_for_mail(sandbox_url, to, since=0, count=1, timeout=30.0):
    """The messages to `to` after message id `since`, newest first, once there are `count`."""

    def arrived():
        messages = mail_json(sandbox_url, to=to, since=since)
        return messages if len(messages) >= count else None

    return wait_until(arrived, timeout=timeout, message=f"{count} message(s) to {to} did not arrive")


LINK = re.compile(r"https?://[^\s<>\"']+")


def links_in(message, path_part=""):
    """The absolute links in a message's text part (in order) whose URL contains `path_part`."""
    return [link for link in LINK.findall(message["text"]) if path_part in link]


def link_in(message, path_part):
    """The one link in the message whose URL contains `path_part` (e.g. "/email/verify/")."""
    found = sorted(set(links_in(message, path_part)))
    assert len(found) == 1, f"expected one {path_part} link in {message['subject']!r}: {found}"
    return found[0]


def path_of(url):
    """The path (and query) of an absolute URL, to request with a Flask test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
