"""Licensing: license policies on products, memberships, and a whole licensed shop."""

from app.extensions import db
from app.models import LicensePolicy, Membership
from app.services.licensing.issuing import issue_license_for_membership
from app.services.licensing.license_keys import license_key
from tests.factories.catalogue import make_product
from tests.factories.people import make_seller, make_user


def make_policy(product, max_activations=2, duration_days=None, key_prefix="TP", key_format="grouped", enabled=True):
    """The LicensePolicy of `product`: keys are issued to its members."""
    policy = LicensePolicy(
        company_id=product.company_id,
        product_id=product.id,
        enabled=enabled,
        max_activations=max_activations,
        duration_days=duration_days,
        key_prefix=key_prefix,
        key_format=key_format,
    )
    db.session.add(policy)
    db.session.commit()
    return policy


def make_membership(product, buyer, status="active", current_period_end=None, plan=None):
    """`buyer`'s Membership of `product` on `plan` (default: its first), written directly (no
    checkout, no license issued)."""
    membership = Membership(
        company_id=product.company_id,
        product_id=product.id,
        buyer_id=buyer.id,
        plan_id=plan.id if plan is not None else (product.plans[0].id if product.plans else None),
        status=status,
        current_period_end=current_period_end,
    )
    db.session.add(membership)
    db.session.commit()
    return membership


def make_licensed_shop(seller_email="seller@example.com", buyer_email="buyer@example.com", slug="pro-tool", **policy):
    """A connected seller with a licensed product `slug` (policy options in `policy`), a buyer
    holding it, and the buyer's license. Returns a dict: owner, company, product, buyer,
    membership, license and the plain `key`."""
    owner, company = make_seller(seller_email, f"Shop of {seller_email}", connected=True)
    product = make_product(company, slug)
    make_policy(product, **policy)
    buyer = make_user(buyer_email)
    membership = make_membership(product, buyer)
    license = issue_license_for_membership(membership)
    db.session.commit()
    return {
        "owner": owner,
        "company": company,
        "product": product,
        "buyer": buyer,
        "membership": membership,
        "license": license,
        "key": license_key(license),
    }
