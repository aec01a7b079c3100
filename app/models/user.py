"""People who sign in: buyers, sellers and admins."""

from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.mixins import CreatedAt
from app.models.types import UTCDateTime, string_enum

INTENTS = ("hire", "sell")


class User(UserMixin, CreatedAt, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(80))
    intent: Mapped[str] = mapped_column(string_enum(INTENTS, "intent", 8), default="hire")
    is_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the address in `email` was proven to be theirs (a link we mailed to it was opened);
    # NULL until then. Selling and withdrawing wait for it.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the account was deleted: the row stays (orders and the ledger point at it) with
    # its personal data replaced (services/account_lifecycle.delete_account).
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships = relationship("CompanyMember", back_populates="user", lazy="selectin")

    # The token of the session this object was signed in with or loaded for (never stored:
    # the database keeps only its hash). Flask-Login puts get_id() in the session and
    # remember cookies, so the cookies carry this token and not the user id.
    if TYPE_CHECKING:  # typed for mypy alone: an annotation the ORM sees would declare a column
        session_token: str | None
    session_token = None
    # The company the user chose to work in (the session's choice, set by the web layer on
    # each request; seller_membership checks it against the memberships).
    chosen_company_id = None

    @property
    def is_active(self):
        return self.active

    @property
    def email_verified(self):
        return self.email_verified_at is not None

    def get_id(self):
        if self.session_token is None:
            raise RuntimeError("sign users in with app.session_auth.begin_session, not login_user")
        return self.session_token

    def __eq__(self, other):
        # Users are the same user by id (UserMixin would compare session tokens).
        if isinstance(other, User):
            return self is other or (self.id is not None and self.id == other.id)
        return NotImplemented

    __hash__ = object.__hash__

    @property
    def seller_memberships(self):
        """This user's memberships of seller companies, oldest company first."""
        return sorted(
            (membership for membership in self.memberships if membership.company.kind == "seller"),
            key=lambda membership: membership.company_id,
        )

    @property
    def seller_membership(self):
        """The membership (company and role) of the seller company this user works in: the
        one they chose if they still belong to it, else their first; None when they have none."""
        memberships = self.seller_memberships
        for membership in memberships:
            if membership.company_id == self.chosen_company_id:
                return membership
        return memberships[0] if memberships else None

    @property
    def seller_company(self):
        """The seller company this user belongs to, if any."""
        membership = self.seller_membership
        return membership.company if membership is not None else None

    def __repr__(self):
        return f"<User {self.id} {self.email}>"
