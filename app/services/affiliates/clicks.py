"""Recording a landing through an affiliate link, cheaply and off the money path.

A click costs one Redis INCR (the per-IP rate limit) and one INSERT; it is never stored for
obvious bots, over the rate limit, or while Redis is down (the page is served regardless and
a warning is logged). The visitor's IP is kept only as HMAC-SHA256 with a key derived from
the app's secret key, so it can be compared but not read back.
"""

import hashlib
import hmac
import logging
import re

from flask import current_app

from app.clock import now
from app.extensions import db
from app.models import ReferralClick, ReferralCode
from app.queue import get_redis

log = logging.getLogger(__name__)

BOT_PATTERN = re.compile(
    r"bot|crawl|spider|slurp|scrape|facebookexternalhit|embedly|preview|headless|phantom|lighthouse"
    r"|curl/|wget/|python-requests|go-http-client|java/|okhttp|libwww|httpclient",
    re.IGNORECASE,
)


def is_bot(user_agent: str | None) -> bool:
    """True for a user agent that names a crawler, a link previewer or a script."""
    return bool(BOT_PATTERN.search((user_agent or "").strip()))


def hash_ip(ip: str | None) -> str:
    """HMAC-SHA256 of the IP (hex) with a key derived from SECRET_KEY."""
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"tradepost.referral-ip", hashlib.sha256).digest()
    return hmac.new(key, (ip or "").encode(), hashlib.sha256).hexdigest()


def within_rate_limit(ip_hash: str) -> bool | None:
    """True while this IP recorded at most REFERRAL_CLICKS_PER_MINUTE clicks this minute;
    None when Redis cannot be asked (the caller then drops the click)."""
    key = f"referral:clicks:{ip_hash[:32]}:{int(now().timestamp()) // 60}"
    try:
        pipe = get_redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = pipe.execute()
    except Exception:  # a Redis outage loses the click, never the page
        log.warning("referral click not recorded: Redis unavailable")
        return None
    return int(count) <= current_app.config["REFERRAL_CLICKS_PER_MINUTE"]


def record_click(
    code: ReferralCode,
    company_id: int,
    *,
    listing_type: str | None,
    listing_id: int | None,
    ip: str | None,
    user_agent: str | None,
    referrer: str | None,
    landing_path: str,
) -> ReferralClick | None:
    """Store one click for `company_id` (the seller whose listing or shop was opened), or None
    when it is not stored: a bot, over the rate limit, or Redis down. Text is truncated to the
    columns, NUL bytes removed. Flushed, not committed."""
    if is_bot(user_agent):
        return None
    ip_hash = hash_ip(ip)
    if not within_rate_limit(ip_hash):
        return None
    click = ReferralClick(
        company_id=company_id,
        code_id=code.id,
        affiliate_user_id=code.user_id,
        listing_type=listing_type,
        listing_id=listing_id,
        ip_hash=ip_hash,
        user_agent=_clean(user_agent, 300),
        referrer=_clean(referrer, 500),
        landing_path=_clean(landing_path, 500),
        created_at=now(),
    )
    db.session.add(click)
    db.session.flush()
    return click


def _clean(text: str | None, length: int) -> str:
    return (text or "").replace("\x00", "")[:length]
