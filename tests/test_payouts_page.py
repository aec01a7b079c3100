"""The payouts page as a seller reads it: why Withdraw is disabled, refusals naming the
currency, the amount and when pending money clears, and a chart with values and an axis."""

import re
from datetime import timedelta

from sqlalchemy import func, select

from app.clock import now
from app.models import Payout
from app.services.escrow import release_escrow
from app.services.ledger import company_balances
from tests.factories import fund_available, make_order
from tests.forms import post_form


def _pending_order(db, cast, total_cents=2000, fee_cents=200, days_ago=1):
    """A completed order whose $18.00 seller share is pending clearance."""
    order = make_order(cast, "completed", total_cents=total_cents, fee_cents=fee_cents)
    order.completed_at = now() - timedelta(days=days_ago)
    release_escrow(order)
    db.session.commit()
    return order


def _clears_on(app, order):
    return (order.completed_at + timedelta(days=app.config["CLEARANCE_DAYS"])).strftime("%b %d, %Y")


def _withdraw_button(page):
    return re.search(r'<button class="button" type="submit"[^>]*>Withdraw</button>', page).group(0)


def test_with_nothing_available_the_button_is_disabled_and_says_when_money_clears(app, db, cast, sign_in):
    order = _pending_order(db, cast)
    page = sign_in(cast.owner).get("/sell/payouts").get_data(as_text=True)
    button = _withdraw_button(page)
    assert "disabled" in button and 'aria-describedby="withdraw-why"' in button
    why = re.search(r'<p class="withdraw-why muted" id="withdraw-why">([^<]*)</p>', page).group(1)
    assert why == f"Nothing available yet. $18.00 USD clears on {_clears_on(app, order)}."
    assert f"$18.00 clears on {_clears_on(app, order)}" in page  # under the pending balance


def test_below_the_minimum_the_button_says_so(db, cast, sign_in):
    fund_available(cast.company.id, 500)
    page = sign_in(cast.owner).get("/sell/payouts").get_data(as_text=True)
    assert "disabled" in _withdraw_button(page)
    assert "$5.00 USD is available; the smallest withdrawal is $20.00 USD." in page
    assert "Money becomes available after an order completes and clears." in page


def test_with_enough_available_the_button_is_enabled(db, cast, sign_in):
    fund_available(cast.company.id, 5000)
    page = sign_in(cast.owner).get("/sell/payouts").get_data(as_text=True)
    assert "disabled" not in _withdraw_button(page)
    assert 'id="withdraw-why"' not in page


def test_a_refusal_names_the_currency_the_amount_and_the_clearing_date(app, db, cast, sign_in):
    cast.company.stripe_account_id = "acct_h15c_pages"
    db.session.commit()
    order = _pending_order(db, cast)
    owner = sign_in(cast.owner)
    response = post_form(owner, "/sell/payouts/withdraw", {"amount": "25.00", "request_token": "t" * 24})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert f"You can withdraw at most $0.00 USD right now. $18.00 USD clears on {_clears_on(app, order)}." in text
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    assert company_balances(cast.company.id)["pending"] == 1800


def test_the_minimum_refusal_names_the_currency(db, cast, sign_in):
    cast.company.stripe_account_id = "acct_h15c_pages"
    db.session.commit()
    fund_available(cast.company.id, 5000)
    response = post_form(sign_in(cast.owner), "/sell/payouts/withdraw", {"amount": "1.00", "request_token": "u" * 24})
    assert response.status_code == 409
    assert "The smallest withdrawal is $20.00 USD." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0


def test_other_sellers_and_members_are_refused(db, cast, sign_in):
    fund_available(cast.company.id, 5000)
    assert post_form(sign_in(cast.member), "/sell/payouts/withdraw", {"amount": "20.00"}).status_code == 403
    rival = sign_in(cast.other_seller)
    page = rival.get("/sell/payouts").get_data(as_text=True)
    assert "$50.00" not in page  # the rival sees their own (empty) balances
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0


def test_the_chart_has_an_axis_values_and_a_table(db, cast, sign_in):
    order = make_order(cast, "completed", total_cents=13000, fee_cents=1000)
    release_escrow(order)
    db.session.commit()
    page = sign_in(cast.owner).get("/sell/payouts").get_data(as_text=True)
    start = page.index('<svg class="chart"')
    svg = page[start : page.index("</svg>", start)]
    assert 'aria-labelledby="chart-title chart-desc"' in svg
    assert '<title id="chart-title">Weekly earnings, last 12 weeks (USD)</title>' in svg
    assert "$120.00 USD in total, best week $120.00 USD" in svg
    # A nice axis top above $120: $200, with ticks every $50.
    ticks = re.findall(r'<text class="chart-tick"[^>]*>([^<]+)</text>', svg)
    assert ticks == ["$0", "$50", "$100", "$150", "$200"]
    assert re.findall(r'<text class="chart-value"[^>]*>([^<]+)</text>', svg) == ["$120"]
    table = page[page.index('<details class="chart-data">') : page.index("</details>")]
    assert table.count("<tr>") == 13 and "$120.00" in table


def test_an_empty_chart_still_has_an_axis(db, cast, sign_in):
    page = sign_in(cast.owner).get("/sell/payouts").get_data(as_text=True)
    assert re.findall(r'<text class="chart-tick"[^>]*>([^<]+)</text>', page) == ["$0", "$25", "$50", "$75", "$100"]
    assert 'class="chart-value"' not in page
