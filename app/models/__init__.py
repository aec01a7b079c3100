"""All models, imported here so Alembic and the app see every table."""
from app.models.audit import AuditEvent
from app.models.category import Category
from app.models.company import Company, CompanyMember
from app.models.gig import Gig, GigExtra, GigImage, GigPackage, GigQuestion
from app.models.inbound import InboundEvent
from app.models.ledger import LedgerEntry, LedgerTransaction
from app.models.notification import Notification
from app.models.order import Checkout, Order, Payment
from app.models.product import Membership, Product
from app.models.user import User

__all__ = ["AuditEvent", "Category", "Company", "CompanyMember", "Gig", "GigExtra", "GigImage", "GigPackage", "GigQuestion", "InboundEvent", "LedgerEntry", "LedgerTransaction", "Membership", "Notification", "Order", "Payment", "Product", "Checkout", "User"]
