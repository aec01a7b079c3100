"""The pages in the footer: terms of service, privacy, help and contact.

Plain pages that read settings (fee, clearance days, support address) so what they promise
is what the marketplace does."""

from flask import Blueprint, current_app

from app.web import render

bp = Blueprint("site", __name__)


def _facts():
    """The marketplace's numbers, as the pages quote them."""
    config = current_app.config
    return {
        "support_email": config["SUPPORT_EMAIL"],
        "fee_percent": f"{config['PLATFORM_FEE_BPS'] / 100:g}",
        "clearance_days": config["CLEARANCE_DAYS"],
        "minimum": config["PAYOUT_MINIMUM_CENTS"],
    }


@bp.route("/terms")
def terms():
    return render("site/terms.html", **_facts())


@bp.route("/privacy")
def privacy():
    return render("site/privacy.html", **_facts())


@bp.route("/help", endpoint="help")
def help_center():
    return render("site/help.html", **_facts())


@bp.route("/contact")
def contact():
    """Support by email: a mailto link to SUPPORT_EMAIL (the email outbox only writes to
    users, so a form here could not promise to reach anyone)."""
    return render("site/contact.html", **_facts())
