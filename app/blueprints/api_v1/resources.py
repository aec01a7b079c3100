"""The resources of /api/v1. Each view: the scope it needs, the models spectree validates its
request and answer with, one query or service call, the object(s) as JSON."""

import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Response as FlaskResponse
from flask import current_app, g, request
from pydantic import BaseModel
from spectree import Response
from sqlalchemy import select
from sqlalchemy.orm import joinedload, noload

from app.blueprints.api_v1 import schemas
from app.blueprints.api_v1.conventions import idempotent, iso, page
from app.blueprints.api_v1.core import bp, spec
from app.blueprints.api_v1.gate import CataloguePage, scope
from app.crypto import decrypt
from app.errors import ServiceError
from app.extensions import db
from app.models import (
    Commission,
    LegendsMember,
    License,
    Membership,
    Order,
    Payment,
    Plan,
    Product,
    Referral,
    User,
    WebhookEndpoint,
)
from app.queue import get_redis
from app.services import api_cache, api_resources
from app.services.legends import boards
from app.services.licensing import seller_admin
from app.services.outbound import endpoints
from app.tenancy import current_tenant_id

ERRORS = {f"HTTP_{status}": schemas.Error for status in (401, 403, 404, 429, 503)}


def operation(
    rule: str,
    method: str,
    needs: str,
    answer: type[BaseModel],
    *,
    status: int = 200,
    query: type[BaseModel] | None = None,
    json: type[BaseModel] | None = None,
    tag: str,
    extra_errors: tuple[int, ...] = (),
    catalogue: bool = False,
) -> Callable:
    """Register `view` at /api/v1`rule` for `method`, needing scope `needs`, validated by
    spectree (`query`, `json`, `answer` for `status`). POSTs are idempotent; `catalogue` GETs
    are answered from the catalogue page cache when they can be."""

    def decorate(view: Callable) -> Callable:
        codes = {f"HTTP_{status}": answer, **ERRORS, **{f"HTTP_{code}": schemas.Error for code in extra_errors}}
        inner = as_json(idempotent(view) if method == "POST" else view)
        validated = spec.validate(
            query=query, json=json, resp=Response(**codes), tags=[tag], operation_id=view.__name__
        )(inner)
        registered = catalogue_cached(validated) if catalogue else validated
        scope(needs)(registered)
        bp.add_url_rule(rule, view.__name__, registered, methods=[method])
        return registered

    return decorate


def as_json(view: Callable) -> Callable:
    """The view's (payload, status) as a JSON response: spectree then validates the bytes with
    pydantic's JSON validator in one pass, not the Python objects field by field."""

    @wraps(view)
    def run(*args: Any, **kwargs: Any) -> tuple[FlaskResponse, int]:
        payload, status, *headers = view(*args, **kwargs)
        body = json.dumps(payload, separators=(",", ":"))
        return FlaskResponse(body, mimetype="application/json", headers=headers[0] if headers else None), status

    return run


def catalogue_cached(view: Callable) -> Callable:
    """A catalogue GET (products, plans) served from the cache while the company's catalogue is
    unchanged (services/api_cache.py): the gate (gate.check_request) answers with the page this
    process holds, or the one in Redis, when it is current, and the view does not run — no
    query, no serialisers, no spectree. Otherwise the view computes the page, and an answer that
    passed them (a 200) is kept under the exact path, query and version."""

    @wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        found: CataloguePage = g.api_page
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200:
            page = api_cache.KeptPage(company_id(), found.version, response.get_data())
            api_cache.store_page(get_redis(), found.key_hash, found.material, page)
        return response

    run.api_catalogue = True  # type: ignore[attr-defined]
    return run


def params() -> Any:
    return request.context.query  # type: ignore[attr-defined]


def body() -> Any:
    """The validated JSON body; 400 when the request did not send JSON at all."""
    data = request.context.json  # type: ignore[attr-defined]
    if data is None:
        raise ServiceError(400, "invalid_body", "Send a JSON object with Content-Type: application/json.")
    return data


def company_id() -> int:
    tenant = current_tenant_id()
    assert tenant is not None  # the gate set it from the key
    return tenant


def own(model: Any, object_id: int, *options: Any) -> Any:
    """The tenant's `model` row `object_id`, else 404 (another company's rows are missing too)."""
    row = db.session.scalar(tenant_rows(model).where(model.id == object_id).options(*options))
    if row is None:
        raise ServiceError(404, "resource_missing", f"No such {model.__tablename__[:-1]}: {object_id}.", field="id")
    return row


def tenant_rows(model: Any) -> Any:
    """The tenant's rows of `model` (of webhook endpoints, its own: not those its apps own)."""
    query = select(model).where(model.company_id == company_id())
    if model is WebhookEndpoint:
        query = query.where(WebhookEndpoint.app_installation_id.is_(None))
    return query


