"""Personal referral codes and the signed first-party attribution cookie.

Every signed-in user has one code (created on first need): 10 random URL-safe characters
(~60 bits), unique. The cookie `tp_ref` holds the affiliate codes a visitor landed with, when,
and under what: a listing (`gig:<slug>`, `product:<slug>`: the page knows no more without a
query), a shop (`<company id>`, from `/r/<code>/<shop>`) or any shop (`*`, from `/r/<code>`).
Each key keeps its first code; when a checkout starts, the oldest valid claim for the seller
wins (first click wins within the attribution window). It is signed with the app's secret
key, so a visitor cannot forge or edit it; the server still re-checks everything.
"""

import re
import secrets
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from app.clock import now
from app.extensions import db
from app.models import ReferralCode, User

COOKIE_NAME = "tp_ref"
COOKIE_MAX_AGE = 365 * 24 * 3600
MAX_CLAIMS = 20  # shops remembered per visitor; the oldest are dropped
MAX_WINDOW_SECONDS = 365 * 24 * 3600  # no program's window is longer (AffiliateProgram CHECK)
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{6,32}")
ANY_SHOP = "*"


@dataclass(frozen=True)
class Claim:
    """One remembered landing: what it was for (`gig:<slug>`, `product:<slug>`, a company id,
    or "*"), the affiliate code, when (unix seconds), and its click's token (None for none)."""

    shop: str
    code: str
    clicked_at: int
    click_token: str | None = None


def referral_code_for(user: User) -> ReferralCode:
    """The user's personal code, created (flushed) on first call. Unique per user and code."""
    found = db.session.scalar(select(ReferralCode).where(ReferralCode.user_id == user.id))
    if found is not None:
        return found
    while True:
        code = secrets.token_urlsafe(8)[:10]
        if db.session.scalar(select(ReferralCode.id).where(ReferralCode.code == code)) is None:
            break
    found = ReferralCode(user_id=user.id, code=code)
    db.session.add(found)
    db.session.flush()
    return found


def find_code(raw: object) -> ReferralCode | None:
    """The ReferralCode named by untrusted input, or None (wrong shape, unknown code)."""
    if not isinstance(raw, str) or not CODE_PATTERN.fullmatch(raw):
        return None
    return db.session.scalar(select(ReferralCode).where(ReferralCode.code == raw))


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="tradepost.referral-cookie")


def load_claims(raw: str | None) -> list[Claim]:
    """The claims of a `tp_ref` cookie value; [] for none, a bad signature or a bad shape."""
    if not raw or len(raw) > 4000:
        return []
    try:
        data = _serializer().loads(raw)
    except BadSignature:
        return []
    claims = []
    for item in data if isinstance(data, list) else []:
        if (
            isinstance(item, list)
            and len(item) == 4
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and isinstance(item[2], int)
            and (item[3] is None or isinstance(item[3], str))
        ):
            claims.append(Claim(item[0], item[1], item[2], item[3]))
    return claims[:MAX_CLAIMS]


def dump_claims(claims: list[Claim]) -> str:
    """The signed cookie value of `claims`."""
    return _serializer().dumps([[c.shop, c.code, c.clicked_at, c.click_token] for c in claims[-MAX_CLAIMS:]])


def add_claim(claims: list[Claim], claim: Claim) -> list[Claim] | None:
    """`claims` with `claim` added, or None when nothing changes: an earlier claim on the same
    key still inside the longest possible window wins (first click wins); an older one is
    replaced. The program's own window is applied when the checkout starts."""
    for earlier in claims:
        if earlier.shop == claim.shop and claim.clicked_at - earlier.clicked_at < MAX_WINDOW_SECONDS:
            return None
    kept = [earlier for earlier in claims if earlier.shop != claim.shop]
    return [*kept, claim][-MAX_CLAIMS:]


def now_seconds() -> int:
    """The clock of the claims (app.clock's now, in whole seconds)."""
    return int(now().timestamp())


def referral_link(user: User, listing_url: str) -> str:
    """`listing_url` with the user's `?ref=<code>` (creating the code if needed)."""
    separator = "&" if "?" in listing_url else "?"
    return f"{listing_url}{separator}ref={referral_code_for(user).code}"
