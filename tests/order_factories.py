"""Factories for order tests: a cast of users, a seller with a gig that asks questions, and
orders in any status written straight to the database with their payment in escrow.

`make_order` posts the gig-payment ledger transaction the way services/checkout does, so
escrow holds the seller's share and release/clearance work; it writes no Payment row, so
refunds find nothing to send to Stripe (the sandbox tests cover real refunds).
"""
from datetime import timedelta
from functools import lru_cache
from types import SimpleNamespace

from app.clock import now
from app.extensions import db
from app.models import (Checkout, CompanyMember, Gig, GigPackage, GigQuestion, Order, OrderDispute, OrderEvent,
                        User)
from app.services.accounts import hash_password
from app.services.companies import create_seller_company
from app.services.ledger import Entry, post_ledger_transaction
from tests.buy_factories import make_category

PASSWORD = "long-enough-pw"


@lru_cache(maxsize=1)
def password_hash():
    return hash_password(PASSWORD)


def make_person(email, name, **columns):
    """A user with the shared test password (hashed once per run)."""
    user = User(email=email, display_name=name, password_hash=password_hash(), **columns)
    db.session.add(user)
    db.session.flush()
    return user


def make_cast(prefix=""):
    """Seller company (owner + member) with a gig, a buyer, an admin and two outsiders."""
    owner = make_person(f"{prefix}owner@example.com", "Sally Seller", intent="sell")
    company = create_seller_company(owner, f"{prefix}Pixel Studio")
    company.kyc_status, company.payouts_enabled = "verified", True
    member = make_person(f"{prefix}member@example.com", "Max Member")
    db.session.add(CompanyMember(company_id=company.id, user_id=member.id, role="member"))
    gig = Gig(company_id=company.id, title="I will design a modern logo", slug=f"{prefix}logo-design",
              category=make_category(), description_md="Logos.", description_html="<p>Logos.</p>",
              status="published", basic_price_cents=5000, min_delivery_days=3)
    gig.packages = [GigPackage(company_id=company.id, tier="basic", title="Basic", price_cents=5000,
                               delivery_days=3, revisions=1, position=0)]
    gig.questions = [
        GigQuestion(company_id=company.id, prompt="Business name", kind="short_text", required=True, position=0),
        GigQuestion(company_id=company.id, prompt="Style", kind="single_choice", choices=["Modern", "Classic"],
                    required=True, position=1),
        GigQuestion(company_id=company.id, prompt="Anything to avoid?", kind="long_text", required=False, position=2),
    ]
    db.session.add(gig)
    other_owner = make_person(f"{prefix}rival@example.com", "Rita Rival", intent="sell")
    create_seller_company(other_owner, f"{prefix}Rival Studio")
    cast = SimpleNamespace(
        owner=owner, member=member, company=company, gig=gig,
        buyer=make_person(f"{prefix}buyer@example.com", "Bea Buyer"),
        admin=make_person(f"{prefix}admin@example.com", "Ada Admin", is_admin=True),
        other_buyer=make_person(f"{prefix}stranger@example.com", "Stan Stranger"),
        other_seller=other_owner,
    )
    db.session.flush()
    return cast


def answers_for(gig):
    """A valid requirements form for the cast's gig."""
    return {f"q_{q.id}": ("Modern" if q.kind == "single_choice" else "Acme Bakery") for q in gig.questions}


def make_order(cast, status="awaiting_requirements", total_cents=10000, fee_cents=1000, requested_by="seller",
               **columns):
    """An order in `status`, paid into escrow; cancel_requested/disputed get their request
    (by `requested_by`) or dispute."""
    company, gig = cast.company, cast.gig
    package = gig.packages[0]
    checkout = Checkout(kind="gig", buyer_id=cast.buyer.id, company_id=company.id, gig_id=gig.id,
                        package_id=package.id, title=f"{gig.title} — Basic", quantity=1, extras=[],
                        unit_price_cents=total_cents, subtotal_cents=total_cents, extras_cents=0,
                        total_cents=total_cents, fee_bps=1000, fee_cents=fee_cents, currency="usd",
                        delivery_days=3, status="completed", expires_at=now() + timedelta(hours=1))
    db.session.add(checkout)
    db.session.flush()
    values = dict(company_id=company.id, buyer_id=cast.buyer.id, gig_id=gig.id, package_id=package.id,
                  checkout_id=checkout.id, status=status, title=checkout.title, package_tier="basic",
                  total_cents=total_cents, fee_cents=fee_cents, seller_amount_cents=total_cents - fee_cents,
                  currency="usd", delivery_days=3, revisions_allowed=1, due_at=now() + timedelta(days=3))
    if status in ("delivered", "completed"):
        values["delivered_at"] = now() - timedelta(days=4)
    if status == "completed":
        values["completed_at"] = now() - timedelta(days=1)
    if status == "cancel_requested":
        values["previous_status"] = "in_progress"
    values.update(columns)
    order = Order(**values)
    db.session.add(order)
    db.session.flush()
    post_ledger_transaction(f"test-payment:{order.id}", "gig_payment", [
        Entry("platform_cash", total_cents),
        Entry("seller_escrow", -(total_cents - fee_cents), company.id),
        Entry("platform_fee_revenue", -fee_cents),
    ], currency="usd", description=f"Order #{order.id} paid into escrow", order_id=order.id)
    if status == "cancel_requested":
        request_cancel_event(order, requested_by)
    if status == "disputed":
        db.session.add(OrderDispute(company_id=company.id, order_id=order.id, opened_by_role="buyer",
                                    opened_by_user_id=cast.buyer.id, reason="Not as described"))
    db.session.flush()
    return order


def request_cancel_event(order, role):
    db.session.add(OrderEvent(company_id=order.company_id, order_id=order.id, action="request_cancel",
                              from_status=order.previous_status, to_status="cancel_requested",
                              actor_role=role, note="Plans changed", data={"requested_by": role}))
    db.session.flush()
