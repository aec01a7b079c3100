"""The seller's orders, filtered by status; each opens in the order workspace (orders.py)."""

from flask import Blueprint, g
from sqlalchemy import func, select

from app.access import company_required
from app.extensions import db
from app.models import Order
from app.models.order import ORDER_STATUSES
from app.web import filter_by_status, paginate, render

bp = Blueprint("orders", __name__, url_prefix="/orders")
ORDERS_PER_PAGE = 50


@bp.route("")
@company_required("orders")
def index():
    """The seller's orders (tenant-scoped), filtered by status."""
    query, status = filter_by_status(
        select(Order).where(Order.company_id == g.company.id).order_by(Order.created_at.desc(), Order.id.desc()),
        Order.status,
        ORDER_STATUSES,
    )
    pagination = paginate(query, ORDERS_PER_PAGE)
    counts = dict(
        db.session.execute(
            select(Order.status, func.count()).where(Order.company_id == g.company.id).group_by(Order.status)
        ).all()
    )
    return render(
        "orders/seller_list.html",
        "orders",
        orders=pagination.items,
        pagination=pagination,
        status=status,
        statuses=ORDER_STATUSES,
        counts=counts,
        company=g.company,
    )
