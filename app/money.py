"""Money is integer minor units plus an ISO currency code. This module is the one place that
formats amounts for people, reads amounts people type, converts to and from major units and
computes fees.

How many minor units a currency has comes from Babel's currency data (USD and EUR 2, JPY 0,
BHD 3), never from a hard-coded 100; amounts become `Decimal`s only to be shown or read,
never floats.
"""

import re
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision, get_currency_symbol
from flask import current_app

# Amounts are shown the way an American reader writes them ($1,234.50, €1,234.50, ¥1,234).
DEFAULT_LOCALE = "en_US"
# Larger than any price, refund or payout we allow, small enough for every BigInteger column.
MAX_TYPED_UNITS = 10**9
_WHOLE_DIGITS = 12


def marketplace_currency():
    """The marketplace's currency (the CURRENCY setting): prices, balances and payouts."""
    return current_app.config["CURRENCY"]


def minor_digits(currency):
    """How many minor units a major unit of `currency` splits into, as a power of ten."""
    return get_currency_precision(currency.upper())


def to_major(cents, currency):
    """123450 (usd) → Decimal('1234.50'); 1234 (jpy) → Decimal('1234'). Exact."""
    return Decimal(int(cents)).scaleb(-minor_digits(currency))


def to_minor(amount, currency):
    """A major-unit amount (Decimal, int or a decimal string) → integer minor units, half up."""
    exact = Decimal(amount).scaleb(minor_digits(currency))
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@lru_cache(maxsize=8192)
def format_money(cents, currency, locale=DEFAULT_LOCALE):
    """'$1,234.50' for 123450 usd, '-€12.50' for -1250 eur, '¥1,234' for 1234 jpy.

    Memoised: Babel's formatting is the costliest part of rendering a gig card, and pages
    show the same few prices over and over (a pure function of its arguments)."""
    return format_currency(to_major(cents, currency), currency.upper(), locale=locale)


def format_amount(cents, currency):
    """The plain number for a form field, the inverse of `parse_amount_cents`: '1234.50', '1234'."""
    return str(to_major(cents, currency))


def money_filter(cents, currency=None):
    """The Jinja `money` filter: `{{ price|money }}` in the marketplace currency, or
    `{{ order.total_cents|money(order.currency) }}`."""
    return format_money(cents, currency or marketplace_currency())


def amount_input_filter(cents, currency=None):
    """The Jinja `amount_input` filter: the value of an amount `<input>`."""
    return format_amount(cents, currency or marketplace_currency())


def fee_cents(amount_cents, bps):
    """Platform fee for `amount_cents` at `bps` basis points, rounded half up."""
    return (amount_cents * bps + 5000) // 10000


def parse_amount_cents(text, currency, max_whole_units=MAX_TYPED_UNITS):
    """'1,234.5' or '$12.50' typed by a person → integer minor units of `currency`; None if it
    isn't an amount.

    ASCII digits only, with at most as many decimals as the currency has (two for USD, none
    for JPY) and at most `max_whole_units` whole units; the currency's symbol may lead. "NaN",
    "inf", "-5", "1e3", "²", "12.345" (USD) and 99999999999999999999 are not amounts. Ranges
    that matter to a workflow (a price, a refund) are checked by its service.
    """
    if not isinstance(text, str):
        return None
    digits = minor_digits(currency)
    typed = text.strip().replace(",", "").removeprefix(get_currency_symbol(currency.upper(), DEFAULT_LOCALE))
    match = re.fullmatch(rf"([0-9]{{1,{_WHOLE_DIGITS}}})(?:\.([0-9]{{0,{digits}}}))?", typed, re.ASCII)
    if match is None or int(match.group(1)) > max_whole_units:
        return None
    return to_minor(f"{match.group(1)}.{match.group(2) or '0'}", currency)
