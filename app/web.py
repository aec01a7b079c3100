"""Response helpers shared by the blueprints: rendering (whole pages or htmx fragments), the
page a view shows a refusal on and the one handler of refusals, safe redirects, the JSON error
shape, and the one place the web layer hands the client's address to the audit log."""

from functools import wraps
from urllib.parse import urlsplit

from flask import current_app, flash, has_request_context, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.access import company_required
from app.errors import ServiceError
from app.extensions import db, is_htmx
from app.inputs import parse_whole_number
from app.models import AuditEvent
from app.payments import PaymentsUnavailable

# Where a view's refusal page waits for the handler: in the request's environ, not in `g`,
# which belongs to the app context (shared by every request of a test that holds one open).
_REFUSAL_PAGE = "tradepost.refusal_page"


def render(template, block=None, *, http_status=200, **context):
    """(body, status, headers) for `template`, or only its `block` for htmx requests; marks the
    response Vary: HX-Request."""
    # Boosted links and forms swap the whole body: they get the full page, not the fragment.
    if block and is_htmx() and not request.headers.get("HX-Boosted"):
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    return body, http_status, {"Vary": "HX-Request"}


def refusal_page(page):
    """View decorator: a refusal (ServiceError) raised while the view runs — by the view or a
    service it calls — is shown with `page(exc, **view_args)`, usually the view's own template
    again with the input kept (`request.form`), each field's error from `exc.errors`, and
    status `exc.status`. The one handler (`handle_refusal` below) rolls back before calling it.

    Put it last, directly above the `def`: the page is declared once the access decorators
    above it have let the request through, so it is only shown to someone the view serves.
    """

    def decorate(view):
        @wraps(view)
        def declared(*args, **kwargs):
            request.environ[_REFUSAL_PAGE] = lambda exc: page(exc, *args, **kwargs)
            return view(*args, **kwargs)

        return declared

    return decorate


def company_page(bp, right, page, rule=""):
    """Register `page` (called with no arguments) as `bp`'s `index` at `rule`: a seller page
    for members whose role has `right`, usually the one its forms (`company_form`) post back to."""
    bp.add_url_rule(rule, "index", company_required(right)(page))


def company_form(bp, rule, right, refused):
    """Route decorator of a seller form's POST view at `rule`: members whose role has `right`
    (company_required), a refusal shown by `refused` (refusal_page)."""

    def decorate(view):
        return bp.route(rule, methods=["POST"])(company_required(right)(refusal_page(refused)(view)))

    return decorate


def commit_and_redirect(message, endpoint, category="success", **values):
    """The end of a form's POST view that changed something: commit, flash `message`, and
    send the browser to `url_for(endpoint, **values)` with 303."""
    db.session.commit()
    flash(message, category)
    return redirect(url_for(endpoint, **values), 303)


def handle_refusal(exc):
    """The one handler of ServiceError (registered by create_app): nothing the request wrote
    stands; then the page the view declared, else the JSON envelope for API clients, else the
    error page."""
    db.session.rollback()
    if exc.audit is not None:
        _audit_refusal(exc)
    if isinstance(exc, PaymentsUnavailable):
        current_app.logger.warning("Stripe unavailable on %s %s: %s", request.method, request.path, exc.detail)
    page = request.environ.get(_REFUSAL_PAGE)
    if page is not None:
        return page(exc)
    if wants_json():
        return json_error(
            exc.status, exc.code, exc.message, **({"field": exc.field_name()} if exc.field is not None else {})
        )
    return error_page(exc.status, exc.message)


def _audit_refusal(exc):
    """The audit row of a refusal that must be on the record (ServiceError.audit), in a
    transaction of its own after the rollback."""
    action, company_id, data = exc.audit
    actor_id = current_user.id if current_user.is_authenticated else None
    db.session.add(
        AuditEvent(
            action=action,
            actor_user_id=actor_id,
            company_id=company_id,
            data={**data, "code": exc.code, "path": request.path[:300]},
        )
    )
    db.session.commit()


class ConfirmationRequired(ServiceError):
    """A destructive action posted without its confirmation step: 422, nothing changed."""

    def __init__(self, message: str):
        super().__init__(422, "confirmation_required", message, field="confirm")


def require_confirmation(word, message):
    """Destructive POSTs (revoke a key, delete an endpoint, rotate a secret) go through a
    confirmation page (`confirm_page`) whose form sends `confirm=<word>`; a POST without it —
    a stray button, a replayed request, a page without JavaScript that skipped `hx-confirm` —
    raises ConfirmationRequired, and the view's refusal page shows the confirmation again."""
    if request.form.get("confirm") != word:
        raise ConfirmationRequired(message)


def confirm_page(*, title, message, action, word, button, cancel, error=None, status=200):
    """The confirmation step of a destructive action: what will happen, a POST form to `action`
    carrying `confirm=<word>`, and a way back to `cancel`. Works without JavaScript."""
    confirm = {
        "title": title,
        "message": message,
        "action": action,
        "word": word,
        "button": button,
        "cancel": cancel,
        "error": error,
    }
    return render("_partials/confirm.html", confirm=confirm, http_status=status)


ERROR_TITLES = {
    400: "That request didn't make sense",
    403: "You can't do that",
    404: "Page not found",
    405: "Not allowed",
    409: "That can't happen right now",
    413: "That is too large to accept",
    422: "Please check what you sent",
    429: "Slow down a little",
    500: "Something went wrong on our side",
    502: "Something went wrong further along",
    503: "Temporarily unavailable",
}


def error_page(status, message=None, title=None, headers=None):
    """The error page for `status` with `message` (pages for 403, 404, 429 and 500 say their own)."""
    title = title or ERROR_TITLES.get(status, "That didn't work")
    body = render_template("errors/error.html", code=status, title=title, message=message)
    return body, status, headers or {}


def paginate(query, per_page):
    """The page of `query` the `page` query argument asks for, as a Flask-SQLAlchemy Pagination
    (`items`, `page`, `pages`, `total`...): page 1 when the argument is not a page number, the
    last page when it is past the end. Templates show the links with `_partials/pager.html`."""
    page = parse_whole_number(request.args.get("page", ""), low=1) or 1
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    if pagination.pages and page > pagination.pages:
        pagination = db.paginate(query, page=pagination.pages, per_page=per_page, error_out=False)
    return pagination


def filter_by_status(query, column, statuses):
    """(`query` narrowed to `column` == the `status` query argument when that is one of
    `statuses`, the argument as sent) for list pages with a status filter."""
    status = request.args.get("status", "")
    return (query.where(column == status) if status in statuses else query), status


def page_url(page):
    """This page's URL with `page` instead of the current one (other query arguments kept)."""
    return url_for(request.endpoint, **(request.view_args or {}), **{**request.args.to_dict(), "page": page})


def safe_next(target, default):
    """`target` if it is a path on this site (no scheme, no host, no '//'), else `default`."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def wants_json():
    """True for API paths and for clients that prefer JSON over HTML."""
    if request.path.startswith("/api/"):
        return True
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def json_error(status, code, message, **extra):
    """The API error shape: {"error": {"code", "message", ...extra (e.g. "field")}}."""
    return jsonify(error={"code": code, "message": message, **extra}), status


@event.listens_for(Session, "before_flush")
def stamp_client_address(session, _flush_context, _instances):
    """Audit rows written while answering a request get the client's address (as the trusted
    proxies saw it), so services never read the request."""
    if not has_request_context():
        return
    for row in session.new:
        if isinstance(row, AuditEvent) and row.ip_address is None:
            row.ip_address = request.remote_addr
