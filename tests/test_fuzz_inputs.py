"""The guard "No input crashes": hostile values into every form and JSON endpoint, and into
every page's path and query parameters, as the people who own the objects.

For each POST rule of `app.url_map` there is a recipe below: who posts it (the seller who
owns the object, the buyer, an admin, or nobody for public endpoints), the path to an object
built with the test factories, and a valid body. Hypothesis then breaks a few fields at a
time — NUL bytes, lone surrogates, huge strings, emoji and right-to-left marks, negative,
non-numeric and out-of-range numbers, NaN, wrong JSON types, missing fields — and asserts:

* never a 5xx;
* on a refusal (4xx) no table gained or lost a row (a few refusals are audited on purpose:
  a failed sign-in; those recipes name the table they may write).

A POST rule without a recipe fails `test_every_post_endpoint_has_a_fuzz_recipe`, naming it,
so a new endpoint cannot skip the sweep; a GET rule missing from `PAGES`, or with a path
parameter `PATH_VALUES` does not know, fails the same way. Every recipe must also succeed as
written (`test_every_recipe_is_accepted_as_written`), so the sweep reaches the code that
writes, not only the first validation.

Each example runs inside a SAVEPOINT rolled back afterwards, on a fresh copy of the signed-in
session cookie and a flushed Redis, so examples don't leak into each other. The objects are
built once per module and committed (the module empties the tables when it is done).
Payments go to a sandbox process of this module's own that sends no webhooks, so nothing
arrives from outside while a test holds its transaction.
"""

import io
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from werkzeug.datastructures import FileStorage

from app.clock import now
from app.crypto import decrypt
from app.extensions import db
from app.models import (
    Commission,
    Company,
    CompanyInvitation,
    CompanyMember,
    GigExtra,
    GigImage,
    GigRevision,
    InboundEvent,
    OrderFile,
    Payment,
    Review,
    WhopIdentity,
)
from app.models.api_key import API_SCOPES
from app.models.user_session import UserSession
from app.payments import get_gateway
from app.payments.gateway import StripeGateway
from app.services import api_keys
from app.services.account_lifecycle import LINKS, issue_link
from app.services.affiliates.links import referral_code_for
from app.services.gigs import gig_content
from app.services.licensing import issuing, license_keys, public_api
from app.services.member_areas import add_member_file, add_member_post
from app.services.notifications import notify_user
from app.services.orders import ACTIONS, AUTOMATIC_ACTIONS
from app.services.outbound import endpoints, outbox
from app.services.teams import hash_token, invite_member
from tests.affiliate_flows import affiliate_rows
from tests.database import truncate_all
from tests.factories import (
    LOGO_GIG,
    PASSWORD,
    answers_for,
    make_cast,
    make_gig,
    make_membership,
    make_order,
    make_policy,
    make_product,
    make_user,
)
from tests.factories.apps import install_app, make_app
from tests.forms import csrf_token, image_bytes, post_form
from tests.hostile import changed_tables, table_counts
from tests.legends_game import fuzz_world
from tests.processes import free_port, start_sandbox, stop_process
from tests.test_affiliate_pages import make_program_with_affiliates
from tests.webhook_signing import stripe_event, stripe_signed, whop_signed

POST_EXAMPLES = 16
GET_EXAMPLES = 4

FUZZ = settings(
    max_examples=POST_EXAMPLES,
    deadline=None,  # requests take what they take on a busy CI machine; the examples are bounded
    derandomize=True,  # the same examples on every run: CI is reproducible
    database=None,  # no example database: a failure is reproduced by the same derandomized run
    # The per-test transaction (conftest's autouse _isolate) and the module's objects and
    # clients are set up once per test, not per example; every example restores its own state
    # (SAVEPOINT rolled back, session cookie copied, Redis flushed), so sharing them is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- hostile values ---------------------------------------------------------------------------

NASTY = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "",
    " ",
    "\t\r\n",
    "x" * 20_000,
    "💥" * 2_000,
    "\u202eevil\u202c",
    "\u200b\ufeff",
    "Z̸̢̛͇a̷l̵g̶o̴",
    "العربية",
    "-1",
    "-0",
    "0",
    "-99999999999999999999",
    "99999999999999999999",
    "2147483648",
    "9223372036854775808",
    "1" * 5_000,
    "NaN",
    "nan",
    "-inf",
    "Infinity",
    "1e999",
    "0x1F",
    "1_000",
    "²",
    "١٢",
    "½",
    "1,5",
    " 7 ",
    "1.999",
    "$-5",
    "null",
    "true",
    "[]",
    "{}",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "../../etc/passwd",
    "https://127.0.0.1/x",
    "http://169.254.169.254/",
    "unlimited",
    "single_choice",
    "month",
    "on",
]
text_values = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(NASTY[:8] + ["k", "id"]), children, max_size=3)
    ),
    max_leaves=6,
)
int_path_values = st.sampled_from(["0", "2147483647", "2147483648", "99999999999999999999", "-1", "1e3", "²"])
MISSING = object()
QUERIES = ["", "?next=%00", "?status=%00", "?page=99999999999999999999", "?next=%ED%A0%80", "?back=%FF"]


# -- recipes ----------------------------------------------------------------------------------


@dataclass
class Recipe:
    """How the owner of the object posts this endpoint with valid input."""

    role: str  # anon, owner (of the seller company), buyer, admin, newcomer (no company yet), whop_pending
    path: dict = field(default_factory=dict)  # path parameter -> world attribute or literal
    form: dict = field(default_factory=dict)  # field -> valid value (a list for repeated fields)
    kind: str = "form"  # form, multipart, json, stripe_webhook, whop_webhook
    files: tuple = ()  # multipart file fields, each sent with a small valid file
    path_choices: dict = field(default_factory=dict)  # path parameter -> other valid values
    may_write_on_refusal: tuple = ()  # tables a refusal writes on purpose
    stripe: bool = False  # calls Stripe: fresh sandbox state and a connected account per example
    choose: object = None  # callable(draw, world) -> dict of overrides (role, path, form)


_ORDER_PLANS = {  # action -> (the order it applies to, who may take it)
    "submit_requirements": ("awaiting_order", "buyer"),
    "deliver": ("in_progress_order", "owner"),
    "request_revision": ("delivered_order", "buyer"),
    "accept": ("delivered_order", "buyer"),
    "request_cancel": ("in_progress_order", "buyer"),
    "accept_cancel": ("cancel_order", "buyer"),
    "decline_cancel": ("cancel_order", "buyer"),
    "withdraw_cancel": ("cancel_order", "owner"),
    "cancel": ("in_progress_order", "admin"),
    "open_dispute": ("delivered_order", "buyer"),
    "resolve_refund": ("disputed_order", "admin"),
    "resolve_partial": ("disputed_order", "admin"),
    "resolve_release": ("disputed_order", "admin"),
}


def _order_act(draw, world):
    """An action with the order and person that may take it, or an unknown action."""
    assert set(_ORDER_PLANS) == set(ACTIONS) - set(AUTOMATIC_ACTIONS), "plan every order action"
    action = draw(st.sampled_from(sorted(_ORDER_PLANS) + ["record_refund", "\x00", "x" * 300]), "deliver", "action")
    order, role = _ORDER_PLANS.get(action, ("in_progress_order", "buyer"))
    return {"role": role, "path": {"order_id": order, "action": action}}


