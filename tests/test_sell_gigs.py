"""The gig editor, gallery uploads, the status flow, the KYC gate and seller isolation."""

import re

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.models import AuditEvent, Gig, GigImage
from app.services.gigs import KycNotVerified, transition_gig
from app.tenancy import without_tenant
from tests.forms import gig_form, image_bytes, post_form, post_multipart

pytestmark = pytest.mark.usefixtures("uploads")


def gig_count(db):
    return db.session.scalar(select(func.count()).select_from(Gig))


@pytest.fixture
def seller_client(client, sign_in, make_seller):
    user, company = make_seller()
    sign_in(user)
    return client, user, company


@pytest.fixture
def saved_gig(db, seller_client, category):
    client, user, company = seller_client
    response = post_multipart(client, "/sell/gigs/new", gig_form(category.id), files=[("cover.png", image_bytes())])
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return db.session.scalars(select(Gig)).one()


def test_saving_a_new_gig_writes_every_part(db, saved_gig, seller_client, uploads):
    client, _, company = seller_client
    gig = saved_gig
    assert (gig.status, gig.company_id) == ("draft", company.id)
    assert gig.slug == "i-will-design-a-minimalist-logo-for-your-brand"
    assert [(p.tier, p.price_cents, p.delivery_days, p.revisions) for p in gig.packages] == [("basic", 2500, 3, 2)]
    assert (gig.basic_price_cents, gig.min_delivery_days) == (2500, 3)
    assert [(e.title, e.price_cents, e.extra_days) for e in gig.extras] == [("Source files", 1000, 1)]
    assert [(q.prompt, q.kind, q.required) for q in gig.questions] == [
        ("What is your brand called?", "short_text", True)
    ]
    assert gig.faq == [{"question": "Do I own the copyright?", "answer": "Yes, all rights transfer on completion."}]
    assert gig.tag_list == ["logo", "branding", "minimal"]
    assert "<strong>clean, timeless</strong>" in gig.description_html
    assert "<script" not in gig.description_html and "<script" in gig.description_md
    image = gig.images[0]
    assert (image.content_type, image.width, image.height) == ("image/png", 320, 200)
    assert image.size_bytes == len(image_bytes())
    assert (uploads / image.storage_key).is_file()
    served = client.get(f"/sell/images/{image.storage_key}")
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.data == image_bytes()
    assert "private" in served.headers["Cache-Control"]
    served.close()


def test_edit_page_round_trips_the_gig(db, saved_gig, seller_client):
    client, _, _ = seller_client
    page = client.get(f"/sell/gigs/{saved_gig.id}/edit").get_data(as_text=True)
    assert 'value="25.00"' in page and "Source files" in page and "What is your brand called?" in page
    data = gig_form(
        saved_gig.category_id,
        **{
            "standard-offered": "y",
            "standard-title": "Pro",
            "standard-description": "Three concepts",
            "standard-price": "60",
            "standard-delivery_days": "2",
            "standard-revisions": "unlimited",
            "extras-0-title": None,
            "extras-0-price": None,
            "extras-0-extra_days": None,
            "extras-0-max_quantity": None,
        },
    )
    response = post_multipart(client, f"/sell/gigs/{saved_gig.id}/edit", data)
    assert response.status_code == 303
    db.session.expire_all()
    gig = db.session.get(Gig, saved_gig.id)
    assert [(p.tier, p.revisions) for p in gig.packages] == [("basic", 2), ("standard", None)]
    assert (gig.basic_price_cents, gig.min_delivery_days) == (2500, 2)
    assert gig.extras == [] and len(gig.images) == 1


