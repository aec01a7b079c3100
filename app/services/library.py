"""The buyer's library: every product they hold (or held), with its plan, status, dates, member
area, files and license keys, for /account/library."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import License, MemberFile, Membership, Product, User
from app.services.licensing.license_keys import license_key
from app.services.member_areas import member_area


@dataclass
class LibraryItem:
    """One product in the library, through the membership that speaks for it: the one that
    grants access (the highest tier), else the newest."""

    membership: Membership
    licenses: list[License] = field(default_factory=list)
    keys: dict[int, str] = field(default_factory=dict)
    files: list[MemberFile] = field(default_factory=list)

    @property
    def product(self) -> Product:
        return self.membership.product

    @property
    def has_access(self) -> bool:
        return self.membership.grants_access

    @property
    def renews_at(self) -> datetime | None:
        """The next renewal, for a subscription that will renew."""
        m = self.membership
        if m.stripe_subscription_id and m.status in ("trialing", "active") and not m.cancel_at_period_end:
            return m.current_period_end
        return None

    @property
    def ends_at(self) -> datetime | None:
        """When access ends (or ended), when it does not simply renew."""
        if self.renews_at is not None:
            return None
        return self.membership.access_ends_at


def buyer_library(user: User) -> list[LibraryItem]:
    """The user's products, newest purchase first; files only where access lasts."""
    memberships = db.session.scalars(
        select(Membership)
        .where(Membership.buyer_id == user.id)
        .order_by(Membership.created_at.desc(), Membership.id.desc())
        .execution_options(skip_tenant_scope=True)
    ).all()
    chosen: dict[int, Membership] = {}
    for membership in memberships:
        current = chosen.get(membership.product_id)
        if current is None or _better(membership, current):
            chosen[membership.product_id] = membership
    licenses = db.session.scalars(
        select(License)
        .where(License.buyer_id == user.id)
        .options(joinedload(License.activations))
        .order_by(License.created_at.desc())
        .execution_options(skip_tenant_scope=True)
    ).unique()
    by_product: dict[int, list[License]] = {}
    for license in licenses:
        by_product.setdefault(license.product_id, []).append(license)
    items = []
    for membership in chosen.values():
        item = LibraryItem(membership=membership, licenses=by_product.get(membership.product_id, []))
        item.keys = {license.id: license_key(license) for license in item.licenses}
        if membership.grants_access:
            item.files = list(member_area(membership.product, membership.tier_rank)[1])
        items.append(item)
    return items


def _better(candidate: Membership, current: Membership) -> bool:
    """Access beats none; then the higher tier; then the newer (candidates come newest first)."""
    if candidate.grants_access != current.grants_access:
        return candidate.grants_access
    return candidate.grants_access and candidate.tier_rank > current.tier_rank
