"""The gig editor keeps rows in the seller's order, and "(Re)submit for review" saves the edits
it was pressed with (or refuses, saving nothing)."""

import re

import pytest
from sqlalchemy import select

from app.models import Gig
from app.services.gigs import transition_gig
from tests.forms import gig_form, image_bytes, post_form, post_multipart

pytestmark = pytest.mark.usefixtures("uploads")


@pytest.fixture
def seller_client(client, sign_in, make_seller):
    user, company = make_seller()
    sign_in(user)
    return client


def rows(kind, fields, entries):
    """Form fields for editor rows, in the given order, each under its own index."""
    return {
        f"{kind}-{index}-{name}": value for index, values in entries for name, value in zip(fields, values, strict=True)
    }


def editor_form(category_id, **extra):
    """gig_form without its one extra/question/FAQ row, plus `extra`, in insertion order."""
    base = {k: v for k, v in gig_form(category_id).items() if not k.startswith(("extras-", "questions-", "faq-"))}
    return {**base, **extra}


def test_rows_are_saved_in_the_order_the_seller_gave_them(db, seller_client, category):
    # Rows added with htmx carry large indices; the page order, not the numbers, is the seller's order.
    data = editor_form(
        category.id,
        **rows(
            "extras",
            ("title", "price"),
            [(0, ("Source files", "10")), (7_000_000, ("Express", "20")), (2_000_000, ("Print-ready PDF", "5"))],
        ),
        **rows(
            "questions",
            ("prompt", "kind"),
            [
                (5_000_000, ("Brand name?", "short_text")),
                (1_000_000, ("Colours?", "long_text")),
                (3, ("Anything else?", "long_text")),
            ],
        ),
        **rows(
            "faq",
            ("question", "answer"),
            [(9_000_000, ("First?", "One")), (4_000_000, ("Second?", "Two")), (8_000_000, ("Third?", "Three"))],
        ),
    )
    response = post_multipart(seller_client, "/sell/gigs/new", data, files=[("cover.png", image_bytes())])
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    gig = db.session.scalars(select(Gig)).one()
    assert [e.title for e in gig.extras] == ["Source files", "Express", "Print-ready PDF"]
    assert [q.prompt for q in gig.questions] == ["Brand name?", "Colours?", "Anything else?"]
    assert [item["question"] for item in gig.faq] == ["First?", "Second?", "Third?"]

    page = seller_client.get(f"/sell/gigs/{gig.id}/edit").get_data(as_text=True)
    assert page.index("Brand name?") < page.index("Colours?") < page.index("Anything else?")


def test_rows_fetched_one_by_one_keep_their_order_through_a_refusal_and_a_save(db, seller_client, category):
    indices = []
    for _ in range(3):
        row = seller_client.get("/sell/gigs/rows/questions", headers={"HX-Request": "true"}).get_data(as_text=True)
        indices.append(int(re.search(r'name="questions-(\d+)-prompt"', row).group(1)))
    assert len(set(indices)) == 3
    prompts = ["Brand name?", "", "Deadline?"]  # the second one is empty: the form comes back
    data = editor_form(
        category.id, **rows("questions", ("prompt",), [(i, (p,)) for i, p in zip(indices, prompts, strict=True)])
    )
    response = post_multipart(seller_client, "/sell/gigs/new", data, files=[("cover.png", image_bytes())])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.index("Brand name?") < page.index("Enter the question.") < page.index("Deadline?")

    prompts[1] = "Colours?"
    data = editor_form(
        category.id, **rows("questions", ("prompt",), [(i, (p,)) for i, p in zip(indices, prompts, strict=True)])
    )
    assert (
        post_multipart(seller_client, "/sell/gigs/new", data, files=[("cover.png", image_bytes())]).status_code == 303
    )
    assert [q.prompt for q in db.session.scalars(select(Gig)).one().questions] == prompts


@pytest.mark.parametrize("index", ["²", "-1", "1" * 5000, "0x1", " 1"])
def test_row_indices_that_are_not_numbers_are_ignored(db, seller_client, category, index):
    data = {**gig_form(category.id), f"faq-{index}-question": "Sneaky?", f"faq-{index}-answer": "Yes"}
    response = post_multipart(seller_client, "/sell/gigs/new", data, files=[("cover.png", image_bytes())])
    assert response.status_code == 303
    assert [item["question"] for item in db.session.scalars(select(Gig)).one().faq] == ["Do I own the copyright?"]


