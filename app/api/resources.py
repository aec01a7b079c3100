"""The resources of /api/v1. Each view: the scope it needs, the models spectree validates its
request and answer with, one query or service call, the object(s) as JSON."""

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response as FlaskResponse
from flask import request
from pydantic import BaseModel
from spectree import Response
from sqlalchemy import select
from sqlalchemy.orm import joinedload, noload, selectinload

from app.api import schemas
from app.api.conventions import idempotent, iso, page
from app.api.core import bp, spec
from app.api.gate import scope
from app.crypto import decrypt
from app.errors import ServiceError
from app.extensions import db
from app.models import License, Membership, Order, Payment, Plan, Product, User, WebhookEndpoint
from app.services import api_resources
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
) -> Callable:
    """Register `view` at /api/v1`rule` for `method`, needing scope `needs`, validated by
    spectree (`query`, `json`, `answer` for `status`). POSTs are idempotent."""

    def decorate(view: Callable) -> Callable:
        codes = {f"HTTP_{status}": answer, **ERRORS, **{f"HTTP_{code}": schemas.Error for code in extra_errors}}
        inner = as_json(idempotent(view) if method == "POST" else view)
        validated = spec.validate(
            query=query, json=json, resp=Response(**codes), tags=[tag], operation_id=view.__name__
        )(inner)
        scope(needs)(validated)
        bp.add_url_rule(rule, view.__name__, validated, methods=[method])
        return validated

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
    row = db.session.scalar(
        select(model).where(model.id == object_id, model.company_id == company_id()).options(*options)
    )
    if row is None:
        raise ServiceError(404, "resource_missing", f"No such {model.__tablename__[:-1]}: {object_id}.", field="id")
    return row


def tenant_rows(model: Any) -> Any:
    return select(model).where(model.company_id == company_id())


# --- serialisers -------------------------------------------------------------------------


def plan_json(plan: Plan) -> dict:
    return {
        "id": plan.id,
        "object": "plan",
        "created": iso(plan.created_at),
        "product": plan.product_id,
        "name": plan.name,
        "billing": plan.billing,
        "amount": plan.price_cents,
        "currency": plan.currency,
        "trial_days": plan.trial_days,
        "tier_rank": plan.tier_rank,
        "enabled": plan.enabled,
    }


def product_json(product: Product, currency: str) -> dict:
    return {
        "id": product.id,
        "object": "product",
        "created": iso(product.created_at),
        "title": product.title,
        "slug": product.slug,
        "description": product.description_md,
        "billing": product.billing,
        "amount": product.price_cents,
        "currency": currency,
        "active": product.active,
        "plans": [plan_json(plan) for plan in product.plans],
    }


def membership_json(membership: Membership) -> dict:
    return {
        "id": membership.id,
        "object": "membership",
        "created": iso(membership.created_at),
        "product": membership.product_id,
        "plan": membership.plan_id,
        "user": membership.buyer_id,
        "status": membership.status,
        "source": membership.source,
        "has_access": membership.grants_access,
        "current_period_end": iso(membership.current_period_end),
        "access_ends_at": iso(membership.access_ends_at),
        "cancel_at_period_end": membership.cancel_at_period_end,
    }


def payment_json(payment: Payment) -> dict:
    return {
        "id": payment.id,
        "object": "payment",
        "created": iso(payment.created_at),
        "kind": payment.kind,
        "user": payment.buyer_id,
        "order": payment.order_id,
        "membership": payment.membership_id,
        "amount": payment.amount_cents,
        "fee": payment.fee_cents,
        "refunded": payment.refunded_cents,
        "currency": payment.currency,
        "status": payment.status,
    }


def order_json(order: Order) -> dict:
    return {
        "id": order.id,
        "object": "order",
        "created": iso(order.created_at),
        "user": order.buyer_id,
        "gig": order.gig_id,
        "title": order.title,
        "status": order.status,
        "package_tier": order.package_tier,
        "quantity": order.quantity,
        "total": order.total_cents,
        "fee": order.fee_cents,
        "seller_amount": order.seller_amount_cents,
        "currency": order.currency,
        "due_at": iso(order.due_at),
        "is_late": order.is_late,
        "delivered_at": iso(order.delivered_at),
        "completed_at": iso(order.completed_at),
    }


