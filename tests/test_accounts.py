"""The account's life through the forms, with the test client: confirming the email address,
resetting a forgotten password, the settings page (name, email change), deletion — and the
refusals. Emails are real: the outbox job sends them over SMTP to the sandbox's mail catcher,
and the tests follow the links they carry.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.models import AccountToken, AuditEvent, Company, LedgerEntry, OutgoingEmail, Payout, User, UserSession
from tests.factories import PASSWORD, fund_available, make_order
from tests.forms import csrf_token, post_form, sign_in_as
from tests.mailbox import last_mail_id, link_in, mail_json, path_of

NEW_PASSWORD = "a-brand-new-password"


@pytest.fixture
def inbox(sandbox, run_jobs):
    """inbox(to, since) → the one new message to `to` after mail id `since`, once the outbox
    job has sent it over SMTP to the sandbox's catcher; `inbox.mark()` → the id to pass as since."""

    def read(to, since, count=1):
        run_jobs()
        messages = mail_json(sandbox, to=to, since=since)
        assert len(messages) == count, [m["subject"] for m in messages]
        return messages[0]

    read.mark = lambda: last_mail_id(sandbox)
    return read


def audit_actions(db, user):
    return db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_id == str(user.id)).order_by(AuditEvent.id)
    ).all()


def names_field(response, field):
    """Whether a refusal names `field`: the request check's 400 says its name; a form shown
    again marks that field's input invalid."""
    page = response.get_data(as_text=True)
    if response.status_code == 400:
        return field in page
    return bool(
        re.search(
            rf'<input[^>]*aria-invalid="true"[^>]*name="{field}"|<input[^>]*name="{field}"[^>]*aria-invalid="true"',
            page,
        )
    )


def sign_up(client, email="newbie@example.com", intent="hire"):
    response = post_form(
        client, "/signup", {"email": email, "password": PASSWORD, "display_name": "Nia Newbie", "intent": intent}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return email


def user_by_email(db, email):
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


# -- verification ------------------------------------------------------------------------------------


def test_sign_up_emails_a_link_that_confirms_the_address(client, db, inbox):
    since = inbox.mark()
    email = sign_up(client)
    page = client.get("/account/settings").get_data(as_text=True)
    assert 'data-testid="verify-banner"' in page and "Not confirmed yet" in page

    message = inbox(email, since)
    assert message["subject"] == "Confirm your email address"
    link = link_in(message, "/email/verify/")
    assert link in message["html"] and "Nia Newbie" in message["text"]  # multipart: text and HTML
    email_row = db.session.scalars(select(OutgoingEmail).where(OutgoingEmail.to_email == email)).one()
    assert (email_row.template, email_row.status, email_row.attempts) == ("verify_email", "sent", 1)

    response = client.get(path_of(link))
    assert response.status_code == 303 and response.headers["Location"] == "/account/settings"
    page = client.get("/account/settings").get_data(as_text=True)
    assert 'data-testid="verify-banner"' not in page and "Confirmed" in page
    user = user_by_email(db, email)
    assert user.email_verified
    assert "account.email_verified" in audit_actions(db, user)
    # The link worked once.
    assert client.get(path_of(link)).status_code == 410


def test_the_link_works_signed_out_too_but_not_for_another_signed_in_account(app, client, db, inbox, make_user):
    since = inbox.mark()
    email = sign_up(client)
    link = path_of(link_in(inbox(email, since), "/email/verify/"))
    other = app.test_client()
    sign_in_as(other, make_user())
    refused = other.get(link)
    assert refused.status_code == 403 and "belongs to another account" in refused.get_data(as_text=True)
    assert not user_by_email(db, email).email_verified

    anonymous = app.test_client()
    response = anonymous.get(link)
    assert response.status_code == 303 and response.headers["Location"] == "/signin"
    assert user_by_email(db, email).email_verified


def test_resending_ends_the_earlier_link(client, db, inbox):
    since = inbox.mark()
    email = sign_up(client)
    first = path_of(link_in(inbox(email, since), "/email/verify/"))
    since = inbox.mark()
    response = post_form(client, "/email/verify/resend", headers={"Referer": "http://localhost/account"})
    assert response.status_code == 303 and response.headers["Location"] == "http://localhost/account"
    second = path_of(link_in(inbox(email, since), "/email/verify/"))
    assert first != second
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 303
    response = post_form(client, "/email/verify/resend")
    assert response.status_code == 303  # already confirmed: nothing sent
    assert "already confirmed" in client.get("/account/settings").get_data(as_text=True)


def test_resending_is_rate_limited_and_needs_the_csrf_token(client, db, make_user):
    sign_in_as(client, make_user(verified=False))
    assert client.post("/email/verify/resend").status_code == 400
    for _ in range(5):
        assert post_form(client, "/email/verify/resend").status_code == 303
    assert post_form(client, "/email/verify/resend").status_code == 429


@pytest.mark.parametrize("token, status", [("nope", 404), ("x" * 200, 404)])
def test_unknown_verification_links_are_refused(client, db, token, status):
    assert client.get(f"/email/verify/{token}").status_code == status


def test_an_unverified_user_cannot_start_selling(client, db, make_user):
    user = make_user(verified=False, intent="sell")
    sign_in_as(client, user)
    response = post_form(client, "/sell/become", {"title": "Unproven Studio", "country": "US"})
    assert response.status_code == 403
    assert "Confirm your email address before you start selling" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Company).where(Company.title == "Unproven Studio")) == 0


