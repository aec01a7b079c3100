"""Read-only affiliate figures for the pages: a seller's program (its affiliates and what each
brought) and an affiliate's own dashboard (links, clicks, conversions, commissions over time,
per listing, and the CSV export).

Every function runs a fixed number of queries whatever the number of rows (no per-row
lookups). Affiliate-side figures cross companies, so they skip the tenant scope and filter
by the affiliate's user id instead; seller-side figures filter by the program.

Definitions used everywhere:
* a click is a stored ReferralClick (bots, rate-limited and unknown codes are never stored);
* a conversion is a `completed` Referral (the buyer bound to the affiliate in a program);
* revenue is the sum of the referred payments that earned a commission (`base_amount_cents`);
* a commission's worth is `amount - reversed`, counted under its status (pending, available,
  paid); `reversed` is everything clawed back (`reversed_cents`), whatever the status.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, union

from app.clock import now
from app.extensions import db
from app.models import (
    AffiliateBan,
    AffiliateProgram,
    Commission,
    Company,
    Gig,
    Product,
    Referral,
    ReferralClick,
    User,
)
from app.services.ledger import sum_cents

UNSCOPED = {"skip_tenant_scope": True}
CHART_WEEKS = 12


@dataclass
class Figures:
    """Clicks, conversions, referred revenue and commission (cents) of one affiliate, listing or
    week; `commission_cents` is what was earned net of reversals."""

    clicks: int = 0
    conversions: int = 0
    revenue_cents: int = 0
    commission_cents: int = 0

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per click (0..1), or None before the first click."""
        return self.conversions / self.clicks if self.clicks else None


@dataclass
class AffiliateRow:
    """One affiliate of a seller's program, as the seller's table shows them."""

    user: User
    figures: Figures
    banned: bool


@dataclass
class ListingRow:
    """One listing an affiliate brought visitors or buyers to."""

    listing_type: str
    listing_id: int
    title: str
    slug: str | None
    company_title: str
    figures: Figures


# -- seller side --------------------------------------------------------------------------------


def program_affiliates_query(program: AffiliateProgram) -> Select[tuple[User]]:
    """The users who clicked for, referred buyers to or were banned from `program`, newest
    first, as a select for `web.paginate`; `affiliate_rows` adds their figures per page."""
    people = union(
        select(ReferralClick.affiliate_user_id.label("user_id")).where(ReferralClick.company_id == program.company_id),
        select(Referral.affiliate_user_id).where(Referral.program_id == program.id),
        select(AffiliateBan.affiliate_user_id).where(AffiliateBan.program_id == program.id),
    ).subquery()
    return select(User).where(User.id.in_(select(people.c.user_id))).order_by(User.id.desc())


def affiliate_rows(program: AffiliateProgram, users: Sequence[User]) -> list[AffiliateRow]:
    """The figures of `users` (one page of the program's affiliates) in `program`: three
    grouped queries whatever the page size."""
    ids = [user.id for user in users]
    if not ids:
        return []
    clicks: dict[int, int] = dict(
        db.session.execute(  # type: ignore[arg-type]
            select(ReferralClick.affiliate_user_id, func.count())
            .where(ReferralClick.company_id == program.company_id, ReferralClick.affiliate_user_id.in_(ids))
            .group_by(ReferralClick.affiliate_user_id)
        ).all()
    )
    conversions: dict[int, int] = dict(
        db.session.execute(  # type: ignore[arg-type]
            select(Referral.affiliate_user_id, func.count())
            .where(
                Referral.program_id == program.id,
                Referral.status == "completed",
                Referral.affiliate_user_id.in_(ids),
            )
            .group_by(Referral.affiliate_user_id)
        ).all()
    )
    money = {
        row[0]: row[1:]
        for row in db.session.execute(
            select(
                Commission.affiliate_user_id,
                sum_cents(Commission.base_amount_cents),
                sum_cents(Commission.amount_cents - Commission.reversed_cents),
            )
            .where(Commission.program_id == program.id, Commission.affiliate_user_id.in_(ids))
            .group_by(Commission.affiliate_user_id)
        ).all()
    }
    banned = set(
        db.session.scalars(
            select(AffiliateBan.affiliate_user_id).where(
                AffiliateBan.program_id == program.id, AffiliateBan.affiliate_user_id.in_(ids)
            )
        ).all()
    )
    return [
        AffiliateRow(
            user=user,
            figures=Figures(
                clicks=clicks.get(user.id, 0),
                conversions=conversions.get(user.id, 0),
                revenue_cents=money.get(user.id, (0, 0))[0],
                commission_cents=money.get(user.id, (0, 0))[1],
            ),
            banned=user.id in banned,
        )
        for user in users
    ]


