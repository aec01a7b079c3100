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
from app.errors import InputError, ServiceError
from app.extensions import csrf, db, limiter, rate_limits_shared
from app.inputs import MAX_INT, parse_id, parse_whole_number, too_large_message
from app.models import AuditEvent, License, LicensePolicy, Product
from app.services import licensing as svc
from app.web import handle_refusal, json_error, refusal_page, render

bp = Blueprint("licensing", __name__)
api = Blueprint("api", __name__)
csrf.exempt(api)
MANAGERS = ("owner", "admin")


# ---- the public API -----------------------------------------------------------------------

class BadBody(ServiceError):
    """A request body the API can't use: 422 INVALID_REQUEST naming the field (null for the body)."""

    def __init__(self, field, message):
        super().__init__(422, "INVALID_REQUEST", message, field=field)


def _rate_limit_key():
    """Per-key bucket: a hash of the normalised key from the path or the JSON body."""
    key = (request.view_args or {}).get("key")
    if key is None:
        body = request.get_json(silent=True)
        key = body.get("key") if isinstance(body, dict) else None
    key_hash = svc.hash_key(key)
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
    payload["meta"] = {"nonce": _nonce(), "time": svc.iso(now())}
    body = svc.canonical_json(payload)
    return Response(body, status, mimetype="application/json",
                    headers={"Tradepost-Signature": svc.sign_body(body), "Cache-Control": "no-store"})


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


def signed_refusal(exc, **_view_args):
    """A refusal of the API, as every API answer: signed JSON (BadBody always names a field)."""
    extra = {"field": exc.field} if isinstance(exc, BadBody) or exc.field is not None else {}
    return api_error(exc.status, exc.code.upper(), exc.message, **extra)


# Refusals go to the app's one handler, which shows them with the page each view declares
# (signed_refusal); it is registered here too, or the catch-all below would take them first.
# The others answer what is not a refusal (limits, sizes, outages, bugs) in the same signed shape.
api.register_error_handler(ServiceError, handle_refusal)


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
@refusal_page(signed_refusal)
def validate():
    body = parse_body(strings=dict([KEY, FINGERPRINT]), required=("key",), ints={"product_id": (1, MAX_INT)})
    result = svc.validate_license(body["key"], body.get("fingerprint"), body.get("product_id"))
    # Serialise before commit: committing expires the rows, and reading them again costs queries.
    answer = {"valid": result.valid, "code": result.code, "message": svc.MESSAGES[result.code],
              "license": svc.license_json(result.license) if result.license else None,
              "activation": svc.activation_json(result.activation)}
    db.session.commit()
    return signed(answer)


@api.post("/api/v1/licenses/activate")
@per_ip
@per_key
@shared_limits_only
@refusal_page(signed_refusal)
def activate():
    body = parse_body(strings=dict([KEY, FINGERPRINT, NAME]), required=("key", "fingerprint"))
    license, activation, created = svc.activate_license(body["key"], body["fingerprint"], body.get("name"))
    answer = {"activated": True, "code": "ACTIVATED" if created else "ALREADY_ACTIVE",
              "license": svc.license_json(license), "activation": svc.activation_json(activation)}
    db.session.commit()
    return signed(answer, 201 if created else 200)


@api.post("/api/v1/licenses/deactivate")
@per_ip
@per_key
@shared_limits_only
@refusal_page(signed_refusal)
def deactivate():
    body = parse_body(strings=dict([KEY, FINGERPRINT]), required=("key", "fingerprint"))
    license = svc.deactivate_license(body["key"], body["fingerprint"])
    answer = {"deactivated": True, "code": "DEACTIVATED", "license": svc.license_json(license)}
    db.session.commit()
    return signed(answer)


@api.post("/api/v1/licenses/checkout")
@per_ip
@per_key
@shared_limits_only
@refusal_page(signed_refusal)
def checkout():
    body = parse_body(strings=dict([KEY, FINGERPRINT]), required=("key", "fingerprint"),
                      ints={"ttl": (int(svc.FILE_TTL_MIN.total_seconds()), int(svc.FILE_TTL_MAX.total_seconds()))})
    license_file = svc.checkout_license_file(body["key"], body["fingerprint"], body.get("ttl"))
    db.session.commit()
    return signed({"license_file": license_file})


@api.get("/api/v1/licenses/public-key")
@per_ip
def public_key():
    key = svc.signing_key()
    return signed({"algorithm": "ed25519", "public_key": key.public_raw_b64, "public_key_pem": key.public_pem,
                   "signature_header": "Tradepost-Signature"})


@api.post("/api/v2/memberships/<key>/validate_license")
@per_ip
@per_key
@shared_limits_only
@refusal_page(signed_refusal)
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
    result = svc.validate_whop_license(key, hardware_id.strip())
    answer = svc.whop_membership_json(result)
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
    licenses = svc.list_licenses(product_id, status, q)
    return render("licensing/index.html", "license_table", products=products, policies=policies,
                  licenses=licenses, product_id=product_id, status=status, q=q,
                  statuses=svc.LIST_STATUSES, page_size=svc.PAGE_SIZE, now=now())


