"""The company's settings (owners only): public profile and payouts."""

from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from flask_login import current_user

from app.access import company_required
from app.extensions import db
from app.models.company import PAYOUT_SCHEDULES
from app.money import amount_input_filter
from app.services.company_settings import update_company_settings
from app.web import refusal_page, render

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _page(form, errors=None, status=200):
    return render(
        "sell/settings.html",
        company=g.company,
        form=form,
        errors=errors or {},
        schedules=PAYOUT_SCHEDULES,
        http_status=status,
    )


def _refused(exc):
    return _page(request.form, exc.errors, exc.status)


@bp.route("", methods=["GET", "POST"])
@company_required("settings")
@refusal_page(_refused)
def edit():
    company = g.company
    if request.method == "GET":
        minimum = company.payout_minimum(current_app.config["PAYOUT_MINIMUM_CENTS"])
        return _page(
            {
                "title": company.title,
                "logo_url": company.logo_url or "",
                "website": company.website or "",
                "description": company.description or "",
                "payout_minimum": amount_input_filter(minimum),
                "payout_schedule": company.payout_schedule,
            }
        )
    update_company_settings(company, current_user, request.form)
    db.session.commit()
    flash("Settings saved.", "success")
    return redirect(url_for(".edit"), 303)