def test_out_of_range_values_come_back_as_field_errors_and_nothing_is_saved(db, seller_client, category):
    client, _, _ = seller_client
    data = gig_form(
        category.id,
        **{
            "basic-price": "4.99",
            "basic-delivery_days": "91",
            "basic-revisions": "11",
            "extras-0-price": "0.50",
            "extras-0-max_quantity": "11",
            "title": "Short",
        },
    )
    response = post_multipart(client, "/sell/gigs/new", data, files=[("cover.png", image_bytes())])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for message in (
        "Price must be between $5.00 and $10,000.00.",
        "Delivery must take 1 to 90 days.",
        "Choose 0 to 10 revisions, or unlimited.",
        "Extras cost between $1.00 and $10,000.00.",
        "A buyer can order 1 to 10 of an extra.",
        "Use at least 10 characters.",
        "Nothing was saved",
    ):
        assert message in page
    assert 'value="4.99"' in page  # the seller's input is kept
    assert gig_count(db) == 0
    assert db.session.scalar(select(func.count()).select_from(GigImage)) == 0

    too_much = gig_form(category.id, **{"basic-price": "10000.01", "basic-delivery_days": "0"})
    response = post_multipart(client, "/sell/gigs/new", too_much)
    assert response.status_code == 422 and gig_count(db) == 0
    unparseable = gig_form(category.id, **{"basic-price": "cheap", "basic-delivery_days": "soon"})
    page = post_multipart(client, "/sell/gigs/new", unparseable).get_data(as_text=True)
    assert "Use a price like 49 or 49.99." in page and "Not a valid integer value" in page
    assert gig_count(db) == 0


def test_single_choice_questions_need_choices(db, seller_client, category):
    client, _, _ = seller_client
    data = gig_form(category.id, **{"questions-0-kind": "single_choice", "questions-0-choices": "Only one"})
    page = post_multipart(client, "/sell/gigs/new", data).get_data(as_text=True)
    assert "Give at least two choices" in page and gig_count(db) == 0
    data["questions-0-choices"] = "Modern\nClassic\n"
    assert post_multipart(client, "/sell/gigs/new", data).status_code == 303
    assert db.session.scalars(select(Gig)).one().questions[0].choices == ["Modern", "Classic"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("x.png", b"just some text, not a picture", "Upload a JPEG, PNG or WebP image."),
        ("huge.png", image_bytes()[:64] + b"\0" * (6 * 1024 * 1024), "Images must be 5 MB or smaller."),
        ("anim.gif", image_bytes("GIF"), "Upload a JPEG, PNG or WebP image."),
    ],
)
def test_bad_uploads_are_refused_by_content(db, seller_client, category, name, content, message):
    client, _, _ = seller_client
    response = post_multipart(client, "/sell/gigs/new", gig_form(category.id), files=[(name, content)])
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert gig_count(db) == 0


def test_jpeg_and_webp_are_accepted_and_the_gallery_holds_five(db, saved_gig, seller_client):
    client, _, _ = seller_client
    files = [("a.jpg", image_bytes("JPEG")), ("b.webp", image_bytes("WEBP", color=(1, 2, 3)))]
    assert (
        post_multipart(
            client, f"/sell/gigs/{saved_gig.id}/edit", gig_form(saved_gig.category_id), files=files
        ).status_code
        == 303
    )
    db.session.expire_all()
    assert [i.content_type for i in db.session.get(Gig, saved_gig.id).images] == [
        "image/png",
        "image/jpeg",
        "image/webp",
    ]
    more = [(f"{n}.png", image_bytes(color=(n, n, n))) for n in range(3)]
    response = post_multipart(client, f"/sell/gigs/{saved_gig.id}/edit", gig_form(saved_gig.category_id), files=more)
    assert response.status_code == 422 and "at most 5 images" in response.get_data(as_text=True)
    db.session.expire_all()
    assert len(db.session.get(Gig, saved_gig.id).images) == 3


def test_a_status_field_in_the_form_is_ignored(db, seller_client, category):
    client, _, _ = seller_client
    for status in ("published", "rejected", "review"):
        data = gig_form(category.id, status=status, title=f"I will design a {status} logo for you")
        assert post_multipart(client, "/sell/gigs/new", data).status_code == 303
    assert set(db.session.scalars(select(Gig.status))) == {"draft"}


def test_another_seller_gets_404_for_every_gig_url(db, saved_gig, client, sign_in, make_seller):
    intruder, _ = make_seller()
    post_form(client, "/signout")
    sign_in(intruder)
    image_id, image_key = saved_gig.images[0].id, saved_gig.images[0].storage_key
    assert client.get(f"/sell/gigs/{saved_gig.id}/edit").status_code == 404
    assert post_multipart(client, f"/sell/gigs/{saved_gig.id}/edit", gig_form(saved_gig.category_id)).status_code == 404
    for action in ("submit", "pause", "resume", "delete", f"images/{image_id}/delete"):
        assert post_form(client, f"/sell/gigs/{saved_gig.id}/{action}").status_code == 404, action
    assert client.get(f"/sell/images/{image_key}").status_code == 404
    assert client.get("/sell/images/gigs/1/nothing-here.png").status_code == 404
    db.session.expire_all()
    with without_tenant():  # the test shares the requests' app context, and so their tenant
        gig = db.session.get(Gig, saved_gig.id)
        assert (gig.status, gig.title, len(gig.images)) == ("draft", saved_gig.title, 1)


