"""The seller's license keys: the list (search, filters), a key's page with its history,
suspend / reinstate / revoke / reset / extend (owners and admins), and each product's license
policy."""

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.access import company_required
from app.blueprints.sell.products import get_own_product_or_404
from app.clock import now
from app.errors import InputError
from app.extensions import db
from app.inputs import parse_id, parse_whole_number
from app.models import AuditEvent, License, LicensePolicy, Product
from app.services.licensing import issuing, license_keys, seller_admin
from app.web import ConfirmationRequired, confirm_page, refusal_page, render, require_confirmation

bp = Blueprint("licenses", __name__, url_prefix="/licenses")


def get_own_license_or_404(license_id):
    """The current tenant's license (the tenant scope hides every other company's).

    A SELECT, not session.get(): the identity map must not bypass the tenant criteria."""
    return db.session.scalar(select(License).where(License.id == license_id)) or abort(404)


def _int_arg(name):
    return parse_id(request.args.get(name, ""))


@bp.route("")
@company_required("licenses")
def index():
    product_id, status, q = _int_arg("product"), request.args.get("status", ""), request.args.get("q", "")
    return render(
        "licensing/index.html",
        "license_table",
        products=db.session.scalars(select(Product).order_by(Product.title)).all(),
        policies={policy.product_id: policy for policy in db.session.scalars(select(LicensePolicy))},
        licenses=seller_admin.list_licenses(product_id, status, q),
        product_id=product_id,
        status=status,
        q=q,
        statuses=seller_admin.LIST_STATUSES,
        page_size=seller_admin.PAGE_SIZE,
        now=now(),
    )


def _detail_page(license, status=200, error=None):
    history = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.subject_type == "license", AuditEvent.subject_id == str(license.id))
        .order_by(AuditEvent.created_at.desc())
        .limit(20)
    ).all()
    return render(
        "licensing/detail.html",
        license=license,
        key=license_keys.license_key(license),
        history=history,
        error=error,
        now=now(),
        can_manage=g.company.is_manager(current_user),
        http_status=status,
    )


@bp.route("/<int:license_id>")
@company_required("licenses")
def detail(license_id):
    return _detail_page(get_own_license_or_404(license_id))


ACTIONS = {
    "suspend": (seller_admin.suspend_license, "Key suspended: validation now answers SUSPENDED."),
    "reinstate": (seller_admin.reinstate_license, "Key reinstated."),
    "revoke": (seller_admin.revoke_license, "Key revoked for good."),
    "reset": (seller_admin.reset_license_activations, "All machines removed from the key."),
}


REVOKE_CONFIRMATION = "Confirm that this key is to be revoked for good."


def _revoke_confirmation(license, error=None, status=200):
    return confirm_page(
        title=f"Revoke key …{license.key_hint} for good?",
        message=(
            "Validation will answer REVOKED from now on, on every machine, and the key can't be "
            "reinstated. To pause it instead, suspend it."
        ),
        action=url_for(".act", license_id=license.id, action="revoke"),
        word="revoke",
        button="Revoke for good",
        cancel=url_for(".detail", license_id=license.id),
        error=error,
        status=status,
    )


def _detail_refused(exc, license_id, **_action):
    license = get_own_license_or_404(license_id)
    if isinstance(exc, ConfirmationRequired):
        return _revoke_confirmation(license, exc.message, exc.status)
    return _detail_page(license, exc.status, exc.message)


@bp.get("/<int:license_id>/revoke")
@company_required("licenses")
def confirm_revoke(license_id):
    """The confirmation step before revoking a key for good."""
    return _revoke_confirmation(get_own_license_or_404(license_id))


@bp.post("/<int:license_id>/<any(suspend, reinstate, revoke, reset):action>")
@company_required("licenses")
@refusal_page(_detail_refused)
def act(license_id, action):
    service, message = ACTIONS[action]
    license = get_own_license_or_404(license_id)
    if action == "revoke":
        require_confirmation("revoke", REVOKE_CONFIRMATION)
    service(license, current_user)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".detail", license_id=license_id), 303)


@bp.post("/<int:license_id>/extend")
@company_required("licenses")
@refusal_page(_detail_refused)
def extend(license_id):
    license = get_own_license_or_404(license_id)
    days = parse_whole_number(request.form.get("days", ""))
    if days is None:
        raise InputError("days", "Enter a number of days.")
    seller_admin.extend_license(license, days, current_user)
    db.session.commit()
    flash(f"Expiry extended by {days} days.", "success")
    return redirect(url_for(".detail", license_id=license_id), 303)


def _policy_page(product, form, errors=None, status=200):
    return render(
        "licensing/policy.html",
        product=product,
        policy=issuing.policy_for(product.id),
        form=form,
        errors=errors or {},
        http_status=status,
    )


def _policy_refused(exc, product_id):
    return _policy_page(get_own_product_or_404(product_id), request.form, exc.errors, exc.status)


@bp.route("/policy/<int:product_id>", methods=["GET", "POST"])
@company_required("licenses")
@refusal_page(_policy_refused)
def policy(product_id):
    product = get_own_product_or_404(product_id)
    if request.method == "POST":
        _, issued = seller_admin.save_license_policy(product, request.form, current_user)
        db.session.commit()
        note = f" {issued} existing buyer{'s' if issued != 1 else ''} got a key." if issued else ""
        flash(f"License policy for “{product.title}” saved.{note}", "success")
        return redirect(url_for(".index", product=product.id), 303)
    current = issuing.policy_for(product.id)
    form = {"enabled": "on", "max_activations": 3, "duration_days": "", "key_prefix": "TP", "key_format": "grouped"}
    if current is not None:
        form = {
            "enabled": "on" if current.enabled else "",
            "max_activations": current.max_activations,
            "duration_days": current.duration_days or "",
            "key_prefix": current.key_prefix,
            "key_format": current.key_format,
        }
    return _policy_page(product, form)
