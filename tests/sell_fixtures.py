"""Fixtures and builders shared by the sell and review tests (imported by those modules)."""
import io

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from app.models import Category, CompanyMember
from app.services.companies import create_seller_company
from tests.conftest import csrf_token


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    """Gig images go to a temporary folder, not instance/uploads."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


@pytest.fixture
def category(db):
    found = db.session.query(Category).filter_by(slug="design").one_or_none()
    if found is None:
        found = Category(slug="design", name="Graphics & Design")
        db.session.add(found)
        db.session.commit()
    return found


@pytest.fixture
def make_seller(db, make_user):
    """make_seller(kyc="verified", company=None, role="owner") → (user, company)."""

    def make(kyc="verified", company=None, role="owner", **user_columns):
        user = make_user(intent="sell", **user_columns)
        if company is None:
            company = create_seller_company(user, f"Studio {user.id}")
            company.kyc_status = kyc
        else:
            db.session.add(CompanyMember(company_id=company.id, user_id=user.id, role=role))
        db.session.commit()
        return user, company

    return make


def image_bytes(fmt="PNG", size=(320, 200), color=(31, 122, 92)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def gig_form(category_id, **overrides):
    """A complete, valid editor submission (Basic + one extra, question and FAQ entry)."""
    data = {
        "title": "I will design a minimalist logo for your brand",
        "category_id": str(category_id),
        "description_md": "A **clean, timeless** logo for your business.\n\n- Vector files\n- Colour palette\n"
                          "<script>alert(1)</script>",
        "tags": "logo, Branding, minimal",
        "basic-offered": "y", "basic-title": "Starter", "basic-description": "One logo concept",
        "basic-price": "25.00", "basic-delivery_days": "3", "basic-revisions": "2",
        "extras-0-title": "Source files", "extras-0-price": "10", "extras-0-extra_days": "1",
        "extras-0-max_quantity": "1",
        "questions-0-prompt": "What is your brand called?", "questions-0-kind": "short_text",
        "questions-0-required": "y",
        "faq-0-question": "Do I own the copyright?", "faq-0-answer": "Yes, all rights transfer on completion.",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_multipart(client, path, data, files=(), **kwargs):
    """POST the editor form as a browser would (multipart, CSRF token, optional files).

    The body is encoded in memory: the test client's own encoder spools big bodies to a
    temporary file it never closes, which pytest would report as a ResourceWarning.
    """
    fields = MultiDict(data)
    fields.setdefault("csrf_token", csrf_token(client))
    for name, content in files:
        fields.add("images", FileStorage(io.BytesIO(content), filename=name))
    boundary, body = encode_multipart(fields)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}", **kwargs)
