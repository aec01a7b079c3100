"""Access decorators for views: who may see a page at all.

Company pages (everything under /sell) use one decorator, `company_required(right)`, and one
table, `ROLE_RIGHTS`: what each member role of a company may do. The company is the one the
user chose (`session["company_id"]`, set by the company switcher), checked against their
memberships on every request, else their first seller company.
"""

from functools import wraps

from flask import abort, g, redirect, request, session, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.services.audit import record_audit_event
from app.tenancy import set_tenant

# The session key holding the id of the company the user is working in.
CHOSEN_COMPANY = "company_id"

_MEMBER_RIGHTS = frozenset({"orders", "messages"})
_ADMIN_RIGHTS = _MEMBER_RIGHTS | {"gigs", "products", "licenses", "webhooks", "developers", "invite", "apps"}
_OWNER_RIGHTS = _ADMIN_RIGHTS | {"payouts", "team", "settings"}

# What each role of a company may do: the one table of rights, enforced by company_required.
# members fulfil orders and answer messages; admins also run gigs, products, licenses,
# webhooks, API keys (developers) and apps (building, installing, opening) and invite people;
# owners also payouts, the team (roles, removals, ownership) and the company's settings.
ROLE_RIGHTS: dict[str, frozenset[str]] = {
    "member": _MEMBER_RIGHTS,
    "admin": _ADMIN_RIGHTS,
    "owner": _OWNER_RIGHTS,
}
RIGHTS = tuple(sorted(_OWNER_RIGHTS))


def role_may(role: str | None, right: str) -> bool:
    """True when a company member with `role` has `right` (ROLE_RIGHTS)."""
    return right in ROLE_RIGHTS.get(role or "", frozenset())


def admin_required(view):
    """Signed-in admins only: others get 403 (signed-out visitors go to sign-in)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def company_required(right: str):
    """Signed-in members of a seller company whose role has `right` (ROLE_RIGHTS).

    The company is the one the user is working in (User.seller_membership follows the
    session's choice); it becomes the current tenant (app/tenancy.py) and `g.company` for the
    rest of the request. Users without a seller company are sent to "Become a seller"; a role
    without the right gets 403, and the refusal is written to the audit log.
    """
    if right not in RIGHTS:
        raise ValueError(f"unknown right {right!r}")

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            membership = current_user.seller_membership
            if membership is None:
                if request.method == "GET":
                    return redirect(url_for("sell.become"))
                abort(403)
            company = membership.company
            # The role from the user's own memberships, not from the company's member list: the
            # company row may have been loaded elsewhere in this session with only a few columns.
            if not role_may(membership.role, right):
                record_audit_event(
                    "access.refused",
                    actor=current_user,
                    company=company,
                    right=right,
                    role=membership.role,
                    path=request.path[:300],
                    method=request.method,
                )
                db.session.commit()
                abort(403)
            g.company = company
            set_tenant(company.id)
            return view(*args, **kwargs)

        wrapped.required_right = right
        return wrapped

    return decorate


def choose_company(company_id: int) -> None:
    """Remember the company the user works in for their next requests (checked each time)."""
    session[CHOSEN_COMPANY] = company_id


def chosen_company_id() -> int | None:
    """The company id the session asks for (not yet checked against memberships)."""
    value = session.get(CHOSEN_COMPANY)
    return value if isinstance(value, int) else None