@pytest.fixture
def rejected_gig(db, seller_client, category, make_user):
    response = post_multipart(
        seller_client, "/sell/gigs/new", gig_form(category.id), files=[("cover.png", image_bytes())]
    )
    assert response.status_code == 303
    gig = db.session.scalars(select(Gig)).one()
    gig.status = "review"
    db.session.commit()
    transition_gig(gig, "reject", make_user(is_admin=True), reason="Say what the buyer gets.")
    db.session.commit()
    return gig


def test_the_resubmit_button_posts_the_editor_form(db, seller_client, rejected_gig):
    page = seller_client.get(f"/sell/gigs/{rejected_gig.id}/edit").get_data(as_text=True)
    form_id = re.search(r'<form class="editor" id="([^"]+)"', page).group(1)
    button = re.search(r'<button[^>]*value="submit"[^>]*>([^<]+)</button>', page)
    assert button and f'form="{form_id}"' in button.group(0) and 'name="then"' in button.group(0)
    assert button.group(1) == "Save and resubmit for review"


def test_resubmitting_saves_the_edits_with_the_submission(db, seller_client, rejected_gig):
    data = gig_form(rejected_gig.category_id, title="I will design a logo and deliver every source file", then="submit")
    response = post_multipart(seller_client, f"/sell/gigs/{rejected_gig.id}/edit", data)
    assert response.status_code == 303
    db.session.expire_all()
    gig = db.session.get(Gig, rejected_gig.id)
    assert (gig.status, gig.title, gig.rejection_reason) == (
        "review",
        "I will design a logo and deliver every source file",
        None,
    )


def test_resubmitting_bad_edits_saves_and_submits_nothing(db, seller_client, rejected_gig):
    data = gig_form(rejected_gig.category_id, title="Short", then="submit")
    response = post_multipart(seller_client, f"/sell/gigs/{rejected_gig.id}/edit", data)
    assert response.status_code == 422 and "Use at least 10 characters." in response.get_data(as_text=True)
    db.session.expire_all()
    gig = db.session.get(Gig, rejected_gig.id)
    assert (gig.status, gig.title) == ("rejected", "I will design a minimalist logo for your brand")


def test_a_submission_the_gig_cannot_take_is_refused_clearly_and_the_edits_kept_in_the_form(
    db, seller_client, rejected_gig
):
    new_title = "I will design a logo with no gallery at all"
    data = {
        **gig_form(rejected_gig.category_id, title=new_title, then="submit"),
        "remove_image": str(rejected_gig.images[0].id),
    }
    response = post_multipart(seller_client, f"/sell/gigs/{rejected_gig.id}/edit", data)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Nothing was saved." in page and "Add at least one gallery image before submitting." in page
    assert f'value="{new_title}"' in page
    db.session.expire_all()
    gig = db.session.get(Gig, rejected_gig.id)
    assert (gig.status, gig.title, len(gig.images)) == ("rejected", "I will design a minimalist logo for your brand", 1)


def test_a_draft_is_saved_and_submitted_in_one_go(db, seller_client, category):
    post_multipart(seller_client, "/sell/gigs/new", gig_form(category.id), files=[("cover.png", image_bytes())])
    gig = db.session.scalars(select(Gig)).one()
    page = seller_client.get(f"/sell/gigs/{gig.id}/edit").get_data(as_text=True)
    assert re.search(r'<button[^>]*name="then"[^>]*value="submit"[^>]*>Save and submit for review</button>', page)
    response = post_multipart(
        seller_client, f"/sell/gigs/{gig.id}/edit", gig_form(category.id, tags="logo, vector", then="submit")
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert (gig.status, gig.tag_list) == ("review", ["logo", "vector"])


def test_members_cannot_submit_through_the_editor_either(db, seller_client, category, client, sign_in, make_seller):
    post_multipart(seller_client, "/sell/gigs/new", gig_form(category.id), files=[("cover.png", image_bytes())])
    gig = db.session.scalars(select(Gig)).one()
    member, _ = make_seller(company=gig.company, role="member")
    post_form(client, "/signout")
    sign_in(member)
    response = post_multipart(
        client, f"/sell/gigs/{gig.id}/edit", gig_form(category.id, title="I will design a member's logo", then="submit")
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert (gig.status, gig.title) == ("draft", "I will design a minimalist logo for your brand")
