"""The blueprint of /api/v1, its spectree instance, and the hooks every request passes."""

from flask import Blueprint
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from app.blueprints.api_v1 import errors, gate
from app.blueprints.api_v1.lazy_spectree import LazySpecTree
from app.blueprints.api_v1.schemas import Error
from app.errors import ServiceError
from app.extensions import csrf

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _before(_request, _response, validation_error, _instance, _adapter):
    """A request spectree found invalid: 400 envelope naming the first parameter at fault."""
    if validation_error is None:
        return
    first = validation_error.errors()[0]
    param = ".".join(str(part) for part in first.get("loc", ())) or None
    raise errors.ApiError(400, "parameter_invalid", f"{param or 'body'}: {first.get('msg', 'invalid')}", param)


def _after(_request, _response, validation_error, _instance, _adapter):
    """An answer that does not match its own schema is a bug: 500 envelope, logged."""
    if validation_error is not None:
        raise RuntimeError(f"API answer does not match its schema: {validation_error}")


spec = LazySpecTree(  # models' schemas built with the document, not at import
    "flask",
    mode="strict",
    title="Tradepost API",
    version=gate.LATEST_VERSION,
    description="The Tradepost REST API. Authenticate with `Authorization: Bearer tp_sk_…`.",
    validation_error_status=400,
    validation_error_model=Error,
    before=_before,
    after=_after,
    annotations=False,
)

bp.before_request(gate.check_request)
bp.after_request(gate.add_headers)
bp.register_error_handler(ServiceError, errors.refusal)
bp.register_error_handler(HTTPException, errors.http_error)
bp.register_error_handler(RedisError, lambda exc: errors.unavailable(str(exc)))
bp.register_error_handler(Exception, errors.unexpected)
