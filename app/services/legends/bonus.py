"""Quest cash bonuses: a seller-funded amount (minor units) a quest template may pay on top of
its XP when a member claims the quest — one balanced ledger transaction from the seller's
`seller_available` to the member's affiliate payout company's `affiliate_available` (the
company affiliates withdraw commissions from, services/affiliates/commissions.py).

The transaction's reference is `legends:quest-bonus:<key>`, the key a random token stored on
the quest row in the same UPDATE that claims it (unique per deployment — quest ids repeat
after a database reset — and the same on every retry: a retried claim finds the quest claimed
and posts nothing). The seller's company row is locked before the balance is read, so two
claims can never spend the same available money; a seller short of it refuses the claim
(409) and nothing is written — the quest stays claimable.
"""

from sqlalchemy import select

from app.extensions import db
from app.models import Company, LegendsMember, LegendsQuest, User
from app.money import format_money, marketplace_currency
from app.services.affiliates.commissions import AFFILIATE_LINK, affiliate_company_for
from app.services.ledger import Entry, account_balance, post_ledger_transaction
from app.services.legends.refusals import LegendsRefusal
from app.services.notifications import notify_user
from app.services.outbound.outbox import record_event


def reserve_bonus(company_id: int, amount_cents: int) -> None:
    """Lock the seller's company row and refuse (409) when its available balance cannot pay
    `amount_cents`. Call before the claim writes anything."""
    if amount_cents <= 0:
        return
    db.session.execute(select(Company.id).where(Company.id == company_id).with_for_update())
    if account_balance("seller_available", company_id) < amount_cents:
        raise LegendsRefusal(409, "The creator cannot fund this quest's cash bonus right now: claim it again later.")


def pay_bonus(member: LegendsMember, quest: LegendsQuest, amount_cents: int) -> None:
    """Pay the claimed quest's bonus (after `reserve_bonus`, with `quest.bonus_key` set):
    the ledger transaction, the `legends.quest_bonus_paid` event, notifications. Flushed."""
    if amount_cents <= 0 or not quest.bonus_key:
        return
    user = db.session.get_one(User, member.user_id)
    payee = affiliate_company_for(user)
    assert payee is not None
    currency = marketplace_currency()
    posted = post_ledger_transaction(
        f"legends:quest-bonus:{quest.bonus_key}",
        "legends_quest_bonus",
        [
            Entry("seller_available", amount_cents, member.company_id),
            Entry("affiliate_available", -amount_cents, payee.id),
        ],
        currency=currency,
        description=f"Legends quest bonus: {quest.template.title}"[:200],
    )
    if posted is None:
        return
    record_event(
        member.company_id,
        "legends.quest_bonus_paid",
        {
            "quest_id": quest.id,
            "template_id": quest.template_id,
            "member_id": member.id,
            "affiliate_user_id": member.user_id,
            "title": quest.template.title,
            "amount_cents": amount_cents,
            "currency": currency,
        },
    )
    money = format_money(amount_cents, currency)
    notify_user(user, "legends.quest_bonus_paid", f"A quest paid you a {money} bonus", link=AFFILIATE_LINK)
    company = db.session.get_one(Company, member.company_id)
    for manager in company.managers():
        notify_user(
            manager, "legends.quest_bonus_paid", f"You paid a {money} Legends quest bonus", link="/sell/legends"
        )
