"""Licensing: the public key-validation API (/api/v1/licenses/*, Whop-compatible /api/v2),
the seller's keys (/sell/licenses), the buyer's keys (/account/licenses) and /docs/licensing.

Every API answer is JSON signed with Ed25519 over the exact body bytes
(`Tradepost-Signature: ed25519 <base64>`), carries `meta: {nonce, time}`, and is rate-limited
per IP and per key. The API blueprint is CSRF-exempt (no session, no cookies used).
While the limits' Redis is unreachable, the endpoints that take a key answer a signed 503.
"""
from functools import wraps

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from redis.exceptions import RedisError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.access import seller_required
from app.clock import now
from app.config import ConfigError
from app.extensions import csrf, db, limiter, rate_limits_shared
from app.inputs import MAX_INT, parse_id, parse_whole_number, too_large_message
from app.models import AuditEvent, License, LicensePolicy, Product
from app.services.licensing import (issuing, license_keys, public_api, records, self_service, seller_admin, signing,
                                    whop_compat)
from app.web import json_error, render

bp = Blueprint("licensing", __name__)
api = Blueprint("api", __name__)
csrf.exempt(api)
MANAGERS = ("owner", "admin")


# ---- the public API -----------------------------------------------------------------------

class BadBody(Exception):
    def __init__(self, field, message):
        super().__init__(message)
        self.field, self.message = field, message


def _rate_limit_key():
    """Per-key bucket: a hash of the normalised key from the path or the JSON body."""
    key = (request.view_args or {}).get("key")
    if key is None:
        body = request.get_json(silent=True)
        key = body.get("key") if isinstance(body, dict) else None
    key_hash = license_keys.hash_key(key)
    return f"key:{key_hash[:32]}" if key_hash else f"nokey:{get_remote_address()}"


per_ip = limiter.shared_limit(lambda: current_app.config["LICENSE_RATE_LIMIT_PER_IP"], scope="license-api-ip")
per_key = limiter.shared_limit(lambda: current_app.config["LICENSE_RATE_LIMIT_PER_KEY"], scope="license-api-key",
                               key_func=_rate_limit_key)


UNAVAILABLE_RETRY_AFTER_SECONDS = 30
UNAVAILABLE_MESSAGE = ("License checks are temporarily unavailable; nothing was changed. Retry after the "
                       "time in Retry-After, and keep trusting the last valid answer meanwhile.")


def shared_limits_only(view):
    """Answer a signed 503 SERVICE_UNAVAILABLE, without running `view`, while the rate limits
    count in process memory because Redis is unreachable.

    The per-key limits are what make guessing keys impractical; counted per process they
    would multiply by the number of processes, so the API refuses rather than weaken them.
    Goes under the limit decorators: their check is what notices the outage.
    """

    @wraps(view)
    def guarded(*args, **kwargs):
        if rate_limits_shared():
            return view(*args, **kwargs)
        current_app.logger.warning("license API refused: rate-limit storage unreachable")
        return unavailable()

    return guarded


