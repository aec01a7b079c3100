"""Edits to a live gig become a pending revision: the approved version stays live (URL,
listing, packages, orders) until an admin approves; the seller keeps editing or withdraws;
an admin approves (applied at once) or rejects with a reason (nothing changes)."""

import re

import pytest
from sqlalchemy import select

from app.extensions import db as _db
from app.models import AuditEvent, Gig, GigImage, GigPackage, GigRevision, Notification, Order, User
from app.services.gig_revisions import REVIEW_SUBMITTED, approve_gig_revision, save_gig_revision
from app.services.gigs import GigForbidden, GigInputError, GigStateError, transition_gig
from app.tenancy import without_tenant
from tests.factories import make_cast, make_order
from tests.forms import gig_form, image_bytes, post_form, post_multipart

pytestmark = pytest.mark.usefixtures("uploads")

OLD_TITLE = "I will design a minimalist logo for your brand"
NEW_TITLE = "I will design a bold wordmark logo for your brand"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def people(db, make_seller, make_user):
    """The seller (owner), a member of the same seller, an admin, and another seller."""
    owner, company = make_seller()
    member, _ = make_seller(company=company, role="member")
    admin = make_user(is_admin=True, display_name="Ada Admin")
    other, other_company = make_seller()
    return {"owner": owner, "company": company, "member": member, "admin": admin, "other": other}


@pytest.fixture
def live_gig(db, client, sign_in, people, category):
    """The owner's gig made through the editor, submitted, and approved by the admin."""
    sign_in(people["owner"])
    response = post_multipart(client, "/sell/gigs/new", gig_form(category.id), files=[("cover.png", image_bytes())])
    assert response.status_code == 303
    gig = _db.session.scalars(select(Gig).where(Gig.company_id == people["company"].id)).one()
    assert post_form(client, f"/sell/gigs/{gig.id}/submit").status_code == 303
    with without_tenant():
        transition_gig(_db.session.get(Gig, gig.id), "approve", people["admin"])
        _db.session.commit()
    return _db.session.get(Gig, gig.id)


def image_status(client, key):
    """The status of a gallery image's URL for this client (the file handle closed)."""
    response = client.get(f"/sell/images/{key}")
    response.close()
    return response.status_code


def _edit(client, gig, files=(), **overrides):
    fields = {"title": NEW_TITLE, "basic-price": "40.00", **overrides}
    return post_multipart(client, f"/sell/gigs/{gig.id}/edit", gig_form(gig.category_id, **fields), files=files)


def _pending(gig_id):
    _db.session.expire_all()
    with without_tenant():
        return _db.session.scalars(
            select(GigRevision).where(GigRevision.gig_id == gig_id, GigRevision.status == "pending")
        ).all()


def _gig(gig_id):
    _db.session.expire_all()
    with without_tenant():
        return _db.session.get(Gig, gig_id)


def test_an_edit_of_a_live_gig_waits_for_review_while_the_live_version_stays(client, live_gig, people):
    response = _edit(client, live_gig)
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/sell/gigs/{live_gig.id}/edit")
    editor = client.get(response.headers["Location"]).get_data(as_text=True)
    assert REVIEW_SUBMITTED.replace("'", "&#39;") in editor
    assert "Changes in review" in editor and "Withdraw changes" in editor
    assert f'value="{NEW_TITLE}"' in editor and 'value="40.00"' in editor  # the pending version is edited

    gig = _gig(live_gig.id)
    assert (gig.status, gig.title, gig.basic_price_cents) == ("published", OLD_TITLE, 2500)
    assert [p.price_cents for p in gig.packages] == [2500]
    [revision] = _pending(gig.id)
    assert (revision.kind, revision.content["title"], revision.content["packages"]["basic"]["price_cents"]) == (
        "edit",
        NEW_TITLE,
        4000,
    )

    post_form(client, "/signout")
    public = client.get(f"/gigs/{gig.slug}")
    assert public.status_code == 200
    page = public.get_data(as_text=True)
    assert OLD_TITLE in page and NEW_TITLE not in page
    listing = client.get("/gigs?q=minimalist").get_data(as_text=True)
    assert OLD_TITLE in listing


