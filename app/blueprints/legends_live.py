"""The web app's side of Legends live updates: the signed link a game page opens its stream
with (the page's legends-live.js asks for it when the page does not carry one).

`GET /legends/<slug>/live-link` answers the signed-in member of that company's game
`{"url": <stream URL with a token for them and that game>, "user_id", "expires_in": seconds}`; anyone
else gets the game's 404, as for every other Legends page of a game they do not play.
"""

from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user, login_required

from app.blueprints.legends import _member as member_of_game
from app.inputs import parse_whole_number
from app.services.legends.live import stream_url

bp = Blueprint("legends_live", __name__)


@bp.route("/legends/<slug>/live-link")
@login_required
def live_link(slug):
    company, _member = member_of_game(slug)
    response = jsonify(
        url=stream_url(company.id, current_user.id, parse_whole_number(request.args.get("after"))),
        user_id=current_user.id,
        expires_in=int(current_app.config["LEGENDS_STREAM_TOKEN_SECONDS"]),
    )
    response.headers["Cache-Control"] = "no-store"
    return response
