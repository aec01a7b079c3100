"""The request and response models of /api/v1 (pydantic). spectree validates requests and
answers with them and builds the OpenAPI document from them: one source for both."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.inputs import MAX_INT
from app.models.license import MAX_ACTIVATIONS_LIMIT, MAX_DURATION_DAYS

Id = Annotated[int, Field(ge=1, le=MAX_INT)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
Currency = Annotated[str, Field(description="ISO 4217 code, lower case", examples=["usd"])]
Money = Annotated[int, Field(description="integer minor units (cents) of `currency`")]


class Query(BaseModel):
    """Query parameters: unknown ones are ignored."""

    model_config = ConfigDict(extra="ignore")


class ListQuery(Query):
    limit: int = Field(10, ge=1, le=100, description="How many objects (1-100).")
    starting_after: Id | None = Field(None, description="Cursor: the id of the last object of the previous page.")


class PlansQuery(ListQuery):
    product: Id | None = Field(None, description="Only this product's plans.")


class MembershipsQuery(ListQuery):
    product: Id | None = Field(None, description="Only memberships in this product.")
    user: Id | None = Field(None, description="Only this customer's memberships.")


class LicensesQuery(ListQuery):
    product: Id | None = Field(None, description="Only this product's keys.")
    status: Literal["active", "suspended", "revoked"] | None = None


class AccessCheckQuery(Query):
    product: Id = Field(description="The product's id.")
    user: Id = Field(description="The customer's (user's) id.")


class Body(BaseModel):
    """JSON bodies: strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class LicenseCreate(Body):
    product: Id = Field(description="The product the key opens; it needs an enabled license policy.")
    user: Id | None = Field(None, description="The customer who holds the key (optional).")
    max_activations: int | None = Field(None, ge=1, le=MAX_ACTIVATIONS_LIMIT)
    expires_in_days: int | None = Field(None, ge=1, le=MAX_DURATION_DAYS)


class WebhookEndpointCreate(Body):
    url: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="HTTPS URL events are posted to."
    )
    description: Annotated[str, StringConstraints(max_length=200)] = ""
    event_types: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50, description="Event types to send; empty: every type."
    )
    enabled: bool = True


class Object(BaseModel):
    """Answers: every object names its kind in `object` and carries `id` and `created`."""

    id: int
    created: datetime = Field(description="ISO-8601 UTC")


class Plan(Object):
    object: Literal["plan"]
    product: int
    name: str
    billing: Literal["one_time", "month", "year"]
    amount: Money
    currency: Currency
    trial_days: int
    tier_rank: int | None
    enabled: bool


class Product(Object):
    object: Literal["product"]
    title: str
    slug: str
    description: str
    billing: Literal["one_time", "month", "year"]
    amount: Money
    currency: Currency
    active: bool
    plans: list[Plan]


class Membership(Object):
    object: Literal["membership"]
    product: int
    plan: int | None
    user: int
    status: str
    source: str
    has_access: bool
    current_period_end: datetime | None
    access_ends_at: datetime | None
    cancel_at_period_end: bool


class AccessCheck(BaseModel):
    object: Literal["access_check"]
    product: int
    user: int
    has_access: bool
    membership: int | None
    status: str | None
    tier_rank: int


class Payment(Object):
    object: Literal["payment"]
    kind: str
    user: int
    order: int | None
    membership: int | None
    amount: Money
    fee: Money
    refunded: Money
    currency: Currency
    status: str


class Order(Object):
    object: Literal["order"]
    user: int
    gig: int
    title: str
    status: str
    package_tier: str
    quantity: int
    total: Money
    fee: Money
    seller_amount: Money
    currency: Currency
    due_at: datetime
    is_late: bool
    delivered_at: datetime | None
    completed_at: datetime | None


class Customer(Object):
    object: Literal["customer"]
    email: str
    name: str


class License(Object):
    object: Literal["license"]
    product: int
    user: int | None
    membership: int | None
    key_hint: str
    status: Literal["active", "suspended", "revoked", "expired"]
    max_activations: int
    activation_count: int
    reset_count: int
    expires_at: datetime | None


class CreatedLicense(License):
    key: str = Field(description="The full key; shown in this answer only.")


class WebhookEndpoint(Object):
    object: Literal["webhook_endpoint"]
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None


class CreatedWebhookEndpoint(WebhookEndpoint):
    secret: str = Field(description="The signing secret (whsec_…); shown in this answer only.")


class Deleted(BaseModel):
    id: int
    object: str
    deleted: Literal[True]


class Referral(Object):
    object: Literal["referral"]
    program: int | None
    affiliate: int = Field(description="The affiliate's user id.")
    user: int = Field(description="The referred customer's user id.")
    listing_type: Literal["gig", "product"]
    listing: int
    status: Literal["pending", "completed", "refused"]
    refusal_reason: str | None
    converted_at: datetime | None


class Commission(Object):
    object: Literal["commission"]
    program: int
    referral: int
    affiliate: int = Field(description="The affiliate's user id.")
    payment: int
    order: int | None
    listing_type: Literal["gig", "product"]
    listing: int
    payment_number: int = Field(description="Which payment of the referred customer earned it (renewals count).")
    base_amount: Money
    amount: Money
    reversed: Money
    currency: Currency
    status: Literal["pending", "available", "paid", "reversed"]
    clears_at: datetime | None
    reversal_reason: str | None


class CommissionsQuery(ListQuery):
    affiliate: Id | None = Field(None, description="Only this affiliate's commissions.")
    status: Literal["pending", "available", "paid", "reversed"] | None = None


class LegendsMember(Object):
    object: Literal["legends_member"]
    user: int
    character_class: int = Field(description="The member's class id.")
    guild: int | None
    level: int
    prestige: int
    xp: int = Field(description="Total XP, all prestiges.")
    referrals: int
    commission: Money
    streak_days: int


class LeaderboardQuery(Query):
    category: Literal["xp", "level", "referrals", "commission"] = "xp"
    period: Literal["all", "weekly", "monthly"] = Field("all", description="`level` has an all-time board only.")
    limit: int = Field(10, ge=1, le=100, description="How many places from the top (1-100).")
    member: Id | None = Field(None, description="Also give this member's rank and score.")


class LeaderboardEntry(BaseModel):
    rank: int
    member: int
    score: int


class Leaderboard(BaseModel):
    object: Literal["leaderboard"]
    category: str
    period: str
    total: int = Field(description="How many members are on the board.")
    data: list[LeaderboardEntry]
    member_rank: int | None
    member_score: int | None


def list_of(model: type[BaseModel]) -> type[BaseModel]:
    """The page model of `model`: {"object": "list", "data", "has_more", "url"}."""
    return type(
        f"{model.__name__}List",
        (BaseModel,),
        {
            "__annotations__": {"object": Literal["list"], "data": list[model], "has_more": bool, "url": str},  # type: ignore[valid-type]
            "__module__": __name__,
        },
    )


class ErrorBody(BaseModel):
    type: str = Field(
        description="invalid_request_error, authentication_error, permission_error, rate_limit_error, api_error"
    )
    code: str
    message: str
    param: str | None = Field(description="The parameter, field or header at fault, if one is.")


class Error(BaseModel):
    error: ErrorBody
