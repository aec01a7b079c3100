"""The creators' dashboard figures and CSV exports of a game (read only)."""

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.clock import now
from app.extensions import db
from app.models import LegendsClass, LegendsMember, LegendsQuest, LegendsXpAward

EXPORTS = ("members", "referrals", "commissions", "quests")


def dashboard(company_id: int, days: int = 30) -> dict[str, Any]:
    """Members per class, totals, the top members, and XP / referrals / commission per day."""
    per_class = db.session.execute(
        select(LegendsClass.name, func.count(LegendsMember.id))
        .outerjoin(LegendsMember, LegendsMember.class_id == LegendsClass.id)
        .where(LegendsClass.company_id == company_id)
        .group_by(LegendsClass.id, LegendsClass.name)
        .order_by(LegendsClass.id)
    ).all()
    totals = db.session.execute(
        select(
            func.count(LegendsMember.id),
            func.coalesce(func.sum(LegendsMember.total_xp), 0),
            func.coalesce(func.sum(LegendsMember.referrals), 0),
            func.coalesce(func.sum(LegendsMember.commission_cents), 0),
        ).where(LegendsMember.company_id == company_id)
    ).one()
    since = now() - timedelta(days=days)
    day = func.date(LegendsXpAward.created_at)
    series = db.session.execute(
        select(
            day,
            func.sum(LegendsXpAward.amount),
            func.sum(LegendsXpAward.referrals_delta),
            func.sum(LegendsXpAward.commission_cents_delta),
        )
        .where(LegendsXpAward.company_id == company_id, LegendsXpAward.created_at >= since)
        .group_by(day)
        .order_by(day)
    ).all()
    top = db.session.scalars(
        select(LegendsMember)
        .where(LegendsMember.company_id == company_id)
        .order_by(LegendsMember.total_xp.desc(), LegendsMember.id)
        .limit(25)
    ).all()
    return {
        "per_class": per_class,
        "members": totals[0],
        "xp": int(totals[1]),
        "referrals": int(totals[2]),
        "commission_cents": int(totals[3]),
        "series": [(str(row[0]), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0)) for row in series],
        "top": top,
    }


def _rows(company_id: int, kind: str) -> Iterator[list[Any]]:
    if kind == "members":
        yield [
            "member_id",
            "user",
            "class",
            "level",
            "prestige",
            "total_xp",
            "referrals",
            "commission_cents",
            "joined_at",
        ]
        for member in db.session.scalars(
            select(LegendsMember).where(LegendsMember.company_id == company_id).order_by(LegendsMember.id)
        ):
            yield [
                member.id,
                member.user.display_name,
                member.klass.name,
                member.level,
                member.prestige,
                member.total_xp,
                member.referrals,
                member.commission_cents,
                member.joined_at.isoformat(),
            ]
    elif kind in ("referrals", "commissions"):
        kinds = ("referral",) if kind == "referrals" else ("commission", "reversal")
        yield ["award_id", "member_id", "source", "xp", "referrals", "commission_cents", "created_at"]
        for award in db.session.scalars(
            select(LegendsXpAward)
            .where(LegendsXpAward.company_id == company_id, LegendsXpAward.kind.in_(kinds))
            .order_by(LegendsXpAward.id)
        ):
            yield [
                award.id,
                award.member_id,
                award.source_key,
                award.amount,
                award.referrals_delta,
                award.commission_cents_delta,
                award.created_at.isoformat(),
            ]
    else:
        yield ["quest_id", "member_id", "quest", "period", "target", "completed_at", "claimed_at"]
        for quest in db.session.scalars(
            select(LegendsQuest)
            .where(LegendsQuest.company_id == company_id, LegendsQuest.completed_at.is_not(None))
            .order_by(LegendsQuest.id)
        ):
            yield [
                quest.id,
                quest.member_id,
                quest.template.title,
                quest.period_key,
                quest.target,
                quest.completed_at.isoformat() if quest.completed_at else "",
                quest.claimed_at.isoformat() if quest.claimed_at else "",
            ]


def export_csv(company_id: int, kind: str) -> str:
    """One export (EXPORTS) of the game as CSV text; cells that a spreadsheet would run as a
    formula are quoted with a leading apostrophe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in _rows(company_id, kind):
        writer.writerow([f"'{cell}" if isinstance(cell, str) and cell[:1] in "=+-@" else cell for cell in row])
    return buffer.getvalue()
