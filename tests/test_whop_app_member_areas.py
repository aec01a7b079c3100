"""Member areas on Tradepost (/account/products, /sell/products/<id>/content) and the seller's
Whop links (/sell/whop)."""

from io import BytesIO

import pytest
from sqlalchemy import func, select

from app.models import MemberFile, MemberPost, Membership, WhopCompanyLink, WhopProductLink
from app.services.companies import create_seller_company
from app.tenancy import without_tenant
from tests.factories import make_product
from tests.forms import post_form

pytestmark = pytest.mark.usefixtures("uploads")


@pytest.fixture
def seller(make_seller):
    owner, company = make_seller(title="Maker Co", kyc="unstarted", display_name="Mo Maker")
    product = make_product(company, slug="maker-kit")
    return type("Seller", (), {"owner": owner, "company": company, "product": product})


def upload(client, product_id, name, data):
    return post_form(
        client,
        f"/sell/products/{product_id}/content/files",
        {"file": (BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_seller_publishes_posts_and_files_members_see_them(client, db, seller, make_user, sign_in):
    sign_in(seller.owner)
    pid = seller.product.id
    assert "New post" in client.get(f"/sell/products/{pid}/content").get_data(as_text=True)
    response = post_form(
        client, f"/sell/products/{pid}/content/posts", {"title": "Lesson 1", "body": "Read *this* <script>x</script>"}
    )
    assert response.status_code == 303
    post = db.session.scalar(select(MemberPost))
    assert "<em>this</em>" in post.body_html and "<script>" not in post.body_html
    assert upload(client, pid, "kit.zip", b"PK\x03\x04 kit").status_code == 303
    member_file = db.session.scalar(select(MemberFile))
    assert (member_file.filename, member_file.size_bytes, member_file.content_type) == ("kit.zip", 8, "application/zip")
    client.post(
        "/signout",
        data={"csrf_token": client.get("/").get_data(as_text=True).split('csrf-token" content="')[1].split('"')[0]},
    )

    buyer = make_user()
    sign_in(buyer)
    refused = client.get(f"/account/products/{pid}")
    assert refused.status_code == 403 and "Get access" in refused.get_data(as_text=True)
    assert client.get(f"/account/products/{pid}/files/{member_file.id}").status_code == 403

    db.session.add(Membership(company_id=seller.company.id, product_id=pid, buyer_id=buyer.id, status="active"))
    db.session.commit()
    page = client.get(f"/account/products/{pid}").get_data(as_text=True)
    assert "Lesson 1" in page and "kit.zip" in page
    with client.get(f"/account/products/{pid}/files/{member_file.id}") as download:
        assert download.status_code == 200 and download.data == b"PK\x03\x04 kit"
        assert download.headers["Cache-Control"] == "private, no-store"


def test_bad_post_and_file_input_is_refused_with_field_messages(client, db, seller, sign_in):
    sign_in(seller.owner)
    pid = seller.product.id
    response = post_form(client, f"/sell/products/{pid}/content/posts", {"title": "", "body": "kept text"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Give the post a title." in page and "kept text" in page
    refused = upload(client, pid, "run.exe", b"MZ")
    assert refused.status_code == 422 and "Upload one of" in refused.get_data(as_text=True)
    assert upload(client, pid, "empty.pdf", b"").status_code == 422
    assert db.session.scalar(select(func.count(MemberPost.id))) == 0
    assert db.session.scalar(select(func.count(MemberFile.id))) == 0


def test_seller_removes_posts_and_files(client, db, seller, sign_in, uploads):
    sign_in(seller.owner)
    pid = seller.product.id
    post_form(client, f"/sell/products/{pid}/content/posts", {"title": "Old", "body": "news"})
    upload(client, pid, "a.pdf", b"%PDF a")
    post, member_file = db.session.scalar(select(MemberPost)), db.session.scalar(select(MemberFile))
    stored = uploads / member_file.storage_key
    assert stored.is_file()
    assert post_form(client, f"/sell/products/{pid}/content/posts/{post.id}/delete").status_code == 303
    assert post_form(client, f"/sell/products/{pid}/content/files/{member_file.id}/delete").status_code == 303
    assert db.session.scalar(select(func.count(MemberPost.id))) == 0
    assert not stored.exists()


def test_other_sellers_and_buyers_cannot_manage_content(client, db, seller, make_user, sign_in):
    other = make_user(intent="sell")
    create_seller_company(other, "Rival Co")
    db.session.commit()
    sign_in(other)
    pid = seller.product.id
    assert client.get(f"/sell/products/{pid}/content").status_code == 404
    assert post_form(client, f"/sell/products/{pid}/content/posts", {"title": "x", "body": "y"}).status_code == 404
    assert client.get(f"/account/products/{pid}").status_code == 403
    assert db.session.scalar(select(func.count(MemberPost.id))) == 0


def test_seller_links_company_and_product_to_whop(client, db, seller, sign_in):
    sign_in(seller.owner)
    assert "Show your products inside Whop" in client.get("/sell/whop").get_data(as_text=True)
    bad = post_form(client, "/sell/whop/company", {"whop_company_id": "acme"})
    assert bad.status_code == 422 and "biz_XXXX" in bad.get_data(as_text=True)
    assert post_form(client, "/sell/whop/company", {"whop_company_id": "biz_maker"}).status_code == 303
    assert db.session.scalar(select(WhopCompanyLink)).whop_company_id == "biz_maker"

    pid = seller.product.id
    missing = post_form(client, f"/sell/whop/products/{pid}", {"whop_product_id": "prod_maker"})
    assert missing.status_code == 422 and "experience id as well" in missing.get_data(as_text=True)
    assert (
        post_form(
            client, f"/sell/whop/products/{pid}", {"whop_experience_id": "exp_maker", "whop_product_id": "prod_maker"}
        ).status_code
        == 303
    )
    link = db.session.scalar(select(WhopProductLink))
    assert (link.whop_experience_id, link.whop_product_id) == ("exp_maker", "prod_maker")

    assert post_form(client, f"/sell/whop/products/{pid}", {"whop_experience_id": ""}).status_code == 303
    assert db.session.scalar(select(WhopProductLink)) is None
    assert post_form(client, "/sell/whop/company", {"whop_company_id": ""}).status_code == 303
    assert db.session.scalar(select(WhopCompanyLink)) is None


def test_whop_ids_of_another_seller_are_refused(client, db, seller, make_user, sign_in):
    db.session.add(WhopCompanyLink(company_id=seller.company.id, whop_company_id="biz_taken"))
    db.session.add(
        WhopProductLink(company_id=seller.company.id, product_id=seller.product.id, whop_experience_id="exp_taken")
    )
    other = make_user(intent="sell")
    rival = create_seller_company(other, "Rival Co")
    rival_product = make_product(rival, slug="rival-kit")
    db.session.commit()
    sign_in(other)
    taken = post_form(client, "/sell/whop/company", {"whop_company_id": "biz_taken"})
    assert taken.status_code == 422 and "another seller" in taken.get_data(as_text=True)
    taken = post_form(client, f"/sell/whop/products/{rival_product.id}", {"whop_experience_id": "exp_taken"})
    assert taken.status_code == 422 and "another product" in taken.get_data(as_text=True)
    assert (
        post_form(client, f"/sell/whop/products/{seller.product.id}", {"whop_experience_id": "exp_mine"}).status_code
        == 404
    )
    with without_tenant():
        assert db.session.scalar(select(WhopProductLink.whop_experience_id)) == "exp_taken"


def test_whop_seller_page_needs_a_manager(client, db, seller, make_user, sign_in):
    buyer = make_user()
    sign_in(buyer)
    response = client.get("/sell/whop")
    assert response.status_code in (302, 403)
