"""The form token of the Legends game inside the Whop iframe.

The iframe has no Tradepost session (no cookies), so the session-bound CSRF token of the rest
of the site cannot protect its forms; Whop's proxy adds the viewer's user token to every
request through it, a forged cross-site form post included. Each form of the framed game
therefore carries a token signed with SECRET_KEY naming the experience and the Whop viewer's
Tradepost user it was rendered for: a POST is honoured only with the user token of that same
user and a form token for them and that experience, at most FRAME_TOKEN_SECONDS old.
"""

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.services.legends.refusals import LegendsRefusal

FRAME_TOKEN_SECONDS = 12 * 3600
_SALT = "legends-frame-form"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def frame_token(experience_id: str, user_id: int) -> str:
    """The form token of `user_id`'s framed game page of `experience_id`."""
    return _serializer().dumps({"x": experience_id, "u": user_id})


def check_frame_token(token: object, experience_id: str, user_id: int) -> None:
    """Refuse (403, field `frame_token`) a missing, forged, expired or someone else's token."""
    try:
        if not isinstance(token, str) or not token:
            raise BadSignature("missing")
        claims = _serializer().loads(token, max_age=FRAME_TOKEN_SECONDS)
    except BadSignature as exc:  # SignatureExpired is one
        raise LegendsRefusal(403, "This form has expired: reload the game and try again.", "frame_token") from exc
    if claims != {"x": experience_id, "u": user_id}:
        raise LegendsRefusal(403, "This form was not made for you: reload the game and try again.", "frame_token")
