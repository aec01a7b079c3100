"""Access decorators for views: who may see a page at all."""

from functools import wraps

from flask import abort, g, redirect, request, url_for
from flask_login import current_user, login_required

from app.models.company import MANAGER_ROLES, MEMBER_ROLES
from app.tenancy import set_tenant


def admin_required(view):
    """Signed-in admins only: others get 403 (signed-out visitors go to sign-in)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def seller_required(view=None, *, roles=MEMBER_ROLES):
    """Signed-in members of a seller company, with one of `roles`.

    Sets the company as the current tenant (see app/tenancy.py) and as `g.company` for the
    rest of the request. Users without a seller company are sent to "Become a seller".
    """

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            membership = current_user.seller_membership
            if membership is None:
                if request.method == "GET":
                    return redirect(url_for("sell.become"))
                abort(403)
            # The role from the user's own memberships, not from the company's member list: the
            # company row may have been loaded elsewhere in this session with only a few columns.
            if membership.role not in roles:
                abort(403)
            company = membership.company
            g.company = company
            set_tenant(company.id)
            return view(*args, **kwargs)

        return wrapped

    return decorate(view) if view is not None else decorate


def manager_required(view):
    """seller_required for the company's owners and admins only (Company.is_manager)."""
    return seller_required(view, roles=MANAGER_ROLES)
