"""The account's emailed links over real HTTP: a browser-like client talks to the app served on
its port, the RQ job sends the mail over SMTP to the sandbox's catcher, and the test reads it
from /_sandbox/mail.json and follows the link it carries, as a person would."""

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, User
from tests.factories import PASSWORD, make_user
from tests.mailbox import last_mail_id, link_in, mail_json

pytestmark = pytest.mark.committed
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"|name="csrf_token" type="hidden" value="([^"]+)"')
NEW_PASSWORD = "fresh-password-over-http"


class Browser:
    """An httpx client with a cookie jar that posts forms with the page's CSRF token."""

    def __init__(self, base_url):
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=20)

    def get(self, url):
        return self.http.get(url)

    def token(self, path):
        match = CSRF.search(self.http.get(path).text)
        assert match, f"no CSRF token on {path}"
        return match.group(1) or match.group(2)

    def submit(self, path, data, form_page=None):
        return self.http.post(path, data={**data, "csrf_token": self.token(form_page or path)})

    def sign_in(self, email, password=PASSWORD):
        response = self.submit("/signin", {"email": email, "password": password})
        return response.status_code == 303

    def close(self):
        self.http.close()


@pytest.fixture
def browser(live_server):
    opened = []

    def open_browser():
        opened.append(Browser(live_server))
        return opened[-1]

    yield open_browser
    for each in opened:
        each.close()


def the_mail(app, sandbox, run_jobs, to, since):
    with app.app_context():
        run_jobs()
    [message] = mail_json(sandbox, to=to, since=since)
    return message


def audited(app, action, email):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        found = db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.action == action, AuditEvent.subject_id == str(user.id))
        )
        db.session.remove()
        return found is not None


def test_sign_up_then_confirm_the_address_from_the_email(app, sandbox, run_jobs, browser):
    person = browser()
    since = last_mail_id(sandbox)
    response = person.submit(
        "/signup",
        {"email": "http.newbie@example.com", "password": PASSWORD, "display_name": "Hal", "intent": "sell"},
    )
    assert response.status_code == 303
    assert 'data-testid="verify-banner"' in person.get("/account/settings").text
    assert person.submit("/sell/become", {"title": "Hal's", "country": "US"}, "/sell/become").status_code == 403

    message = the_mail(app, sandbox, run_jobs, "http.newbie@example.com", since)
    response = person.get(link_in(message, "/email/verify/"))
    assert response.status_code == 303
    page = person.get("/account/settings").text
    assert 'data-testid="verify-banner"' not in page and "Confirmed" in page
    assert audited(app, "account.email_verified", "http.newbie@example.com")


def test_forgotten_password_reset_through_the_emailed_link(app, sandbox, run_jobs, browser):
    with app.app_context():
        make_user(email="http.ada@example.com")
        db.session.remove()
    signed_in_elsewhere = browser()
    assert signed_in_elsewhere.sign_in("http.ada@example.com")

    person = browser()
    since = last_mail_id(sandbox)
    answer = person.submit("/password/forgot", {"email": "http.ada@example.com"})
    stranger = browser().submit("/password/forgot", {"email": "http.nobody@example.com"})
    assert (answer.status_code, answer.headers["location"]) == (stranger.status_code, stranger.headers["location"])

    link = link_in(the_mail(app, sandbox, run_jobs, "http.ada@example.com", since), "/password/reset/")
    assert "Choose a new password" in person.get(link).text
    response = person.submit(link, {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/signin"

    assert signed_in_elsewhere.get("/account/security").status_code == 302
    assert not browser().sign_in("http.ada@example.com", PASSWORD)
    assert browser().sign_in("http.ada@example.com", NEW_PASSWORD)
    assert audited(app, "auth.password_reset", "http.ada@example.com")

    again = browser()
    reused = again.http.post(link, data={"password": "x" * 12, "confirm_password": "x" * 12, "csrf_token": "t"})
    assert reused.status_code in (400, 410)
    assert again.get(link).status_code == 410


def test_email_change_confirmed_from_the_new_inbox(app, sandbox, run_jobs, browser):
    with app.app_context():
        make_user(email="http.old@example.com")
        db.session.remove()
    person = browser()
    assert person.sign_in("http.old@example.com")
    since = last_mail_id(sandbox)
    response = person.submit(
        "/account/settings/email",
        {"email": "http.new@example.com", "current_password": PASSWORD},
        "/account/settings",
    )
    assert response.status_code == 303

    link = link_in(the_mail(app, sandbox, run_jobs, "http.new@example.com", since), "/account/email/confirm/")
    since = last_mail_id(sandbox)
    assert person.get(link).status_code == 303
    assert "http.new@example.com" in person.get("/account/settings").text
    notice = the_mail(app, sandbox, run_jobs, "http.old@example.com", since)
    assert notice["subject"] == "Your Tradepost email address was changed"
    assert browser().sign_in("http.new@example.com")
    assert audited(app, "account.email_changed", "http.new@example.com")


def test_a_reset_link_clicked_twenty_times_at_once_works_once(app, sandbox, run_jobs, browser):
    with app.app_context():
        make_user(email="http.twenty@example.com")
        db.session.remove()
    person = browser()
    since = last_mail_id(sandbox)
    person.submit("/password/forgot", {"email": "http.twenty@example.com"})
    link = link_in(the_mail(app, sandbox, run_jobs, "http.twenty@example.com", since), "/password/reset/")
    token = person.token(link)
    cookies = dict(person.http.cookies)

    def click(number):
        password = f"concurrent-password-{number:02d}"
        with httpx.Client(cookies=cookies, timeout=30) as http:
            form = {"password": password, "confirm_password": password, "csrf_token": token}
            return http.post(link, data=form).status_code, password

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(click, range(20)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [303] + [410] * 19, statuses
    [winner] = [password for status, password in answers if status == 303]
    assert browser().sign_in("http.twenty@example.com", winner)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "http.twenty@example.com"))
        resets = db.session.scalars(
            select(AuditEvent.id).where(
                AuditEvent.action == "auth.password_reset", AuditEvent.subject_id == str(user.id)
            )
        ).all()
        db.session.remove()
    assert len(resets) == 1