def _editor_form(world):
    return {
        "title": "I will design a minimalist logo for your brand",
        "category_id": str(world.category_id),
        "description_md": "A **clean, timeless** logo for your business, with vector files and a palette.",
        "tags": "logo, branding",
        "basic-offered": "y",
        "basic-title": "Starter",
        "basic-description": "One logo concept",
        "basic-price": "25.00",
        "basic-delivery_days": "3",
        "basic-revisions": "2",
        "standard-offered": "y",
        "standard-title": "Pro",
        "standard-description": "Three",
        "standard-price": "60",
        "standard-delivery_days": "5",
        "standard-revisions": "unlimited",
        "extras-0-title": "Source files",
        "extras-0-price": "10",
        "extras-0-extra_days": "1",
        "extras-0-max_quantity": "1",
        "questions-5000000-prompt": "Brand name?",
        "questions-5000000-kind": "single_choice",
        "questions-5000000-choices": "A\nB",
        "questions-5000000-required": "y",
        "faq-0-question": "Copyright?",
        "faq-0-answer": "Yours.",
        "remove_image": "0",
        "then": "save",
        "add": "",
        "remove": "",
    }


APP_FORM = {
    "name": "Stock sync",
    "description": "Keeps stock in sync",
    "base_url": "https://sync.example.com",
    "dashboard_path": "/dashboard",
    "experience_path": "/experience",
    "scopes": ["products:read"],
    "webhook_url": "",
}
LICENSE_JSON = {"key": "license_key", "fingerprint": "machine-1", "name": "Laptop", "nonce": "n-1"}

LEGENDS_CLASS = {"name": "Bard", "description": "Sings.", "xp_multiplier_pct": "150", "commission_bonus_bps": "0"}
LEGENDS_QUEST = {
    "title": "Two friends",
    "period": "weekly",
    "target_kind": "referrals",
    "difficulty": "hard",
    "base_target": "2",
    "reward_xp": "150",
    "bonus_cents": "250",
}
LEGENDS_ACHIEVEMENT = {"name": "Fuzz Badge", "rule": "referrals", "threshold": "3", "reward_xp": "10"}

