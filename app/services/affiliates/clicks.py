"""Recording a landing through an affiliate link, off the request's database work.

On the page, a click costs one write to a socket and no SQL: a small Lua script, sent to Redis
on this process's fire-and-forget connection (`CLIENT REPLY OFF`: the page never waits for
Redis's answer), counts the visitor IP's clicks this minute and, under
REFERRAL_CLICKS_PER_MINUTE, appends the click to the `referral:clicks` list (capped at
QUEUE_CAP: a flood drops the oldest). `flush_clicks`
(an RQ cron job every minute, app/tasks/referrals.py) drains the list in batches and writes
the ReferralClick rows that count: a known code, not the affiliate's own visit, a seller whose
program is on and includes the listing. Bots never reach Redis. With Redis down the click is
lost, the page served, and a warning logged. The visitor's IP is kept only as HMAC-SHA256 with
a key derived from the app's secret key, so it can be compared but not read back.
"""

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.clock import now
from app.extensions import db
from app.models import Company, Gig, Product, ReferralClick, ReferralCode
from app.queue import get_redis
from app.services.affiliates.programs import get_program, program_includes

log = logging.getLogger(__name__)

QUEUE_KEY = "referral:clicks"
QUEUE_CAP = 100_000
BATCH = 500
BOT_PATTERN = re.compile(
    r"bot|crawl|spider|slurp|scrape|facebookexternalhit|embedly|preview|headless|phantom|lighthouse"
    r"|curl/|wget/|python-requests|go-http-client|java/|okhttp|libwww|httpclient",
    re.IGNORECASE,
)
# KEYS: the IP's counter this minute, the queue. ARGV: limit, the click (JSON), queue cap.
ENQUEUE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 120) end
if n <= tonumber(ARGV[1]) then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
end
return n
"""


_senders: dict[tuple[object, ...], Any] = {}
_senders_lock = threading.Lock()


def _sender_key() -> tuple[object, ...]:
    """This process's sender for the app's Redis server and database."""
    kwargs = get_redis().connection_pool.connection_kwargs
    return (os.getpid(), *(kwargs.get(name) for name in ("host", "port", "path", "db")))


def _send(*command: object) -> None:
    """Send `command` to the app's Redis without waiting for (or ever reading) an answer, on a
    connection of this process set to `CLIENT REPLY OFF` — never one of the shared pool's,
    whose next reader would get the answer. Raises when Redis can't be reached (the connection
    is then dropped and made again next time)."""
    pool = get_redis().connection_pool
    key = _sender_key()
    with _senders_lock:
        connection = _senders.get(key)
        try:
            if connection is None:
                connection = pool.connection_class(**pool.connection_kwargs)
                connection.connect()
                connection.send_command("CLIENT", "REPLY", "OFF", check_health=False)
                _senders[key] = connection
            connection.send_command(*command, check_health=False)
        except Exception:
            _senders.pop(key, None)
            if connection is not None:
                connection.disconnect()
            raise


def _wait_for_sent() -> None:
    """Return once Redis has run every command this process sent (so a flush in the same
    process — a test — sees them): `CLIENT REPLY ON` is answered only after them."""
    with _senders_lock:
        connection = _senders.get(_sender_key())
        if connection is None:
            return
        try:
            connection.send_command("CLIENT", "REPLY", "ON", check_health=False)
            connection.read_response()
            connection.send_command("CLIENT", "REPLY", "OFF", check_health=False)
        except Exception:  # a broken connection: what it carried is lost, the next click reconnects
            _senders.pop(_sender_key(), None)
            connection.disconnect()


def is_bot(user_agent: str | None) -> bool:
    """True for a user agent that names a crawler, a link previewer or a script."""
    return bool(BOT_PATTERN.search((user_agent or "").strip()))


def hash_ip(ip: str | None) -> str:
    """HMAC-SHA256 of the IP (hex) with a key derived from SECRET_KEY."""
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"tradepost.referral-ip", hashlib.sha256).digest()
    return hmac.new(key, (ip or "").encode(), hashlib.sha256).hexdigest()


def new_click_token() -> str:
    """The random id a click carries from the page (cookie) to its row."""
    return secrets.token_urlsafe(12)


def queue_click(
    token: str,
    code: str,
    *,
    listing_type: str | None = None,
    slug: str | None = None,
    company_id: int | None = None,
    ip: str | None,
    user_agent: str | None,
    referrer: str | None,
    landing_path: str,
    visitor_id: int | None,
) -> bool:
    """Queue one click for `flush_clicks` (a listing by type and slug, or a shop by company id)
    without waiting for Redis. False when it is not sent: a bot, or Redis down (logged as a
    warning); Redis itself drops it past the IP's limit this minute. Never raises."""
    if is_bot(user_agent):
        return False
    ip_hash, moment = hash_ip(ip), int(now().timestamp())
    click: dict[str, object] = {
        "t": token,
        "c": code,
        "lt": listing_type,
        "s": slug,
        "co": company_id,
        "h": ip_hash,
        "ua": _clean(user_agent, 300),
        "r": _clean(referrer, 500),
        "p": _clean(landing_path, 500),
        "at": moment,
        "u": visitor_id,
    }
    minute_key = f"referral:rate:{ip_hash[:32]}:{moment // 60}"
    limit = current_app.config["REFERRAL_CLICKS_PER_MINUTE"]
    try:
        _send("EVAL", ENQUEUE, 2, minute_key, QUEUE_KEY, limit, json.dumps(click), QUEUE_CAP)
    except Exception:  # a Redis outage loses the click, never the page
        log.warning("referral click not recorded: Redis unavailable")
        return False
    return True