def test_unverified_seller_cannot_submit_and_admins_cannot_publish_for_them(
    db, client, sign_in, make_seller, make_user, category
):
    user, company = make_seller(kyc="pending")
    sign_in(user)
    assert (
        post_multipart(client, "/sell/gigs/new", gig_form(category.id), files=[("c.png", image_bytes())]).status_code
        == 303
    )
    gig = db.session.scalars(select(Gig)).one()
    response = post_form(client, f"/sell/gigs/{gig.id}/submit")
    assert response.status_code == 409
    assert "not finished identity verification" in response.get_data(as_text=True)
    gig.status = "review"  # as if it had been submitted before verification lapsed
    db.session.commit()
    admin = make_user(is_admin=True)
    with pytest.raises(KycNotVerified):
        transition_gig(gig, "approve", admin)
    db.session.rollback()
    assert db.session.get(Gig, gig.id).status == "review"


def test_the_database_trigger_stops_a_direct_publish(db, make_seller, category):
    _, company = make_seller(kyc="pending")
    gig = Gig(company_id=company.id, title="Raw SQL gig", slug="raw-sql-gig", category_id=category.id)
    db.session.add(gig)
    db.session.commit()
    with pytest.raises(DBAPIError, match="kyc_not_verified"), db.session.begin_nested():
        db.session.execute(text("UPDATE gigs SET status = 'published' WHERE id = :id"), {"id": gig.id})
    assert db.session.execute(text("SELECT status FROM gigs WHERE id = :id"), {"id": gig.id}).scalar() == "draft"
    company.kyc_status = "verified"
    db.session.commit()
    db.session.execute(text("UPDATE gigs SET status = 'published' WHERE id = :id"), {"id": gig.id})
    assert db.session.execute(text("SELECT status FROM gigs WHERE id = :id"), {"id": gig.id}).scalar() == "published"


def test_the_status_flow(db, saved_gig, seller_client, make_user):
    client, seller, company = seller_client
    gig_id = saved_gig.id
    assert post_form(client, f"/sell/gigs/{gig_id}/pause").status_code == 409  # drafts can't pause
    assert post_form(client, f"/sell/gigs/{gig_id}/submit").status_code == 303
    assert db.session.get(Gig, gig_id).status == "review"
    assert post_form(client, f"/sell/gigs/{gig_id}/submit").status_code == 409  # already in review

    admin = make_user(is_admin=True)
    transition_gig(db.session.get(Gig, gig_id), "reject", admin, reason="Please show your own work in the gallery.")
    db.session.commit()
    assert post_form(client, f"/sell/gigs/{gig_id}/submit").status_code == 303
    assert db.session.get(Gig, gig_id).status == "review"
    gig = transition_gig(db.session.get(Gig, gig_id), "approve", admin)
    db.session.commit()
    assert gig.status == "published" and gig.published_at is not None

    assert post_form(client, f"/sell/gigs/{gig_id}/pause").status_code == 303
    assert db.session.get(Gig, gig_id).status == "paused"
    assert post_form(client, f"/sell/gigs/{gig_id}/resume").status_code == 303
    assert db.session.get(Gig, gig_id).status == "published"

    # An edit of the live gig is a revision: the gig stays published, as it was.
    edited = gig_form(gig.category_id, title="I will design a bold minimalist logo")
    assert post_multipart(client, f"/sell/gigs/{gig_id}/edit", edited).status_code == 303
    db.session.expire_all()
    gig = db.session.get(Gig, gig_id)
    assert (gig.status, gig.title) == ("published", "I will design a minimalist logo for your brand")
    assert gig.slug == "i-will-design-a-minimalist-logo-for-your-brand"
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.subject_type == "gig", AuditEvent.subject_id == str(gig_id))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == [
        "gig.submit",
        "gig.reject",
        "gig.submit",
        "gig.approve",
        "gig.pause",
        "gig.resume",
        "gig.revision_submit",
    ]


