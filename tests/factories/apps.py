"""Apps: a registered app and its installation, made through the services the pages use."""

from app.extensions import db
from app.services import apps


def make_app(company, name="Hello", base_url="https://hello.example.com", *, published=True, **fields):
    """An app of `company` (published unless told otherwise), asking for `products:read`."""
    data = apps.AppInput(
        name=name,
        base_url=base_url,
        dashboard_path=fields.pop("dashboard_path", "/dashboard"),
        experience_path=fields.pop("experience_path", "/experience"),
        scopes=fields.pop("scopes", ["products:read"]),
        **fields,
    )
    app = apps.register_app(company, data)
    if published:
        apps.set_published(app, True)
    db.session.commit()
    return app


def install_app(app, company, actor=None):
    """`company`'s installation of `app` (with its API key)."""
    installation = apps.install_app(app, company, actor=actor)
    db.session.commit()
    return installation
