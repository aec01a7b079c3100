"""Creating in-app notifications."""
from app.extensions import db
from app.models import Notification


def notify_user(user, kind, title, body="", link=None):
    """Queue an in-app notification for `user`; flushed, not committed."""
    notification = Notification(user_id=user.id, kind=kind, title=title, body=body, link=link)
    db.session.add(notification)
    db.session.flush()
    return notification