RECIPES = {
    # accounts
    "auth.sign_in": Recipe(
        "anon",
        form={"email": "buyer@example.com", "password": PASSWORD, "remember": "y"},
        may_write_on_refusal=("audit_events",),
    ),
    "auth.sign_up": Recipe(
        "anon",
        form={"email": "new@example.com", "password": "long-enough-pw", "display_name": "New Person", "intent": "sell"},
    ),
    "auth.sign_out": Recipe("buyer"),
    "account.password": Recipe(
        "buyer",
        form={
            "current_password": PASSWORD,
            "new_password": "a-new-long-password",
            "confirm_password": "a-new-long-password",
        },
    ),
    "account.revoke_session": Recipe("buyer", path={"session_id": "buyer_session"}),
    "account.sign_out_all": Recipe("buyer"),
    "account.update_profile": Recipe("buyer", form={"display_name": "Bea B. Buyer"}),
    "account.change_email": Recipe("buyer", form={"email": "bea.new@example.com", "current_password": PASSWORD}),
    "account.delete": Recipe("newcomer", form={"password": PASSWORD, "confirmation": "DELETE"}),
    "account_links.resend_verification": Recipe("buyer"),
    "account_links.forgot_password": Recipe("anon", form={"email": "buyer@example.com"}),
    "account_links.reset_password": Recipe(
        "anon",
        path={"token": "reset_token"},
        form={"password": "a-new-long-password", "confirm_password": "a-new-long-password"},
    ),
    # buying
    "buy.quote": Recipe(
        "buyer", path={"slug": "gig_slug"}, form={"package": "basic", "quantity": "1", "extra_{extra_id}": "1"}
    ),
    "buy.start": Recipe(
        "buyer",
        path={"slug": "gig_slug"},
        form={"package": "basic", "quantity": "2", "extra_{extra_id}": "1"},
        stripe=True,
    ),
    "buy.start_product": Recipe("buyer", path={"slug": "product_slug"}, form={"plan": "plan"}, stripe=True),
    "buy.review_product": Recipe("buyer", path={"slug": "product_slug"}, form={"rating": "4", "body": "Handy kit"}),
    # orders
    "orders.act": Recipe(
        "buyer",
        kind="multipart",
        files=("files",),
        choose=_order_act,
        form={
            "note": "Here you go",
            "amount": "10.00",
            "notes": "Green please",
            "{answer_1}": "Acme",
            "{answer_2}": "Modern",
            "{answer_3}": "Nothing",
        },
    ),
    "orders.post_message": Recipe("buyer", path={"order_id": "in_progress_order"}, form={"body": "Hello there"}),
    "orders.review": Recipe("buyer", path={"order_id": "completed_order"}, form={"rating": "5", "body": "Great"}),
    "orders.reply": Recipe("owner", path={"order_id": "reviewed_order"}, form={"reply": "Thank you!"}),
    "notifications.read": Recipe("buyer", path={"notification_id": "notification"}, form={"next": "/account"}),
    "notifications.read_all": Recipe("buyer"),
    # selling: gigs
    "sell.become": Recipe("newcomer", form={"title": "New Studio", "country": "GB"}, stripe=True),
    "sell.onboarding_start": Recipe("owner", stripe=True),
    "sell.gigs.create": Recipe(
        "owner", kind="multipart", files=("images",), choose=lambda draw, w: {"form": _editor_form(w)}
    ),
    "sell.gigs.update": Recipe(
        "owner",
        kind="multipart",
        files=("images",),
        path={"gig_id": "draft_gig"},
        # A live gig's editor makes a pending revision instead of changing the gig.
        choose=lambda draw, w: {
            "path": {"gig_id": draw(st.sampled_from(["draft_gig", "published_gig"]), "draft_gig", "gig")},
            "form": {**_editor_form(w), "remove_image": str(w.image), "then": "submit"},
        },
    ),
    "sell.gigs.delete": Recipe("owner", path={"gig_id": "draft_gig"}),
    "sell.gigs.delete_image": Recipe("owner", path={"gig_id": "draft_gig", "image_id": "image"}),
    "sell.gigs.submit": Recipe("owner", path={"gig_id": "draft_gig"}, form={"back": "edit"}),
    "sell.gigs.pause": Recipe("owner", path={"gig_id": "published_gig"}, form={"back": "edit"}),
    "sell.gigs.resume": Recipe("owner", path={"gig_id": "paused_gig"}, form={"back": "edit"}),
    "review.approve": Recipe("admin", path={"gig_id": "review_gig"}),
    "review.reject": Recipe("admin", path={"gig_id": "review_gig"}, form={"reason": "Show your own work."}),
    "sell.gigs.withdraw_revision": Recipe("owner", path={"gig_id": "published_gig", "revision_id": "revision"}),
    "review.approve_revision": Recipe("admin", path={"revision_id": "revision"}),
    "review.reject_revision": Recipe("admin", path={"revision_id": "revision"}, form={"reason": "Keep the old price."}),
    # selling: products, member areas, licenses, money, webhooks, Whop
    "sell.products.create": Recipe(
        "owner",
        form={
            "title": "Icon pack",
            "description": "200 icons",
            "price": "29.00",
            "billing": "month",
            "trial_days": "7",
            "active": "on",
        },
    ),
    "sell.products.update": Recipe(
        "owner",
        path={"product_id": "product"},
        form={
            "title": "Icon pack 2",
            "description": "300 icons",
            "price": "39",
            "billing": "one_time",
            "trial_days": "0",
            "active": "on",
        },
    ),
    "sell.member_content.add_post": Recipe(
        "owner",
        path={"product_id": "product"},
        form={"title": "Lesson 1", "body": "Read *this*.", "min_tier_rank": "2"},
    ),
    "sell.products.add_plan": Recipe(
        "owner",
        path={"product_id": "product"},
        form={"name": "Pro", "billing": "year", "price": "190.00", "trial_days": "7", "tier_rank": "2"},
    ),
    "sell.products.update_plan": Recipe(
        "owner",
        path={"product_id": "product", "plan_id": "plan"},
        form={"name": "Monthly", "billing": "month", "price": "19.00", "trial_days": "0", "tier_rank": ""},
    ),
    "sell.products.plan_status": Recipe(
        "owner", path={"product_id": "product", "plan_id": "plan"}, form={"enabled": "off"}
    ),
    "sell.member_content.remove_post": Recipe("owner", path={"product_id": "product", "post_id": "member_post"}),
    "sell.member_content.add_file": Recipe("owner", kind="multipart", files=("file",), path={"product_id": "product"}),
    "sell.member_content.remove_file": Recipe("owner", path={"product_id": "product", "file_id": "member_file"}),
    "sell.licenses.act": Recipe(
        "owner",
        path={"license_id": "license", "action": "suspend"},
        path_choices={"action": ["reinstate", "revoke", "reset"]},
        form={"confirm": "revoke"},
    ),
    "sell.licenses.extend": Recipe("owner", path={"license_id": "license"}, form={"days": "30"}),
    "sell.licenses.policy": Recipe(
        "owner",
        path={"product_id": "product"},
        form={
            "enabled": "on",
            "max_activations": "3",
            "duration_days": "365",
            "key_prefix": "TP",
            "key_format": "compact",
        },
    ),
    "account.deactivate_machine": Recipe("buyer", path={"activation_id": "activation"}),
    "account.manage_membership": Recipe("buyer", path={"membership_id": "membership"}),
    "sell.payouts.withdraw": Recipe("owner", form={"amount": "150.00"}),
    "sell.developer_apps.create": Recipe("owner", form=APP_FORM),
    "sell.developer_apps.update": Recipe("owner", path={"public_id": "app_id"}, form=APP_FORM),
    "sell.developer_apps.publish": Recipe("owner", path={"public_id": "app_id"}),
    "sell.developer_apps.unpublish": Recipe("owner", path={"public_id": "app_id"}),
    "sell.developer_apps.rotate": Recipe("owner", path={"public_id": "app_id"}, form={"confirm": "rotate"}),
    "apps.install": Recipe("owner", path={"public_id": "fresh_app_id"}, form={"confirm": "install"}),
    "apps.uninstall": Recipe("owner", path={"public_id": "app_id"}, form={"confirm": "uninstall"}),
    "apps.installation_key": Recipe(
        "anon", kind="json", form={"company_id": "company_id", "app_id": "app_id", "app_secret": "app_secret"}
    ),
    "sell.webhooks.create": Recipe(
        "owner",
        form={
            "url": "https://127.0.0.1/hooks",
            "description": "Prod",
            "event_types": ["order.created", "order.completed"],
            "enabled": "on",
        },
    ),
    "sell.webhooks.update": Recipe(
        "owner",
        path={"endpoint_id": "endpoint"},
        form={"url": "https://127.0.0.1/v2", "description": "v2", "event_types": ["order.created"], "enabled": "on"},
    ),
    "sell.webhooks.delete": Recipe("owner", path={"endpoint_id": "endpoint"}, form={"confirm": "delete"}),
    "sell.webhooks.rotate": Recipe("owner", path={"endpoint_id": "endpoint"}, form={"confirm": "rotate"}),
    "sell.webhooks.send_test": Recipe("owner", path={"endpoint_id": "endpoint"}),
    "sell.webhooks.recover": Recipe("owner", path={"endpoint_id": "endpoint"}, form={"since": "2026-01-01T09:00"}),
    "sell.webhooks.resend": Recipe("owner", path={"endpoint_id": "endpoint", "message_id": "message"}),
    "sell.whop.link_company": Recipe("owner", form={"whop_company_id": "biz_fuzz123"}),
    "sell.whop.link_product": Recipe(
        "owner",
        path={"product_id": "product"},
        form={"whop_experience_id": "exp_fuzz123", "whop_product_id": "prod_fuzz123"},
    ),
    "whop.link": Recipe("buyer"),
    "whop.sync": Recipe("buyer"),
    "whop.unlink": Recipe("buyer"),
    "whop.confirm_link": Recipe("whop_pending", form={"password": PASSWORD}, may_write_on_refusal=("audit_events",)),
    "whop.cancel_link": Recipe("whop_pending"),
    # teams and company settings (team.* refusals of another company's ids are audited)
    "sell.switch": Recipe("owner", form={"company_id": "company_id"}),
    "sell.team.invite": Recipe("owner", form={"email": "invitee@example.com", "role": "admin"}),
    "sell.team.revoke": Recipe("owner", path={"invitation_id": "invitation"}, may_write_on_refusal=("audit_events",)),
    "sell.team.update_role": Recipe(
        "owner", path={"member_id": "team_member"}, form={"role": "admin"}, may_write_on_refusal=("audit_events",)
    ),
    "sell.team.remove": Recipe("owner", path={"member_id": "team_member"}, may_write_on_refusal=("audit_events",)),
    "sell.team.transfer": Recipe("owner", form={"member_id": "team_member"}, may_write_on_refusal=("audit_events",)),
    "sell.team.join": Recipe("newcomer", path={"token": "invitation_token"}, may_write_on_refusal=("audit_events",)),
    "sell.settings.edit": Recipe(
        "owner",
        form={
            "title": "Pixel Studio",
            "logo_url": "https://cdn.example.com/logo.png",
            "website": "https://pixel.example.com",
            "description": "Logos since 2010.",
            "payout_minimum": "50.00",
            "payout_schedule": "weekly",
        },
    ),
    "sell.affiliates.edit": Recipe(
        "owner",
        choose=lambda draw, w: {
            "form": {
                "enabled": "on",
                "commission_kind": "percent",
                "commission_percent": "12.5",
                "commission_amount": "5.00",
                "attribution_days": "30",
                "recurring_rule": "first_n",
                "recurring_n": "3",
                "scope": "selected",
                "listings": [f"gig:{w.published_gig}", f"product:{w.product}"],
                "terms": "No paid search.",
            }
        },
    ),
    "sell.affiliates.ban": Recipe(
        "owner", path={"user_id": "affiliate"}, form={"confirm": "ban", "reason": "Coupon spam"}
    ),
    "sell.affiliates.unban": Recipe("owner", path={"user_id": "banned_affiliate"}),
    # Legends: the buyer leads a guild at the top level, the admin plays alone, the owner has not joined
    "legends.join": Recipe("owner", path={"slug": "company_slug"}, form={"class_id": "legends_class"}),
    "legends.change_class": Recipe("buyer", path={"slug": "company_slug"}, form={"class_id": "legends_class"}),
    "legends.prestige": Recipe("buyer", path={"slug": "company_slug"}),
    "legends.claim": Recipe("buyer", path={"slug": "company_slug", "quest_id": "legends_quest"}),
    "legends.create_guild": Recipe("admin", path={"slug": "company_slug"}, form={"name": "Fuzz Club", "open": "1"}),
    "legends.join_guild": Recipe("admin", path={"slug": "company_slug", "guild_id": "legends_guild"}),
    "legends.leave_guild": Recipe("buyer", path={"slug": "company_slug"}),
    "legends.invite": Recipe(
        "buyer", path={"slug": "company_slug", "guild_id": "legends_guild"}, form={"member_id": "legends_loner"}
    ),
    "legends.promote": Recipe(
        "buyer", path={"slug": "company_slug", "guild_id": "legends_guild"}, form={"member_id": "legends_mate"}
    ),
    "sell.legends.open_game": Recipe("owner"),
    "sell.legends.settings": Recipe(
        "owner", form={"name": "Fuzz Legends", "terms": "", "class_change_days": "30", "guild_member_cap": "20"}
    ),
    "sell.legends.create_class": Recipe("owner", form=LEGENDS_CLASS),
    "sell.legends.update_class": Recipe("owner", path={"row_id": "legends_class"}, form=LEGENDS_CLASS),
    "sell.legends.create_quest": Recipe("owner", form=LEGENDS_QUEST),
    "sell.legends.update_quest": Recipe("owner", path={"row_id": "legends_template"}, form=LEGENDS_QUEST),
    "sell.legends.create_achievement": Recipe("owner", form=LEGENDS_ACHIEVEMENT),
    "sell.legends.update_achievement": Recipe(
        "owner", path={"row_id": "legends_achievement"}, form=LEGENDS_ACHIEVEMENT
    ),
    # admin
    "admin.reprocess_event": Recipe("admin", path={"event_id": "inbound_event"}),
    "admin.set_fee": Recipe("admin", path={"company_id": "company_id"}, form={"fee_bps": "250"}),
    "admin.suspend": Recipe("admin", path={"company_id": "company_id"}, form={"reason": "Unpaid chargebacks"}),
    "admin.reinstate": Recipe("admin", path={"company_id": "suspended_company"}),
    # public JSON APIs
    "license_api.validate": Recipe("anon", kind="json", form={**LICENSE_JSON, "product_id": "product"}),
    "license_api.activate": Recipe("anon", kind="json", form=LICENSE_JSON),
    "license_api.deactivate": Recipe("anon", kind="json", form=LICENSE_JSON),
    "license_api.checkout": Recipe("anon", kind="json", form={**LICENSE_JSON, "ttl": 86400}),
    "license_api.whop_validate_license": Recipe(
        "anon", kind="json", path={"key": "license_key"}, form={"metadata": {"hardware_id": "machine-1"}}
    ),
    # the public REST API, with the company's API key
    "api_v1.create_license": Recipe("anon", kind="api", form={"product": "product", "max_activations": 2}),
    "api_v1.suspend_license": Recipe("anon", kind="api", path={"license_id": "license"}),
    "api_v1.reset_license": Recipe("anon", kind="api", path={"license_id": "license"}),
    "api_v1.create_webhook_endpoint": Recipe(
        "anon", kind="api", form={"url": "http://127.0.0.1:9/api-hook", "event_types": ["order.created"]}
    ),
    "sell.developers.create": Recipe(
        "owner", form={"name": "CI", "scopes": ["products:read", "orders:read"], "mode": "live", "expires_days": "30"}
    ),
    "sell.developers.revoke": Recipe("owner", path={"key_id": "api_key"}, form={"confirm": "revoke"}),
    "sell.developers.roll": Recipe(
        "owner", path={"key_id": "api_key"}, form={"confirm": "roll", "overlap_hours": "24"}
    ),
    # inbound webhooks, signed as the provider would sign them
    "webhooks.stripe_event": Recipe(
        "anon", kind="stripe_webhook", form={"type": "checkout.session.completed", "object": {"id": "cs_fuzz"}}
    ),
    "webhooks.whop_event": Recipe(
        "anon", kind="whop_webhook", form={"type": "membership.activated", "data": {"id": "mem_fuzz"}}
    ),
}

