"""Gig discovery: filters parsed from a query string, full-text search, listing pages, gig pages.

Everything here reads; nothing writes. A listing page is one statement whatever the page
size: the page of gigs with their company, category and images joined in, and the total.
Columns and relationships a card does not show raise if a template touches them, so an N+1
cannot creep in unnoticed.

Full-text search uses the structures migration 0003 created:
- PostgreSQL: `websearch_to_tsquery('english', :q)` against the generated, GIN-indexed
  `gigs.search_vector` (title weight A, description B, tags C), ranked by `ts_rank`.
- SQLite: the FTS5 table `gigs_fts(title, description_md, tags)`, ranked by
  `bm25(gigs_fts, 10.0, 4.0, 2.0)`. User input is never passed as FTS5 syntax: it is split
  into word tokens, each one quoted, so `"`, `AND` or `foo*(` are plain words.
"""

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Select, Subquery, cast, func, literal_column, select, text
from sqlalchemy.orm import joinedload, lazyload, load_only, raiseload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from app.errors import NotFound
from app.extensions import db
from app.models import Category, Company, Gig, User
from app.models.gig import MAX_PRICE_CENTS
from app.money import marketplace_currency, to_major, to_minor

PAGE_SIZE = 24
MAX_QUERY_LENGTH = 200
MAX_DELIVERY_DAYS = 90
SORTS = {
    "relevance": "Best match",
    "newest": "Newest",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "rating": "Top rated",
}
DELIVERY_CHOICES = (1, 3, 7, 14)
RATING_CHOICES = ("4.5", "4", "3")

_WORD = re.compile(r"\w+", re.UNICODE)
_WHOLE_NUMBER = re.compile(r"\d{1,9}")
_RATING = re.compile(r"\d(\.\d)?")


@dataclass(frozen=True)
class GigFilters:
    """A validated listing request. Prices are cents; the rating is in tenths of a star."""

    q: str = ""
    category: str | None = None
    category_id: int | None = None
    min_price_cents: int | None = None
    max_price_cents: int | None = None
    max_days: int | None = None
    min_rating_tenths: int | None = None
    sort: str = "newest"
    page: int = 1

    @property
    def terms(self) -> list[str]:
        """The query's word tokens (what the search actually matches)."""
        return _WORD.findall(self.q)

    @property
    def is_search(self) -> bool:
        """Whether the query has words to search for."""
        return bool(self.terms)

    @property
    def is_filtered(self) -> bool:
        """Whether any filter besides the query is set."""
        return any(
            v is not None
            for v in (self.category, self.min_price_cents, self.max_price_cents, self.max_days, self.min_rating_tenths)
        )

    def query_args(self, **overrides: Any) -> dict[str, Any]:
        """The query-string arguments that reproduce these filters (for links), with overrides."""
        values = {
            "q": self.q or None,
            "category": self.category,
            "min_price": None if self.min_price_cents is None else _whole_units(self.min_price_cents),
            "max_price": None if self.max_price_cents is None else _whole_units(self.max_price_cents),
            "delivery": self.max_days,
            "rating": None if self.min_rating_tenths is None else _format_tenths(self.min_rating_tenths),
            "sort": self.sort if self.sort != default_sort(self.q) else None,
            "page": self.page if self.page > 1 else None,
        }
        values.update(overrides)
        return {k: v for k, v in values.items() if v not in (None, "")}


@dataclass
class GigPage:
    """One page of listing results."""

    gigs: list[Gig]
    total: int
    page: int
    page_size: int = PAGE_SIZE
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.pages = max(1, math.ceil(self.total / self.page_size))

    @property
    def first_index(self) -> int:
        """The 1-based position of the page's first gig in the whole listing (0 when empty)."""
        return (self.page - 1) * self.page_size + 1 if self.gigs else 0

    @property
    def last_index(self) -> int:
        """The 1-based position of the page's last gig in the whole listing."""
        return (self.page - 1) * self.page_size + len(self.gigs)

    def page_numbers(self, around: int = 2) -> list[int | None]:
        """Page numbers to link, with None where a gap (…) goes: 1 … 4 5 [6] 7 8 … 20."""
        wanted = {1, self.pages, *range(self.page - around, self.page + around + 1)}
        numbers: list[int | None] = []
        previous = 0
        for n in sorted(p for p in wanted if 1 <= p <= self.pages):
            if n - previous > 1:
                numbers.append(None)
            numbers.append(n)
            previous = n
        return numbers


