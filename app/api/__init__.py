"""The public REST API, /api/v1: resources of a company read and changed with its API keys.

Conventions (see README "Public API" and docs/api-changelog.md): JSON; `Authorization: Bearer
tp_sk_…`; scopes per endpoint; cursor pages (`limit`, `starting_after`, `has_more`);
`Idempotency-Key` on POSTs; one error envelope; ISO-8601 UTC timestamps; money in minor
units with its currency; another company's object is a 404; `Tradepost-Version` pins the
version. Requests and answers are validated by spectree with the pydantic models of
app/api/schemas.py, which also make the OpenAPI 3.1 document at /api/v1/openapi.json.
"""

from app.api import docs, openapi, resources
from app.api.core import bp, spec

__all__ = ["bp", "docs", "openapi", "resources", "spec"]