# --- serialisers -------------------------------------------------------------------------


def serializer(
    kind: str, spec: str, created: str = "created_at", **computed: Callable[[Any], Any]
) -> Callable[[Any], dict]:
    """A function making the JSON object of a row: `id`, `object` (= kind), `created` (the
    row's `created` attribute), then the fields of `spec` ("name" or "name=attribute",
    space-separated; datetimes as ISO-8601 UTC) and the `computed` ones."""
    pairs = [(part.partition("=")[0], part.partition("=")[2] or part) for part in spec.split()]

    def serialize(row: Any) -> dict:
        answer = {"id": row.id, "object": kind, "created": iso(getattr(row, created))}
        for name, attribute in pairs:
            value = getattr(row, attribute)
            answer[name] = iso(value) if isinstance(value, datetime) else value
        for name, compute in computed.items():
            answer[name] = compute(row)
        return answer

    return serialize


def _currency(_row: Any) -> str:
    from app.money import marketplace_currency

    return marketplace_currency()


plan_json = serializer(
    "plan", "product=product_id name billing amount=price_cents currency trial_days tier_rank enabled"
)
product_json = serializer(
    "product",
    "title slug description=description_md billing amount=price_cents active",
    currency=_currency,
    plans=lambda product: [plan_json(plan) for plan in product.plans],
)
membership_json = serializer(
    "membership",
    "product=product_id plan=plan_id user=buyer_id status source has_access=grants_access current_period_end "
    "access_ends_at cancel_at_period_end",
)
payment_json = serializer(
    "payment",
    "kind user=buyer_id order=order_id membership=membership_id amount=amount_cents fee=fee_cents "
    "refunded=refunded_cents currency status",
)
order_json = serializer(
    "order",
    "user=buyer_id gig=gig_id title status package_tier quantity total=total_cents fee=fee_cents "
    "seller_amount=seller_amount_cents currency due_at is_late delivered_at completed_at",
)
customer_json = serializer("customer", "email name=display_name")
license_json = serializer(
    "license",
    "product=product_id user=buyer_id membership=membership_id key_hint max_activations activation_count "
    "reset_count expires_at=effective_expires_at",
    status=lambda license: license.display_status(),
)
referral_json = serializer(
    "referral",
    "program=program_id affiliate=affiliate_user_id user=buyer_id listing_type listing=listing_id status "
    "refusal_reason converted_at",
)
commission_json = serializer(
    "commission",
    "program=program_id referral=referral_id affiliate=affiliate_user_id payment=payment_id order=order_id "
    "listing_type listing=listing_id payment_number base_amount=base_amount_cents amount=amount_cents "
    "reversed=reversed_cents currency status clears_at reversal_reason",
)
legends_member_json = serializer(
    "legends_member",
    "user=user_id character_class=class_id guild=guild_id level prestige xp=total_xp referrals "
    "commission=commission_cents streak_days",
    created="joined_at",
)
endpoint_json = serializer(
    "webhook_endpoint",
    "url description enabled disabled_reason",
    event_types=lambda endpoint: list(endpoint.event_types or []),
)


def resource(
    path: str,
    model: Any,
    needs: str,
    answer: type[BaseModel],
    serialize: Callable[[Any], dict],
    noun: str,
    *,
    filters: dict[str, Any] | None = None,
    options: tuple = (),
    find: Callable[[int], Any] | None = None,
    catalogue: bool = False,
) -> None:
    """Register the list and retrieve views of a resource at /api/v1`path`: `list_<path>`
    (a cursor page, narrowed by the query parameters in `filters`: name -> column) and
    `get_<noun>` (one object; another company's is a 404); `find` loads one object of a
    resource that is not a tenant's rows (customers)."""
    name = path.strip("/")
    query = FILTER_QUERIES.get(tuple(filters or ()), schemas.ListQuery)
    description = DESCRIPTIONS[path]
    singular = noun.replace(" ", "_")
    tag = {
        "plans": "products",
        "webhook_endpoints": "webhooks",
        "referrals": "affiliates",
        "commissions": "affiliates",
    }.get(name, "legends" if name.startswith("legends") else name)

    def list_view():
        query_rows = tenant_rows(model).options(*options) if model is not User else customers()
        for parameter, column in (filters or {}).items():
            value = getattr(params(), parameter)
            if value is not None:
                query_rows = query_rows.where(column == value)
        return page(query_rows, model.id, params().limit, params().starting_after, serialize), 200

    def get_view(**ids):
        object_id = next(iter(ids.values()))
        row = find(object_id) if find else own(model, object_id, *options)
        return serialize(row), 200

    list_view.__name__, list_view.__doc__ = f"list_{name}", f"List {noun}s\n\n{description}"
    get_view.__name__, get_view.__doc__ = f"get_{singular}", f"Retrieve a {noun}"
    operation(path, "GET", needs, schemas.list_of(answer), query=query, tag=tag, catalogue=catalogue)(list_view)
    operation(f"{path}/<int:{singular}_id>", "GET", needs, answer, tag=tag, catalogue=catalogue)(get_view)


