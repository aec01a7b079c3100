"""Money is integer minor units; these helpers only format and compute fees."""


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


def parse_amount_cents(text):
    """'1,234.5' or '$12.50' typed by a person → integer cents; None if it isn't an amount."""
    cleaned = (text or "").strip().replace(",", "").lstrip("$")
    whole, _, fraction = cleaned.partition(".")
    if not whole.isdigit() or len(fraction) > 2 or (fraction and not fraction.isdigit()):
        return None
    return int(whole) * 100 + int((fraction + "00")[:2])