def default_sort(q: str | None) -> str:
    """Relevance when there are words to search for, else newest first."""
    return "relevance" if _WORD.search(q or "") else "newest"


def _format_tenths(tenths: int) -> str:
    return str(tenths // 10) if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}"


def _whole_units(cents: int) -> int:
    """A price in whole units of the marketplace currency, as the query string states it."""
    return int(to_major(cents, marketplace_currency()))


def _parse_price(raw: str, label: str, errors: dict[str, str], key: str) -> int | None:
    raw = raw.strip().replace(",", "").lstrip("$")
    if not raw:
        return None
    max_units = _whole_units(MAX_PRICE_CENTS)
    if not _WHOLE_NUMBER.fullmatch(raw) or int(raw) > max_units:
        errors[key] = f"{label} must be a whole number of dollars from 0 to {max_units:,}."
        return None
    return to_minor(int(raw), marketplace_currency())


def parse_filters(args: Mapping[str, str], category_ids: Mapping[str, int]) -> tuple[GigFilters, dict[str, str]]:
    """GigFilters from request args, and {field: message} for every value that was refused.

    A refused value is dropped (the listing runs without it) so the page still answers.
    `category_ids` maps the slugs that exist to their ids. Page numbers that are not positive integers
    mean page 1; the page is clamped to the last page later, when the total is known.
    """
    errors = {}
    q = " ".join((args.get("q") or "").split())[:MAX_QUERY_LENGTH]

    category = (args.get("category") or "").strip() or None
    if category is not None and category not in category_ids:
        errors["category"] = "There is no such category."
        category = None

    min_price = _parse_price(args.get("min_price") or "", "Min price", errors, "min_price")
    max_price = _parse_price(args.get("max_price") or "", "Max price", errors, "max_price")
    if min_price is not None and max_price is not None and min_price > max_price:
        errors["max_price"] = "Max price must be at least the min price."
        max_price = None

    max_days = None
    raw_days = (args.get("delivery") or "").strip()
    if raw_days:
        if _WHOLE_NUMBER.fullmatch(raw_days) and 1 <= int(raw_days) <= MAX_DELIVERY_DAYS:
            max_days = int(raw_days)
        else:
            errors["delivery"] = f"Delivery time must be a number of days from 1 to {MAX_DELIVERY_DAYS}."

    min_rating = None
    raw_rating = (args.get("rating") or "").strip()
    if raw_rating:
        if _RATING.fullmatch(raw_rating) and 1 <= float(raw_rating) <= 5:
            whole, _, tenth = raw_rating.partition(".")
            min_rating = int(whole) * 10 + int(tenth or 0)
        else:
            errors["rating"] = "Minimum rating must be a number of stars from 1 to 5."

    sort = (args.get("sort") or "").strip() or default_sort(q)
    if sort not in SORTS:
        errors["sort"] = "Choose one of the listed sort orders."
        sort = default_sort(q)
    elif sort == "relevance" and not _WORD.search(q):
        sort = "newest"

    raw_page = (args.get("page") or "").strip()
    filters = GigFilters(
        q=q,
        category=category,
        category_id=None if category is None else category_ids.get(category),
        min_price_cents=min_price,
        max_price_cents=max_price,
        max_days=max_days,
        min_rating_tenths=min_rating,
        sort=sort,
        page=int(raw_page) if _WHOLE_NUMBER.fullmatch(raw_page) and int(raw_page) > 0 else 1,
    )
    return filters, errors


def fts5_match_expression(q: str) -> str:
    """An FTS5 MATCH string for free text: every word token quoted, all required.

    Quoting makes each token a plain string (FTS5 keywords and operators lose their meaning);
    a double quote cannot appear inside a \\w+ token, so no escaping is needed beyond that.
    """
    return " ".join(f'"{token}"' for token in _WORD.findall(q))


# What a gig card shows; loading only these keeps long text and JSON out of the hot path.
_CARD_GIG_COLUMNS = (
    Gig.id,
    Gig.slug,
    Gig.title,
    Gig.basic_price_cents,
    Gig.min_delivery_days,
    Gig.rating_sum,
    Gig.rating_count,
    Gig.orders_completed,
    Gig.company_id,
    Gig.category_id,
)


def _listing_options() -> tuple[LoaderOption, ...]:
    """Eager loads for gig cards, all joined into the page query (SQLAlchemy applies LIMIT
    in a subquery before joining images); anything else raises if a template touches it.

    Except on the company: the same Company object serves the rest of the session (it may be
    the signed-in seller's own, whose members the access checks read), so what the cards leave
    out loads when asked rather than raising.
    """
    return (
        load_only(*_CARD_GIG_COLUMNS, raiseload=True),
        joinedload(Gig.category).load_only(Category.name, Category.slug, Category.position, raiseload=True),
        joinedload(Gig.company).options(load_only(Company.title), lazyload(Company.members), lazyload(Company.parent)),
        joinedload(Gig.images),
        raiseload(Gig.packages),
        raiseload(Gig.extras),
        raiseload(Gig.questions),
    )


def _rating_value() -> ColumnElement[Any]:
    return cast(Gig.rating_sum, Float) / func.nullif(Gig.rating_count, 0)


def _text_match(
    q: str,
) -> tuple[tuple[Subquery, ColumnElement[bool]] | None, ColumnElement[bool] | None, ColumnElement[Any]]:
    """(join target and on-clause or None, where-clause or None, rank ordering) for `q`."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        vector: ColumnElement[Any] = literal_column("gigs.search_vector")
        query = func.websearch_to_tsquery(literal_column("'english'"), q)
        return None, vector.op("@@")(query), func.ts_rank(vector, query).desc()
    hits = (
        text(
            "SELECT rowid AS gig_id, bm25(gigs_fts, 10.0, 4.0, 2.0) AS score FROM gigs_fts WHERE gigs_fts MATCH :match"
        )
        .bindparams(match=fts5_match_expression(q))
        .columns(gig_id=Integer, score=Float)
        .subquery("hits")
    )
    return (hits, hits.c.gig_id == Gig.id), None, hits.c.score.asc()


def listed() -> ColumnElement[bool]:
    """Gigs buyers can find: published, by a company that is not suspended."""
    return Gig.status.in_(("published",)) & Gig.company_id.not_in(
        select(Company.id).where(Company.status == "suspended").scalar_subquery()
    )


def search_gigs(filters: GigFilters) -> GigPage:
    """The page of published gigs matching `filters`, in the requested order.

    Guarantees: only `published` gigs; every filter combines with AND; a page past the end
    is clamped to the last page; ties break on id so pages never overlap.
    """
    conditions = [listed()]
    if filters.category_id is not None:
        conditions.append(Gig.category_id == filters.category_id)
    if filters.min_price_cents is not None:
        conditions.append(Gig.basic_price_cents >= filters.min_price_cents)
    if filters.max_price_cents is not None:
        conditions.append(Gig.basic_price_cents <= filters.max_price_cents)
    if filters.max_days is not None:
        conditions.append(Gig.min_delivery_days <= filters.max_days)
    if filters.min_rating_tenths is not None:
        conditions.append(Gig.rating_count > 0)
        conditions.append(Gig.rating_sum * 10 >= Gig.rating_count * filters.min_rating_tenths)

    join, rank = None, None
    if filters.is_search:
        join, where, rank = _text_match(" ".join(filters.terms))
        if where is not None:
            conditions.append(where)

    def restrict(stmt: Select[Any]) -> Select[Any]:
        if join is not None:
            stmt = stmt.join(*join)
        return stmt.where(*conditions)

    orders: dict[str, list[ColumnElement[Any]]] = {
        "relevance": [rank] if rank is not None else [],
        "newest": [Gig.published_at.desc()],
        "price_asc": [Gig.basic_price_cents.asc()],
        "price_desc": [Gig.basic_price_cents.desc()],
        "rating": [_rating_value().desc().nulls_last(), Gig.rating_count.desc()],
    }
    order = orders[filters.sort]
    # The total rides along as an uncorrelated scalar subquery: PostgreSQL runs it once (an
    # index-only scan for plain listings) in the same round trip as the page. A window
    # count(*) OVER () would instead fetch every matching row from the heap (10x slower here).
    count = restrict(select(func.count()).select_from(Gig)).scalar_subquery()

    def fetch(page: int) -> Sequence[Any]:
        stmt = (
            restrict(select(Gig, count))
            .options(*_listing_options())
            .order_by(*order, Gig.id.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
        return db.session.execute(stmt).unique().all()

    page = filters.page
    rows = fetch(page)
    if rows:
        total = rows[0][1]
    else:  # nothing on this page: is there nothing at all, or is the page past the end?
        total = (db.session.scalar(select(count)) or 0) if page > 1 else 0
        last = max(1, math.ceil(total / PAGE_SIZE))
        if page > last:
            page = last
            rows = fetch(page)
    gigs = [row[0] for row in rows]
    return GigPage(gigs=gigs, total=total, page=page)


def list_categories() -> list[Category]:
    """All categories in display order."""
    return list(db.session.scalars(select(Category).order_by(Category.position, Category.name)))


def category_counts() -> dict[int, int]:
    """{category_id: number of published gigs}."""
    rows = db.session.execute(select(Gig.category_id, func.count(Gig.id)).where(listed()).group_by(Gig.category_id))
    return dict(rows.tuples().all())


def get_category_or_404(slug: str) -> Category:
    """The category at `slug`; NotFound (404) when there is none."""
    category = db.session.scalar(select(Category).where(Category.slug == slug))
    if category is None:
        raise NotFound("There is no such category.")
    return category


def popular_gigs(limit: int = 8) -> list[Gig]:
    """Published gigs with the most completed orders (newest first among equals)."""
    stmt = (
        select(Gig)
        .where(listed())
        .options(*_listing_options())
        .order_by(Gig.orders_completed.desc(), Gig.published_at.desc(), Gig.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt).unique())


def shop_gigs(company_id: int, limit: int = 24) -> list[Gig]:
    """One seller's published gigs as cards, most ordered first (the shop page)."""
    stmt = (
        select(Gig)
        .where(Gig.status == "published", Gig.company_id == company_id)
        .options(*_listing_options())
        .order_by(Gig.orders_completed.desc(), Gig.published_at.desc(), Gig.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt).unique())


def top_rated_gigs(limit: int = 8) -> list[Gig]:
    """Published gigs with reviews, best average first, more reviews breaking ties."""
    stmt = (
        select(Gig)
        .where(listed(), Gig.rating_count > 0)
        .options(*_listing_options())
        .order_by(_rating_value().desc(), Gig.rating_count.desc(), Gig.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt).unique())


def can_preview(gig: Gig, user: User | None) -> bool:
    """Admins and members of the gig's company may see it in any status."""
    if user is None or not user.is_authenticated:
        return False
    return bool(user.is_admin or gig.company.role_of(user))


def get_gig_for_viewer_or_404(slug: str, user: User | None) -> Gig:
    """The gig at `slug` with everything its page shows, loaded up front.

    Published gigs are public. Any other status is a 404, except for admins and members of
    the seller company, who see it as a preview.
    """
    # Packages (at most three) join into the gig's row; extras and images would multiply it,
    # so they come in one SELECT each. Members load only when a preview has to be checked.
    stmt = (
        select(Gig)
        .where(Gig.slug == slug)
        .options(
            joinedload(Gig.category),
            joinedload(Gig.company).lazyload(Company.members),
            joinedload(Gig.packages),
            selectinload(Gig.extras),
            selectinload(Gig.images),
            raiseload(Gig.questions),
        )
    )
    gig = db.session.scalars(stmt).unique().one_or_none()
    if gig is None or (gig.status != "published" and not can_preview(gig, user)):
        raise NotFound("There is no such gig.")
    return gig


@dataclass(frozen=True)
class SellerStats:
    """A seller's record across their published gigs."""

    gigs: int
    orders_completed: int
    rating_sum: int
    rating_count: int

    @property
    def rating(self) -> float | None:
        """The average star rating to one decimal, None without reviews."""
        return round(self.rating_sum / self.rating_count, 1) if self.rating_count else None


def seller_stats(company_id: int) -> SellerStats:
    """Published gigs, completed orders and review totals of one seller, in one query."""
    row = db.session.execute(
        select(
            func.count(Gig.id),
            func.coalesce(func.sum(Gig.orders_completed), 0),
            func.coalesce(func.sum(Gig.rating_sum), 0),
            func.coalesce(func.sum(Gig.rating_count), 0),
        ).where(Gig.company_id == company_id, listed())
    ).one()
    return SellerStats(*(int(v) for v in row))
