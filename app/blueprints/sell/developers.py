"""The company's API keys (owners and admins): create one (its secret shown once), revoke it,
roll it with an overlap period. The keys open the public REST API (/api/v1, /docs/api)."""

from flask import Blueprint, abort, g, request, url_for
from flask_login import current_user

from app.access import company_required
from app.errors import ServiceError
from app.extensions import db
from app.inputs import parse_whole_number
from app.models.api_key import API_KEY_MODES, API_SCOPES, READ_SCOPES, ApiKey
from app.services import api_keys
from app.web import commit_and_redirect, company_form, company_page, confirm_page, render, require_confirmation

bp = Blueprint("developers", __name__, url_prefix="/developers")
EXPIRY_CHOICES = (("", "Never"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"))
OVERLAP_CHOICES = (0, 1, 24, 72, 168)


def get_key_or_404(key_id: int) -> ApiKey:
    """The current company's key, or 404 (other companies' keys do not exist here)."""
    return api_keys.find_key(g.company, key_id) or abort(404)


def form_values() -> dict:
    return {
        "name": request.form.get("name", ""),
        "scopes": request.form.getlist("scopes"),
        "mode": request.form.get("mode", "live"),
        "expires_days": request.form.get("expires_days", ""),
    }


def render_index(values=None, errors=None, created=None, status=200):
    body, status, headers = render(
        "developers/keys.html",
        keys=api_keys.list_keys(g.company),
        values=values or {"name": "", "scopes": list(READ_SCOPES), "mode": "live", "expires_days": ""},
        errors=errors or {},
        created=created,
        scopes=API_SCOPES,
        modes=API_KEY_MODES,
        expiry_choices=EXPIRY_CHOICES,
        http_status=status,
    )
    if created:
        headers["Cache-Control"] = "no-store"  # the secret is on this page, once
    return body, status, headers


def form_refused(exc: ServiceError):
    return render_index(form_values(), exc.errors, status=exc.status)


company_page(bp, "developers", render_index, "/")


@company_form(bp, "/", "developers", form_refused)
def create():
    values = form_values()
    days = None
    if values["expires_days"]:
        days = parse_whole_number(values["expires_days"], low=1, high=api_keys.MAX_EXPIRY_DAYS)
        if days is None:
            raise api_keys.ApiKeyInvalid("expires_days", "Choose when the key expires.")
    key, plaintext = api_keys.create_key(
        g.company,
        name=values["name"],
        scopes=values["scopes"],
        expires_at=api_keys.expiry_in_days(days),
        mode=values["mode"],
        actor=current_user,
    )
    db.session.commit()
    return render_index(created={"key": key, "plaintext": plaintext}, status=201)


def _revoke_confirmation(key: ApiKey, error=None, status=200):
    return confirm_page(
        title=f"Revoke {key.name}?",
        message=f"Requests with {key.display} will be refused at once. This cannot be undone.",
        action=url_for("sell.developers.revoke", key_id=key.id),
        word="revoke",
        button="Revoke key",
        cancel=url_for("sell.developers.index"),
        error=error,
        status=status,
    )


def revoke_refused(exc: ServiceError, key_id: int):
    key = get_key_or_404(key_id)
    if exc.code == "confirmation_required":
        return _revoke_confirmation(key, exc.message, exc.status)
    return render_index(errors={"key": exc.message}, status=exc.status)


def key_action(word: str, confirmation, refused):
    """Register a key action `word` at /<key_id>/<word>: GET `confirm_<word>` shows
    `confirmation(key)`, POST is the decorated view, its refusals shown by `refused`."""

    def decorate(view):
        def confirm(key_id):
            return confirmation(get_key_or_404(key_id))

        confirm.__name__ = f"confirm_{word}"
        bp.route(f"/<int:key_id>/{word}")(company_required("developers")(confirm))
        return company_form(bp, f"/<int:key_id>/{word}", "developers", refused)(view)

    return decorate


@key_action("revoke", _revoke_confirmation, revoke_refused)
def revoke(key_id):
    key = get_key_or_404(key_id)
    require_confirmation("revoke", "Confirm that you want to revoke this key.")
    api_keys.revoke_key(key, actor=current_user)
    return commit_and_redirect(f"{key.name} is revoked.", ".index")


def _roll_page(key: ApiKey, errors=None, status=200):
    return render("developers/roll.html", key=key, overlaps=OVERLAP_CHOICES, errors=errors or {}, http_status=status)


def roll_refused(exc: ServiceError, key_id: int):
    return _roll_page(get_key_or_404(key_id), exc.errors or {"overlap_hours": exc.message}, exc.status)


@key_action("roll", _roll_page, roll_refused)
def roll(key_id):
    key = get_key_or_404(key_id)
    require_confirmation("roll", "Confirm that you want to roll this key.")
    hours = parse_whole_number(request.form.get("overlap_hours", ""), high=api_keys.MAX_OVERLAP_HOURS)
    if hours is None:
        raise api_keys.ApiKeyInvalid("overlap_hours", "Choose how long the old key keeps working.")
    new_key, plaintext = api_keys.roll_key(key, overlap_hours=hours, actor=current_user)
    db.session.commit()
    return render_index(created={"key": new_key, "plaintext": plaintext, "rolled": key}, status=201)