def test_an_unverified_owner_cannot_withdraw(client, db, make_seller):
    owner, company = make_seller(connected=True, verified=False)
    fund_available(company.id, 50_00)
    sign_in_as(client, owner)
    response = post_form(client, "/sell/payouts/withdraw", {"amount": "30.00", "request_token": "a" * 32})
    assert response.status_code == 403
    assert "Confirm your email address before you withdraw money" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0


# -- password reset ------------------------------------------------------------------------------------


def forgot(client, email):
    return post_form(client, "/password/forgot", {"email": email})


def test_forgot_password_answers_the_same_whether_or_not_the_account_exists(app, client, db, make_user, inbox):
    user = make_user(email="ada@example.com")
    since = inbox.mark()
    known, unknown = forgot(client, "ada@example.com"), forgot(app.test_client(), "nobody@example.com")
    assert (known.status_code, known.headers["Location"]) == (unknown.status_code, unknown.headers["Location"])
    known_page = client.get(known.headers["Location"]).get_data(as_text=True)
    assert "If an account uses that address" in known_page
    message = inbox("ada@example.com", since)
    assert message["subject"] == "Reset your Tradepost password" and "for 1 hour" in message["text"]
    assert mail_json(app.config["SANDBOX_URL"], to="nobody@example.com", since=since) == []
    assert "auth.password_reset_requested" in audit_actions(db, user)


def test_reset_link_sets_a_new_password_once_and_ends_every_session(app, client, db, make_user, inbox):
    user = make_user(email="ada@example.com")
    elsewhere = sign_in_as(app.test_client(), user)
    since = inbox.mark()
    forgot(client, "ada@example.com")
    link = path_of(link_in(inbox("ada@example.com", since), "/password/reset/"))

    assert "Choose a new password" in client.get(link).get_data(as_text=True)
    refused = post_form(client, link, {"password": "short", "confirm_password": "short"})
    assert refused.status_code == 422 and "Use 10 to" in refused.get_data(as_text=True)
    response = post_form(client, link, {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/signin"

    assert elsewhere.get("/account/security").status_code == 302  # signed out there
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        )
        == 0
    )
    assert post_form(app.test_client(), "/signin", {"email": user.email, "password": PASSWORD}).status_code == 401
    sign_in_as(app.test_client(), user, NEW_PASSWORD)
    assert "auth.password_reset" in audit_actions(db, user)

    reused = post_form(client, link, {"password": "yet-another-password", "confirm_password": "yet-another-password"})
    assert reused.status_code == 410 and "already been used" in reused.get_data(as_text=True)
    assert client.get(link).status_code == 410


