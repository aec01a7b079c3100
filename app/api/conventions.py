"""Conventions shared by every /api/v1 resource: timestamps, cursor pages, idempotent POSTs."""

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import g, request
from sqlalchemy import Select, delete, select
from sqlalchemy.exc import IntegrityError

from app.api.errors import ApiError
from app.clock import now
from app.extensions import db
from app.models.api_key import ApiIdempotencyKey

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z, to the second (None stays None)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def page(query: Select, id_column: Any, limit: int, starting_after: int | None, serialize: Callable) -> dict:
    """One page of `query`, newest first: {"object": "list", "data", "has_more"}.

    `starting_after` is the id of the last object of the previous page; the next page holds
    the objects after it in this order (ids below it)."""
    if starting_after is not None:
        query = query.where(id_column < starting_after)
    rows: Sequence = db.session.scalars(query.order_by(id_column.desc()).limit(limit + 1)).unique().all()
    return {
        "object": "list",
        "data": [serialize(row) for row in rows[:limit]],
        "has_more": len(rows) > limit,
        "url": request.path,
    }


def _request_hash() -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), request.get_data()):
        digest.update(part + b"\x00")
    return digest.hexdigest()


def _clean_idempotency_key(raw: str) -> str:
    if not raw or len(raw) > MAX_IDEMPOTENCY_KEY_LENGTH or not raw.isascii() or not raw.isprintable():
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"The Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters.",
            IDEMPOTENCY_HEADER,
        )
    return raw


def _stored(api_key_id: int, key: str) -> ApiIdempotencyKey | None:
    return db.session.scalar(
        select(ApiIdempotencyKey).where(
            ApiIdempotencyKey.api_key_id == api_key_id, ApiIdempotencyKey.idempotency_key == key
        )
    )


def _replay(row: ApiIdempotencyKey, request_hash: str) -> tuple[Any, int, dict[str, str]]:
    if row.request_hash != request_hash:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request in the last 24 hours; use a new key.",
            IDEMPOTENCY_HEADER,
        )
    return json.loads(row.response_body), row.status_code, {"Idempotent-Replayed": "true"}


def idempotent(view: Callable) -> Callable:
    """POST views: run the view and commit its effect together with its answer, kept 24 hours
    under the request's Idempotency-Key (per API key). The same key again with the same
    request replays the answer; with another request it is refused (409). Two requests with
    one key at once make one effect: the second waits on the unique index and replays.
    Without the header the view simply runs and commits."""

    @wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        raw = request.headers.get(IDEMPOTENCY_HEADER)
        if raw is None:
            payload, status = view(*args, **kwargs)
            db.session.commit()
            return payload, status
        key = _clean_idempotency_key(raw)
        api_key_id = g.api_key.id
        request_hash = _request_hash()
        row = _stored(api_key_id, key)
        if row is not None and row.created_at > now() - IDEMPOTENCY_TTL:
            return _replay(row, request_hash)
        if row is not None:
            db.session.execute(delete(ApiIdempotencyKey).where(ApiIdempotencyKey.id == row.id))
        row = ApiIdempotencyKey(
            api_key_id=api_key_id, idempotency_key=key, request_hash=request_hash, status_code=0, response_body=""
        )
        db.session.add(row)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            stored = _stored(api_key_id, key)
            if stored is None:
                raise
            return _replay(stored, request_hash)
        payload, status = view(*args, **kwargs)
        row.status_code, row.response_body = status, json.dumps(payload)
        db.session.commit()
        return payload, status

    return run