def test_saving_again_updates_the_one_pending_revision(client, live_gig):
    _edit(client, live_gig)
    [first] = _pending(live_gig.id)
    assert _edit(client, live_gig, title="I will design a playful mascot logo").status_code == 303
    [second] = _pending(live_gig.id)
    assert second.id == first.id and second.content["title"] == "I will design a playful mascot logo"
    # Saving exactly the live version withdraws the change: nothing is left to review.
    response = post_multipart(client, f"/sell/gigs/{live_gig.id}/edit", gig_form(live_gig.category_id))
    assert response.status_code == 303
    assert _pending(live_gig.id) == []
    assert "Nothing to review" in client.get(f"/sell/gigs/{live_gig.id}/edit").get_data(as_text=True)


def test_admin_sees_the_diff_and_approving_applies_it_at_once(client, sign_in, live_gig, people):
    upload = image_bytes(color=(200, 30, 30))
    _edit(client, live_gig, files=[("new.png", upload)])
    [revision] = _pending(live_gig.id)
    new_key = revision.content["images"][-1]["storage_key"]
    assert image_status(client, new_key) == 200  # the seller sees its upload
    post_form(client, "/signout")
    assert image_status(client, new_key) == 404  # nobody else does yet

    sign_in(people["admin"])
    assert client.get("/admin/gigs/").status_code == 200
    queue = client.get("/admin/gigs/?tab=edits").get_data(as_text=True)
    assert f"Changes to “{OLD_TITLE}”" in queue
    assert re.search(r"<th scope=\"row\">Title</th><td class=\"diff-old\">" + re.escape(OLD_TITLE), queue)
    assert f'<td class="diff-new">{NEW_TITLE}</td>' in queue
    assert "Basic package · price" in queue and "$25.00" in queue and "$40.00" in queue
    assert "Gallery" in queue and "2 images (1 new, 0 removed)" in queue
    assert re.search(r'id="nav-review-count"[^>]*>1<', queue)
    assert 'Changes to live gigs <span class="tab-count">1</span>' in queue
    assert image_status(client, new_key) == 200

    response = post_form(client, f"/admin/gigs/revisions/{revision.id}/approve", headers=HTMX)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "Approved — the changes are live" in fragment and "<html" not in fragment
    # The counts come back out of band: no stale badge or tab after the decision.
    assert '<span id="review-waiting" class="badge warn" hx-swap-oob="true">0 waiting</span>' in fragment
    assert re.search(r'id="nav-review-count" class="nav-count" hx-swap-oob="true" hidden>0', fragment)
    assert 'Changes to live gigs <span class="tab-count">0</span>' in fragment

    gig = _gig(live_gig.id)
    assert (gig.status, gig.title, gig.basic_price_cents, gig.slug) == ("published", NEW_TITLE, 4000, live_gig.slug)
    assert [image.storage_key for image in gig.images][-1] == new_key
    with without_tenant():
        revision = _db.session.get(GigRevision, revision.id)
        assert (revision.status, revision.decided_by_id) == ("approved", people["admin"].id)
        notice = _db.session.scalars(select(Notification).where(Notification.kind == "gig.revision")).one()
        assert NEW_TITLE in notice.title and notice.user_id == people["owner"].id
        assert _db.session.scalars(select(AuditEvent.action).where(AuditEvent.action == "gig.revision_approve")).one()
    post_form(client, "/signout")
    page = client.get(f"/gigs/{gig.slug}").get_data(as_text=True)
    assert NEW_TITLE in page and "$40.00" in page
    assert NEW_TITLE in client.get("/gigs?q=wordmark").get_data(as_text=True)  # the search index follows
    assert image_status(client, new_key) == 200  # public now it is live


