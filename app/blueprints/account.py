"""The buyer's account: orders and memberships."""
from flask import Blueprint, request
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.models import Membership, Order
from app.models.order import ORDER_STATUSES
from app.web import render

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("")
@login_required
def home():
    status = request.args.get("status", "")
    orders = select(Order).where(Order.buyer_id == current_user.id).order_by(Order.created_at.desc())
    if status in ORDER_STATUSES:
        orders = orders.where(Order.status == status)
    memberships = db.session.scalars(
        select(Membership).where(Membership.buyer_id == current_user.id)
        .order_by(Membership.created_at.desc())).all()
    return render("account/home.html", "orders", orders=db.session.scalars(orders).all(),
                  memberships=memberships, status=status, statuses=ORDER_STATUSES)