def test_reset_link_expires_after_an_hour(client, db, make_user, inbox, clock):
    make_user(email="ada@example.com")
    since = inbox.mark()
    forgot(client, "ada@example.com")
    link = path_of(link_in(inbox("ada@example.com", since), "/password/reset/"))
    clock(timedelta(minutes=59))
    assert client.get(link).status_code == 200
    clock(timedelta(minutes=61))
    response = post_form(client, link, {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)


def test_a_reset_link_opened_while_signed_in_as_someone_else_is_refused(app, client, db, make_user, inbox):
    victim = make_user(email="ada@example.com")
    since = inbox.mark()
    forgot(client, victim.email)
    link = path_of(link_in(inbox(victim.email, since), "/password/reset/"))
    intruder = sign_in_as(app.test_client(), make_user())
    response = post_form(intruder, link, {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 403
    token = db.session.scalars(select(AccountToken).where(AccountToken.user_id == victim.id)).one()
    assert token.used_at is None


@pytest.mark.parametrize(
    "email, status", [("not-an-address", 422), ("a\x00b@example.com", 400), ("x" * 300 + "@example.com", 422)]
)
def test_forgot_password_refuses_what_is_not_an_address(client, db, email, status):
    response = forgot(client, email)
    assert response.status_code == status and names_field(response, "email")
    assert db.session.scalar(select(func.count()).select_from(AccountToken)) == 0


def test_forgot_password_is_rate_limited(client, db):
    for _ in range(5):
        assert forgot(client, "someone@example.com").status_code == 303
    assert forgot(client, "someone@example.com").status_code == 429


# -- settings: name and email ------------------------------------------------------------------------


def test_settings_page_changes_the_name(client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    assert "Your account" in client.get("/account/settings").get_data(as_text=True)
    response = post_form(client, "/account/settings/profile", {"display_name": "  Zoë   李 "})
    assert response.status_code == 303
    db.session.refresh(user)
    assert user.display_name == "Zoë 李"


@pytest.mark.parametrize(
    "value, status",
    [("", 422), ("x" * 81, 422), ("\x00", 400), ("a\u202eb", 422), ("\u200b", 422), ("💥" * 81, 422)],
)
def test_bad_names_are_refused_naming_the_field(client, db, make_user, value, status):
    user = make_user(display_name="Kept Name")
    sign_in_as(client, user)
    response = post_form(client, "/account/settings/profile", {"display_name": value})
    assert response.status_code == status and names_field(response, "display_name")
    db.session.refresh(user)
    assert user.display_name == "Kept Name"


def test_email_change_applies_only_once_the_new_address_confirms(app, client, db, make_user, inbox):
    user = make_user(email="old@example.com")
    sign_in_as(client, user)
    since = inbox.mark()
    response = post_form(client, "/account/settings/email", {"email": "New@Example.com", "current_password": PASSWORD})
    assert response.status_code == 303
    db.session.refresh(user)
    assert user.email == "old@example.com"
    message = inbox("new@example.com", since)
    assert message["subject"] == "Confirm your new email address"
    link = path_of(link_in(message, "/account/email/confirm/"))

    other = sign_in_as(app.test_client(), make_user())
    assert other.get(link).status_code == 403

    since = inbox.mark()
    assert client.get(link).status_code == 303
    db.session.refresh(user)
    assert (user.email, user.email_verified) == ("new@example.com", True)
    notice = inbox("old@example.com", since)
    assert "new@example.com" in notice["text"]
    assert "account.email_changed" in audit_actions(db, user)
    assert client.get(link).status_code == 410
    sign_in_as(app.test_client(), "new@example.com")


@pytest.mark.parametrize(
    "form, field, status",
    [
        ({"email": "new@example.com", "current_password": "wrong-password"}, "current_password", 422),
        ({"email": "taken@example.com", "current_password": PASSWORD}, "email", 422),
        ({"email": "me@example.com", "current_password": PASSWORD}, "email", 422),
        ({"email": "not-an-address", "current_password": PASSWORD}, "email", 422),
        ({"email": "a\x00@example.com", "current_password": PASSWORD}, "email", 422),
        ({"email": "x" * 5000, "current_password": PASSWORD}, "email", 422),
        ({"email": "new@example.com", "current_password": "\x00"}, "current_password", 422),
        ({"email": "", "current_password": PASSWORD}, "email", 422),
    ],
)
def test_bad_email_changes_are_refused_and_send_nothing(client, db, make_user, form, field, status):
    make_user(email="taken@example.com")
    user = make_user(email="me@example.com")
    sign_in_as(client, user)
    response = post_form(client, "/account/settings/email", form)
    assert response.status_code == status and names_field(response, field)
    assert db.session.scalar(select(func.count()).select_from(AccountToken)) == 0


def test_wrong_current_password_is_refused_when_changing_it(client, db, make_user):
    user = make_user()
    sign_in_as(client, user)
    response = post_form(
        client,
        "/account/security/password",
        {"current_password": "not-my-password", "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert response.status_code == 422 and "isn&#39;t your current password" in response.get_data(as_text=True)


# -- deletion ----------------------------------------------------------------------------------------


def delete(client, password=PASSWORD, confirmation="DELETE"):
    return post_form(client, "/account/delete", {"password": password, "confirmation": confirmation})


def test_deleting_an_account_anonymises_it_and_keeps_the_books(app, client, db, cast):
    buyer = cast.buyer
    make_order(cast, "completed")
    entries = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    elsewhere = sign_in_as(app.test_client(), buyer)
    sign_in_as(client, buyer)
    email = buyer.email
    response = delete(client)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    db.session.expire_all()
    user = db.session.get(User, buyer.id)
    assert user.email == f"deleted-{user.id}@deleted.invalid" and user.display_name == "Deleted user"
    assert (user.active, user.password_hash, user.deleted_at is not None) == (False, None, True)
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == entries
    assert elsewhere.get("/account/security").status_code == 302
    assert post_form(app.test_client(), "/signin", {"email": email, "password": PASSWORD}).status_code == 401
    assert "account.deleted" in audit_actions(db, user)


@pytest.mark.parametrize("status", ["in_progress", "delivered", "disputed"])
def test_deletion_is_refused_while_an_order_is_open(client, db, cast, status):
    make_order(cast, status)
    sign_in_as(client, cast.buyer)
    response = delete(client)
    assert response.status_code == 409 and "in progress" in response.get_data(as_text=True)
    db.session.refresh(cast.buyer)
    assert cast.buyer.active and cast.buyer.deleted_at is None


def test_deletion_is_refused_while_the_owners_company_holds_money(client, db, make_seller):
    owner, company = make_seller()
    fund_available(company.id, 12_00)
    sign_in_as(client, owner)
    response = delete(client)
    assert response.status_code == 409 and "still holds money" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "password, confirmation, field, status",
    [
        ("wrong-password", "DELETE", "password", 422),
        (PASSWORD, "delete me", "confirmation", 422),
        (PASSWORD, "", "confirmation", 422),
        (PASSWORD, "D\x00ELETE", "confirmation", 422),
        ("\x00", "DELETE", "password", 422),
        ("x" * 5000, "DELETE", "password", 422),
    ],
)
def test_deletion_needs_the_password_and_the_word(client, db, make_user, password, confirmation, field, status):
    user = make_user()
    sign_in_as(client, user)
    response = delete(client, password, confirmation)
    assert response.status_code == status and names_field(response, field)
    db.session.refresh(user)
    assert user.active


def test_new_forms_need_the_csrf_token(client, db, make_user):
    sign_in_as(client, make_user())
    csrf_token(client)
    for path in ("/account/settings/profile", "/account/settings/email", "/account/delete", "/password/forgot"):
        assert client.post(path, data={"display_name": "X"}).status_code == 400, path
