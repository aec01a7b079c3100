"""Orders: a cast of people around a seller's gig, and orders in any status written straight
to the database with their payment in escrow.

`make_order` posts the gig-payment ledger transaction the way services/checkout does, so
escrow holds the seller's share and release/clearance work; it writes no Payment row, so
refunds find nothing to send to Stripe (the sandbox tests cover real refunds).
"""

from datetime import timedelta
from types import SimpleNamespace

from app.clock import now
from app.extensions import db
from app.models import Checkout, CompanyMember, Order, OrderDispute, OrderEvent
from app.services.companies import create_seller_company
from app.services.ledger import Entry, post_ledger_transaction
from tests.factories.catalogue import LOGO_GIG, LOGO_QUESTIONS, make_gig
from tests.factories.people import make_seller, make_user


def make_cast(prefix=""):
    """The people of an order, as a SimpleNamespace: `owner` of a verified seller `company`
    (payouts enabled, no Stripe account) with a `member`, its published `gig` (the logo gig's
    Basic package only, asking LOGO_QUESTIONS), a `buyer`, an `admin`, a buyer with no orders
    (`other_buyer`) and the owner of another seller company (`other_seller`).

    Emails are `<prefix>owner@example.com`, `<prefix>buyer@example.com`... (`prefix` lets one
    test make two casts)."""
    owner, company = make_seller(f"{prefix}owner@example.com", f"{prefix}Pixel Studio", display_name="Sally Seller")
    company.payouts_enabled = True
    member = make_user(f"{prefix}member@example.com", display_name="Max Member")
    db.session.add(CompanyMember(company_id=company.id, user_id=member.id, role="member"))
    gig = make_gig(
        company,
        LOGO_GIG["title"],
        slug=f"{prefix}logo-design",
        description="Logos.",
        price_cents=LOGO_GIG["price_cents"],
        days=LOGO_GIG["days"],
        questions=LOGO_QUESTIONS,
    )
    other_seller = make_user(f"{prefix}rival@example.com", display_name="Rita Rival", intent="sell")
    create_seller_company(other_seller, f"{prefix}Rival Studio")
    cast = SimpleNamespace(
        owner=owner,
        member=member,
        company=company,
        gig=gig,
        buyer=make_user(f"{prefix}buyer@example.com", display_name="Bea Buyer"),
        admin=make_user(f"{prefix}admin@example.com", display_name="Ada Admin", is_admin=True),
        other_buyer=make_user(f"{prefix}stranger@example.com", display_name="Stan Stranger"),
        other_seller=other_seller,
    )
    db.session.commit()
    return cast


def answers_for(gig):
    """A valid requirements form for a gig asking LOGO_QUESTIONS."""
    return {f"q_{q.id}": ("Modern" if q.kind == "single_choice" else "Acme Bakery") for q in gig.questions}


def make_order(
    cast, status="awaiting_requirements", total_cents=10000, fee_cents=1000, requested_by="seller", **columns
):
    """An order of `cast.buyer` for the cast's gig in `status`, paid into escrow;
    cancel_requested/disputed get their request (by `requested_by`) or dispute."""
    company, gig = cast.company, cast.gig
    package = gig.packages[0]
    checkout = Checkout(
        kind="gig",
        buyer_id=cast.buyer.id,
        company_id=company.id,
        gig_id=gig.id,
        package_id=package.id,
        title=f"{gig.title} — Basic",
        quantity=1,
        extras=[],
        unit_price_cents=total_cents,
        subtotal_cents=total_cents,
        extras_cents=0,
        total_cents=total_cents,
        fee_bps=1000,
        fee_cents=fee_cents,
        currency="usd",
        delivery_days=3,
        status="completed",
        expires_at=now() + timedelta(hours=1),
    )
    db.session.add(checkout)
    db.session.flush()
    values = dict(
        company_id=company.id,
        buyer_id=cast.buyer.id,
        gig_id=gig.id,
        package_id=package.id,
        checkout_id=checkout.id,
        status=status,
        title=checkout.title,
        package_tier="basic",
        total_cents=total_cents,
        fee_cents=fee_cents,
        seller_amount_cents=total_cents - fee_cents,
        currency="usd",
        delivery_days=3,
        revisions_allowed=1,
        due_at=now() + timedelta(days=3),
    )
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
    post_ledger_transaction(
        f"test-payment:{order.id}",
        "gig_payment",
        [
            Entry("platform_cash", total_cents),
            Entry("seller_escrow", -(total_cents - fee_cents), company.id),
            Entry("platform_fee_revenue", -fee_cents),
        ],
        currency="usd",
        description=f"Order #{order.id} paid into escrow",
        order_id=order.id,
    )
    if status == "cancel_requested":
        request_cancel_event(order, requested_by)
    if status == "disputed":
        db.session.add(
            OrderDispute(
                company_id=company.id,
                order_id=order.id,
                opened_by_role="buyer",
                opened_by_user_id=cast.buyer.id,
                reason="Not as described",
            )
        )
    db.session.commit()
    return order


def request_cancel_event(order, role):
    """The timeline event of `role` ("buyer"/"seller") asking to cancel `order`."""
    db.session.add(
        OrderEvent(
            company_id=order.company_id,
            order_id=order.id,
            action="request_cancel",
            from_status=order.previous_status,
            to_status="cancel_requested",
            actor_role=role,
            note="Plans changed",
            data={"requested_by": role},
        )
    )
    db.session.commit()
