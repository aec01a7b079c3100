"""Creating in-app notifications."""

from app.extensions import db
from app.models import Notification, User


def notify_user(user: User, kind: str, title: str, body: str = "", link: str | None = None) -> Notification:
    """Queue an in-app notification for `user`; flushed, not committed."""
    notification = Notification(user_id=user.id, kind=kind, title=title, body=body, link=link)
    db.session.add(notification)
    db.session.flush()
    return notification
