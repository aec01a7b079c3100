"""Money is integer minor units; these helpers format, compute fees and read typed amounts."""
import re

# Larger than any price, refund or payout we allow, small enough for every BigInteger column.
MAX_TYPED_UNITS = 10**9
_AMOUNT = re.compile(r"([0-9]{1,12})(?:\.([0-9]{0,2}))?", re.ASCII)


def format_cents(cents, currency="usd"):
    """'$1,234.50' for 123450 cents (USD); other currencies get their code as a suffix."""
    sign = "-" if cents < 0 else ""
    whole, minor = divmod(abs(int(cents)), 100)
    text = f"{whole:,}.{minor:02d}"
    if currency.lower() == "usd":
        return f"{sign}${text}"
    return f"{sign}{text} {currency.upper()}"


def fee_cents(amount_cents, bps):
    """Platform fee for `amount_cents` at `bps` basis points, rounded half up."""
    return (amount_cents * bps + 5000) // 10000


def parse_amount_cents(text, max_whole_units=MAX_TYPED_UNITS):
    """'1,234.5' or '$12.50' typed by a person → integer cents; None if it isn't an amount.

    ASCII digits only, at most two decimals and `max_whole_units` whole units: "NaN", "inf",
    "-5", "1e3", "²" and 99999999999999999999 are not amounts. Ranges that matter to a
    workflow (a price, a refund) are checked by its service.
    """
    if not isinstance(text, str):
        return None
    match = _AMOUNT.fullmatch(text.strip().replace(",", "").removeprefix("$"))
    if match is None:
        return None
    whole, fraction = int(match.group(1)), (match.group(2) or "")
    if whole > max_whole_units:
        return None
    return whole * 100 + int((fraction + "00")[:2])