# Path parameters of pages (GET), by name: the world attribute that holds a valid value.
PATH_VALUES = {
    "order_id": "in_progress_order",
    "gig_id": "draft_gig",
    "image_id": "image",
    "product_id": "product",
    "plan_id": "plan",
    "license_id": "license",
    "membership_id": "membership",
    "payment_id": "payment",
    "customer_id": "customer",
    "key_id": "api_key",
    "endpoint_id": "endpoint",
    "webhook_endpoint_id": "endpoint",
    "referral_id": "api_referral",
    "commission_id": "api_commission",
    "legends_member_id": "legends_mate",
    "message_id": "message",
    "checkout_id": "checkout",
    "slug": "gig_slug",
    "kind": "questions",
    "tier": "premium",
    "key": "image_key",
    "experience_id": "exp_fuzz123",
    "whop_company_id": "biz_fuzz123",
    "token": "verify_token",
    "company_id": "company_id",
    "user_id": "affiliate",
    "public_id": "app_id",
    "code": "referral_code",
    "shop": "company_slug",
}
GET_PATH_OVERRIDES = {
    "sell.team.join": {"token": "invitation_token"},
    "account_links.reset_password": {"token": "reset_token"},
    "account_links.confirm_email_change": {"token": "change_token"},
    "orders.download": {"file_id": "order_file"},
    "member_areas.file": {"file_id": "member_file"},
    "experiences.experience_file": {"file_id": "member_file"},
    "browse.category": {"slug": "category_slug"},
    "buy.product": {"slug": "product_slug"},
    "browse.shop": {"slug": "company_slug"},
    "buy.checkout": {"slug": "gig_slug"},
    "legends_live.live_link": {"slug": "company_slug"},
    **{f"legends.{view}": {"slug": "company_slug"} for view in ("index", "board", "me", "feed")},
    "sell.legends.export": {"kind": "legends_export"},
}
QUERY_NAMES = (
    "q",
    "category",
    "min_price",
    "max_price",
    "delivery",
    "rating",
    "sort",
    "page",
    "status",
    "product",
    "event_type",
    "period",
    "next",
    "intent",
    "session_id",
    "offered",
    "package",
    "quantity",
    "since",
    "until",
    "actor",
    "action",
    "company",
    "after",
    "scope",
    "format",
)
# static: files from disk, no parameters we read. ops.readyz: takes no input and answers 503
# by design while no worker or scheduler runs (here, none does); tests/test_ops_health.py.
# experiences.legends_join / legends_claim: need a Whop user token and the frame's signed form
# token; their hostile input (forged, foreign, NUL tokens; bad classes) is in
# tests/test_legends_experience.py.
# apps.proxy: forwards to an outside app and answers 502 by design when the app cannot be
# reached (the world's apps are served nowhere); its refusals (forged grant, method, size,
# unsafe address, uninstalled) are in tests/test_apps_e2e.py against the real example app.
NOT_FUZZED = {"static", "ops.readyz", "experiences.legends_join", "experiences.legends_claim", "apps.proxy"}
PAGES = sorted(
    [
        "main.index",
        "ops.healthz",
        "ops.metrics_text",
        "account.home",
        "account.security",
        "account.settings",
        "account.licenses",
        "account_links.verify_email",
        "account_links.confirm_email_change",
        "account_links.forgot_password",
        "account_links.reset_password",
        "member_areas.home",
        "member_areas.file",
        "admin.events",
        "review.queue",
        "admin.money",
        "admin.operations",
        "admin.companies",
        "admin.company",
        "admin.audit",
        "sell.team.index",
        "sell.team.join",
        "sell.settings.edit",
        "license_api.public_key",
        "browse.category",
        "buy.resume",
        "buy.success",
        "experiences.dashboard",
        "docs.licensing",
        "docs.webhooks",
        "experiences.experience",
        "experiences.experience_file",
        "browse.index",
        "browse.detail",
        "buy.checkout",
        "buy.cancelled",
        "notifications.index",
        "notifications.bell",
        "orders.workspace",
        "orders.download",
        "orders.messages",
        "orders.disputed",
        "buy.product",
        "account.library",
        "browse.shop",
        "referrals.link",
        "referrals.shop_link",
        "site.terms",
        "site.privacy",
        "site.help",
        "site.contact",
        "sell.home",
        "sell.become",
        "sell.gigs.index",
        "sell.gigs.update",
        "sell.gigs.create",
        "sell.gigs.package",
        "sell.gigs.removed_row",
        "sell.gigs.row",
        "sell.images.show",
        "sell.licenses.index",
        "sell.licenses.detail",
        "sell.licenses.confirm_revoke",
        "sell.licenses.policy",
        "sell.onboarding_refresh",
        "sell.onboarding_return",
        "sell.orders.index",
        "sell.payouts.index",
        "sell.products.index",
        "sell.member_content.index",
        "sell.products.update",
        "sell.products.update_plan",
        "sell.products.create",
        "sell.webhooks.index",
        "sell.webhooks.detail",
        "sell.webhooks.edit",
        "sell.webhooks.message",
        "sell.webhooks.secret",
        "sell.webhooks.confirm_delete",
        "sell.webhooks.confirm_rotate",
        "sell.webhooks.new",
        "sell.whop.index",
        "sell.affiliates.edit",
        "sell.affiliates.ban",
        "affiliate.dashboard",
        "affiliate.export",
        "sell.developers.index",
        "sell.developers.confirm_revoke",
        "sell.developers.confirm_roll",
        "api_docs.index",
        "api_v1.openapi_json",
        *(
            f"api_v1.{view}"
            for resource in ("product", "plan", "membership", "payment", "order", "customer", "license")
            for view in (f"list_{resource}s", f"get_{resource}")
        ),
        "api_v1.list_webhook_endpoints",
        "api_v1.get_webhook_endpoint",
        "api_v1.check_membership",
        *(
            f"api_v1.{view}"
            for resource in ("referral", "commission", "legends_member")
            for view in (f"list_{resource}s", f"get_{resource}")
        ),
        "api_v1.legends_leaderboard",
        "sell.developer_apps.index",
        "sell.developer_apps.new",
        "sell.developer_apps.edit",
        "sell.developer_apps.secret",
        "sell.developer_apps.rotate",
        "apps.directory",
        "apps.confirm_install",
        "apps.confirm_uninstall",
        "apps.dashboard",
        "apps.experience",
        "apps.jwks",
        "auth.sign_in",
        "auth.sign_up",
        "whop.callback",
        "whop.confirm_link",
        "whop.login",
        "whop.settings",
        "legends_live.live_link",
        "legends.index",
        "legends.board",
        "legends.me",
        "legends.feed",
        "sell.legends.index",
        "sell.legends.export",
        "experiences.legends",
        "experiences.legends_feed",
    ]
)
STRIPE_PAGES = {"sell.onboarding_refresh", "sell.onboarding_return"}