def unavailable():
    """The signed 503 answered while a dependency (Redis) is down."""
    response = api_error(503, "SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE)
    response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
    return response


def _nonce():
    try:
        body = request.get_json(silent=True)
    except RequestEntityTooLarge:  # answering that very error: the body is never read
        body = None
    nonce = body.get("nonce") if isinstance(body, dict) else None
    return nonce if isinstance(nonce, str) and len(nonce) <= 128 else None


def signed(payload, status=200):
    """A JSON answer with meta {nonce, time}, signed over its exact bytes."""
    payload["meta"] = {"nonce": _nonce(), "time": public_api.iso(now())}
    body = signing.canonical_json(payload)
    return Response(body, status, mimetype="application/json",
                    headers={"Tradepost-Signature": signing.sign_body(body), "Cache-Control": "no-store"})


def api_error(status, code, message, **extra):
    return signed({"error": {"code": code, "message": message, **extra}}, status)


def parse_body(strings=(), required=(), ints=None):
    """The JSON object of the request with its fields checked: `strings` maps field → max
    length, `ints` maps field → (min, max). Raises BadBody naming the first bad field."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadBody(None, "Send a JSON object with Content-Type: application/json.")
    clean = {}
    for name, max_length in dict(strings).items():
        value = data.get(name)
        if value is None:
            if name in required:
                raise BadBody(name, f"{name} is required.")
            continue
        if not isinstance(value, str) or not value.strip():
            raise BadBody(name, f"{name} must be a non-empty string.")
        if len(value) > max_length:
            raise BadBody(name, f"{name} must be at most {max_length} characters.")
        clean[name] = value.strip()
    for name, (low, high) in (ints or {}).items():
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadBody(name, f"{name} must be a whole number between {low} and {high}.")
        clean[name] = value
    if "nonce" in data and (not isinstance(data["nonce"], str) or len(data["nonce"]) > 128):
        raise BadBody("nonce", "nonce must be a string of at most 128 characters.")
    return clean


KEY, FINGERPRINT, NAME = ("key", 128), ("fingerprint", 255), ("name", 255)


@api.errorhandler(BadBody)
def bad_body(exc):
    db.session.rollback()
    return api_error(422, "INVALID_REQUEST", exc.message, field=exc.field)


@api.errorhandler(public_api.LicenseApiError)
def refused(exc):
    db.session.rollback()
    return api_error(exc.status, exc.code, exc.message)


@api.errorhandler(HTTPException)
def http_error(exc):
    db.session.rollback()
    code = "RATE_LIMITED" if exc.code == 429 else exc.name.upper().replace(" ", "_")
    message = "Too many requests; retry after the time in Retry-After." if exc.code == 429 else exc.description
    if exc.code == 413:
        message = too_large_message()
    extra = {"field": exc.field} if getattr(exc, "field", None) else {}
    try:
        return api_error(exc.code, code, message, **extra)
    except ConfigError:
        return json_error(exc.code, code, message, **extra)


@api.errorhandler(RedisError)
def redis_down(exc):
    db.session.rollback()
    current_app.logger.error("license API: Redis unavailable on %s: %s", request.path, exc)
    return unavailable()


@api.errorhandler(Exception)
def unexpected(exc):
    db.session.rollback()
    current_app.logger.exception("license API error on %s", request.path)
    try:
        return api_error(500, "INTERNAL_ERROR", "Something went wrong on our side.")
    except ConfigError:
        return json_error(500, "INTERNAL_ERROR", "Something went wrong on our side.")


@api.post("/api/v1/licenses/validate")
@per_ip
@per_key
@shared_limits_only
def validate():
    body = parse_body(strings=dict([KEY, FINGERPRINT]), required=("key",), ints={"product_id": (1, MAX_INT)})
    result = public_api.validate_license(body["key"], body.get("fingerprint"), body.get("product_id"))
    # Serialise before commit: committing expires the rows, and reading them again costs queries.
    answer = {"valid": result.valid, "code": result.code, "message": public_api.MESSAGES[result.code],
              "license": public_api.license_json(result.license) if result.license else None,
              "activation": public_api.activation_json(result.activation)}
    db.session.commit()
    return signed(answer)


@api.post("/api/v1/licenses/activate")
@per_ip
@per_key
@shared_limits_only
def activate():
    body = parse_body(strings=dict([KEY, FINGERPRINT, NAME]), required=("key", "fingerprint"))
    license, activation, created = public_api.activate_license(body["key"], body["fingerprint"], body.get("name"))
    answer = {"activated": True, "code": "ACTIVATED" if created else "ALREADY_ACTIVE",
              "license": public_api.license_json(license), "activation": public_api.activation_json(activation)}
    db.session.commit()
    return signed(answer, 201 if created else 200)


@api.post("/api/v1/licenses/deactivate")
@per_ip
@per_key
@shared_limits_only
def deactivate():
    body = parse_body(strings=dict([KEY, FINGERPRINT]), required=("key", "fingerprint"))
    license = public_api.deactivate_license(body["key"], body["fingerprint"])
    answer = {"deactivated": True, "code": "DEACTIVATED", "license": public_api.license_json(license)}
    db.session.commit()
    return signed(answer)


@api.post("/api/v1/licenses/checkout")
@per_ip
@per_key
@shared_limits_only
def checkout():
    body = parse_body(strings=dict([KEY, FINGERPRINT]), required=("key", "fingerprint"),
                      ints={"ttl": (int(public_api.FILE_TTL_MIN.total_seconds()), int(public_api.FILE_TTL_MAX.total_seconds()))})
    license_file = public_api.checkout_license_file(body["key"], body["fingerprint"], body.get("ttl"))
    db.session.commit()
    return signed({"license_file": license_file})


@api.get("/api/v1/licenses/public-key")
@per_ip
def public_key():
    key = signing.signing_key()
    return signed({"algorithm": "ed25519", "public_key": key.public_raw_b64, "public_key_pem": key.public_pem,
                   "signature_header": "Tradepost-Signature"})


@api.post("/api/v2/memberships/<key>/validate_license")
@per_ip
@per_key
@shared_limits_only
def whop_validate_license(key):
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadBody(None, "Send a JSON object with Content-Type: application/json.")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadBody("metadata", "metadata must be an object.")
    hardware_id = (metadata or {}).get("hardware_id", data.get("hardware_id"))
    if not isinstance(hardware_id, str) or not hardware_id.strip() or len(hardware_id) > 255:
        raise BadBody("hardware_id", "metadata.hardware_id must be a non-empty string of at most 255 characters.")
    result = whop_compat.validate_whop_license(key, hardware_id.strip())
    answer = whop_compat.whop_membership_json(result)
    db.session.commit()
    return signed(answer, 201)


bp.register_blueprint(api)


# ---- seller pages -------------------------------------------------------------------------

def get_own_license_or_404(license_id):
    """The current tenant's license (the tenant scope hides every other company's).

    A SELECT, not session.get(): the identity map must not bypass the tenant criteria."""
    return db.session.scalar(select(License).where(License.id == license_id)) or abort(404)


def _int_arg(name):
    return parse_id(request.args.get(name, ""))


@bp.route("/sell/licenses")
@seller_required
def index():
    product_id, status, q = _int_arg("product"), request.args.get("status", ""), request.args.get("q", "")
    products = db.session.scalars(select(Product).order_by(Product.title)).all()
    policies = {policy.product_id: policy for policy in db.session.scalars(select(LicensePolicy))}
    licenses = seller_admin.list_licenses(product_id, status, q)
    return render("licensing/index.html", "license_table", products=products, policies=policies,
                  licenses=licenses, product_id=product_id, status=status, q=q,
                  statuses=seller_admin.LIST_STATUSES, page_size=seller_admin.PAGE_SIZE, now=now())


def _detail_page(license, status=200, error=None):
    history = db.session.scalars(select(AuditEvent).where(
        AuditEvent.subject_type == "license", AuditEvent.subject_id == str(license.id))
        .order_by(AuditEvent.created_at.desc()).limit(20)).all()
    body, headers = render("licensing/detail.html", license=license, key=license_keys.license_key(license),
                           history=history, error=error, now=now(), can_manage=_can_manage())
    return body, status, headers


def _can_manage():
    return g.company.role_of(current_user) in MANAGERS


@bp.route("/sell/licenses/<int:license_id>")
@seller_required
def detail(license_id):
    return _detail_page(get_own_license_or_404(license_id))


ACTIONS = {
    "suspend": (seller_admin.suspend_license, "Key suspended: validation now answers SUSPENDED."),
    "reinstate": (seller_admin.reinstate_license, "Key reinstated."),
    "revoke": (seller_admin.revoke_license, "Key revoked for good."),
    "reset": (seller_admin.reset_license_activations, "All machines removed from the key."),
}


@bp.post("/sell/licenses/<int:license_id>/<any(suspend, reinstate, revoke, reset):action>")
@seller_required(roles=MANAGERS)
def act(license_id, action):
    license = get_own_license_or_404(license_id)
    service, message = ACTIONS[action]
    try:
        service(license, current_user)
    except records.LicenseStateError as exc:
        db.session.rollback()
        return _detail_page(get_own_license_or_404(license_id), exc.status, exc.message)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("licensing.detail", license_id=license_id), 303)


@bp.post("/sell/licenses/<int:license_id>/extend")
@seller_required(roles=MANAGERS)
def extend(license_id):
    license = get_own_license_or_404(license_id)
    days = parse_whole_number(request.form.get("days", ""))
    try:
        if days is None:
            raise records.LicenseStateError("Enter a number of days.", status=422)
        seller_admin.extend_license(license, days, current_user)
    except records.LicenseStateError as exc:
        db.session.rollback()
        return _detail_page(get_own_license_or_404(license_id), exc.status, exc.message)
    db.session.commit()
    flash(f"Expiry extended by {days} days.", "success")
    return redirect(url_for("licensing.detail", license_id=license_id), 303)


@bp.route("/sell/licenses/policy/<int:product_id>", methods=["GET", "POST"])
@seller_required(roles=MANAGERS)
def policy(product_id):
    product = db.session.scalar(select(Product).where(Product.id == product_id)) or abort(404)
    current = issuing.policy_for(product.id)
    if request.method == "POST":
        try:
            _, issued = seller_admin.save_license_policy(product, request.form, current_user)
        except seller_admin.LicensePolicyError as exc:
            db.session.rollback()
            body, headers = render("licensing/policy.html", product=product, policy=current,
                                   form=request.form, errors=exc.errors)
            return body, 422, headers
        db.session.commit()
        note = f" {issued} existing buyer{'s' if issued != 1 else ''} got a key." if issued else ""
        flash(f"License policy for “{product.title}” saved.{note}", "success")
        return redirect(url_for("licensing.index", product=product.id), 303)
    form = {"enabled": "on", "max_activations": 3, "duration_days": "", "key_prefix": "TP", "key_format": "grouped"}
    if current is not None:
        form = {"enabled": "on" if current.enabled else "", "max_activations": current.max_activations,
                "duration_days": current.duration_days or "", "key_prefix": current.key_prefix,
                "key_format": current.key_format}
    body, headers = render("licensing/policy.html", product=product, policy=current, form=form, errors={})
    return body, headers


# ---- buyer pages --------------------------------------------------------------------------

def _account_page(status=200, error=None):
    licenses = self_service.buyer_licenses(current_user)
    resets_left = {lic.id: max(self_service.SELF_SERVICE_RESETS - self_service.self_service_resets_used(lic), 0) for lic in licenses}
    keys = {lic.id: license_keys.license_key(lic) for lic in licenses}
    api_base = current_app.config["APP_BASE_URL"].rstrip("/")
    body, headers = render("licensing/account.html", licenses=licenses, keys=keys, resets_left=resets_left,
                           error=error, api_base=api_base, now=now(), resets_per_window=self_service.SELF_SERVICE_RESETS)
    return body, status, headers


@bp.route("/account/licenses")
@login_required
def my_licenses():
    return _account_page()


@bp.post("/account/licenses/activations/<int:activation_id>/deactivate")
@login_required
def deactivate_machine(activation_id):
    try:
        self_service.deactivate_own_activation(current_user, activation_id)
    except LookupError:
        db.session.rollback()
        abort(404)
    except records.LicenseStateError as exc:
        db.session.rollback()
        return _account_page(exc.status, exc.message)
    db.session.commit()
    flash("Machine deactivated: its seat is free again.", "success")
    return redirect(url_for("licensing.my_licenses"), 303)


# ---- docs ---------------------------------------------------------------------------------

@bp.route("/docs/licensing")
def docs():
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    try:
        public_key_pem = signing.signing_key().public_pem.strip()
    except ConfigError:
        public_key_pem = "paste public_key_pem from /api/v1/licenses/public-key here"
    return render("docs/licensing.html", api_base=base, codes=public_api.CODES, messages=public_api.MESSAGES,
                  public_key_pem=public_key_pem, ttl_default_days=public_api.FILE_TTL_DEFAULT.days,
                  ttl_max_days=public_api.FILE_TTL_MAX.days)
