"""Teams: every /sell route × every role (allowed or 403, each 403 audited), invitations,
role changes, removals, ownership transfer, switching companies, and the refusals."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.access import ROLE_RIGHTS
from app.clock import freeze, now
from app.extensions import db
from app.models import AuditEvent, CompanyInvitation, CompanyMember, Order
from app.services.teams import hash_token, invite_member
from tests.factories import make_cast, make_order
from tests.forms import post_form
from tests.hostile import NUL, changed_tables, table_counts

# Each company page (everything under /sell) and the right it needs, written out here (not
# read from the code) so that changing a page's right changes this table too.
SELL_RIGHTS = {
    "sell.home": "orders",
    "sell.onboarding_return": "orders",
    "sell.orders.index": "orders",
    "sell.onboarding_start": "settings",
    "sell.onboarding_refresh": "settings",
    "sell.settings.edit": "settings",
    "sell.whop.index": "settings",
    "sell.whop.link_company": "settings",
    "sell.whop.link_product": "settings",
    "sell.affiliates.edit": "settings",
    "sell.affiliates.ban": "settings",
    "sell.affiliates.unban": "settings",
    **{
        f"sell.legends.{view}": "settings"
        for view in (
            "index",
            "open_game",
            "settings",
            "create_class",
            "update_class",
            "create_quest",
            "update_quest",
            "create_achievement",
            "update_achievement",
            "export",
        )
    },
    "sell.payouts.index": "payouts",
    "sell.payouts.withdraw": "payouts",
    "sell.team.update_role": "team",
    "sell.team.remove": "team",
    "sell.team.transfer": "team",
    "sell.team.index": "invite",
    "sell.team.invite": "invite",
    "sell.team.revoke": "invite",
    **{
        f"sell.gigs.{view}": "gigs"
        for view in (
            "create",
            "delete",
            "delete_image",
            "index",
            "package",
            "pause",
            "removed_row",
            "resume",
            "row",
            "withdraw_revision",
            "submit",
            "update",
        )
    },
    **{
        f"sell.licenses.{view}": "licenses" for view in ("act", "confirm_revoke", "detail", "extend", "index", "policy")
    },
    **{
        f"sell.products.{view}": "products"
        for view in ("add_plan", "create", "index", "plan_status", "update", "update_plan")
    },
    **{
        f"sell.member_content.{view}": "products"
        for view in ("add_file", "add_post", "index", "remove_file", "remove_post")
    },
    **{
        f"sell.developers.{view}": "developers"
        for view in ("index", "create", "confirm_revoke", "revoke", "confirm_roll", "roll")
    },
    **{
        f"sell.webhooks.{view}": "webhooks"
        for view in (
            "confirm_delete",
            "confirm_rotate",
            "create",
            "delete",
            "detail",
            "edit",
            "index",
            "message",
            "new",
            "recover",
            "resend",
            "rotate",
            "secret",
            "send_test",
            "update",
        )
    },
    **{
        f"sell.developer_apps.{view}": "apps"
        for view in (
            "create",
            "edit",
            "index",
            "new",
            "publish",
            "rotate",
            "secret",
            "unpublish",
            "update",
        )
    },
    **{
        f"apps.{view}": "apps"
        for view in ("confirm_install", "confirm_uninstall", "dashboard", "directory", "install", "uninstall")
    },
}
# /sell pages that are not a company's: becoming a seller, choosing the company to work in
# (any signed-in user, checked against their memberships), gig images (public) and the
# invitation link (anyone holding it).
NOT_COMPANY_PAGES = {"sell.become", "sell.switch", "sell.images.show", "sell.team.join"}
EXPECTED = {
    "member": {"orders", "messages"},
    "admin": {"orders", "messages", "gigs", "products", "licenses", "webhooks", "developers", "invite", "apps"},
    "owner": {
        "orders",
        "messages",
        "gigs",
        "products",
        "licenses",
        "webhooks",
        "developers",
        "invite",
        "apps",
        "payouts",
        "team",
        "settings",
    },
}
PATH_ARGS = {"kind": "questions", "tier": "premium", "action": "suspend", "key": "gigs/x.png", "token": "x"}


def _sell_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/sell")]


def _url(rule):
    return re.sub(r"<([^<>]*:)?(\w+)>", lambda m: PATH_ARGS.get(m.group(2), "2147483647"), rule.rule)


def test_the_rights_table_is_as_the_product_says():
    assert {role: set(rights) for role, rights in ROLE_RIGHTS.items()} == EXPECTED


def test_every_sell_route_is_in_the_rights_table(app):
    endpoints = {rule.endpoint for rule in _sell_rules(app)}
    assert endpoints - NOT_COMPANY_PAGES == set(SELL_RIGHTS), "add the new /sell page to SELL_RIGHTS"
    for endpoint, right in SELL_RIGHTS.items():
        assert app.view_functions[endpoint].required_right == right, endpoint


def _audit_count(action):
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


@pytest.mark.parametrize("endpoint", sorted(SELL_RIGHTS))
def test_each_role_is_allowed_or_refused_by_the_table(app, client, db, make_seller, sign_in, endpoint):
    owner, company = make_seller(kyc="unstarted")
    people = {
        "owner": owner,
        "admin": make_seller(company=company, role="admin")[0],
        "member": make_seller(company=company, role="member")[0],
    }
    rule = next(rule for rule in _sell_rules(app) if rule.endpoint == endpoint)
    url = _url(rule)
    right = SELL_RIGHTS[endpoint]
    for role, user in people.items():
        sign_in(user)
        refused_before = _audit_count("access.refused")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.get(url) if method == "GET" else post_form(client, url)
            if right in EXPECTED[role]:
                assert response.status_code not in (403, 500), (role, method, url, response.status_code)
            else:
                assert response.status_code == 403, (role, method, url, response.status_code)
        refusals = _audit_count("access.refused") - refused_before
        methods = len(rule.methods - {"HEAD", "OPTIONS"})
        assert refusals == (0 if right in EXPECTED[role] else methods), (role, endpoint)


def test_a_member_opening_owner_pages_is_refused_and_audited(client, db, make_seller, sign_in):
    _, company = make_seller()
    member, _ = make_seller(company=company, role="member")
    sign_in(member)
    for path in ("/sell/settings", "/sell/payouts", "/sell/team"):
        assert client.get(path).status_code == 403
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "access.refused")).all()
    assert [(row.actor_user_id, row.company_id, row.data["path"]) for row in rows] == [
        (member.id, company.id, "/sell/settings"),
        (member.id, company.id, "/sell/payouts"),
        (member.id, company.id, "/sell/team"),
    ]
    assert all(row.ip_address == "127.0.0.1" for row in rows)


# -- invitations ---------------------------------------------------------------------------------


def _invite(client, email, role="member"):
    return post_form(client, "/sell/team/invitations", {"email": email, "role": role})


def _token_for(company, email, role="admin"):
    owner = company.members[0].user
    token = invite_member(company, owner, email, role, lambda token: f"http://x/{token}")
    db.session.commit()
    return token


def test_an_admin_invites_and_the_owner_sees_the_invitation(client, db, make_seller, sign_in):
    owner, company = make_seller()
    admin, _ = make_seller(company=company, role="admin")
    sign_in(admin)
    response = _invite(client, " New.Person@Example.com ", "admin")
    assert response.status_code == 303 and response.headers["Location"] == "/sell/team"
    invitation = db.session.scalars(select(CompanyInvitation)).one()
    assert (invitation.email, invitation.role, invitation.company_id) == ("new.person@example.com", "admin", company.id)
    assert len(invitation.token_hash) == 64
    sign_in(owner)
    page = client.get("/sell/team").get_data(as_text=True)
    assert "new.person@example.com" in page and admin.email in page
    assert _audit_count("team.invited") == 1


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"email": "not-an-email", "role": "member"}, "email"),
        ({"email": "x" * 300 + "@example.com", "role": "member"}, "email"),
        ({"email": "a@example.com", "role": "owner"}, "role"),
        ({"email": "a@example.com", "role": "💥"}, "role"),
        ({"email": "a@example.com"}, "role"),
        ({"role": "member"}, "email"),
    ],
)
def test_bad_invitations_are_refused_naming_the_field(client, db, make_seller, sign_in, form, field):
    owner, _ = make_seller()
    sign_in(owner)
    before = table_counts()
    response = post_form(client, "/sell/team/invitations", form)
    assert response.status_code == 422
    assert 'role="alert"' in response.get_data(as_text=True)
    assert f'id="invite-{field}"' in response.get_data(as_text=True)
    assert changed_tables(before, table_counts(), ignore=("user_sessions",)) == {}


@pytest.mark.parametrize("value", [NUL, "a\x00@example.com"])
def test_nul_in_an_invitation_is_refused(client, db, make_seller, sign_in, value):
    owner, _ = make_seller()
    sign_in(owner)
    before = table_counts()
    assert post_form(client, "/sell/team/invitations", {"email": value, "role": "member"}).status_code == 400
    assert changed_tables(before, table_counts(), ignore=("user_sessions",)) == {}


def test_inviting_a_member_or_an_invited_address_twice_is_refused(client, db, make_seller, sign_in):
    owner, company = make_seller()
    member, _ = make_seller(company=company, role="member")
    sign_in(owner)
    assert _invite(client, member.email).status_code == 422
    assert _invite(client, "new@example.com").status_code == 303
    assert _invite(client, "new@example.com").status_code == 422
    assert db.session.scalar(select(func.count()).select_from(CompanyInvitation)) == 1


def test_a_member_cannot_invite(client, db, make_seller, sign_in):
    _, company = make_seller()
    member, _ = make_seller(company=company, role="member")
    sign_in(member)
    assert _invite(client, "new@example.com").status_code == 403
    assert db.session.scalar(select(func.count()).select_from(CompanyInvitation)) == 0
    assert _audit_count("access.refused") == 1


def test_the_invitee_signs_up_from_the_link_and_joins(client, db, make_seller):
    _, company = make_seller(title="Acme Studio")
    token = _token_for(company, "newbie@example.com", "member")
    page = client.get(f"/sell/team/join/{token}")
    assert page.status_code == 200 and "Acme Studio" in page.get_data(as_text=True)
    signup = post_form(
        client,
        f"/signup?next=/sell/team/join/{token}",
        {"display_name": "Newbie", "email": "newbie@example.com", "password": "long-enough-pw", "intent": "hire"},
    )
    assert signup.status_code == 303 and signup.headers["Location"] == f"/sell/team/join/{token}"
    accepted = post_form(client, f"/sell/team/join/{token}")
    assert accepted.status_code == 303 and accepted.headers["Location"] == "/sell/"
    member = db.session.scalars(select(CompanyMember).where(CompanyMember.role == "member")).one()
    assert member.company_id == company.id and member.user.email == "newbie@example.com"
    assert client.get("/sell/orders").status_code == 200
    assert client.get(f"/sell/team/join/{token}").status_code == 404  # used once
    assert post_form(client, f"/sell/team/join/{token}").status_code == 404
    assert _audit_count("team.joined") == 1


def test_an_invitation_for_another_email_is_refused_and_audited(client, db, make_seller, make_user, sign_in):
    _, company = make_seller()
    token = _token_for(company, "invited@example.com")
    intruder = make_user("intruder@example.com")
    sign_in(intruder)
    assert "Sign out and sign in as invited@example.com" in client.get(f"/sell/team/join/{token}").get_data(
        as_text=True
    )
    response = post_form(client, f"/sell/team/join/{token}")
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(CompanyMember)) == 1
    row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "team.invitation_refused")).one()
    assert (row.actor_user_id, row.company_id, row.data["code"]) == (intruder.id, company.id, "wrong_account")
    invitation = db.session.scalars(select(CompanyInvitation)).one()
    db.session.refresh(invitation)
    assert invitation.accepted_at is None  # still usable by the right person


def test_signed_out_accepts_go_to_sign_in_and_bad_tokens_are_not_found(client, db, make_seller):
    _, company = make_seller()
    token = _token_for(company, "invited@example.com")
    response = post_form(client, f"/sell/team/join/{token}")
    assert response.status_code == 303 and response.headers["Location"].startswith("/signin?next=")
    for bad in ("nope", "x" * 500, token + "x"):
        assert client.get(f"/sell/team/join/{bad}").status_code == 404


def test_an_expired_invitation_is_not_found(client, db, make_seller, make_user, sign_in):
    owner, company = make_seller()
    token = _token_for(company, "late@example.com")
    late = make_user("late@example.com")
    sign_in(late)
    freeze(now() + timedelta(days=7, seconds=1))
    try:
        assert post_form(client, f"/sell/team/join/{token}").status_code == 404
    finally:
        freeze(None)
    assert db.session.scalar(select(func.count()).select_from(CompanyMember)) == 1


def test_the_owner_revokes_an_invitation(client, db, make_seller, make_user, sign_in):
    owner, company = make_seller()
    token = _token_for(company, "maybe@example.com")
    invitation = db.session.scalar(select(CompanyInvitation).where(CompanyInvitation.token_hash == hash_token(token)))
    sign_in(owner)
    assert post_form(client, f"/sell/team/invitations/{invitation.id}/revoke").status_code == 303
    assert post_form(client, f"/sell/team/invitations/{invitation.id}/revoke").status_code == 404
    sign_in(make_user("maybe@example.com"))
    assert client.get(f"/sell/team/join/{token}").status_code == 404


# -- roles, removal, ownership ----------------------------------------------------------------------


def _membership(user, company):
    return db.session.scalar(
        select(CompanyMember).where(CompanyMember.user_id == user.id, CompanyMember.company_id == company.id)
    )


def test_the_owner_changes_roles_and_removes_members(client, db, make_seller, sign_in):
    owner, company = make_seller()
    member, _ = make_seller(company=company, role="member")
    sign_in(owner)
    membership = _membership(member, company)
    assert post_form(client, f"/sell/team/members/{membership.id}/role", {"role": "admin"}).status_code == 303
    db.session.refresh(membership)
    assert membership.role == "admin"
    row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "team.role_changed")).one()
    assert (row.data["before"], row.data["after"], row.actor_user_id) == ("member", "admin", owner.id)
    for bad in ("owner", "", NUL, "x" * 5000):
        assert post_form(client, f"/sell/team/members/{membership.id}/role", {"role": bad}).status_code in (400, 422)
    owner_membership = _membership(owner, company)
    assert post_form(client, f"/sell/team/members/{owner_membership.id}/role", {"role": "member"}).status_code == 409
    assert post_form(client, f"/sell/team/members/{owner_membership.id}/remove").status_code == 409
    assert post_form(client, f"/sell/team/members/{membership.id}/remove").status_code == 303
    assert _membership(member, company) is None
    assert _audit_count("team.member_removed") == 1
    sign_in(member)
    assert client.get("/sell/orders").status_code == 302  # no company any more: to "become a seller"


def test_an_admin_cannot_change_roles(client, db, make_seller, sign_in):
    owner, company = make_seller()
    admin, _ = make_seller(company=company, role="admin")
    sign_in(admin)
    owner_membership = _membership(owner, company)
    assert post_form(client, f"/sell/team/members/{owner_membership.id}/remove").status_code == 403
    assert _membership(owner, company).role == "owner"


def test_ownership_transfers_to_an_existing_member_only(client, db, make_seller, sign_in):
    owner, company = make_seller()
    admin, _ = make_seller(company=company, role="admin")
    _, other_company = make_seller()
    stranger = other_company.members[0]
    sign_in(owner)
    for bad in ("", "abc", "-1", "99999999999999999999", NUL):
        assert post_form(client, "/sell/team/transfer", {"member_id": bad}).status_code in (400, 422, 404)
    assert post_form(client, "/sell/team/transfer", {"member_id": str(stranger.id)}).status_code == 404
    assert (
        post_form(client, "/sell/team/transfer", {"member_id": str(_membership(owner, company).id)}).status_code == 422
    )
    response = post_form(client, "/sell/team/transfer", {"member_id": str(_membership(admin, company).id)})
    assert response.status_code == 303
    assert (_membership(owner, company).role, _membership(admin, company).role) == ("admin", "owner")
    assert _audit_count("team.ownership_transferred") == 1
    assert client.get("/sell/settings").status_code == 403  # the old owner is an admin now
    sign_in(admin)
    assert client.get("/sell/settings").status_code == 200


def test_an_admin_of_company_a_cannot_act_on_company_b(client, db, make_seller, sign_in):
    owner_a, company_a = make_seller(title="Company A")
    admin_a, _ = make_seller(company=company_a, role="admin")
    owner_b, company_b = make_seller(title="Company B")
    member_b, _ = make_seller(company=company_b, role="member")
    token = _token_for(company_b, "someone@example.com")
    invitation_b = db.session.scalar(select(CompanyInvitation).where(CompanyInvitation.token_hash == hash_token(token)))
    sign_in(admin_a)
    assert post_form(client, f"/sell/team/invitations/{invitation_b.id}/revoke").status_code == 404
    sign_in(owner_a)
    membership_b = _membership(member_b, company_b)
    assert post_form(client, f"/sell/team/members/{membership_b.id}/role", {"role": "admin"}).status_code == 404
    assert post_form(client, f"/sell/team/members/{membership_b.id}/remove").status_code == 404
    db.session.refresh(membership_b)
    assert membership_b.role == "member" and db.session.get(CompanyInvitation, invitation_b.id).revoked_at is None
    rows = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "team.target_refused").order_by(AuditEvent.id)
    ).all()
    assert [(row.actor_user_id, row.company_id, row.data["target"]) for row in rows] == [
        (admin_a.id, company_a.id, "invitation"),
        (owner_a.id, company_a.id, "member"),
        (owner_a.id, company_a.id, "member"),
    ]


# -- several companies ----------------------------------------------------------------------------


def test_a_user_of_two_companies_switches_and_the_tenant_follows(client, db, sign_in):
    cast_a = make_cast("a-")
    cast_b = make_cast("b-")
    order_a = make_order(cast_a, "in_progress")
    order_b = make_order(cast_b, "in_progress")
    db.session.add(CompanyMember(company_id=cast_b.company.id, user_id=cast_a.owner.id, role="member"))
    db.session.commit()
    sign_in(cast_a.owner)
    first = client.get("/sell/orders").get_data(as_text=True)
    assert f"#{order_a.id}" in first and f"#{order_b.id}" not in first
    assert "Switch" in client.get("/sell/").get_data(as_text=True)
    response = post_form(client, "/sell/switch", {"company_id": str(cast_b.company.id)})
    assert response.status_code == 303
    second = client.get("/sell/orders").get_data(as_text=True)
    assert f"#{order_b.id}" in second and f"#{order_a.id}" not in second
    assert client.get("/sell/gigs").status_code == 403  # a member in company B
    for bad in (str(make_cast("c-").company.id), "abc", NUL, "99999999999999999999"):
        assert post_form(client, "/sell/switch", {"company_id": bad}).status_code in (400, 403)
    # Leaving company B: the session's choice no longer holds, back to company A.
    db.session.delete(_membership(cast_a.owner, cast_b.company))
    db.session.commit()
    assert f"#{order_a.id}" in client.get("/sell/orders").get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 2