def role_for_page(rule):
    if rule.rule.startswith(("/admin", "/orders/disputed")):
        return "admin"
    if rule.rule.startswith("/sell"):
        return "owner"
    return "buyer"


# -- the world: objects, signed-in sessions, a quiet sandbox -----------------------------------


@pytest.fixture(scope="module")
def quiet_sandbox(app, tmp_path_factory):
    """A sandbox process of our own that records Stripe calls and delivers no webhooks."""
    port = free_port()
    process = start_sandbox(
        app,
        port,
        tmp_path_factory.mktemp("fuzz-sandbox") / "sandbox.db",
        app.config["APP_BASE_URL"],
        deliver_webhooks=False,
    )
    try:
        # One client for the module: each new one loads the CA store.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield http
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def world(app, quiet_sandbox, tmp_path_factory):
    """Every object a recipe needs, committed once; signed-in session cookies per role."""
    saved = {name: app.config[name] for name in ("UPLOAD_DIR", "WEBHOOKS_ALLOW_PRIVATE_NETWORKS")}
    saved_gateway = app.extensions.get("stripe_gateway")
    app.config["UPLOAD_DIR"] = str(tmp_path_factory.mktemp("fuzz-uploads"))
    app.config["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"] = True
    app.extensions["stripe_gateway"] = StripeGateway(
        app.config["STRIPE_SECRET_KEY"], str(quiet_sandbox.base_url), app.config["STRIPE_WEBHOOK_SECRET"]
    )
    try:
        with app.app_context():
            world, people = _build_world(app)
            db.session.remove()
        world.sandbox = quiet_sandbox
        # Outside any app context: each request gets its own (and its own `g`, where
        # Flask-Login keeps the signed-in user).
        world.sessions = _sign_in_everyone(app, people)
        with app.app_context():
            world.buyer_session = db.session.scalar(
                select(UserSession.id).where(UserSession.user_id == people["buyer"][1])
            )
            db.session.remove()
        yield world
    finally:
        truncate_all(app)
        app.config.update(saved)
        if saved_gateway is None:
            app.extensions.pop("stripe_gateway", None)
        else:
            app.extensions["stripe_gateway"] = saved_gateway