TAGS = {
    "plans": "products",
    "webhook_endpoints": "webhooks",
    "referrals": "affiliates",
    "commissions": "affiliates",
    "legends_members": "legends",
}
FILTER_QUERIES: dict[tuple, type[schemas.ListQuery]] = {
    ("product",): schemas.PlansQuery,
    ("product", "user"): schemas.MembershipsQuery,
    ("product", "status"): schemas.LicensesQuery,
    ("affiliate", "status"): schemas.CommissionsQuery,
}


def customers() -> Any:
    return api_resources.customers_query(company_id())


def _customer(customer_id: int) -> User:
    user = api_resources.find_customer(company_id(), customer_id)
    if user is None:
        raise ServiceError(404, "resource_missing", f"No such customer: {customer_id}.", field="id")
    return user


DESCRIPTIONS = {
    "/products": "The company's products, newest first, each with its plans.",
    "/plans": "The company's plans, newest first; `product` narrows to one product's.",
    "/memberships": "Memberships in the company's products, newest first; `product` and `user` narrow it.",
    "/payments": "Payments to the company (gig orders, products, subscription periods), newest first.",
    "/orders": "The company's gig orders, newest first.",
    "/customers": "People who paid the company or hold a membership in its products, newest first.",
    "/licenses": "The company's license keys, newest first (never the key itself, only its hint).",
    "/webhook_endpoints": "The company's webhook endpoints, newest first.",
    "/referrals": "Referrals to the company's affiliate program (pending, completed, or refused with a reason).",
    "/commissions": "Affiliate commissions the company's payments earned; `affiliate` and `status` narrow it.",
    "/legends_members": "Members of the company's Legends game, newest first.",
}
PRODUCT_LOADING = (noload(Product.company), joinedload(Product.plans))
CATALOGUE_PRODUCTS = {"options": PRODUCT_LOADING, "catalogue": True}
CATALOGUE_PLANS = {"catalogue": True}

# path, model, scope, answer schema, serialiser, noun, then resource()'s keyword arguments.
RESOURCES: list[tuple[str, Any, str, type[BaseModel], Callable[[Any], dict], str, dict[str, Any]]] = [
    ("/products", Product, "products:read", schemas.Product, product_json, "product", CATALOGUE_PRODUCTS),
    ("/plans", Plan, "products:read", schemas.Plan, plan_json, "plan", CATALOGUE_PLANS),
    ("/memberships", Membership, "memberships:read", schemas.Membership, membership_json, "membership", {}),
    ("/payments", Payment, "payments:read", schemas.Payment, payment_json, "payment", {}),
    ("/orders", Order, "orders:read", schemas.Order, order_json, "order", {}),
    ("/customers", User, "customers:read", schemas.Customer, customer_json, "customer", {"find": _customer}),
    ("/licenses", License, "licenses:read", schemas.License, license_json, "license", {}),
    (
        "/webhook_endpoints",
        WebhookEndpoint,
        "webhooks:read",
        schemas.WebhookEndpoint,
        endpoint_json,
        "webhook endpoint",
        {},
    ),
    ("/referrals", Referral, "affiliates:read", schemas.Referral, referral_json, "referral", {}),
    ("/commissions", Commission, "affiliates:read", schemas.Commission, commission_json, "commission", {}),
    (
        "/legends_members",
        LegendsMember,
        "legends:read",
        schemas.LegendsMember,
        legends_member_json,
        "legends member",
        {},
    ),
]
FILTERS = {
    "/plans": {"product": Plan.product_id},
    "/memberships": {"product": Membership.product_id, "user": Membership.buyer_id},
    "/licenses": {"product": License.product_id, "status": License.status},
    "/commissions": {"affiliate": Commission.affiliate_user_id, "status": Commission.status},
}
for _path, _model, _needs, _answer, _serialize, _noun, _extra in RESOURCES:
    resource(_path, _model, _needs, _answer, _serialize, _noun, filters=FILTERS.get(_path), **_extra)


