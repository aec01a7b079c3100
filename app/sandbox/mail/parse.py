"""Reading a caught message: MIME (multipart/alternative, RFC 2047 headers, quoted-printable
and base64 bodies, any charset) into what a developer looks at, and the links in it.

``parse_message`` never raises: a message that cannot be read is still stored, with what
could be read and the problem in ``defects``.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage, Message
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

# http(s) URLs in plain text, without trailing punctuation that ends the sentence around them.
URL_RE = re.compile(r"https?://[^\s<>\"'`]+")
TRAILING_PUNCTUATION = ".,;:!?)]}>'\""
# Headers shown with every message (lower case; the first occurrence of each).
SHOWN_HEADERS = ("from", "to", "cc", "reply-to", "subject", "date", "message-id")


def urls_in_text(text: str) -> list[str]:
    """The http(s) URLs in ``text``, in order."""
    return [trim_url(match.group()) for match in URL_RE.finditer(text)]


def trim_url(url: str) -> str:
    """``url`` without the punctuation that closes the sentence or bracket it stands in."""
    while url and url[-1] in TRAILING_PUNCTUATION:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href and href.strip().lower().startswith(("http://", "https://")):
                self.links.append(href.strip())


def links_in_html(html: str) -> list[str]:
    """The http(s) targets of the ``<a href>`` links in ``html``, in order."""
    collector = _LinkCollector()
    try:
        collector.feed(html)
        collector.close()
    except Exception:  # HTMLParser is lenient; a pathological document yields what was read
        pass
    return collector.links


def _unique(items: list[str], key: Any = str.lower) -> list[str]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if item and key(item) not in seen:
            seen.add(key(item))
            kept.append(item)
    return kept


def _addresses(message: Message, name: str) -> list[str]:
    """The addresses (``user@domain``) in every ``name`` header, in order."""
    try:
        values = [str(value) for value in message.get_all(name, [])]
        return _unique([address for _display, address in getaddresses(values) if "@" in address])
    except Exception:
        return []


def _text_of(part: Message) -> str:
    """A text part's content as a string with ``\n`` line ends, whatever its transfer
    encoding and charset."""
    return _decoded(part).replace("\r\n", "\n")


def _decoded(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except Exception:  # unknown charset, broken encoding: decode what is there
        pass
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _body_part(message: EmailMessage, subtype: str) -> Message | None:
    try:
        return message.get_body(preferencelist=(subtype,))
    except Exception:
        return None


def _attachments(message: EmailMessage, bodies: tuple[Message | None, ...]) -> list[dict[str, Any]]:
    """Every leaf part that is not one of the message's bodies: its name, type and size."""
    found = []
    for part in message.walk():
        if part.is_multipart() or any(part is body for body in bodies):
            continue
        if part.get_content_maintype() == "message":
            continue
        payload = part.get_payload(decode=True) or b""
        try:
            filename = part.get_filename()
        except Exception:
            filename = None
        found.append({"filename": filename, "content_type": part.get_content_type(), "size": len(payload)})
    return found


def _header(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
        return None if value is None else " ".join(str(value).split())
    except Exception:
        return None


def parse_message(raw: bytes, envelope_from: str, envelope_to: list[str]) -> dict[str, Any]:
    """What a developer needs of one message: sender, recipients (``to``: the To and Cc
    headers' addresses and every envelope recipient, so Bcc shows; ``cc``: the Cc header's),
    the decoded subject, the text and HTML bodies, attachments, shown headers and links.
    A message the email package cannot read at all comes back with the envelope only."""
    try:
        return _parse(raw, envelope_from, envelope_to)
    except Exception as exc:
        return {
            "from": envelope_from,
            "to": _unique(list(envelope_to)),
            "cc": [],
            "subject": "",
            "text": None,
            "html": None,
            "attachments": [],
            "headers": {},
            "links": [],
            "envelope": {"from": envelope_from, "to": list(envelope_to)},
            "defects": [f"unreadable: {type(exc).__name__}: {exc}"],
        }


def _parse(raw: bytes, envelope_from: str, envelope_to: list[str]) -> dict[str, Any]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text_part = _body_part(message, "plain")
    html_part = _body_part(message, "html")
    text = _text_of(text_part) if text_part is not None else None
    html = _text_of(html_part) if html_part is not None else None
    senders = _addresses(message, "from")
    cc = _addresses(message, "cc")
    to = _unique([*_addresses(message, "to"), *cc, *envelope_to])
    headers = {name: _header(message, name) for name in SHOWN_HEADERS}
    links = _unique([*links_in_html(html or ""), *urls_in_text(text or "")], key=str)
    return {
        "from": senders[0] if senders else envelope_from,
        "to": to,
        "cc": cc,
        "subject": _header(message, "subject") or "",
        "text": text,
        "html": html,
        "attachments": _attachments(message, (text_part, html_part)),
        "headers": {name: value for name, value in headers.items() if value is not None},
        "links": links,
        "envelope": {"from": envelope_from, "to": list(envelope_to)},
        "defects": [type(defect).__name__ for defect in message.defects],
    }
