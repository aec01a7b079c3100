"""Tenant scope: seller-side requests see and change only their own company's rows.

Models that mix in `TenantOwned` carry `company_id`. While a tenant is current (set by
`company_required` views (app/access.py) or the `tenant_scope` context manager), every ORM SELECT gets
`company_id = :current` added through `with_loader_criteria`, new rows default to the current
company, and a flush that would write another company's row raises `TenantViolation`.
Public pages (browsing, gig pages) and admin pages run without a tenant.

`session.get()` may answer from the identity map without a SELECT, so the scope cannot
filter it: load tenant rows by id with `select(...).where(Model.id == id)` instead.
"""

from contextlib import contextmanager

from flask import g, has_app_context
from sqlalchemy import ForeignKey, event
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, with_loader_criteria


class TenantViolation(PermissionError):
    """A write to a row of a company other than the current tenant."""


class TenantOwned:
    """Mixin for tenant-owned tables."""

    @declared_attr
    def company_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)


def current_tenant_id():
    """Id of the company whose scope is active, or None."""
    if not has_app_context():
        return None
    return g.get("tenant_company_id")


def set_tenant(company_id):
    g.tenant_company_id = company_id


@contextmanager
def tenant_scope(company_id):
    """Run the block with `company_id` as the current tenant (jobs, CLI, tests)."""
    previous = g.get("tenant_company_id")
    g.tenant_company_id = company_id
    try:
        yield
    finally:
        g.tenant_company_id = previous


@contextmanager
def without_tenant():
    """Run the block with no tenant scope (e.g. reading the platform's own rows)."""
    with tenant_scope(None):
        yield


@event.listens_for(Session, "do_orm_execute")
def _scope_selects(state):
    company_id = current_tenant_id()
    if company_id is None or not state.is_select or state.execution_options.get("skip_tenant_scope"):
        return
    state.statement = state.statement.options(
        with_loader_criteria(TenantOwned, lambda cls: cls.company_id == company_id, include_aliases=True)
    )


@event.listens_for(Session, "before_flush")
def _guard_writes(session, _flush_context, _instances):
    company_id = current_tenant_id()
    if company_id is None:
        return
    for obj in session.new:
        if isinstance(obj, TenantOwned):
            if obj.company_id is None:
                obj.company_id = company_id
            elif obj.company_id != company_id:
                raise TenantViolation(f"cannot create {type(obj).__name__} for company {obj.company_id}")
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, TenantOwned) and obj.company_id != company_id:
            raise TenantViolation(f"cannot change {type(obj).__name__} {obj.id} of another company")