def _build_world(app):
    cast = make_cast()
    company, gig = cast.company, cast.gig
    newcomer = cast.other_buyer
    gig.extras.append(
        GigExtra(company_id=company.id, title="Source files", price_cents=1500, position=0, max_quantity=3)
    )
    gig.packages[0].delivery_days = 3
    draft = make_gig(company, slug="draft-logo", status="draft", **LOGO_GIG)
    draft.images.append(
        GigImage(
            company_id=company.id,
            storage_key="gigs/fuzz/cover.png",
            content_type="image/png",
            width=10,
            height=10,
            size_bytes=10,
            position=0,
        )
    )
    review = make_gig(company, slug="review-logo", status="draft", **LOGO_GIG)
    paused = make_gig(company, slug="paused-logo", status="draft", **LOGO_GIG)
    db.session.flush()
    review.status, paused.status = "review", "paused"
    revision = GigRevision(
        company_id=company.id,
        gig_id=gig.id,
        content={**gig_content(gig), "title": "I will design a bolder logo for you"},
        submitted_at=now(),
    )
    db.session.add(revision)

    orders = {
        status: make_order(cast, status=status)
        for status in ("awaiting_requirements", "in_progress", "delivered", "completed", "disputed")
    }
    cancel = make_order(cast, status="cancel_requested", requested_by="seller")
    reviewed = make_order(cast, status="completed")
    db.session.add(
        Review(
            company_id=company.id,
            order_id=reviewed.id,
            gig_id=gig.id,
            buyer_id=cast.buyer.id,
            rating=4,
            body="Nice work",
        )
    )
    order_file = OrderFile(
        company_id=company.id,
        order_id=orders["in_progress"].id,
        purpose="requirements",
        filename="brief.pdf",
        storage_key="orders/fuzz/brief.pdf",
        size_bytes=5,
        uploaded_by_user_id=cast.buyer.id,
    )
    db.session.add(order_file)

    product = make_product(company, slug="fuzz-kit", billing="month", price_cents=1900)
    make_policy(product, max_activations=3, duration_days=365)
    membership = make_membership(product, cast.buyer)
    db.session.add(  # the buyer paid for it, so they may review it
        Payment(
            company_id=company.id,
            kind="subscription",
            buyer_id=cast.buyer.id,
            membership_id=membership.id,
            amount_cents=1900,
            fee_cents=190,
            currency="usd",
        )
    )
    api_key, api_plaintext = api_keys.create_key(company, name="Fuzz", scopes=API_SCOPES)
    license = issuing.issue_license_for_membership(membership)
    key = license_keys.license_key(license)
    _, activation, _ = public_api.activate_license(key, "machine-1", "Laptop")
    post = add_member_post(product, cast.owner, {"title": "Welcome", "body": "Hello members"})
    member_file = add_member_file(product, cast.owner, FileStorage(io.BytesIO(b"%PDF-1.4"), filename="guide.pdf"))

    app.config["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"] = True
    endpoint = endpoints.create_endpoint(company, "https://127.0.0.1/hooks", "Main", ["order.created"])
    message = outbox.send_test_event(endpoint)
    notification = notify_user(cast.buyer, "order.message", "Hello", link="/account")
    db.session.add(WhopIdentity(user_id=cast.buyer.id, whop_user_id="user_fuzz", username="bea", created_via="oauth"))
    db.session.add(
        InboundEvent(
            provider="stripe",
            event_id="evt_fuzz",
            type="account.updated",
            payload={"id": "evt_fuzz", "type": "account.updated", "data": {"object": {}}},
            status="failed",
            attempts=1,
        )
    )
    resetter = make_user(email="resetter@example.com")
    reset_token = issue_link(resetter, "reset_password", resetter.email, LINKS["reset_password"][0])
    verify_token = issue_link(cast.buyer, "verify_email", cast.buyer.email, LINKS["reset_password"][0])
    change_token = issue_link(cast.buyer, "change_email", "bea.changed@example.com", LINKS["reset_password"][0])
    referral_code = referral_code_for(cast.buyer).code
    db.session.commit()
    inbound_id = db.session.scalar(select(InboundEvent.id).where(InboundEvent.event_id == "evt_fuzz"))
    link = lambda token: f"http://x/{token}"  # noqa: E731
    invitation_token = invite_member(company, cast.owner, newcomer.email, "member", link)
    other_token = invite_member(company, cast.owner, "maybe@example.com", "admin", link)
    invitation = db.session.scalar(
        select(CompanyInvitation).where(CompanyInvitation.token_hash == hash_token(other_token))
    )
    team_member = db.session.scalar(
        select(CompanyMember.id).where(CompanyMember.company_id == company.id, CompanyMember.user_id == cast.member.id)
    )
    suspended = cast.other_seller.seller_company
    suspended.status, suspended.suspended_reason = "suspended", "Fuzzing"
    affiliate, banned_affiliate = make_program_with_affiliates(cast)
    db.session.commit()
    legends = fuzz_world(company, cast.buyer, newcomer, cast.admin)
    subscription_payment = db.session.scalar(select(Payment).where(Payment.membership_id == membership.id))
    affiliate_rows(company, reviewed, subscription_payment, code="fuzzapi01")  # for the API's lists
    api_commission = db.session.scalar(select(Commission).where(Commission.payment_id == subscription_payment.id))

    # An app of the company, installed by it (its experience shows next to the product), and
    # a second one not installed yet.
    fuzz_app = make_app(company, "Fuzz app")
    install_app(fuzz_app, company)
    fresh_app = make_app(company, "Fresh app")

    questions = gig.questions
    world = SimpleNamespace(
        app_id=fuzz_app.public_id,
        app_secret=decrypt(fuzz_app.webhook_secret_encrypted),
        fresh_app_id=fresh_app.public_id,
        company_id=company.id,
        category_id=gig.category_id,
        category_slug=gig.category.slug,
        gig_slug=gig.slug,
        extra_id=gig.extras[0].id,
        product_slug=product.slug,
        company_slug=company.slug,
        referral_code=referral_code,
        answer_1=f"q_{questions[0].id}",
        answer_2=f"q_{questions[1].id}",
        answer_3=f"q_{questions[2].id}",
        draft_gig=draft.id,
        image=draft.images[0].id,
        image_key=draft.images[0].storage_key,
        review_gig=review.id,
        paused_gig=paused.id,
        published_gig=gig.id,
        revision=revision.id,
        awaiting_order=orders["awaiting_requirements"].id,
        in_progress_order=orders["in_progress"].id,
        delivered_order=orders["delivered"].id,
        completed_order=orders["completed"].id,
        disputed_order=orders["disputed"].id,
        cancel_order=cancel.id,
        reviewed_order=reviewed.id,
        order_file=order_file.id,
        product=product.id,
        plan=product.plans[0].id,
        license=license.id,
        membership=membership.id,
        payment=subscription_payment.id,
        api_referral=api_commission.referral_id,
        api_commission=api_commission.id,
        customer=cast.buyer.id,
        api_key=api_key.id,
        api_plaintext=api_plaintext,
        license_key=key,
        activation=activation.id,
        member_post=post.id,
        member_file=member_file.id,
        endpoint=endpoint.id,
        message=message.id,
        notification=notification.id,
        inbound_event=inbound_id,
        invitation_token=invitation_token,
        invitation=invitation.id,
        team_member=team_member,
        suspended_company=suspended.id,
        checkout=None,
        questions="questions",
        premium="premium",
        exp_fuzz123="exp_fuzz123",
        biz_fuzz123="biz_fuzz123",
        valid_answers=answers_for(gig),
        reset_token=reset_token,
        verify_token=verify_token,
        change_token=change_token,
        affiliate=affiliate.id,
        banned_affiliate=banned_affiliate.id,
        **legends,
    )
    world.checkout = orders["in_progress"].checkout_id
    people = {
        role: (user.email, user.id)
        for role, user in (("owner", cast.owner), ("buyer", cast.buyer), ("admin", cast.admin), ("newcomer", newcomer))
    }
    return world, people


