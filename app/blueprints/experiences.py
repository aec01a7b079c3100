"""Member areas, on Tradepost and inside Whop.

* /account/products/<id> — a buyer's member area (posts and files) while their membership
  grants access; /sell/products/<id>/content — the seller adds and removes posts and files.
* /experiences/<experience_id> and /dashboard/<whop_company_id> — the views Whop shows in its
  iframe. Each request is authenticated by Whop's ``x-whop-user-token`` header alone (no
  cookies inside the iframe); a missing or invalid token gets the 401 page. app/__init__.py
  lets Whop frame exactly these two prefixes.
"""
from flask import Blueprint, abort, current_app, flash, g, redirect, request, send_file, url_for
from flask_login import current_user, login_required

from app.access import seller_required
from app.extensions import db
from app.inputs import body_limit
from app.integrations.whop import USER_TOKEN_HEADER, WhopTokenError, verify_user_token
from app.models import Product
from app.services.member_areas import (MAX_FILE_BYTES, add_member_file,
                                       add_member_post, delete_member_file, delete_member_post,
                                       get_member_file, get_member_post, member_area,
                                       member_file_path)
from app.services.whop_access import can_open_member_area, dashboard_stats, open_dashboard, open_experience
from app.web import refusal_page, render

bp = Blueprint("experiences", __name__)
MANAGERS = ("owner", "admin")


# --------------------------------------------------------------------------- on Tradepost


def _product_or_404(product_id):
    product = db.session.get(Product, product_id)
    if product is None:
        abort(404)
    return product


def _send_member_file(product, file_id):
    member_file = get_member_file(product, file_id) or abort(404)
    path = member_file_path(member_file)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=member_file.content_type, as_attachment=True,
                         download_name=member_file.filename, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/account/products/<int:product_id>")
@login_required
def member_home(product_id):
    product = _product_or_404(product_id)
    if not can_open_member_area(current_user, product):
        return render("member/get_access.html", product=product, http_status=403)
    posts, files = member_area(product)
    return render("member/area.html", product=product, posts=posts, files=files)


@bp.route("/account/products/<int:product_id>/files/<int:file_id>")
@login_required
def member_file(product_id, file_id):
    product = _product_or_404(product_id)
    if not can_open_member_area(current_user, product):
        abort(403)
    return _send_member_file(product, file_id)


def _content_page(product, errors=None, form=None, status=200):
    posts, files = member_area(product)
    return render("member/content.html", product=product, posts=posts, files=files, errors=errors or {},
                  form=form or {}, max_mb=MAX_FILE_BYTES // (1024 * 1024), http_status=status)


def _content_refused(exc, product_id):
    """The editor again with the post as typed and the errors."""
    return _content_page(_own_product(product_id), exc.errors, request.form, exc.status)


def _own_product(product_id):
    """The current seller's product; any other company's is a 404."""
    product = db.session.get(Product, product_id)
    if product is None or product.company_id != g.company.id:
        abort(404)
    return product


@bp.route("/sell/products/<int:product_id>/content")
@seller_required(roles=MANAGERS)
def content(product_id):
    return _content_page(_own_product(product_id))


@bp.route("/sell/products/<int:product_id>/content/posts", methods=["POST"])
@seller_required(roles=MANAGERS)
@refusal_page(_content_refused)
def add_post(product_id):
    add_member_post(_own_product(product_id), current_user, request.form)
    db.session.commit()
    flash("Post published to your members.", "success")
    return redirect(url_for("experiences.content", product_id=product_id), 303)


@bp.route("/sell/products/<int:product_id>/content/posts/<int:post_id>/delete", methods=["POST"])
@seller_required(roles=MANAGERS)
def remove_post(product_id, post_id):
    product = _own_product(product_id)
    post = get_member_post(product, post_id) or abort(404)
    delete_member_post(product, current_user, post)
    db.session.commit()
    flash("Post removed.", "success")
    return redirect(url_for("experiences.content", product_id=product.id), 303)


@bp.route("/sell/products/<int:product_id>/content/files", methods=["POST"])
@body_limit(MAX_FILE_BYTES + 64 * 1024)
@seller_required(roles=MANAGERS)
@refusal_page(_content_refused)
def add_file(product_id):
    add_member_file(_own_product(product_id), current_user, request.files.get("file"))
    db.session.commit()
    flash("File added for your members.", "success")
    return redirect(url_for("experiences.content", product_id=product_id), 303)


@bp.route("/sell/products/<int:product_id>/content/files/<int:file_id>/delete", methods=["POST"])
@seller_required(roles=MANAGERS)
def remove_file(product_id, file_id):
    product = _own_product(product_id)
    member_file = get_member_file(product, file_id) or abort(404)
    delete_member_file(product, current_user, member_file)
    db.session.commit()
    flash("File removed.", "success")
    return redirect(url_for("experiences.content", product_id=product.id), 303)


# --------------------------------------------------------------------------- inside Whop


def _whop_claims():
    """The verified claims of Whop's user token; WhopTokenError (401) without a valid one."""
    config = current_app.config
    return verify_user_token(request.headers.get(USER_TOKEN_HEADER), app_id=config["WHOP_APP_ID"],
                             jwks_url=config["WHOP_JWKS_URL"])


def _framed(template, status=200, **context):
    body, status, headers = render(template, http_status=status, **context)
    headers["Cache-Control"] = "private, no-store"
    return body, status, headers


def _framed_refusal(exc, **_view_args):
    """Inside the iframe: "open this from Whop" without a valid token, else why not."""
    if isinstance(exc, WhopTokenError):
        current_app.logger.info("Whop view refused: %s", exc.reason)
        return _framed("experiences/unauthorized.html", 401, reason=exc.reason)
    return _framed("experiences/denied.html", exc.status, code=exc.status, title=getattr(exc, "title", "That didn't work"),
                   message=exc.message)


@bp.route("/experiences/<experience_id>")
@refusal_page(_framed_refusal)
def experience(experience_id):
    claims = _whop_claims()
    product, user, allowed = open_experience(experience_id, claims)
    db.session.commit()
    if not allowed:
        return _framed("experiences/get_access.html", 403, product=product, viewer=user)
    posts, files = member_area(product)
    return _framed("experiences/experience.html", product=product, viewer=user, posts=posts,
                   files=files, experience_id=experience_id)


@bp.route("/experiences/<experience_id>/files/<int:file_id>")
@refusal_page(_framed_refusal)
def experience_file(experience_id, file_id):
    claims = _whop_claims()
    product, _user, allowed = open_experience(experience_id, claims)
    db.session.commit()
    if not allowed:
        abort(403)
    return _send_member_file(product, file_id)


@bp.route("/dashboard/<whop_company_id>")
@refusal_page(_framed_refusal)
def dashboard(whop_company_id):
    claims = _whop_claims()
    company, user = open_dashboard(whop_company_id, claims)
    return _framed("experiences/dashboard.html", company=company, viewer=user,
                   stats=dashboard_stats(company), whop_company_id=whop_company_id)
