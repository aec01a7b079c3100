"""What every request may carry, checked once before any view runs, and the parsers views
use for the numbers people type.

* Body size: `MAX_CONTENT_LENGTH` for every request; views that take file uploads declare a
  larger allowance with `@body_limit(bytes)`. Past it the answer is 413 (the error page or
  the JSON envelope), before the body is read.
* Characters no database can store: a NUL or a lone UTF-16 surrogate in a path parameter,
  a query or form value or field name, an uploaded file's name or a JSON string (or key)
  answers 400 naming the field. PostgreSQL refuses NUL in text and cannot encode a lone
  surrogate; nobody types either. Tabs, newlines and all other Unicode pass.
* Numbers: `parse_whole_number` and `parse_id` accept ASCII digits only, within bounds, so
  "²", "NaN" or 99999999999999999999 never reach int() or an integer column.
"""

import re

from flask import current_app, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

# The largest value of an Integer column (PostgreSQL `integer`): ids, counts, days.
MAX_INT = 2**31 - 1
# Inbound webhooks verify and store their raw bodies untouched (see blueprints/webhooks.py);
# their routes set their own body limit.
RAW_BODY_BLUEPRINTS = ("webhooks",)

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
_WHOLE_NUMBER = re.compile(r"\+?([0-9]{1,18})", re.ASCII)


class InvalidCharacters(BadRequest):
    """A submitted value holds a character we can't store; `field` names where it was."""

    def __init__(self, field):
        self.field = field
        super().__init__(
            f"The field “{field}” contains a character we can't accept (a NUL byte or an "
            "unpaired surrogate). Remove it and send again; nothing was saved."
        )


class IdConverter(IntegerConverter):
    """`<int:…>` in routes: a non-negative whole number that fits an integer column, else 404.

    Without the bound, /orders/99999999999999999999 reaches the database and fails there.
    """

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_INT, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def body_limit(max_bytes):
    """Decorator for a view (directly under its route) that accepts uploads: its requests may
    carry up to `max_bytes` instead of MAX_CONTENT_LENGTH."""

    def decorate(view):
        view.max_body_bytes = max_bytes
        return view

    return decorate


def form_checks_characters(view):
    """Decorator for a view (directly under its route) whose form refuses unstorable characters
    itself, marking the field on the form it shows again (a password form, which never echoes
    what was typed): the request check leaves that view's form fields to it."""
    view.form_checks_characters = True
    return view


def has_unstorable_characters(text):
    """True when `text` holds a NUL or a lone surrogate."""
    return bool(_FORBIDDEN.search(text))


def init_app(app):
    """Register the URL converter and the request check.

    Call before CSRFProtect.init_app: the check sets the view's body allowance, and must do so
    before anything (CSRF included) reads the form.
    """
    app.url_map.converters["int"] = IdConverter
    app.before_request(check_request)


def check_request():
    """Apply the view's body allowance, then refuse unstorable characters (400 naming the field)."""
    req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup, not one per use
    view = current_app.view_functions.get(req.endpoint)
    allowance = getattr(view, "max_body_bytes", None)
    if allowance is not None:
        req.max_content_length = allowance
    for name, value in (req.view_args or {}).items():
        if isinstance(value, str):
            _check_text(name, value)
    if req.query_string:
        _check_pairs(req.args)
    # Without a Content-Type werkzeug parses no form and no files, and it is not JSON.
    if not req.want_form_data_parsed or req.blueprint in RAW_BODY_BLUEPRINTS:
        return
    if req.is_json:  # a JSON body has no form fields or files to parse
        _check_json("", req.get_json(silent=True))
        return
    if not getattr(view, "form_checks_characters", False):
        _check_pairs(req.form)
    for name, upload in req.files.items(multi=True):
        _check_text(name, name)
        _check_text(name, upload.filename or "")


def too_large_message():
    """What a 413 says: the limit that applied to this request, and that nothing was saved."""
    limit = request.max_content_length
    size = f" (at most {limit / (1024 * 1024):g} MB)" if limit else ""
    return f"What you sent is larger than we accept{size}. Nothing was saved: send less, or smaller files."


def _check_pairs(values):
    for name, value in values.items(multi=True):
        _check_text(name, name)
        _check_text(name, value)


def _check_json(path, value):
    if isinstance(value, str):
        _check_text(path or "body", value)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            _check_text(child, key)
            _check_json(child, item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(f"{path}[{index}]", item)


def _check_text(field, value):
    if _FORBIDDEN.search(value):
        raise InvalidCharacters(printable(field))


def printable(text):
    """`text` with NULs and surrogates written as escapes, safe to show and to encode."""
    return _FORBIDDEN.sub(
        lambda match: f"\\x{ord(match.group()):02x}" if match.group() == "\x00" else f"\\u{ord(match.group()):04x}",
        text,
    )


def parse_whole_number(text, low=0, high=MAX_INT):
    """The whole number in `text` (ASCII digits, optional surrounding spaces and leading "+")
    when it lies within [low, high]; None for anything else, including "²", "-1" and "1e3"."""
    if not isinstance(text, str):
        return None
    match = _WHOLE_NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    number = int(match.group(1))
    return number if low <= number <= high else None


def parse_id(text):
    """A database id from text (1 to MAX_INT), else None."""
    return parse_whole_number(text, low=1)