def _sign_in_everyone(app, people):
    """{role: (session cookie, CSRF token)} for each signed-in role, an anonymous visitor, and
    a newcomer half-way through linking Whop to their account (asked for their password)."""
    sessions = {}
    for role, (email, _) in people.items():
        client = app.test_client()
        assert post_form(client, "/signin", {"email": email, "password": PASSWORD}).status_code == 303
        token = csrf_token(client)
        sessions[role] = (client.get_cookie("session").value, token)
    for role in ("anon", "whop_pending"):
        client = app.test_client()
        token = csrf_token(client)
        if role == "whop_pending":
            email, user_id = people["newcomer"]
            with client.session_transaction() as session:
                session["whop_pending_link"] = {
                    "user_id": user_id,
                    "whop_user_id": "user_pending",
                    "username": "pending",
                    "email": email,
                    "refresh_token_encrypted": None,
                    "expires_at": time.time() + 10**6,
                }
        sessions[role] = (client.get_cookie("session").value, token)
    return sessions


# -- one example --------------------------------------------------------------------------------


def client_for(app, world, role):
    """A fresh client carrying a copy of `role`'s session cookie, and its CSRF token."""
    cookie, token = world.sessions[role]
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client, token


def resolve(world, value):
    """A world attribute's value for a name ("draft_gig"), else the literal itself."""
    return getattr(world, value) if isinstance(value, str) and hasattr(world, value) else value


def fill_names(world, form):
    """Field names with {placeholders} ("extra_{extra_id}") filled from the world."""
    return {name.format(**vars(world)) if "{" in name else name: value for name, value in form.items()}


def is_int(rule, name):
    return f"<int:{name}>" in rule.rule


def build_path(rule, values):
    def replace(match):
        value = str(values[match.group(2)])
        return quote(value.encode("utf-8", "surrogatepass"), safe="")

    return re.sub(r"<([^<>]*:)?(\w+)>", replace, rule.rule)


def encode_form(fields):
    pairs = [(name, item) for name, value in fields.items() for item in (value if isinstance(value, list) else [value])]
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass")


def encode_multipart(fields, files):
    """multipart/form-data as a browser sends it, passing lone surrogates through as bytes."""
    boundary = "fuzzboundary7MA4YWxkTrZu0gW"
    chunks = []

    def part(name, payload, filename=None):
        disposition = f'form-data; name="{name.replace(chr(34), "%22")}"'
        if filename is not None:
            disposition += f'; filename="{filename.replace(chr(34), "%22")}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if filename is not None:
            head += "Content-Type: application/octet-stream\r\n"
        chunks.append((head + "\r\n").encode("utf-8", "surrogatepass") + payload + b"\r\n")

    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            part(name, str(item).encode("utf-8", "surrogatepass"))
    for name, (filename, content) in files.items():
        part(name, content, filename)
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def draw_changes(draw, names, values):
    """Break up to three of `names` (hostile value, or left out), sometimes add a stray field."""
    changes = {}
    broken = draw(st.lists(st.sampled_from(sorted(names)), max_size=3, unique=True), [], "broken") if names else []
    for name in broken:
        changes[name] = draw(st.one_of(values, st.just(MISSING)), None, name)
    if draw(st.booleans(), False, "stray field"):
        stray = draw(st.sampled_from(["x", "\x00", "a" * 200, "\ud800", "id", "csrf_token"]), None, "stray")
        changes[stray] = draw(values, None, "stray value")
    return changes


def apply_changes(form, changes):
    merged = {**form, **changes}
    return {name: value for name, value in merged.items() if value is not MISSING}


class Drawer:
    """Hypothesis draws when given `data`; else every draw answers its valid default (or the
    value `forced` for its label): the recipe exactly as written."""

    def __init__(self, data=None, forced=None):
        self.data, self.forced = data, forced or {}

    def __call__(self, strategy, default, label):
        if label in self.forced:
            return self.forced[label]
        return default if self.data is None else self.data.draw(strategy, label=label)

    def note(self, text):
        """Shown with a failing example (Hypothesis keeps notes only inside a test it runs)."""
        if self.data is not None:
            note(text)


UPLOADS = [
    ("cover.png", image_bytes()),
    ("notes.pdf", b"%PDF-1.4 fuzz"),
    ("", b""),
    ("a\x00b.png", image_bytes()),
    ("\u202egnp.exe", b"MZ"),
    ("x" * 300 + ".pdf", b"%PDF"),
]


def run_request(app, world, recipe, rule, draw):
    """Send one request for `rule` per its recipe, with the fields `draw` breaks."""
    plan = {"role": recipe.role, "path": dict(recipe.path), "form": dict(recipe.form)}
    if recipe.choose is not None:
        plan.update(recipe.choose(draw, world))
    path = {name: resolve(world, value) for name, value in plan["path"].items()}
    for name, choices in recipe.path_choices.items():
        path[name] = draw(st.sampled_from([path[name], *choices]), path[name], name)
    for name in rule.arguments:
        if draw(st.integers(0, 4), 1, f"break {name}") == 0:
            path[name] = draw(int_path_values if is_int(rule, name) else text_values, None, f"path {name}")
    url = build_path(rule, path)

    if recipe.stripe:
        _fresh_stripe(app, world)
    client, token = client_for(app, world, plan["role"])
    form = {name: resolve(world, value) for name, value in fill_names(world, plan["form"]).items()}
    if recipe.kind in ("json", "api", "stripe_webhook", "whop_webhook"):
        body = apply_changes(form, draw_changes(draw, set(form), json_values))
        return _send_json(client, url, recipe.kind, body, app, draw, world)
    fields = apply_changes({"csrf_token": token, **form}, draw_changes(draw, set(form) | {"csrf_token"}, text_values))
    if recipe.kind == "multipart":
        files = {
            name: draw(st.sampled_from(UPLOADS), UPLOADS[0] if name == "images" else UPLOADS[1], f"file {name}")
            for name in recipe.files
        }
        body, content_type = encode_multipart(fields, files)
    else:
        body, content_type = encode_form(fields), "application/x-www-form-urlencoded"
    query = draw(st.sampled_from(QUERIES), "", "query")
    headers = {"HX-Request": "true"} if draw(st.booleans(), False, "htmx") else {}
    draw.note(f"POST {url}{query} as {plan['role']} {headers}: {body[:3000]!r}")
    return client.post(url + query, data=body, content_type=content_type, headers=headers)


