"""What a person's browser does, for the Flask test client: read the CSRF token, post forms
(urlencoded or multipart), sign in (with a password, or with Whop through the sandbox's
emulator), fill in the sandbox's hosted checkout page, buy a gig end to end. Also the bodies
tests post: a complete gig editor form and real image bytes."""

import io
import re
from html import unescape
from urllib.parse import urlsplit

from itsdangerous import URLSafeTimedSerializer
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.extensions import db
from app.models import Order, Payment
from tests import loopback
from tests.factories import PASSWORD
from tests.waiting import wait_for_inbound

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def csrf_token(client, path="/"):
    """The CSRF token this client's session holds, signed as its pages carry it (Flask-WTF's
    `generate_csrf`: the session's raw token under WTF_CSRF_SECRET_KEY or SECRET_KEY, salt
    "wtf-csrf-token"). A session holding none yet (a new client; sign-in starts a new session)
    gets one as a browser would: from a page's meta tag when signed in (`path`), else from the
    sign-in form (anonymous pages carry no token)."""
    token = session_csrf_token(client)
    if token:
        return token
    match = CSRF_META.search(client.get(path).get_data(as_text=True))
    if match:
        return match.group(1)
    match = CSRF_INPUT.search(client.get("/signin").get_data(as_text=True))
    assert match, "no csrf token on the page or the sign-in form"
    return match.group(1) or match.group(2)


def session_csrf_token(client):
    """The signed CSRF token for the raw one in this client's session cookie, or None: the same
    token a page rendered for this session carries, without rendering one (a page costs
    tens of milliseconds, and most form posts in the suite need a token)."""
    app = client.application
    field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    with client.session_transaction() as session:
        raw = session.get(field)
    if not raw:
        return None
    secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)


def post_form(client, path, data=None, **kwargs):
    """POST a form the way a browser would: with the CSRF token from the page."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client))
    return client.post(path, data=data, **kwargs)


def post_multipart(client, path, data, files=(), **kwargs):
    """POST the gig editor form as a browser would (multipart, CSRF token, optional `files`:
    (filename, bytes) pairs sent as `images`).

    The body is encoded in memory: the test client's own encoder spools big bodies to a
    temporary file it never closes, which pytest would report as a ResourceWarning.
    """
    fields = MultiDict(data)
    fields.setdefault("csrf_token", csrf_token(client))
    for name, content in files:
        fields.add("images", FileStorage(io.BytesIO(content), filename=name))
    boundary, body = encode_multipart(fields)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}", **kwargs)


def sign_in_as(client, who, password=PASSWORD):
    """Sign `client` in as `who` (a User or an email) through the sign-in form, first signing
    out whoever it is signed in as (the form only redirects a signed-in visitor); returns it."""
    form = client.get("/signin")
    if form.status_code != 200:
        client.post("/signout", data={"csrf_token": csrf_token(client)})
        form = client.get("/signin")
    token = CSRF_INPUT.search(form.get_data(as_text=True))
    response = client.post(
        "/signin",
        data={
            "email": getattr(who, "email", who),
            "password": password,
            "csrf_token": token.group(1) or token.group(2),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return client


def gig_form(category_id, **overrides):
    """A complete, valid editor submission (Basic + one extra, question and FAQ entry);
    an override of None leaves the field out."""
    data = {
        "title": "I will design a minimalist logo for your brand",
        "category_id": str(category_id),
        "description_md": "A **clean, timeless** logo for your business.\n\n- Vector files\n- Colour palette\n"
        "<script>alert(1)</script>",
        "tags": "logo, Branding, minimal",
        "basic-offered": "y",
        "basic-title": "Starter",
        "basic-description": "One logo concept",
        "basic-price": "25.00",
        "basic-delivery_days": "3",
        "basic-revisions": "2",
        "extras-0-title": "Source files",
        "extras-0-price": "10",
        "extras-0-extra_days": "1",
        "extras-0-max_quantity": "1",
        "questions-0-prompt": "What is your brand called?",
        "questions-0-kind": "short_text",
        "questions-0-required": "y",
        "faq-0-question": "Do I own the copyright?",
        "faq-0-answer": "Yes, all rights transfer on completion.",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def image_bytes(fmt="PNG", size=(320, 200), color=(31, 122, 92)):
    """A real image file's bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def pay_hosted_checkout(url, card="4242 4242 4242 4242"):
    """Pay a sandbox-hosted checkout page with a real form POST, as a browser would."""
    page = loopback.get(url)
    assert page.status_code == 200, page.text[:300]
    return loopback.post(
        url + "/pay",
        data={"email": "buyer@example.com", "name": "Bea Buyer", "card_number": card, "exp": "12 / 34", "cvc": "123"},
    )


def buy_order(app, client, run_jobs):
    """Buy the logo gig (`LOGO_GIG`, slug "logo-design") as buyer@example.com, Basic package,
    the whole way: our checkout form, the sandbox's hosted page, Stripe's webhook to the live
    app, the jobs it queues (committed tests with the `sandbox`). Returns the one order's id and
    its payment intent's id."""
    sign_in_as(client, "buyer@example.com")
    response = post_form(client, "/gigs/logo-design/checkout", {"package": "basic"})
    assert response.status_code == 303
    assert pay_hosted_checkout(response.headers["Location"]).status_code == 303
    wait_for_inbound(app, "checkout.session.completed")
    run_jobs()
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        return order.id, db.session.scalars(select(Payment)).one().stripe_payment_intent_id


# -- Continue with Whop, against the sandbox's emulator (the `whop` fixture) ----------------------


def start_whop_sign_in(client, path="/whop/login", method="get"):
    """Press "Continue with Whop" (or another button starting the flow at `path`); returns the
    emulator's authorize URL we redirect to."""
    if method == "post":
        page = client.get("/whop/settings").get_data(as_text=True)
        response = client.post(path, data={"csrf_token": CSRF_META.search(page).group(1)})
    else:
        response = client.get(path)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    return response.headers["Location"]


def authorize_on_whop(url, decision="allow", account=None):
    """Answer the emulator's consent page like a person; returns where it redirects."""
    page = loopback.get(url)
    assert page.status_code == 200, page.text[:300]
    fields = {name: unescape(value) for name, value in HIDDEN_INPUT.findall(page.text)}
    response = loopback.post(url.split("?")[0], data={**fields, "account": account or "", "decision": decision})
    assert response.status_code == 302, response.text[:300]
    return response.headers["location"]


def back_from_whop(client, location):
    """Follow the emulator's redirect to our callback with the test client."""
    parts = urlsplit(location)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in_with_whop(client, whop_user):
    """The whole "Continue with Whop" flow as `whop_user` (from `whop.make_user()`); returns our
    callback's 303."""
    response = back_from_whop(client, authorize_on_whop(start_whop_sign_in(client), account=whop_user["id"]))
    assert response.status_code == 303
    return response


def signed_in(client):
    """True when `client` (a Flask test client, or an httpx client on a live server) is signed
    in; False when it is sent to sign in."""
    response = client.get("/account/security")
    if response.status_code == 200:
        return True
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"].startswith("/signin")
    return False
