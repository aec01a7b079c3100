"""Access decorators for views: who may see a page at all."""
from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def admin_required(view):
    """Signed-in admins only: others get 403 (signed-out visitors go to sign-in)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