def _send_json(client, url, kind, body, app, draw, world):
    if kind == "stripe_webhook":
        event = stripe_event(str(body.get("type", "")), body.get("object"), event_id=f"evt_{time.monotonic_ns()}")
        event.update({k: v for k, v in body.items() if k not in ("type", "object")})
        payload, headers = stripe_signed(event, app.config["STRIPE_WEBHOOK_SECRET"])
    elif kind == "whop_webhook":
        payload, headers = whop_signed({**body, "id": f"msg_{time.monotonic_ns()}"}, app.config["WHOP_WEBHOOK_SECRET"])
    else:
        payload, headers = json.dumps(body).encode(), {"Content-Type": "application/json", **api_auth(world, url)}
    draw.note(f"POST {url} JSON: {payload[:3000]!r}")
    return client.post(url, data=payload, headers=headers)


def api_auth(world, url):
    """The company's API key for requests under /api/v1 (the license endpoints ignore it)."""
    return {"Authorization": f"Bearer {world.api_plaintext}"} if url.startswith("/api/v1/") else {}


def _fresh_stripe(app, world):
    """Stripe state of its own for one example, with a verified connected account for the
    seller: our ids repeat after each rollback (SQLite), and Stripe takes a reused idempotency
    key with new parameters as an error."""
    world.sandbox.post("/_sandbox/reset").raise_for_status()
    with app.app_context():
        account = get_gateway().create_connected_account(
            world.company_id, "owner@example.com", idempotency_key=secrets.token_urlsafe(16)
        )
        world.sandbox.post(f"/_sandbox/accounts/{account.id}/verify", json={"outcome": "verified"}).raise_for_status()
        db.session.execute(update(Company).where(Company.id == world.company_id).values(stripe_account_id=account.id))
        db.session.commit()


def check(app, response, before, allowed):
    status = response.status_code
    body = response.get_data(as_text=True)
    response.close()  # a file download holds its file open until closed
    assert status < 500, f"{status}: {body[:3000]}"
    if 400 <= status < 500:
        with app.app_context():
            changed = changed_tables(before, table_counts(), ignore=allowed)
        assert changed == {}, f"a {status} refusal wrote rows: {changed}\n{body[:2000]}"


def in_savepoint(app, action):
    """Run `action(before)` inside a SAVEPOINT rolled back afterwards, on a flushed Redis;
    `before` is the row count of every table. No app context is held around the requests."""
    with app.app_context():
        before = table_counts()
        connection = db.engine  # the test's connection (see _isolate in conftest.py)
    savepoint = connection.begin_nested()
    try:
        return action(before)
    finally:
        savepoint.rollback()
        app.extensions["redis"].flushdb()


# -- the tests ----------------------------------------------------------------------------------


def post_rules(app):
    return {
        rule.endpoint: rule
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and rule.endpoint not in NOT_FUZZED
    }


def get_rules(app):
    return {
        rule.endpoint: rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint not in NOT_FUZZED
    }


def test_every_post_endpoint_has_a_fuzz_recipe(app):
    missing = sorted(set(post_rules(app)) - set(RECIPES))
    assert not missing, f"POST endpoints without a fuzz recipe in {__file__}: {', '.join(missing)}"
    stale = sorted(set(RECIPES) - set(post_rules(app)))
    assert not stale, f"recipes for endpoints that no longer exist: {', '.join(stale)}"


def test_every_page_is_fuzzed_and_has_values_for_its_parameters(app):
    missing = sorted(set(get_rules(app)) - set(PAGES))
    assert not missing, f"GET endpoints missing from PAGES in {__file__}: {', '.join(missing)}"
    unknown = sorted(
        f"{endpoint}: <{name}>"
        for endpoint, rule in get_rules(app).items()
        for name in rule.arguments
        if name not in PATH_VALUES and name not in GET_PATH_OVERRIDES.get(endpoint, {})
    )
    assert not unknown, f"page parameters with no value in PATH_VALUES: {', '.join(unknown)}"


# Recipes refused as written, and why: everything else must succeed unbroken, or the sweep
# would only ever exercise a refusal.
REFUSED_AS_WRITTEN = {
    "account.manage_membership": (
        409,
        "the factories' membership has no Stripe subscription to manage; the billing portal "
        "through Stripe is in tests/test_billing_portal_e2e.py",
    ),
    "sell.payouts.withdraw": (409, "the seller has no cleared balance to withdraw (and no Stripe transfer is made)"),
    "sell.legends.open_game": (409, "the world's game is open already; opening one is in tests/test_legends_sell.py"),
    "orders.act:resolve_partial": (
        422,
        "the factories' orders have no Payment to refund part of; partial "
        "refunds through Stripe are in tests/test_orders_money_e2e.py",
    ),
}


@pytest.mark.parametrize("endpoint", sorted(RECIPES))
def test_every_recipe_is_accepted_as_written(app, world, endpoint):
    rule, recipe = post_rules(app)[endpoint], RECIPES[endpoint]
    choices = [{"action": action} for action in _ORDER_PLANS] if endpoint == "orders.act" else [{}]
    for forced in choices:
        key = ":".join([endpoint, *forced.values()])

        def attempt(before, forced=forced, key=key):
            response = run_request(app, world, recipe, rule, Drawer(forced=forced))
            expected = REFUSED_AS_WRITTEN.get(key, (None,))[0]
            body = response.get_data(as_text=True)[:3000]
            if expected is None:
                assert response.status_code < 400, f"{endpoint} {forced} → {response.status_code}: {body}"
            else:
                assert response.status_code == expected, body

        in_savepoint(app, attempt)


@pytest.mark.parametrize("endpoint", sorted(RECIPES))
@FUZZ
@given(data=st.data())
def test_no_input_crashes_a_form_or_json_endpoint(app, world, endpoint, data):
    rule = post_rules(app).get(endpoint)
    assert rule is not None, f"{endpoint} is not a POST endpoint any more"
    recipe = RECIPES[endpoint]

    def attempt(before):
        response = run_request(app, world, recipe, rule, Drawer(data))
        check(app, response, before, recipe.may_write_on_refusal)

    in_savepoint(app, attempt)


@pytest.mark.parametrize("endpoint", PAGES)
@settings(FUZZ, max_examples=GET_EXAMPLES)
@given(data=st.data())
def test_no_path_or_query_value_crashes_a_page(app, world, endpoint, data):
    rule = get_rules(app)[endpoint]
    names = {**PATH_VALUES, **GET_PATH_OVERRIDES.get(endpoint, {})}
    path = {name: resolve(world, names[name]) for name in rule.arguments}
    for name in rule.arguments:
        if data.draw(st.booleans(), label=f"break {name}"):
            path[name] = data.draw(int_path_values if is_int(rule, name) else text_values, label=f"path {name}")
    query = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), text_values, max_size=4), label="query")
    url = build_path(rule, path) + ("?" + encode_form(query) if query else "")
    role = data.draw(st.sampled_from([role_for_page(rule), "anon"]), label="role")

    def attempt(before):
        if endpoint in STRIPE_PAGES:
            _fresh_stripe(app, world)
        client, _ = client_for(app, world, role)
        note(f"GET {url} as {role}")
        check(app, client.get(url, headers=api_auth(world, url)), before, ())

    in_savepoint(app, attempt)
