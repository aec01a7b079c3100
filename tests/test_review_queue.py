"""Admin gig review: the queue with a full preview, approve / reject inline, audit and notices."""

import pytest
from sqlalchemy import select

from app.models import AuditEvent, Gig, Notification
from app.services.gigs import save_gig, transition_gig
from tests.forms import image_bytes, post_form

pytestmark = pytest.mark.usefixtures("uploads")

HTMX = {"HX-Request": "true", "HX-Target": "review-gig-1"}


def form_input(category_id, **overrides):
    """The service input a full editor submission becomes (see GigForm.to_input)."""
    data = {
        "title": "I will write a landing page that converts",
        "category_id": category_id,
        "description_md": "## What you get\n\nA *persuasive* landing page, researched and proofread.",
        "tags": ["copywriting", "landing page"],
        "packages": {
            "basic": {
                "title": "Short page",
                "description": "Up to 300 words",
                "price_cents": 4000,
                "delivery_days": 4,
                "revisions": 1,
            },
            "premium": {
                "title": "Long page",
                "description": "Up to 1500 words",
                "price_cents": 15000,
                "delivery_days": 7,
                "revisions": None,
            },
        },
        "extras": [{"title": "Rush delivery", "price_cents": 2500, "extra_days": 0, "max_quantity": 1}],
        "questions": [
            {
                "prompt": "Which tone suits you?",
                "kind": "single_choice",
                "choices": ["Playful", "Formal"],
                "required": True,
            }
        ],
        "faq": [{"question": "Do you do SEO?", "answer": "Basic on-page SEO is included."}],
    }
    data.update(overrides)
    return data


@pytest.fixture
def pending_gig(db, make_seller, category):
    seller, company = make_seller()
    gig = save_gig(company, seller, form_input(category.id), uploads=[("cover.png", image_bytes())])
    transition_gig(gig, "submit", seller)
    db.session.commit()
    return gig


@pytest.fixture
def admin_client(client, sign_in, make_user):
    admin = make_user(is_admin=True, display_name="Ada Admin")
    sign_in(admin)
    return client, admin


def test_queue_shows_a_full_preview(pending_gig, admin_client):
    client, _ = admin_client
    page = client.get("/admin/gigs/").get_data(as_text=True)
    for text in (
        "I will write a landing page that converts",
        "<h2>What you get</h2>",
        "<em>persuasive</em>",
        "Short page",
        "Long page",
        "$40.00",
        "$150.00",
        "Unlimited",
        "Rush delivery — $25.00",
        "Which tone suits you?",
        "Playful / Formal",
        "Do you do SEO?",
        "copywriting",
        f"/sell/images/{pending_gig.images[0].storage_key}",
        "Approve and publish",
        "Request changes",
    ):
        assert text in page, text
    image = client.get(f"/sell/images/{pending_gig.images[0].storage_key}")
    assert image.status_code == 200  # admins see images of gigs that are not live yet
    image.close()


def test_approving_publishes_audits_and_notifies(db, pending_gig, admin_client):
    client, admin = admin_client
    response = post_form(client, f"/admin/gigs/{pending_gig.id}/approve", headers=HTMX)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith("<article") and "Approved" in fragment and "<html" not in fragment
    gig = db.session.get(Gig, pending_gig.id)
    assert gig.status == "published" and gig.published_at is not None
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "gig.approve")).one()
    assert (audit.actor_user_id, audit.subject_id, audit.data["status"]) == (admin.id, str(gig.id), "published")
    notice = db.session.scalars(select(Notification).where(Notification.kind == "gig.approved")).one()
    assert notice.user_id == gig.company.members[0].user_id and gig.title in notice.title
    assert notice.link == f"/sell/gigs/{gig.id}/edit"
    assert post_form(client, f"/admin/gigs/{gig.id}/approve", headers=HTMX).status_code == 409


def test_rejecting_needs_a_reason(db, pending_gig, admin_client):
    client, _ = admin_client
    response = post_form(client, f"/admin/gigs/{pending_gig.id}/reject", {"reason": "  "}, headers=HTMX)
    assert response.status_code == 422
    assert "Tell the seller what to change." in response.get_data(as_text=True)
    assert db.session.get(Gig, pending_gig.id).status == "review"

    response = post_form(
        client, f"/admin/gigs/{pending_gig.id}/reject", {"reason": "The gallery shows someone else's work."}
    )
    assert response.status_code == 303
    gig = db.session.get(Gig, pending_gig.id)
    assert (gig.status, gig.rejection_reason) == ("rejected", "The gallery shows someone else's work.")
    notice = db.session.scalars(select(Notification).where(Notification.kind == "gig.rejected")).one()
    assert notice.body == "The gallery shows someone else's work."
    assert (
        db.session.scalars(select(AuditEvent.data).where(AuditEvent.action == "gig.reject")).one()["reason"]
        == "The gallery shows someone else's work."
    )
    page = client.get("/admin/gigs/").get_data(as_text=True)
    assert "Nothing to review" in page and "Recently decided" in page


def test_admin_pages_refuse_everyone_else(db, pending_gig, client, sign_in, make_user):
    for path in ("/admin/gigs/",):
        response = client.get(path)
        assert response.status_code == 302 and "/signin" in response.headers["Location"]
    assert client.post(f"/admin/gigs/{pending_gig.id}/approve").status_code in (302, 400)
    sign_in(make_user())
    assert client.get("/admin/gigs/").status_code == 403
    assert post_form(client, f"/admin/gigs/{pending_gig.id}/approve").status_code == 403
    assert post_form(client, f"/admin/gigs/{pending_gig.id}/reject", {"reason": "no"}).status_code == 403
    assert db.session.get(Gig, pending_gig.id).status == "review"


def test_a_gig_of_an_unverified_seller_cannot_be_approved(db, pending_gig, admin_client):
    client, _ = admin_client
    pending_gig.company.kyc_status = "failed"
    db.session.commit()
    response = post_form(client, f"/admin/gigs/{pending_gig.id}/approve", headers=HTMX)
    assert response.status_code == 409
    assert "not finished identity verification" in response.get_data(as_text=True)
    assert db.session.get(Gig, pending_gig.id).status == "review"