def test_sellers_cannot_review_their_own_gigs(db, saved_gig, seller_client):
    client, seller, _ = seller_client
    post_form(client, f"/sell/gigs/{saved_gig.id}/submit")
    assert post_form(client, f"/admin/gigs/{saved_gig.id}/approve").status_code == 403
    assert post_form(client, f"/admin/gigs/{saved_gig.id}/reject", {"reason": "x"}).status_code == 403
    seller.is_admin = True  # even a platform admin may not approve their own company's gig
    db.session.commit()
    assert post_form(client, f"/admin/gigs/{saved_gig.id}/approve").status_code == 403
    assert db.session.get(Gig, saved_gig.id).status == "review"


def test_members_neither_edit_nor_submit_gigs(db, saved_gig, client, sign_in, make_seller):
    member, _ = make_seller(company=saved_gig.company, role="member")
    post_form(client, "/signout")
    sign_in(member)
    assert (
        post_multipart(
            client,
            f"/sell/gigs/{saved_gig.id}/edit",
            gig_form(saved_gig.category_id, title="I will design a friendly logo"),
        ).status_code
        == 403
    )
    assert post_form(client, f"/sell/gigs/{saved_gig.id}/submit").status_code == 403
    assert post_form(client, "/sell/onboarding").status_code == 403
    assert db.session.get(Gig, saved_gig.id).status == "draft"


def test_drafts_can_be_deleted_and_images_removed(db, saved_gig, seller_client):
    client, _, _ = seller_client
    image_id = saved_gig.images[0].id
    response = post_form(client, f"/sell/gigs/{saved_gig.id}/images/{image_id}/delete", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.data == b""
    assert db.session.get(Gig, saved_gig.id).images == []
    assert post_form(client, f"/sell/gigs/{saved_gig.id}/delete").status_code == 303
    assert gig_count(db) == 0


def test_row_buttons_work_with_and_without_htmx(db, seller_client, category):
    client, _, _ = seller_client
    row = client.get("/sell/gigs/rows/extras", headers={"HX-Request": "true"}).get_data(as_text=True)
    index = re.search(r'name="extras-(\d+)-title"', row).group(1)
    assert int(index) >= 1_000_000 and 'class="editor-row extra-row"' in row
    package = client.get("/sell/gigs/packages/premium?offered=1", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'name="premium-price"' in package and 'value="y"' in package
    assert client.get("/sell/gigs/rows/status").status_code == 404

    response = post_multipart(client, "/sell/gigs/new", gig_form(category.id, add="faq"))
    assert response.status_code == 200 and gig_count(db) == 0
    assert 'name="faq-1-question"' in response.get_data(as_text=True)
    response = post_multipart(client, "/sell/gigs/new", gig_form(category.id, remove="extras-0"))
    assert 'name="extras-0-title"' not in response.get_data(as_text=True) and gig_count(db) == 0


def test_seller_home_shows_kyc_next_step_gigs_and_empty_states(db, client, sign_in, make_seller, category):
    user, company = make_seller(kyc="failed")
    sign_in(user)
    page = client.get("/sell/").get_data(as_text=True)
    assert "Verification failed" in page and "Restart verification" in page
    assert "No gigs yet" in page and "No orders yet" in page and "No earnings yet" in page


def test_rejection_reason_shows_on_seller_home(db, saved_gig, seller_client, make_user):
    client, _, _ = seller_client
    saved_gig.status = "review"
    db.session.commit()
    transition_gig(saved_gig, "reject", make_user(is_admin=True), reason="Logo is blurry")
    db.session.commit()
    page = client.get("/sell/").get_data(as_text=True)
    assert "Changes requested: Logo is blurry" in page and "Resubmit" in page


def test_signed_out_and_company_less_users_are_redirected(client, sign_in, make_user):
    for path in ("/sell/", "/sell/gigs/new", "/sell/become", "/admin/gigs/"):
        response = client.get(path)
        assert response.status_code == 302 and "/signin" in response.headers["Location"], path
    sign_in(make_user())
    response = client.get("/sell/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/sell/become")
    assert client.get("/sell/gigs/new").headers["Location"].endswith("/sell/become")
    assert post_form(client, "/sell/gigs/new", {}).status_code == 403


def test_become_needs_a_name(db, client, sign_in, make_user):
    sign_in(make_user())
    assert "Continue to verification" in client.get("/sell/become").get_data(as_text=True)
    response = post_form(client, "/sell/become", {"title": "", "country": "US"})
    assert response.status_code == 422 and "Enter the name buyers will see." in response.get_data(as_text=True)