def program_totals(program: AffiliateProgram) -> Figures:
    """The whole program's clicks, conversions, referred revenue and commission."""
    clicks = db.session.scalar(
        select(func.count()).select_from(ReferralClick).where(ReferralClick.company_id == program.company_id)
    )
    conversions = db.session.scalar(
        select(func.count())
        .select_from(Referral)
        .where(Referral.program_id == program.id, Referral.status == "completed")
    )
    revenue, commission = db.session.execute(
        select(
            sum_cents(Commission.base_amount_cents), sum_cents(Commission.amount_cents - Commission.reversed_cents)
        ).where(Commission.program_id == program.id)
    ).one()
    return Figures(clicks or 0, conversions or 0, revenue, commission)


def is_program_affiliate(program: AffiliateProgram, user_id: int) -> bool:
    """True when the user ever clicked for, referred to or was banned from the program: the
    people the seller may ban or unban."""
    return (
        db.session.scalar(program_affiliates_query(program).where(User.id == user_id).with_only_columns(User.id))
        is not None
    )


# -- affiliate side -----------------------------------------------------------------------------


def affiliate_summary(user_id: int) -> Figures:
    """The affiliate's clicks, conversions, referred revenue and net commission across every
    program (their money by status is `commissions.affiliate_balances`, from the ledger)."""
    clicks = db.session.scalar(
        select(func.count())
        .select_from(ReferralClick)
        .where(ReferralClick.affiliate_user_id == user_id)
        .execution_options(**UNSCOPED)
    )
    conversions = db.session.scalar(
        select(func.count())
        .select_from(Referral)
        .where(Referral.affiliate_user_id == user_id, Referral.status == "completed")
        .execution_options(**UNSCOPED)
    )
    revenue, commission = db.session.execute(
        select(sum_cents(Commission.base_amount_cents), sum_cents(Commission.amount_cents - Commission.reversed_cents))
        .where(Commission.affiliate_user_id == user_id)
        .execution_options(**UNSCOPED)
    ).one()
    return Figures(clicks or 0, conversions or 0, revenue, commission)


def _week_of(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def weekly_activity(user_id: int, weeks: int = CHART_WEEKS) -> list[tuple[date, Figures]]:
    """[(week start, that week's figures)] for the affiliate's last `weeks` ISO weeks, oldest
    first: clicks by click time, conversions by conversion time, commission by when it was
    earned (net of later reversals)."""
    today = now().date()
    start = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    since = now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=(today - start).days)
    buckets = {start + timedelta(weeks=i): Figures() for i in range(weeks)}
    clicks = db.session.scalars(
        select(ReferralClick.created_at)
        .where(ReferralClick.affiliate_user_id == user_id, ReferralClick.created_at >= since)
        .execution_options(**UNSCOPED)
    ).all()
    for moment in clicks:
        buckets[_week_of(moment)].clicks += 1
    conversions = db.session.scalars(
        select(Referral.converted_at)
        .where(Referral.affiliate_user_id == user_id, Referral.status == "completed", Referral.converted_at >= since)
        .execution_options(**UNSCOPED)
    ).all()
    for converted_at in conversions:
        if converted_at is not None:
            buckets[_week_of(converted_at)].conversions += 1
    earned = db.session.execute(
        select(Commission.created_at, Commission.base_amount_cents, Commission.amount_cents - Commission.reversed_cents)
        .where(Commission.affiliate_user_id == user_id, Commission.created_at >= since)
        .execution_options(**UNSCOPED)
    ).all()
    for moment, revenue, net in earned:
        bucket = buckets[_week_of(moment)]
        bucket.revenue_cents += revenue
        bucket.commission_cents += net
    return sorted(buckets.items())