def test_rejecting_keeps_the_live_gig_and_tells_the_seller_why(client, sign_in, live_gig, people):
    _edit(client, live_gig)
    [revision] = _pending(live_gig.id)
    sign_in(people["admin"])
    response = post_form(client, f"/admin/gigs/revisions/{revision.id}/reject", {"reason": "  "}, headers=HTMX)
    assert response.status_code == 422 and "Tell the seller what to change." in response.get_data(as_text=True)
    assert response.get_data(as_text=True).count('hx-swap-oob="true"') == 3
    assert len(_pending(live_gig.id)) == 1
    response = post_form(
        client, f"/admin/gigs/revisions/{revision.id}/reject", {"reason": "Keep the price the buyers saw."}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/gigs/?tab=edits")
    gig = _gig(live_gig.id)
    assert (gig.title, gig.basic_price_cents) == (OLD_TITLE, 2500)

    sign_in(people["owner"])
    editor = client.get(f"/sell/gigs/{live_gig.id}/edit").get_data(as_text=True)
    assert "Your last changes were not approved: “Keep the price the buyers saw.”" in editor
    # The next try shows the admin the reason given last time.
    _edit(client, live_gig, title="I will design a clean wordmark logo for you")
    sign_in(people["admin"])
    queue = client.get("/admin/gigs/?tab=edits").get_data(as_text=True)
    assert "Previously rejected changes" in queue and "Keep the price the buyers saw." in queue


def test_a_resubmitted_new_gig_shows_the_previous_reason_and_what_changed(
    client, sign_in, people, category, make_seller
):
    sign_in(people["owner"])
    post_multipart(client, "/sell/gigs/new", gig_form(category.id), files=[("cover.png", image_bytes())])
    gig = _db.session.scalars(select(Gig).where(Gig.company_id == people["company"].id)).one()
    post_form(client, f"/sell/gigs/{gig.id}/submit")
    sign_in(people["admin"])
    queue = client.get("/admin/gigs/").get_data(as_text=True)
    assert "Resubmission" not in queue
    post_form(client, f"/admin/gigs/{gig.id}/reject", {"reason": "Show the logo on a mockup."})
    sign_in(people["owner"])
    data = gig_form(category.id, title="I will design a minimalist logo with mockups")
    assert post_multipart(client, f"/sell/gigs/{gig.id}/edit", {**data, "then": "submit"}).status_code == 303
    sign_in(people["admin"])
    queue = client.get("/admin/gigs/").get_data(as_text=True)
    assert "Previously rejected" in queue and "Show the logo on a mockup." in queue
    assert '<td class="diff-new">I will design a minimalist logo with mockups</td>' in queue
    assert f'<td class="diff-old">{OLD_TITLE}</td>' in queue


def test_the_seller_can_withdraw_and_a_withdrawn_or_decided_revision_cannot_be_decided(
    client, sign_in, live_gig, people
):
    _edit(client, live_gig)
    [revision] = _pending(live_gig.id)
    response = post_form(client, f"/sell/gigs/{live_gig.id}/revisions/{revision.id}/withdraw")
    assert response.status_code == 303
    assert "Your changes were withdrawn" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert post_form(client, f"/sell/gigs/{live_gig.id}/revisions/{revision.id}/withdraw").status_code == 409
    sign_in(people["admin"])
    response = post_form(client, f"/admin/gigs/revisions/{revision.id}/approve", headers=HTMX)
    assert response.status_code == 409 and "The seller withdrew these changes." in response.get_data(as_text=True)
    assert post_form(client, f"/admin/gigs/revisions/{revision.id}/approve").status_code == 409
    assert _gig(live_gig.id).title == OLD_TITLE

    sign_in(people["owner"])
    _edit(client, live_gig)
    [second] = _pending(live_gig.id)
    sign_in(people["admin"])
    assert post_form(client, f"/admin/gigs/revisions/{second.id}/approve").status_code == 303
    again = post_form(client, f"/admin/gigs/revisions/{second.id}/reject", {"reason": "Too late"})
    assert again.status_code == 409 and "already approved" in again.get_data(as_text=True)
    assert post_form(client, "/admin/gigs/revisions/999999999/approve").status_code == 404


def test_other_sellers_members_and_non_admins_are_refused(client, sign_in, live_gig, people):
    _edit(client, live_gig)
    [revision] = _pending(live_gig.id)
    # Another seller: the gig and its revision do not exist for them.
    sign_in(people["other"])
    assert client.get(f"/sell/gigs/{live_gig.id}/edit").status_code == 404
    assert _edit(client, live_gig, title="I will hijack this gig for myself").status_code == 404
    assert post_form(client, f"/sell/gigs/{live_gig.id}/revisions/{revision.id}/withdraw").status_code == 404
    assert post_form(client, f"/admin/gigs/revisions/{revision.id}/approve").status_code == 403
    # A member of the seller may not open, change or withdraw a gig (the rights table: gigs are
    # for owners and admins).
    sign_in(people["member"])
    assert client.get(f"/sell/gigs/{live_gig.id}/edit").status_code == 403
    assert _edit(client, live_gig, title="I will change the live gig as a member").status_code == 403
    assert post_form(client, f"/sell/gigs/{live_gig.id}/revisions/{revision.id}/withdraw").status_code == 403
    # The seller's owner may not approve their own change, even as a platform admin.
    sign_in(people["owner"])
    assert post_form(client, f"/admin/gigs/revisions/{revision.id}/approve").status_code == 403
    assert post_form(client, f"/admin/gigs/revisions/{revision.id}/reject", {"reason": "x"}).status_code == 403
    with without_tenant():
        owner = _db.session.get(User, people["owner"].id)
        owner.is_admin = True
        with pytest.raises(GigForbidden, match="You cannot review your own gig."):
            # populate_existing: the revision was loaded (gig and all) under a request's tenant scope.
            approve_gig_revision(_db.session.get(GigRevision, revision.id, populate_existing=True), owner)
        _db.session.rollback()
    # A revision id under another gig of the seller is not found.
    assert post_form(client, f"/sell/gigs/{live_gig.id}/revisions/{revision.id + 1000}/withdraw").status_code == 404
    [still] = _pending(live_gig.id)
    assert (still.id, still.content["title"]) == (revision.id, NEW_TITLE)
    assert _gig(live_gig.id).title == OLD_TITLE


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("basic-price", "-5", "Use a price like 49 or 49.99."),
        ("basic-price", "NaN", "Use a price like 49 or 49.99."),
        ("basic-price", "99999999999999999999", "Use a price like 49 or 49.99."),
        ("basic-delivery_days", "abc", "Not a valid integer value."),
        ("basic-delivery_days", "900", "Delivery must take 1 to 90 days."),
        ("title", "x" * 50_000, "Use at most 120 characters."),
        ("title", "short", "Use at least 10 characters."),
        ("title", "I will draw \x00 nothing at all", "contains a character"),
        ("basic-revisions", "-3", "Choose 0 to 10 revisions, or unlimited."),
    ],
)
def test_hostile_editor_input_for_a_live_gig_writes_nothing(client, live_gig, field, value, message):
    response = _edit(client, live_gig, **{field: value})
    assert 400 <= response.status_code < 500
    assert message in response.get_data(as_text=True)
    assert _pending(live_gig.id) == []
    assert _gig(live_gig.id).title == OLD_TITLE


