"""Apps: a company registers an app (an outside web service Tradepost embeds in iframes) and
other companies install it, granting it scopes of the public API.

`App.company_id` is the developer's company; `AppInstallation.company_id` the installing one.
An installation is active until `revoked_at`; at most one active installation per app and
company (a partial unique index). Its API key (services/api_keys.py) is revoked with it.
"""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import now
from app.extensions import Model
from app.models.mixins import Timestamps, user_reference
from app.models.types import UTCDateTime
from app.tenancy import TenantOwned

ACTIVE = text("revoked_at IS NULL")


class App(TenantOwned, Timestamps, Model):
    """A registered app. `public_id` ("app_…") is its id for everyone outside: the `aud` of the
    user tokens it receives. Its secret (`webhook_secret_encrypted`, Fernet-encrypted, see
    app/crypto.py) signs what Tradepost sends the app and authenticates the app when it fetches
    an installation's API key."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(300), default="")
    icon_url: Mapped[str | None] = mapped_column(String(500))
    base_url: Mapped[str] = mapped_column(String(300))
    experience_path: Mapped[str] = mapped_column(String(200), default="")
    dashboard_path: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret_encrypted: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(default=False)
    localhost_mode: Mapped[bool] = mapped_column(default=False)


class AppInstallation(TenantOwned, Model):
    """An app installed by a company (`company_id`), with the scopes it granted."""

    __tablename__ = "app_installations"
    __table_args__ = (
        Index(
            "uq_app_installations_active",
            "app_id",
            "company_id",
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    granted_scopes: Mapped[list] = mapped_column(JSON, default=list)
    installed_by_id: Mapped[int | None] = user_reference()
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    # The key in clear is kept Fernet-encrypted for the app to fetch with its secret (like a
    # GitHub App's installation token); NULL once the installation is revoked.
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)

    @property
    def active(self) -> bool:
        return self.revoked_at is None
