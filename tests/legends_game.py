"""Helpers for the Legends tests: a seller's open game, members joining over HTTP, and the
domain events that earn XP, recorded the way the rest of the app records them."""

from sqlalchemy import select

from app.extensions import db
from app.models import LegendsClass, LegendsMember
from app.services.legends.game import open_game
from app.services.outbound.catalogue import example_data
from app.services.outbound.outbox import record_event
from tests.forms import post_form


def game_for(company):
    """The company's game, opened (default classes, achievements, quests) and committed."""
    game = open_game(company)
    db.session.commit()
    return game


def class_id(company, name="Scout"):
    """The id of the game's class called `name`."""
    return db.session.scalar(
        select(LegendsClass.id).where(LegendsClass.company_id == company.id, LegendsClass.name == name)
    )


def join(client, sign_in, user, company, klass="Scout"):
    """`user` joins the company's game over HTTP with `klass`; returns their member row."""
    sign_in(user)
    response = post_form(client, f"/legends/{company.slug}/join", {"class_id": str(class_id(company, klass))})
    assert response.status_code == 303, response.get_data(as_text=True)[:400]
    return member_row(company, user)


def member_row(company, user):
    """The user's member row in the company's game (fresh from the database)."""
    db.session.expire_all()
    return db.session.scalar(
        select(LegendsMember).where(LegendsMember.company_id == company.id, LegendsMember.user_id == user.id)
    )


def referral(company, user, referral_id, commit=True):
    """A `referral.converted` event for `user` as the affiliate, recorded like issue 18 does."""
    event = record_event(
        company.id,
        "referral.converted",
        example_data("referral.converted", affiliate_user_id=user.id, referral_id=referral_id),
    )
    if commit:
        db.session.commit()
    return event


def commission(company, user, commission_id, event_type="commission.cleared", amount_cents=1200):
    """A `commission.*` event for `user` as the affiliate."""
    record_event(
        company.id,
        event_type,
        example_data(event_type, affiliate_user_id=user.id, commission_id=commission_id, amount_cents=amount_cents),
    )
    db.session.commit()
