"""Money shown to people and read from them: one Babel-backed `money` filter, one amount parser,
both driven by the currency's own minor units (USD and EUR 2, JPY 0, BHD 3)."""

from decimal import Decimal

import pytest
from flask import render_template_string

from app.money import format_amount, format_money, minor_digits, parse_amount_cents, to_major, to_minor


@pytest.mark.parametrize(
    "cents, currency, shown",
    [
        (123450, "usd", "$1,234.50"),
        (5, "usd", "$0.05"),
        (0, "usd", "$0.00"),
        (-1250, "usd", "-$12.50"),
        (100_000_000_000, "usd", "$1,000,000,000.00"),
        (123450, "eur", "€1,234.50"),
        (-1250, "EUR", "-€12.50"),
        (1234, "jpy", "¥1,234"),
        (-5, "jpy", "-¥5"),
        (1234, "bhd", "BHD1.234"),
    ],
)
def test_format_money_uses_the_currency_and_its_minor_units(cents, currency, shown):
    assert format_money(cents, currency).replace("\xa0", " ") == shown


def test_format_money_follows_the_locale():
    assert format_money(123450, "eur", locale="de_DE").replace("\xa0", " ") == "1.234,50 €"


@pytest.mark.parametrize(
    "cents, currency, typed",
    [
        (123450, "usd", "1234.50"),
        (5, "usd", "0.05"),
        (0, "usd", "0.00"),
        (1234, "jpy", "1234"),
        (1, "bhd", "0.001"),
    ],
)
def test_format_amount_is_what_the_parser_reads_back(cents, currency, typed):
    assert format_amount(cents, currency) == typed
    assert parse_amount_cents(typed, currency) == cents


@pytest.mark.parametrize(
    "text, currency, cents",
    [
        ("12.50", "usd", 1250),
        ("$12.50", "usd", 1250),
        (" 1,234.5 ", "usd", 123450),
        ("12", "usd", 1200),
        ("12.", "usd", 1200),
        ("0.01", "usd", 1),
        ("€9.99", "eur", 999),
        ("9.99", "EUR", 999),
        ("1,234", "jpy", 1234),
        ("¥500", "jpy", 500),
        ("1.234", "bhd", 1234),
    ],
)
def test_parse_amount_reads_what_people_type(text, currency, cents):
    assert parse_amount_cents(text, currency) == cents


@pytest.mark.parametrize(
    "text, currency",
    [
        ("12.345", "usd"),  # more decimals than the currency has: refused, never rounded
        ("0.005", "usd"),
        ("12.5", "jpy"),  # yen have no minor unit
        ("-5", "usd"),
        ("-0.01", "usd"),
        ("−5", "usd"),
        ("NaN", "usd"),
        ("inf", "usd"),
        ("Infinity", "usd"),
        ("1e3", "usd"),
        ("0x10", "usd"),
        ("²", "usd"),
        ("١٢", "usd"),
        ("１２", "usd"),
        ("12\x00", "usd"),
        ("\x00", "usd"),
        ("", "usd"),
        ("   ", "usd"),
        (".", "usd"),
        (".5", "usd"),
        ("1.2.3", "usd"),
        ("12 50", "usd"),
        ("$ ", "usd"),
        ("€12", "usd"),
        ("$12", "jpy"),
        ("99999999999999999999", "usd"),
        ("1000000001", "usd"),
        ("9" * 10_000, "usd"),
        (None, "usd"),
        (12.5, "usd"),
        (1250, "usd"),
        (["12"], "usd"),
    ],
)
def test_parse_amount_refuses_what_is_not_an_amount(text, currency):
    assert parse_amount_cents(text, currency) is None


def test_parse_amount_caps_whole_units():
    assert parse_amount_cents("1000000000", "usd") == 100_000_000_000
    assert parse_amount_cents("101", "usd", max_whole_units=100) is None


def test_minor_units_come_from_the_currency_never_from_a_fixed_hundred():
    assert [minor_digits(c) for c in ("usd", "eur", "jpy", "bhd")] == [2, 2, 0, 3]
    assert to_major(123450, "usd") == Decimal("1234.50") and to_major(1234, "jpy") == Decimal("1234")
    assert to_minor(Decimal("19.99"), "usd") == 1999 and to_minor(1999, "jpy") == 1999
    assert to_minor("0.1", "usd") + to_minor("0.2", "usd") == to_minor("0.3", "usd") == 30


@pytest.mark.parametrize(
    "amount, cents",
    [
        (Decimal("19.995"), 2000),
        (Decimal("19.994"), 1999),
        (Decimal("0.005"), 1),
        (Decimal("0.004"), 0),
        (Decimal("-0.005"), -1),
    ],
)
def test_to_minor_rounds_half_up_away_from_zero(amount, cents):
    assert to_minor(amount, "usd") == cents


def test_money_filter_defaults_to_the_marketplace_currency(app, monkeypatch):
    with app.test_request_context():
        assert (
            render_template_string("{{ 123450|money }} {{ 1250|money('eur') }} {{ 99|amount_input }}")
            == "$1,234.50 €12.50 0.99"
        )
        monkeypatch.setitem(app.config, "CURRENCY", "jpy")
        assert render_template_string("{{ 5000|money }} {{ 5000|amount_input }}") == "¥5,000 5000"


def test_a_gig_page_in_a_zero_decimal_currency_shows_whole_yen(app, client, make_gig, monkeypatch):
    gig = make_gig(title="Yen logo design", tiers=("basic",), extras=[("Source files", 1500)], price_cents=123450)
    monkeypatch.setitem(app.config, "CURRENCY", "jpy")
    monkeypatch.setitem(app.config, "PAGE_CACHE_SECONDS", 0)
    page = client.get(f"/gigs/{gig.slug}").get_data(as_text=True)
    assert "¥123,450" in page and "+¥1,500" in page
    assert "$" not in page.split("<main", 1)[1]
