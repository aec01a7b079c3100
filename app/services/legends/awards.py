"""XP from server-side events only. `record_event` (app/services/outbound/outbox.py) hands every
domain event it records to `on_domain_event`, in the same transaction; reviews, which have no
outbound event, call `on_review`. The table below says which event awards whom and how much
(base XP, times the member's class multiplier). Users who have not joined the company's game
earn nothing; the game being off earns nothing.

| event | who | XP | source key |
|---|---|---|---|
| referral.converted | affiliate | 100, +1 referral | referral:<referral_id> |
| commission.cleared | affiliate | 1 per whole dollar (min 1), + commission | commission:<id>:cleared |
| commission.reversed | affiliate | minus what the clearing awarded | commission:<id>:reversed |
| payment.succeeded | buyer | 10 | payment:<payment_id> |
| order.completed | buyer | 25 | order:<order_id>:completed |
| membership.activated | buyer | 20 | membership:<membership_id>:activated |
| a gig or product review | buyer | 15 | review:<id> / product_review:<id> |
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import LegendsGame, LegendsMember, LegendsXpAward, Order, OutboxEvent, Payment
from app.services.legends.engine import Earning, award_xp
from app.tenancy import tenant_scope

REFERRAL_XP = 100
PAYMENT_XP = 10
ORDER_XP = 25
MEMBERSHIP_XP = 20
REVIEW_XP = 15


def member_of(company_id: int, user_id: int | None) -> LegendsMember | None:
    """The user's member row in the company's game, when the game is on and they joined it."""
    if user_id is None:
        return None
    return db.session.scalar(
        select(LegendsMember)
        .join(LegendsGame, LegendsGame.company_id == LegendsMember.company_id)
        .where(LegendsMember.company_id == company_id, LegendsMember.user_id == user_id, LegendsGame.enabled.is_(True))
    )


def _award(company_id: int, user_id: int | None, source_key: str, earning: Earning) -> None:
    member = member_of(company_id, user_id)
    if member is not None:
        award_xp(member, source_key, earning)


def _referral_converted(company_id: int, data: dict[str, Any]) -> None:
    _award(
        company_id,
        data["affiliate_user_id"],
        f"referral:{data['referral_id']}",
        Earning("referral", REFERRAL_XP, referrals=1),
    )


def _commission_cleared(company_id: int, data: dict[str, Any]) -> None:
    cents = int(data["amount_cents"])
    _award(
        company_id,
        data["affiliate_user_id"],
        f"commission:{data['commission_id']}:cleared",
        Earning("commission", max(1, cents // 100), commission_cents=cents),
    )


def _commission_reversed(company_id: int, data: dict[str, Any]) -> None:
    member = member_of(company_id, data["affiliate_user_id"])
    if member is None:
        return
    cleared = db.session.scalar(
        select(LegendsXpAward).where(
            LegendsXpAward.company_id == company_id,
            LegendsXpAward.member_id == member.id,
            LegendsXpAward.source_key == f"commission:{data['commission_id']}:cleared",
        )
    )
    if cleared is None:  # reversed while pending: it never earned XP
        return
    award_xp(
        member,
        f"commission:{data['commission_id']}:reversed",
        Earning("reversal", -cleared.amount, commission_cents=-cleared.commission_cents_delta, exact=True),
    )


def _payment_succeeded(company_id: int, data: dict[str, Any]) -> None:
    buyer_id = db.session.scalar(select(Payment.buyer_id).where(Payment.id == data["payment_id"]))
    _award(company_id, buyer_id, f"payment:{data['payment_id']}", Earning("purchase", PAYMENT_XP))


def _order_completed(company_id: int, data: dict[str, Any]) -> None:
    buyer_id = db.session.scalar(select(Order.buyer_id).where(Order.id == data["order_id"]))
    _award(company_id, buyer_id, f"order:{data['order_id']}:completed", Earning("order", ORDER_XP))


def _membership_activated(company_id: int, data: dict[str, Any]) -> None:
    _award(
        company_id,
        data["buyer_id"],
        f"membership:{data['membership_id']}:activated",
        Earning("membership", MEMBERSHIP_XP),
    )


AWARDS: dict[str, Callable[[int, dict[str, Any]], None]] = {
    "referral.converted": _referral_converted,
    "commission.cleared": _commission_cleared,
    "commission.reversed": _commission_reversed,
    "payment.succeeded": _payment_succeeded,
    "order.completed": _order_completed,
    "membership.activated": _membership_activated,
}


def on_domain_event(event: OutboxEvent) -> None:
    """Award the XP a just-recorded domain event earns (AWARDS), in the caller's transaction."""
    handler = AWARDS.get(event.type)
    if handler is None:
        return
    with tenant_scope(event.company_id):
        handler(event.company_id, dict(event.data))


def on_review(company_id: int, buyer_id: int, source_key: str) -> None:
    """Award a buyer's review of an order or a product (`source_key` "review:<id>" or
    "product_review:<id>"), in the caller's transaction."""
    with tenant_scope(company_id):
        _award(company_id, buyer_id, source_key, Earning("review", REVIEW_XP))