@pytest.mark.parametrize(
    "reason, status, message",
    [
        ("x" * 1001, 422, "Keep the reason under 1000 characters."),
        ("Bad \x00 byte", 400, "contains a character"),
        ("\u202e\u0000", 400, "contains a character"),
    ],
)
def test_hostile_reasons_are_refused(client, sign_in, live_gig, people, reason, status, message):
    _edit(client, live_gig)
    [revision] = _pending(live_gig.id)
    sign_in(people["admin"])
    response = post_form(client, f"/admin/gigs/revisions/{revision.id}/reject", {"reason": reason})
    assert response.status_code == status and message in response.get_data(as_text=True)
    assert [r.id for r in _pending(live_gig.id)] == [revision.id]


def test_unicode_reason_is_kept_as_written(client, sign_in, live_gig, people):
    _edit(client, live_gig)
    [revision] = _pending(live_gig.id)
    sign_in(people["admin"])
    reason = "Merci — 日本語の説明も OK 👍"
    assert post_form(client, f"/admin/gigs/revisions/{revision.id}/reject", {"reason": reason}).status_code == 303
    with without_tenant():
        assert _db.session.get(GigRevision, revision.id).rejection_reason == reason


def test_a_live_gallery_image_is_not_removed_outside_review(client, live_gig):
    image = live_gig.images[0]
    response = post_form(client, f"/sell/gigs/{live_gig.id}/images/{image.id}/delete")
    assert response.status_code == 409
    assert len(_gig(live_gig.id).images) == 1
    # Unticked in the editor, the removal is part of the revision instead.
    upload = [("second.png", image_bytes(color=(1, 2, 3)))]
    _edit(client, live_gig, files=upload, remove_image_key=image.storage_key)
    [revision] = _pending(live_gig.id)
    assert image.storage_key not in [i["storage_key"] for i in revision.content["images"]]
    assert len(_gig(live_gig.id).images) == 1
    # A live gig keeps at least one image.
    response = _edit(client, live_gig, remove_image_key=revision.content["images"][0]["storage_key"])
    assert response.status_code == 422 and "at least one gallery image" in response.get_data(as_text=True)