@operation(
    "/legends/leaderboard", "GET", "legends:read", schemas.Leaderboard, query=schemas.LeaderboardQuery, tag="legends"
)
def legends_leaderboard():
    """Read a Legends leaderboard

    The top `limit` members of the company's game on one board (category and period; ties go
    to whoever got there first), and `member`'s rank and score when asked. Served from Redis,
    or computed from the database while Redis is unavailable."""
    query = params()
    if query.period not in boards.boards_of(query.category):
        raise ServiceError(400, "invalid_param", "The level board is all-time only: use period=all.", field="period")
    board = boards.top(company_id(), query.category, query.period, limit=query.limit, viewer_id=query.member)
    answer = {
        "object": "leaderboard",
        "category": query.category,
        "period": query.period,
        "total": board.total,
        "data": [{"rank": rank, "member": member, "score": score} for rank, member, score in board.rows],
        "member_rank": board.my_rank,
        "member_score": board.my_score,
    }
    return answer, 200


@operation(
    "/memberships/check",
    "GET",
    "memberships:read",
    schemas.AccessCheck,
    query=schemas.AccessCheckQuery,
    tag="memberships",
)
def check_membership():
    """Check a customer's access to a product

    Whether `user` may use `product` now (an active, trialing or past-due membership within
    its paid period), with the membership that decides it and its plan's tier rank."""
    product = api_resources.require_product(company_id(), params().product)
    has_access, membership = api_resources.check_access(product, params().user)
    answer = {
        "object": "access_check",
        "product": product.id,
        "user": params().user,
        "has_access": has_access,
        "membership": membership.id if membership else None,
        "status": membership.status if membership else None,
        "tier_rank": membership.tier_rank if membership and has_access else 0,
    }
    return answer, 200


# --- license keys -----------------------------------------------------------------------------


@operation(
    "/licenses",
    "POST",
    "licenses:write",
    schemas.CreatedLicense,
    status=201,
    json=schemas.LicenseCreate,
    tag="licenses",
    extra_errors=(409,),
)
def create_license():
    """Create a license key

    Issue a key for a product with an enabled license policy, optionally held by one of the
    company's customers. The full key is in this answer only."""
    data = body()
    product = api_resources.require_product(company_id(), data.product)
    buyer = None
    if data.user is not None:
        buyer = api_resources.find_customer(company_id(), data.user)
        if buyer is None:
            raise ServiceError(404, "resource_missing", f"No such customer: {data.user}.", field="user")
    license, key = api_resources.issue_license(
        product, buyer=buyer, max_activations=data.max_activations, days=data.expires_in_days
    )
    return {**license_json(license), "key": key}, 201


LICENSE_ACTIONS = {
    "suspend": (
        seller_admin.suspend_license,
        "Suspend a license key\n\nAn active key stops validating (SUSPENDED) until the seller reinstates it.",
    ),
    "reset": (
        seller_admin.reset_license_activations,
        "Reset a license key's activations\n\nRemove every machine from the key, so it can be activated afresh.",
    ),
}


def license_action(action: str) -> None:
    """Register POST /licenses/<id>/`action` (view `<action>_license`): the seller's service for
    it on the company's key, audited without a person (the API key acted)."""
    service, doc = LICENSE_ACTIONS[action]

    def act(license_id):
        return license_json(service(own(License, license_id), None)), 200

    act.__name__, act.__doc__ = f"{action}_license", doc
    route = f"/licenses/<int:license_id>/{action}"
    operation(route, "POST", "licenses:write", schemas.License, tag="licenses", extra_errors=(409,))(act)


for _action in LICENSE_ACTIONS:
    license_action(_action)


# --- webhook endpoints ------------------------------------------------------------------------


@operation(
    "/webhook_endpoints",
    "POST",
    "webhooks:write",
    schemas.CreatedWebhookEndpoint,
    status=201,
    json=schemas.WebhookEndpointCreate,
    tag="webhooks",
    extra_errors=(409, 422),
)
def create_webhook_endpoint():
    """Create a webhook endpoint

    Events of the chosen types are posted to `url`, signed with the endpoint's secret, which
    is in this answer only."""
    from app.models import Company

    data = body()
    company = db.session.get_one(Company, company_id())
    endpoint = endpoints.create_endpoint(company, data.url, data.description, data.event_types, data.enabled)
    return {**endpoint_json(endpoint), "secret": decrypt(endpoint.secret_encrypted)}, 201


@operation("/webhook_endpoints/<int:webhook_endpoint_id>", "DELETE", "webhooks:write", schemas.Deleted, tag="webhooks")
def delete_webhook_endpoint(webhook_endpoint_id):
    """Delete a webhook endpoint

    No more events are sent to it; its delivery log goes with it."""
    endpoint = own(WebhookEndpoint, webhook_endpoint_id)
    endpoints.delete_endpoint(endpoint)
    db.session.commit()
    return {"id": webhook_endpoint_id, "object": "webhook_endpoint", "deleted": True}, 200
