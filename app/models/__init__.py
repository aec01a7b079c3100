"""All models, imported here so Alembic and the app see every table."""

from app.models.account_token import AccountToken
from app.models.affiliate import (
    AffiliateAccount,
    AffiliateBan,
    AffiliateProgram,
    AffiliateProgramListing,
    Commission,
    Referral,
    ReferralClick,
    ReferralCode,
)
from app.models.api_key import ApiIdempotencyKey, ApiKey
from app.models.apps import App, AppInstallation
from app.models.audit import AuditEvent
from app.models.category import Category
from app.models.company import Company, CompanyInvitation, CompanyMember
from app.models.gig import Gig, GigExtra, GigImage, GigPackage, GigQuestion, GigRevision
from app.models.inbound import InboundEvent
from app.models.ledger import LedgerEntry, LedgerTransaction
from app.models.legends import (
    LegendsAchievement,
    LegendsClass,
    LegendsFeedEvent,
    LegendsGame,
    LegendsGuild,
    LegendsGuildInvite,
    LegendsMember,
    LegendsMemberAchievement,
    LegendsQuest,
    LegendsQuestTemplate,
    LegendsXpAward,
)
from app.models.license import License, LicenseActivation, LicensePolicy
from app.models.notification import Notification
from app.models.order import Checkout, Order, Payment
from app.models.order_activity import (
    OrderAnswer,
    OrderDelivery,
    OrderDispute,
    OrderEvent,
    OrderFile,
    OrderMessage,
    OutgoingEmail,
    Review,
)
from app.models.outbound import OutboxEvent, WebhookAttempt, WebhookEndpoint, WebhookMessage
from app.models.payout import Payout, Refund
from app.models.product import Membership, Plan, Product, ProductReview
from app.models.user import User
from app.models.user_session import UserSession
from app.models.whop import MemberFile, MemberPost, WhopCompanyLink, WhopIdentity, WhopPayment, WhopProductLink

__all__ = [
    "AccountToken",
    "AffiliateAccount",
    "AffiliateBan",
    "AffiliateProgram",
    "AffiliateProgramListing",
    "Commission",
    "Referral",
    "ReferralClick",
    "ReferralCode",
    "ApiIdempotencyKey",
    "ApiKey",
    "App",
    "AppInstallation",
    "AuditEvent",
    "Category",
    "Company",
    "CompanyInvitation",
    "CompanyMember",
    "Gig",
    "GigExtra",
    "GigImage",
    "GigPackage",
    "GigQuestion",
    "GigRevision",
    "InboundEvent",
    "LedgerEntry",
    "LedgerTransaction",
    "LegendsAchievement",
    "LegendsClass",
    "LegendsFeedEvent",
    "LegendsGame",
    "LegendsGuild",
    "LegendsGuildInvite",
    "LegendsMember",
    "LegendsMemberAchievement",
    "LegendsQuest",
    "LegendsQuestTemplate",
    "LegendsXpAward",
    "License",
    "LicenseActivation",
    "LicensePolicy",
    "Membership",
    "Notification",
    "OutboxEvent",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
    "Order",
    "Payment",
    "Payout",
    "Refund",
    "Plan",
    "Product",
    "ProductReview",
    "Checkout",
    "User",
    "UserSession",
    "MemberFile",
    "MemberPost",
    "WhopCompanyLink",
    "WhopIdentity",
    "WhopPayment",
    "WhopProductLink",
    "OrderAnswer",
    "OrderDelivery",
    "OrderDispute",
    "OrderEvent",
    "OrderFile",
    "OrderMessage",
    "OutgoingEmail",
    "Review",
]
