"""The OpenAPI 3.1 document of /api/v1, built by spectree from the routes and pydantic models
that validate them, completed with what the gate checks (API key, version, idempotency key)."""

import copy
from typing import Any

from flask import current_app

from app.api.conventions import IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY_LENGTH
from app.api.core import bp, spec
from app.api.gate import API_VERSIONS, VERSION_HEADER, scope

PUBLIC_PREFIXES = ("/api/v1/licenses/validate", "/api/v1/licenses/activate", "/api/v1/licenses/deactivate")
PUBLIC_PREFIXES += ("/api/v1/licenses/checkout", "/api/v1/licenses/public-key", "/api/v2/")

_VERSION_PARAMETER = {
    "name": VERSION_HEADER,
    "in": "header",
    "required": False,
    "description": "Pins the API version; default the latest.",
    "schema": {"type": "string", "enum": list(API_VERSIONS)},
}
_IDEMPOTENCY_PARAMETER = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "Replays the stored answer for 24 hours; the same key with another body is a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH, "pattern": "^[!-~]+$"},
}


def openapi_document() -> dict[str, Any]:
    """The whole document (cached per app: routes do not change while it runs)."""
    cached = current_app.extensions.get("api_openapi")
    if cached is not None:
        return cached
    document = copy.deepcopy(spec.spec)
    document["info"]["version"] = API_VERSIONS[-1]
    document.setdefault("components", {})["securitySchemes"] = {
        "ApiKey": {"type": "http", "scheme": "bearer", "description": "A secret key tp_sk_live_… or tp_sk_test_…"}
    }
    document["security"] = [{"ApiKey": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path.startswith(PUBLIC_PREFIXES):
                operation["security"] = []
                continue
            view = current_app.view_functions.get(f"api_v1.{operation['operationId']}")
            operation["x-scope"] = getattr(view, "api_scope", None)
            parameters = operation.setdefault("parameters", [])
            parameters.append(dict(_VERSION_PARAMETER))
            if method == "post":
                parameters.append(dict(_IDEMPOTENCY_PARAMETER))
    current_app.extensions["api_openapi"] = document
    return document


@bp.get("/openapi.json")
@scope(None)
def openapi_json():
    """The OpenAPI 3.1 document of this API (no key needed)."""
    return openapi_document()
