"""The creators' Legends dashboard at /sell/legends (owners): open the game, its settings,
classes, quest templates and achievements, the figures over time, and CSV exports."""

from flask import Blueprint, Response, abort, g, redirect, request, url_for
from sqlalchemy import select

from app.access import company_required
from app.errors import NotFound
from app.extensions import db
from app.models import LegendsAchievement, LegendsClass, LegendsQuestTemplate
from app.models.legends import ACHIEVEMENT_RULES, QUEST_DIFFICULTIES, QUEST_PERIODS, QUEST_TARGETS
from app.services.ledger import account_balance
from app.services.legends import game as games
from app.services.legends.refusals import LegendsRefusal
from app.services.legends.stats import EXPORTS, dashboard, export_csv
from app.web import company_form, company_page, render

bp = Blueprint("legends", __name__, url_prefix="/legends")


# The choices of the quest and achievement forms.
CHOICES = {
    "periods": QUEST_PERIODS,
    "targets": QUEST_TARGETS,
    "difficulties": QUEST_DIFFICULTIES,
    "rules": ACHIEVEMENT_RULES,
}


def _page(exc=None):
    game = games.game_of(g.company)
    context = {"company": g.company, "game": game, "exports": EXPORTS, "errors": {}, "error": None, "form": {}}
    if game is not None:
        context.update(
            classes=games.classes_of(g.company.id),
            templates=db.session.scalars(select(LegendsQuestTemplate).order_by(LegendsQuestTemplate.id)).all(),
            achievements=db.session.scalars(select(LegendsAchievement).order_by(LegendsAchievement.id)).all(),
            stats=dashboard(g.company.id),
            available_cents=account_balance("seller_available", g.company.id),
        )
    if exc is not None:
        context.update(errors=exc.errors, error=exc.message, form=request.form)
    return render("legends/sell.html", http_status=exc.status if exc else 200, **CHOICES, **context)


def _refused(exc, **_view_args):
    return _page(exc)


def _game():
    game = games.game_of(g.company)
    if game is None:
        raise NotFound("Open your Legends game first.")
    return game


def _own(model, row_id):
    row = db.session.scalar(select(model).where(model.id == row_id))
    if row is None:
        raise NotFound()
    return row


def _save(save, model=None, row_id=None):
    """`save(company_id, form[, row])` for the company's game (and its row `row_id` of
    `model`), commit, back to the dashboard."""
    company_id = _game().company_id
    rows = () if model is None else (_own(model, row_id),)
    save(company_id, request.form, *rows)
    return _done()


def _done():
    """Commit what the request did; back to the dashboard."""
    db.session.commit()
    return redirect(url_for(".index"), 303)


def _unopened():
    if games.game_of(g.company) is not None:
        raise LegendsRefusal(409, "Your game is already open.")
    return g.company


company_page(bp, "settings", _page)


@company_form(bp, "/open", "settings", _refused)
def open_game():
    games.open_game(_unopened())
    return _done()


@company_form(bp, "/settings", "settings", _refused)
def settings():
    games.update_game(_game(), request.form)
    return _done()


def _editable(path: str, noun: str, save, model) -> None:
    """POST /<path> creates a row of `model` with `save`, POST /<path>/<row_id> updates one:
    endpoints `create_<noun>` and `update_<noun>`."""

    def create():
        return _save(save)

    def update(row_id):
        return _save(save, model, row_id)

    for rule, endpoint, view in (
        (f"/{path}", f"create_{noun}", create),
        (f"/{path}/<int:row_id>", f"update_{noun}", update),
    ):
        view.__name__ = endpoint
        company_form(bp, rule, "settings", _refused)(view)


_editable("classes", "class", games.save_class, LegendsClass)
_editable("quests", "quest", games.save_quest_template, LegendsQuestTemplate)
_editable("achievements", "achievement", games.save_achievement, LegendsAchievement)


@bp.route("/export/<kind>.csv")
@company_required("settings")
def export(kind):
    if kind not in EXPORTS:
        abort(404)
    game = games.game_of(g.company)
    if game is None:
        abort(404)
    body = export_csv(g.company.id, kind)
    filename = f"legends-{g.company.slug}-{kind}.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