def listing_breakdown(user_id: int) -> list[ListingRow]:
    """The listings the affiliate brought clicks, buyers or commission to, busiest first: a
    grouped query per figure and one per listing kind for the titles."""
    keys: dict[tuple[str, int], Figures] = {}

    def figures(listing_type: str | None, listing_id: int | None) -> Figures | None:
        if listing_type is None or listing_id is None:
            return None  # a shop-wide click (/r/<code>) belongs to no listing
        return keys.setdefault((listing_type, listing_id), Figures())

    for listing_type, listing_id, count in db.session.execute(
        select(ReferralClick.listing_type, ReferralClick.listing_id, func.count())
        .where(ReferralClick.affiliate_user_id == user_id)
        .group_by(ReferralClick.listing_type, ReferralClick.listing_id)
        .execution_options(**UNSCOPED)
    ).all():
        found = figures(listing_type, listing_id)
        if found is not None:
            found.clicks += count
    for listing_type, listing_id, count in db.session.execute(
        select(Referral.listing_type, Referral.listing_id, func.count())
        .where(Referral.affiliate_user_id == user_id, Referral.status == "completed")
        .group_by(Referral.listing_type, Referral.listing_id)
        .execution_options(**UNSCOPED)
    ).all():
        figures(listing_type, listing_id).conversions += count  # type: ignore[union-attr]
    for listing_type, listing_id, revenue, net in db.session.execute(
        select(
            Commission.listing_type,
            Commission.listing_id,
            sum_cents(Commission.base_amount_cents),
            sum_cents(Commission.amount_cents - Commission.reversed_cents),
        )
        .where(Commission.affiliate_user_id == user_id)
        .group_by(Commission.listing_type, Commission.listing_id)
        .execution_options(**UNSCOPED)
    ).all():
        found = figures(listing_type, listing_id)
        found.revenue_cents += revenue  # type: ignore[union-attr]
        found.commission_cents += net  # type: ignore[union-attr]
    names = _listing_names(keys)
    rows = []
    for (kind, listing_id), found in keys.items():
        title, slug, company_title = names.get((kind, listing_id), ("(removed listing)", None, ""))
        rows.append(ListingRow(kind, listing_id, title, slug, company_title, found))
    return sorted(rows, key=lambda row: (-row.figures.commission_cents, -row.figures.clicks, row.title))


def _listing_names(keys: Any) -> dict[tuple[str, int], tuple[str, str | None, str]]:
    """{(kind, id): (title, slug, seller title)} for the listings named in `keys`."""
    names: dict[tuple[str, int], tuple[str, str | None, str]] = {}
    for kind, model in (("gig", Gig), ("product", Product)):
        ids = [listing_id for listing_type, listing_id in keys if listing_type == kind]
        if not ids:
            continue
        for listing_id, title, slug, company_title in db.session.execute(
            select(model.id, model.title, model.slug, Company.title)
            .join(Company, Company.id == model.company_id)
            .where(model.id.in_(ids))
            .execution_options(**UNSCOPED)
        ).all():
            names[(kind, listing_id)] = (title, slug, company_title)
    return names


CSV_COLUMNS = (
    "date",
    "commission_id",
    "seller",
    "listing_type",
    "listing",
    "payment_number",
    "payment_cents",
    "commission_cents",
    "reversed_cents",
    "net_cents",
    "currency",
    "status",
    "clears_at",
    "reversal_reason",
)


def commission_export_rows(user_id: int) -> list[list[Any]]:
    """The affiliate's commissions, oldest first, as CSV rows in CSV_COLUMNS order (integer
    cents; dates in ISO 8601 UTC). Only this user's commissions, whatever the tenant."""
    commissions = db.session.execute(
        select(Commission, Company.title)
        .join(Company, Company.id == Commission.company_id)
        .where(Commission.affiliate_user_id == user_id)
        .order_by(Commission.created_at, Commission.id)
        .execution_options(**UNSCOPED)
    ).all()
    names = _listing_names({(row.listing_type, row.listing_id) for row, _ in commissions})
    return [
        [
            row.created_at.isoformat(),
            row.id,
            seller,
            row.listing_type,
            names.get((row.listing_type, row.listing_id), ("(removed listing)",))[0],
            row.payment_number,
            row.base_amount_cents,
            row.amount_cents,
            row.reversed_cents,
            row.amount_cents - row.reversed_cents,
            row.currency.upper(),
            row.status,
            row.clears_at.isoformat() if row.clears_at else "",
            row.reversal_reason or "",
        ]
        for row, seller in commissions
    ]


def active_programs(limit: int = 50) -> list[tuple[AffiliateProgram, Company]]:
    """Enabled programs of active seller companies, for "shops you can promote"."""
    return [
        (program, company)
        for program, company in db.session.execute(
            select(AffiliateProgram, Company)
            .join(Company, Company.id == AffiliateProgram.company_id)
            .where(AffiliateProgram.enabled.is_(True), Company.status == "active")
            .order_by(Company.title)
            .limit(limit)
            .execution_options(**UNSCOPED)
        ).all()
    ]
