"""All models, imported here so Alembic and the app see every table."""
from app.models.audit import AuditEvent
from app.models.category import Category
from app.models.company import Company, CompanyMember
from app.models.gig import Gig, GigExtra, GigImage, GigPackage, GigQuestion
from app.models.inbound import InboundEvent
from app.models.notification import Notification
from app.models.user import User

__all__ = ["AuditEvent", "Category", "Company", "CompanyMember", "Gig", "GigExtra", "GigImage", "GigPackage", "GigQuestion", "InboundEvent", "Notification", "User"]