def customer_json(user: User) -> dict:
    return {
        "id": user.id,
        "object": "customer",
        "created": iso(user.created_at),
        "email": user.email,
        "name": user.display_name,
    }


def license_json(license: License) -> dict:
    return {
        "id": license.id,
        "object": "license",
        "created": iso(license.created_at),
        "product": license.product_id,
        "user": license.buyer_id,
        "membership": license.membership_id,
        "key_hint": license.key_hint,
        "status": license.display_status(),
        "max_activations": license.max_activations,
        "activation_count": license.activation_count,
        "reset_count": license.reset_count,
        "expires_at": iso(license.effective_expires_at),
    }


def endpoint_json(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "created": iso(endpoint.created_at),
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types or []),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
    }


def _currency() -> str:
    from app.money import marketplace_currency

    return marketplace_currency()


# --- products and plans ------------------------------------------------------------------


@operation(
    "/products", "GET", "products:read", schemas.list_of(schemas.Product), query=schemas.ListQuery, tag="products"
)
def list_products():
    """List products

    The company's products, newest first, each with its plans."""
    currency = _currency()
    query = tenant_rows(Product).options(noload(Product.company), joinedload(Product.plans))
    return page(query, Product.id, params().limit, params().starting_after, lambda p: product_json(p, currency)), 200


@operation("/products/<int:product_id>", "GET", "products:read", schemas.Product, tag="products")
def get_product(product_id):
    """Retrieve a product"""
    return product_json(
        own(Product, product_id, noload(Product.company), selectinload(Product.plans)), _currency()
    ), 200


@operation("/plans", "GET", "products:read", schemas.list_of(schemas.Plan), query=schemas.PlansQuery, tag="products")
def list_plans():
    """List plans

    The company's plans, newest first; `product` narrows to one product's."""
    query = tenant_rows(Plan)
    if params().product is not None:
        query = query.where(Plan.product_id == params().product)
    return page(query, Plan.id, params().limit, params().starting_after, plan_json), 200


@operation("/plans/<int:plan_id>", "GET", "products:read", schemas.Plan, tag="products")
def get_plan(plan_id):
    """Retrieve a plan"""
    return plan_json(own(Plan, plan_id)), 200


# --- memberships ---------------------------------------------------------------------------


@operation(
    "/memberships",
    "GET",
    "memberships:read",
    schemas.list_of(schemas.Membership),
    query=schemas.MembershipsQuery,
    tag="memberships",
)
def list_memberships():
    """List memberships

    Memberships in the company's products, newest first; `product` and `user` narrow it."""
    query = tenant_rows(Membership)
    if params().product is not None:
        query = query.where(Membership.product_id == params().product)
    if params().user is not None:
        query = query.where(Membership.buyer_id == params().user)
    return page(query, Membership.id, params().limit, params().starting_after, membership_json), 200


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


@operation("/memberships/<int:membership_id>", "GET", "memberships:read", schemas.Membership, tag="memberships")
def get_membership(membership_id):
    """Retrieve a membership"""
    return membership_json(own(Membership, membership_id)), 200


# --- payments, orders, customers -------------------------------------------------------------


@operation(
    "/payments", "GET", "payments:read", schemas.list_of(schemas.Payment), query=schemas.ListQuery, tag="payments"
)
def list_payments():
    """List payments

    Payments to the company (gig orders, products, subscription periods), newest first."""
    return page(tenant_rows(Payment), Payment.id, params().limit, params().starting_after, payment_json), 200


@operation("/payments/<int:payment_id>", "GET", "payments:read", schemas.Payment, tag="payments")
def get_payment(payment_id):
    """Retrieve a payment"""
    return payment_json(own(Payment, payment_id)), 200