def _detail_page(license, status=200, error=None):
    history = db.session.scalars(select(AuditEvent).where(
        AuditEvent.subject_type == "license", AuditEvent.subject_id == str(license.id))
        .order_by(AuditEvent.created_at.desc()).limit(20)).all()
    return render("licensing/detail.html", license=license, key=svc.license_key(license), history=history,
                  error=error, now=now(), can_manage=_can_manage(), http_status=status)


def _can_manage():
    return g.company.role_of(current_user) in MANAGERS


@bp.route("/sell/licenses/<int:license_id>")
@seller_required
def detail(license_id):
    return _detail_page(get_own_license_or_404(license_id))


ACTIONS = {
    "suspend": (svc.suspend_license, "Key suspended: validation now answers SUSPENDED."),
    "reinstate": (svc.reinstate_license, "Key reinstated."),
    "revoke": (svc.revoke_license, "Key revoked for good."),
    "reset": (svc.reset_license_activations, "All machines removed from the key."),
}


def _detail_refused(exc, license_id, **_action):
    return _detail_page(get_own_license_or_404(license_id), exc.status, exc.message)


@bp.post("/sell/licenses/<int:license_id>/<any(suspend, reinstate, revoke, reset):action>")
@seller_required(roles=MANAGERS)
@refusal_page(_detail_refused)
def act(license_id, action):
    service, message = ACTIONS[action]
    service(get_own_license_or_404(license_id), current_user)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("licensing.detail", license_id=license_id), 303)


@bp.post("/sell/licenses/<int:license_id>/extend")
@seller_required(roles=MANAGERS)
@refusal_page(_detail_refused)
def extend(license_id):
    license = get_own_license_or_404(license_id)
    days = parse_whole_number(request.form.get("days", ""))
    if days is None:
        raise InputError("days", "Enter a number of days.")
    svc.extend_license(license, days, current_user)
    db.session.commit()
    flash(f"Expiry extended by {days} days.", "success")
    return redirect(url_for("licensing.detail", license_id=license_id), 303)


def get_own_product_or_404(product_id):
    return db.session.scalar(select(Product).where(Product.id == product_id)) or abort(404)


def _policy_page(product, form, errors=None, status=200):
    return render("licensing/policy.html", product=product, policy=svc.policy_for(product.id), form=form,
                  errors=errors or {}, http_status=status)


def _policy_refused(exc, product_id):
    return _policy_page(get_own_product_or_404(product_id), request.form, exc.errors, exc.status)


@bp.route("/sell/licenses/policy/<int:product_id>", methods=["GET", "POST"])
@seller_required(roles=MANAGERS)
@refusal_page(_policy_refused)
def policy(product_id):
    product = get_own_product_or_404(product_id)
    if request.method == "POST":
        _, issued = svc.save_license_policy(product, request.form, current_user)
        db.session.commit()
        note = f" {issued} existing buyer{'s' if issued != 1 else ''} got a key." if issued else ""
        flash(f"License policy for “{product.title}” saved.{note}", "success")
        return redirect(url_for("licensing.index", product=product.id), 303)
    current = svc.policy_for(product.id)
    form = {"enabled": "on", "max_activations": 3, "duration_days": "", "key_prefix": "TP", "key_format": "grouped"}
    if current is not None:
        form = {"enabled": "on" if current.enabled else "", "max_activations": current.max_activations,
                "duration_days": current.duration_days or "", "key_prefix": current.key_prefix,
                "key_format": current.key_format}
    return _policy_page(product, form)


# ---- buyer pages --------------------------------------------------------------------------

def _account_page(status=200, error=None):
    licenses = svc.buyer_licenses(current_user)
    resets_left = {lic.id: max(svc.SELF_SERVICE_RESETS - svc.self_service_resets_used(lic), 0) for lic in licenses}
    keys = {lic.id: svc.license_key(lic) for lic in licenses}
    api_base = current_app.config["APP_BASE_URL"].rstrip("/")
    return render("licensing/account.html", licenses=licenses, keys=keys, resets_left=resets_left, error=error,
                  api_base=api_base, now=now(), resets_per_window=svc.SELF_SERVICE_RESETS, http_status=status)


@bp.route("/account/licenses")
@login_required
def my_licenses():
    return _account_page()


@bp.post("/account/licenses/activations/<int:activation_id>/deactivate")
@login_required
@refusal_page(lambda exc, activation_id: _account_page(exc.status, exc.message))
def deactivate_machine(activation_id):
    svc.deactivate_own_activation(current_user, activation_id)
    db.session.commit()
    flash("Machine deactivated: its seat is free again.", "success")
    return redirect(url_for("licensing.my_licenses"), 303)


# ---- docs ---------------------------------------------------------------------------------

@bp.route("/docs/licensing")
def docs():
    base = current_app.config["APP_BASE_URL"].rstrip("/")
    try:
        public_key_pem = svc.signing_key().public_pem.strip()
    except ConfigError:
        public_key_pem = "paste public_key_pem from /api/v1/licenses/public-key here"
    return render("docs/licensing.html", api_base=base, codes=svc.CODES, messages=svc.MESSAGES,
                  public_key_pem=public_key_pem, ttl_default_days=svc.FILE_TTL_DEFAULT.days,
                  ttl_max_days=svc.FILE_TTL_MAX.days)