def _cast_gig_live(cast):
    """The cast's published gig with a gallery image and a Standard package (as the editor would)."""
    gig = cast.gig
    gig.images.append(
        GigImage(
            company_id=gig.company_id,
            storage_key=f"gigs/{gig.id}/{'a' * 40}.png",
            content_type="image/png",
            width=640,
            height=400,
            size_bytes=100,
        )
    )
    gig.packages.append(
        GigPackage(
            company_id=gig.company_id,
            tier="standard",
            position=1,
            title="Standard",
            description="More",
            price_cents=5000,
            delivery_days=5,
            revisions=3,
        )
    )
    _db.session.commit()
    return gig


def _content(gig, **packages):
    return {
        "title": "I will do the same thing, but dearer",
        "category_id": gig.category_id,
        "description_md": "A description that is at least fifty characters long, for the check.",
        "tags": [],
        "packages": packages
        or {
            "basic": {
                "title": "Dearer",
                "description": "More",
                "price_cents": 90000,
                "delivery_days": 30,
                "revisions": 0,
            }
        },
    }


def test_orders_keep_the_terms_they_were_bought_with(db):
    cast = make_cast()
    gig = _cast_gig_live(cast)
    order = make_order(cast, status="in_progress")
    terms = (order.total_cents, order.delivery_days, order.revisions_allowed, order.title, order.package_id)
    packages = {
        "basic": {"title": "Dearer", "description": "More", "price_cents": 90000, "delivery_days": 30, "revisions": 0},
        "standard": {"title": "Std", "description": "Std", "price_cents": 95000, "delivery_days": 30, "revisions": 0},
    }
    revision = save_gig_revision(cast.company, cast.owner, gig, _content(gig, **packages))
    approve_gig_revision(revision, cast.admin)
    db.session.commit()
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert (order.total_cents, order.delivery_days, order.revisions_allowed, order.title, order.package_id) == terms
    assert db.session.get(Gig, gig.id).package("basic").price_cents == 90000


def test_a_package_buyers_ordered_is_never_dropped(db):
    cast = make_cast()
    gig = _cast_gig_live(cast)
    standard_id = gig.package("standard").id
    # Dropping Standard is fine while nobody bought it; by approval time somebody has.
    revision = save_gig_revision(cast.company, cast.owner, gig, _content(gig))
    db.session.commit()
    make_order(cast, status="in_progress", package_id=standard_id, package_tier="standard")
    db.session.commit()
    with pytest.raises(GigStateError, match="Buyers have since ordered the Standard package"):
        approve_gig_revision(revision, cast.admin)
    db.session.rollback()
    assert db.session.get(GigRevision, revision.id).status == "pending"
    # And a new edit dropping it is refused on the field.
    with pytest.raises(GigInputError) as refused:
        save_gig_revision(cast.company, cast.owner, gig, _content(gig))
    assert "Buyers have ordered the Standard package" in refused.value.errors[("packages", "standard", "title")]
