"""People who sign in: buyers, sellers and admins."""
from flask_login import UserMixin
from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import now
from app.extensions import db
from app.models.types import UTCDateTime

INTENTS = ("hire", "sell")


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("intent IN ('hire', 'sell')", name="intent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(80))
    intent: Mapped[str] = mapped_column(String(8), default="hire")
    is_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=now)
    last_sign_in_at: Mapped[object | None] = mapped_column(UTCDateTime)

    memberships = relationship("CompanyMember", back_populates="user", lazy="selectin")

    @property
    def is_active(self):
        return self.active

    @property
    def seller_company(self):
        """The seller company this user belongs to, if any."""
        for membership in self.memberships:
            if membership.company.kind == "seller":
                return membership.company
        return None

    def __repr__(self):
        return f"<User {self.id} {self.email}>"
