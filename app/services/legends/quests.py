"""Quests: issuing creators' templates to members each period (targets scaled to the member's
level when issued), and claiming a completed quest's reward once.

Targets: referrals, commission (cents) and achievements quests ask `base × difficulty ×
(1 + level // 10)`; level quests ask for `level + base × difficulty` (difficulty: easy 1,
normal 2, hard 3, epic 5). Rewards are XP and, when the template has one, a cash bonus the
seller funds (services/legends/bonus.py), paid once on claiming.
"""

from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, insert, literal, select, update

from app.clock import now
from app.extensions import db, rows_matched
from app.models import LegendsGame, LegendsMember, LegendsQuest, LegendsQuestTemplate
from app.models.types import UTCDateTime
from app.payments import new_idempotency_key
from app.services.legends.bonus import pay_bonus, reserve_bonus
from app.services.legends.engine import Earning, award_xp
from app.services.legends.feed import announce
from app.services.legends.levels import period_end, period_key
from app.services.legends.refusals import LegendsRefusal

DIFFICULTY = {"easy": 1, "normal": 2, "hard": 3, "epic": 5}


def scaled_target(template: LegendsQuestTemplate, level: int) -> int:
    """The target of `template` for a member at `level`."""
    steps = template.base_target * DIFFICULTY[template.difficulty]
    return level + steps if template.target_kind == "level" else steps * (1 + level // 10)


def issue_member_quests(member: LegendsMember, moment: datetime | None = None) -> int:
    """Issue the member every active template's quest of the current period they lack (a new
    member gets theirs on joining); the number issued. Flushed."""
    moment = moment or now()
    templates = db.session.scalars(
        select(LegendsQuestTemplate).where(
            LegendsQuestTemplate.company_id == member.company_id, LegendsQuestTemplate.active.is_(True)
        )
    ).all()
    issued = 0
    for template in templates:
        key = period_key(template.period, moment)
        have = db.session.scalar(
            select(LegendsQuest.id).where(
                LegendsQuest.member_id == member.id,
                LegendsQuest.template_id == template.id,
                LegendsQuest.period_key == key,
            )
        )
        if have is None:
            db.session.add(
                LegendsQuest(
                    company_id=member.company_id,
                    template_id=template.id,
                    member_id=member.id,
                    period_key=key,
                    target=scaled_target(template, member.level),
                    progress=member.level if template.target_kind == "level" else 0,
                    expires_at=period_end(template.period, moment),
                    created_at=moment,
                )
            )
            issued += 1
    db.session.flush()
    return issued


def issue_due_quests(moment: datetime | None = None) -> int:
    """Issue every enabled game's quests for the current periods to every member lacking them,
    one INSERT … SELECT per template (safe to run twice: a quest exists once per member,
    template and period). The scheduler runs it; returns how many were issued."""
    moment = moment or now()
    templates = db.session.scalars(
        select(LegendsQuestTemplate)
        .join(LegendsGame, LegendsGame.company_id == LegendsQuestTemplate.company_id)
        .where(LegendsQuestTemplate.active.is_(True), LegendsGame.enabled.is_(True))
        .execution_options(skip_tenant_scope=True)
    ).all()
    count = select(func.count(LegendsQuest.id)).execution_options(skip_tenant_scope=True)
    before = db.session.scalar(count) or 0
    for template in templates:
        key = period_key(template.period, moment)
        steps = template.base_target * DIFFICULTY[template.difficulty]
        target: ColumnElement[int]
        progress: ColumnElement[int]
        if template.target_kind == "level":
            target = LegendsMember.level + steps
            progress = LegendsMember.level.expression
        else:
            target = steps * (1 + LegendsMember.level // 10)
            progress = literal(0)
        already = exists().where(
            and_(
                LegendsQuest.member_id == LegendsMember.id,
                LegendsQuest.template_id == template.id,
                LegendsQuest.period_key == key,
            )
        )
        rows = select(
            LegendsMember.company_id,
            literal(template.id),
            LegendsMember.id,
            literal(key),
            target,
            progress,
            literal(period_end(template.period, moment), UTCDateTime),
            literal(moment, UTCDateTime),
        ).where(LegendsMember.company_id == template.company_id, ~already)
        statement = insert(LegendsQuest).from_select(
            ["company_id", "template_id", "member_id", "period_key", "target", "progress", "expires_at", "created_at"],
            rows,
        )
        db.session.execute(statement)
    db.session.flush()
    return (db.session.scalar(count) or 0) - before


def open_quests(member: LegendsMember) -> list[LegendsQuest]:
    """The member's quests still to do or to claim (unexpired, unclaimed), newest first."""
    moment = now()
    return list(
        db.session.scalars(
            select(LegendsQuest)
            .where(
                LegendsQuest.member_id == member.id,
                LegendsQuest.claimed_at.is_(None),
                (LegendsQuest.expires_at.is_(None))
                | (LegendsQuest.expires_at > moment)
                | LegendsQuest.completed_at.is_not(None),
            )
            .order_by(LegendsQuest.id.desc())
        )
    )


def claim_quest(member: LegendsMember, quest_value: object) -> LegendsQuest:
    """Claim a completed quest's reward: once — of concurrent claims one UPDATE matches, the
    others are refused (409). Another member's quest is 404. A cash bonus is paid with it, or
    the claim is refused (409, nothing written) while the seller cannot fund it. Flushed."""
    quest = db.session.scalar(
        select(LegendsQuest).where(LegendsQuest.id == quest_value, LegendsQuest.member_id == member.id)
    )
    if quest is None:
        raise LegendsRefusal(404, "No such quest.")
    bonus = quest.template.bonus_cents if quest.completed_at and not quest.claimed_at else 0
    reserve_bonus(member.company_id, bonus)
    claimed = rows_matched(
        update(LegendsQuest)
        .where(
            LegendsQuest.id == quest.id,
            LegendsQuest.completed_at.is_not(None),
            LegendsQuest.claimed_at.is_(None),
        )
        .values(claimed_at=now(), bonus_key=new_idempotency_key() if bonus else None)
        .execution_options(synchronize_session=False)
    )
    if not claimed:
        db.session.refresh(quest)
        message = "You already claimed this quest." if quest.claimed_at else "This quest is not complete yet."
        raise LegendsRefusal(409, message)
    db.session.refresh(quest)
    award_xp(member, f"quest:{quest.id}", Earning("quest", quest.template.reward_xp, exact=True))
    pay_bonus(member, quest, bonus)
    announce(
        member,
        member.company_id,
        "quest_claimed",
        {
            "member_id": member.id,
            "user_id": member.user_id,
            "quest_id": quest.id,
            "title": quest.template.title,
            "reward_xp": quest.template.reward_xp,
            "bonus_cents": bonus,
        },
    )
    return quest
