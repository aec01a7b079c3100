"""The creators' dashboard figures and CSV exports of a game (read only)."""

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from operator import attrgetter
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
    summed = (LegendsMember.total_xp, LegendsMember.referrals, LegendsMember.commission_cents)
    totals = db.session.execute(
        select(func.count(LegendsMember.id), *(func.coalesce(func.sum(column), 0) for column in summed)).where(
            LegendsMember.company_id == company_id
        )
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


_AWARD_COLUMNS = (
    ("award_id", "id"),
    ("member_id", "member_id"),
    ("source", "source_key"),
    ("xp", "amount"),
    ("referrals", "referrals_delta"),
    ("commission_cents", "commission_cents_delta"),
    ("created_at", "created_at"),
)
# kind -> (rows of, [(CSV header, attribute path)], extra conditions)
_EXPORTED: dict[str, tuple[Any, tuple[tuple[str, str], ...], tuple[Any, ...]]] = {
    "members": (
        LegendsMember,
        (
            ("member_id", "id"),
            ("user", "user.display_name"),
            ("class", "klass.name"),
            ("level", "level"),
            ("prestige", "prestige"),
            ("total_xp", "total_xp"),
            ("referrals", "referrals"),
            ("commission_cents", "commission_cents"),
            ("joined_at", "joined_at"),
        ),
        (),
    ),
    "referrals": (LegendsXpAward, _AWARD_COLUMNS, (LegendsXpAward.kind == "referral",)),
    "commissions": (LegendsXpAward, _AWARD_COLUMNS, (LegendsXpAward.kind.in_(("commission", "reversal")),)),
    "quests": (
        LegendsQuest,
        (
            ("quest_id", "id"),
            ("member_id", "member_id"),
            ("quest", "template.title"),
            ("period", "period_key"),
            ("target", "target"),
            ("completed_at", "completed_at"),
            ("claimed_at", "claimed_at"),
        ),
        (LegendsQuest.completed_at.is_not(None),),
    ),
}


def _cell(row: Any, path: str) -> Any:
    value = attrgetter(path)(row)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def _rows(company_id: int, kind: str) -> Iterator[list[Any]]:
    model, columns, conditions = _EXPORTED[kind]
    yield [header for header, _path in columns]
    query = select(model).where(model.company_id == company_id, *conditions).order_by(model.id)
    for row in db.session.scalars(query):
        yield [_cell(row, path) for _header, path in columns]


def export_csv(company_id: int, kind: str) -> str:
    """One export (EXPORTS) of the game as CSV text; cells that a spreadsheet would run as a
    formula are quoted with a leading apostrophe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in _rows(company_id, kind):
        writer.writerow([f"'{cell}" if isinstance(cell, str) and cell[:1] in "=+-@" else cell for cell in row])
    return buffer.getvalue()
