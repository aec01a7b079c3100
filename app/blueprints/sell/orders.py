"""The seller's orders, filtered by status; each opens in the order workspace (orders.py)."""
from flask import Blueprint, g, request
from sqlalchemy import func, select

from app.access import seller_required
from app.extensions import db
from app.models import Order
from app.models.order import ORDER_STATUSES
from app.web import render

bp = Blueprint("orders", __name__, url_prefix="/orders")


@bp.route("")
@seller_required
def index():
    """The seller's orders (tenant-scoped), filtered by status."""
    status = request.args.get("status", "")
    query = select(Order).where(Order.company_id == g.company.id).order_by(Order.created_at.desc(), Order.id.desc())
    counts = dict(db.session.execute(select(Order.status, func.count()).where(Order.company_id == g.company.id)
                                     .group_by(Order.status)).all())
    if status in ORDER_STATUSES:
        query = query.where(Order.status == status)
    return render("orders/seller_list.html", "orders", orders=db.session.scalars(query.limit(200)).all(),
                  status=status, statuses=ORDER_STATUSES, counts=counts, company=g.company)
