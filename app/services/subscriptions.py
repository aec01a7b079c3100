"""When a membership's access ends, from its subscription's real periods.

A membership keeps four moments (models/product.py): Stripe's `current_period_end` (the
renewal date), `paid_through` (the end of the last period actually paid, or of the free
trial), `grace_ends_at` (after a failed renewal) and `access_ends_at`, which this module
derives from the others and which the member area, the files and the license key all obey:

* trialing / active: `paid_through` plus RENEWAL_SLACK (a renewal's webhook lands a little
  after the period ends; Stripe charges about an hour after it);
* past_due: `grace_ends_at` = `paid_through` + SUBSCRIPTION_GRACE_DAYS, set once at the first
  failure and never moved by later failures: access never runs over an unpaid period;
* canceled / expired: the moment it ended (now, or an earlier end already recorded);
* no period at all (one-time purchases, Whop memberships): no end.

`paid_through` only moves forward, and only for periods Stripe says are paid: a paid
invoice's subscription line, a subscription that is `active` (its current period is paid) or
`trialing` (until `trial_end`). A `$0` trial invoice can therefore never shorten a trial.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, select

from app.clock import now
from app.models import Membership

RENEWAL_SLACK = timedelta(days=1)


def buyer_memberships(what: Any, buyer_id: int, product_id: int) -> Select[Any]:
    """SELECT `what` from the memberships `buyer_id` holds in `product_id`, whichever company
    sells it (a buyer's question: outside any tenant scope)."""
    return (
        select(what)
        .where(Membership.buyer_id == buyer_id, Membership.product_id == product_id)
        .execution_options(skip_tenant_scope=True)
    )


def grace_period() -> timedelta:
    """SUBSCRIPTION_GRACE_DAYS as a timedelta."""
    return timedelta(days=int(current_app.config["SUBSCRIPTION_GRACE_DAYS"]))


def from_stamp(stamp: object) -> datetime | None:
    """A Stripe Unix timestamp as an aware UTC datetime (None for none)."""
    return datetime.fromtimestamp(int(stamp), UTC) if isinstance(stamp, int | float) and stamp else None


def extend_paid_through(membership: Membership, moment: datetime | None) -> None:
    """Record that the membership is paid (or on trial) up to `moment`; never moves back."""
    if moment is not None and (membership.paid_through is None or moment > membership.paid_through):
        membership.paid_through = moment


def start_grace(membership: Membership) -> None:
    """A renewal failed: access lasts until the paid period's end plus the grace period, set
    once (a second failure of the same renewal does not move it)."""
    if membership.grace_ends_at is None:
        anchor = membership.paid_through or membership.current_period_end or now()
        membership.grace_ends_at = anchor + grace_period()


def access_end(membership: Membership) -> datetime | None:
    """When the membership's access ends, from its status and moments (None: never)."""
    status = membership.status
    anchor = membership.paid_through or membership.current_period_end
    if status in ("trialing", "active"):
        return anchor + RENEWAL_SLACK if anchor is not None else None
    if status == "past_due":
        if membership.grace_ends_at is not None:
            return membership.grace_ends_at
        return anchor + grace_period() if anchor is not None else None
    moment = now()
    if membership.access_ends_at is not None and membership.access_ends_at <= moment:
        return membership.access_ends_at
    return min(membership.canceled_at or moment, moment)


def refresh_access(membership: Membership) -> datetime | None:
    """Store `access_end(membership)` on it and return it (the caller flushes)."""
    membership.access_ends_at = access_end(membership)
    return membership.access_ends_at
