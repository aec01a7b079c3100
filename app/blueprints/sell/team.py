"""The company's team: members and roles, invitations, ownership transfer, and accepting an
invitation (the emailed link, for signed-out visitors too).

Admins and owners see the team and invite (right "invite"); only the owner changes roles,
removes members and transfers ownership (right "team"): see ROLE_RIGHTS in app/access.py.
"""

from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from flask_login import current_user

from app.access import choose_company
from app.errors import InputError
from app.extensions import db
from app.inputs import parse_id
from app.models.company import INVITABLE_ROLES
from app.services.teams import (
    accept_invitation,
    change_role,
    find_invitation,
    invite_member,
    open_invitations,
    remove_member,
    revoke_invitation,
    team_members,
    transfer_ownership,
)
from app.web import commit_and_redirect, company_form, company_page, error_page, refusal_page, render

bp = Blueprint("team", __name__, url_prefix="/team")


def _page(errors=None, form=None, status=200):
    return render(
        "team/index.html",
        company=g.company,
        members=team_members(g.company),
        invitations=open_invitations(g.company),
        roles=INVITABLE_ROLES,
        my_role=current_user.seller_membership.role,
        errors=errors or {},
        form=form or {},
        http_status=status,
    )


def _refused(exc, **_view_args):
    if exc.status == 422:
        return _page(exc.errors, request.form, exc.status)
    return error_page(exc.status, exc.message)


def _invitation_link(token):
    return current_app.config["APP_BASE_URL"].rstrip("/") + url_for("sell.team.join", token=token)


def _member_id(field="member_id"):
    member_id = parse_id(request.form.get(field, ""))
    if member_id is None:
        raise InputError(field, "Choose a member of the team.")
    return member_id


company_page(bp, "invite", _page)


@company_form(bp, "/members/<int:member_id>/role", "team", _refused)
def update_role(member_id):
    change_role(g.company, current_user, member_id, request.form.get("role"))
    return commit_and_redirect("Role changed.", ".index")


@company_form(bp, "/members/<int:member_id>/remove", "team", _refused)
def remove(member_id):
    remove_member(g.company, current_user, member_id)
    return commit_and_redirect("Member removed from the team.", ".index")


@company_form(bp, "/transfer", "team", _refused)
def transfer():
    member = transfer_ownership(g.company, current_user, _member_id())
    return commit_and_redirect(f"{member.user.display_name} now owns {g.company.title}.", "sell.home")


@company_form(bp, "/invitations", "invite", _refused)
def invite():
    invite_member(g.company, current_user, request.form.get("email"), request.form.get("role"), _invitation_link)
    return commit_and_redirect("Invitation sent.", ".index")


@company_form(bp, "/invitations/<int:invitation_id>/revoke", "invite", _refused)
def revoke(invitation_id):
    revoke_invitation(g.company, current_user, invitation_id)
    return commit_and_redirect("Invitation withdrawn.", ".index")


def _join_refused(exc, token):
    return error_page(exc.status, exc.message)


@bp.route("/join/<token>", methods=["GET", "POST"])
@refusal_page(_join_refused)
def join(token):
    """The emailed link: who invited you to what; sign up or sign in (as the invited address),
    then accept. Accepting switches the user to the company they joined."""
    invitation = find_invitation(token)
    if request.method == "GET":
        return render("team/join.html", invitation=invitation, token=token)
    if not current_user.is_authenticated:
        return redirect(url_for("auth.sign_in", next=request.path), 303)
    member = accept_invitation(token, current_user)
    company_id, title = member.company_id, member.company.title
    db.session.commit()
    choose_company(company_id)
    flash(f"Welcome to {title}.", "success")
    return redirect(url_for("sell.home"), 303)