def _clean(text: str | None, length: int) -> str:
    return (text or "").replace("\x00", "")[:length]


def flush_clicks(batch: int = BATCH) -> int:
    """Write the queued clicks that count (see the module docstring) and drop the rest;
    returns how many rows were written. Runs until the queue is empty. Flushed, not committed."""
    written = 0
    _wait_for_sent()
    redis = get_redis()
    while True:
        raw = redis.lpop(QUEUE_KEY, batch)
        if not isinstance(raw, list) or not raw:
            return written
        for item in raw:
            click = _click_row(item)
            if click is not None:
                db.session.add(click)
                written += 1
        db.session.flush()


def _click_row(item: bytes | str) -> ReferralClick | None:
    try:
        data: dict[str, Any] = json.loads(item)
    except ValueError:
        return None
    code = db.session.scalar(select(ReferralCode).where(ReferralCode.code == str(data.get("c"))))
    if code is None or (data.get("u") is not None and data.get("u") == code.user_id):
        return None
    listing_type, listing_id, company_id = data.get("lt"), None, data.get("co")
    if listing_type in ("gig", "product"):
        model = Gig if listing_type == "gig" else Product
        found = db.session.execute(select(model.id, model.company_id).where(model.slug == str(data.get("s")))).first()
        if found is None:
            return None
        listing_id, company_id = found.id, found.company_id
    elif not isinstance(company_id, int) or db.session.get(Company, company_id) is None:
        return None
    program = get_program(company_id)
    if program is None or not program.enabled:
        return None
    if listing_id is not None and not program_includes(program, str(listing_type), listing_id):
        return None
    return ReferralClick(
        company_id=company_id,
        code_id=code.id,
        affiliate_user_id=code.user_id,
        token=str(data.get("t"))[:32],
        listing_type=listing_type if listing_id is not None else None,
        listing_id=listing_id,
        ip_hash=str(data.get("h"))[:64],
        user_agent=str(data.get("ua") or "")[:300],
        referrer=str(data.get("r") or "")[:500],
        landing_path=str(data.get("p") or "")[:500],
        created_at=datetime.fromtimestamp(int(data.get("at") or 0), UTC),
    )