@operation("/orders", "GET", "orders:read", schemas.list_of(schemas.Order), query=schemas.ListQuery, tag="orders")
def list_orders():
    """List orders

    The company's gig orders, newest first."""
    return page(tenant_rows(Order), Order.id, params().limit, params().starting_after, order_json), 200


@operation("/orders/<int:order_id>", "GET", "orders:read", schemas.Order, tag="orders")
def get_order(order_id):
    """Retrieve an order"""
    return order_json(own(Order, order_id)), 200


@operation(
    "/customers", "GET", "customers:read", schemas.list_of(schemas.Customer), query=schemas.ListQuery, tag="customers"
)
def list_customers():
    """List customers

    People who paid the company or hold a membership in its products, newest first."""
    query = api_resources.customers_query(company_id())
    return page(query, User.id, params().limit, params().starting_after, customer_json), 200


@operation("/customers/<int:customer_id>", "GET", "customers:read", schemas.Customer, tag="customers")
def get_customer(customer_id):
    """Retrieve a customer"""
    user = api_resources.find_customer(company_id(), customer_id)
    if user is None:
        raise ServiceError(404, "resource_missing", f"No such customer: {customer_id}.", field="id")
    return customer_json(user), 200


# --- license keys -----------------------------------------------------------------------------


@operation(
    "/licenses", "GET", "licenses:read", schemas.list_of(schemas.License), query=schemas.LicensesQuery, tag="licenses"
)
def list_licenses():
    """List license keys

    The company's license keys, newest first (the key itself is never listed, only its hint)."""
    query = tenant_rows(License)
    if params().product is not None:
        query = query.where(License.product_id == params().product)
    if params().status is not None:
        query = query.where(License.status == params().status)
    return page(query, License.id, params().limit, params().starting_after, license_json), 200


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


@operation("/licenses/<int:license_id>", "GET", "licenses:read", schemas.License, tag="licenses")
def get_license(license_id):
    """Retrieve a license key"""
    return license_json(own(License, license_id)), 200


@operation(
    "/licenses/<int:license_id>/suspend",
    "POST",
    "licenses:write",
    schemas.License,
    tag="licenses",
    extra_errors=(409,),
)
def suspend_license(license_id):
    """Suspend a license key

    An active key stops validating (SUSPENDED) until the seller reinstates it."""
    return license_json(seller_admin.suspend_license(own(License, license_id), None)), 200


@operation(
    "/licenses/<int:license_id>/reset",
    "POST",
    "licenses:write",
    schemas.License,
    tag="licenses",
    extra_errors=(409,),
)
def reset_license(license_id):
    """Reset a license key's activations

    Remove every machine from the key, so it can be activated afresh."""
    return license_json(seller_admin.reset_license_activations(own(License, license_id), None)), 200


# --- webhook endpoints ------------------------------------------------------------------------


@operation(
    "/webhook_endpoints",
    "GET",
    "webhooks:read",
    schemas.list_of(schemas.WebhookEndpoint),
    query=schemas.ListQuery,
    tag="webhooks",
)
def list_webhook_endpoints():
    """List webhook endpoints"""
    return page(
        tenant_rows(WebhookEndpoint), WebhookEndpoint.id, params().limit, params().starting_after, endpoint_json
    ), 200


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


@operation("/webhook_endpoints/<int:endpoint_id>", "GET", "webhooks:read", schemas.WebhookEndpoint, tag="webhooks")
def get_webhook_endpoint(endpoint_id):
    """Retrieve a webhook endpoint"""
    return endpoint_json(own(WebhookEndpoint, endpoint_id)), 200


@operation("/webhook_endpoints/<int:endpoint_id>", "DELETE", "webhooks:write", schemas.Deleted, tag="webhooks")
def delete_webhook_endpoint(endpoint_id):
    """Delete a webhook endpoint

    No more events are sent to it; its delivery log goes with it."""
    endpoint = own(WebhookEndpoint, endpoint_id)
    endpoints.delete_endpoint(endpoint)
    db.session.commit()
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}, 200
