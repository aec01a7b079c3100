"""The admin's platform money page (/admin/money)."""

import pytest

from tests.factories import make_order
from tests.forms import sign_in_as


@pytest.fixture
def cast(cast):
    """The cast, with two orders paid into escrow: $100.00 (fee $10.00) and $40.00 (fee $4.00)."""
    make_order(cast, total_cents=10000, fee_cents=1000)
    make_order(cast, total_cents=4000, fee_cents=400)
    return cast


def test_admin_sees_escrow_and_fees_from_the_ledger(client, cast):
    sign_in_as(client, cast.admin)
    response = client.get("/admin/money?period=7d")
    assert response.status_code == 200
    page = " ".join(response.get_data(as_text=True).split())
    assert '<a class="active" href="/admin/money?period=7d">Last 7 days</a>' in page
    assert 'Fees earned (period)</p><p class="value">$14.00' in page
    assert 'Escrow held now</p><p class="value">$126.00' in page
    assert 'Payable to sellers</p><p class="value">$0.00' in page


def test_unknown_period_falls_back_to_thirty_days(client, cast):
    sign_in_as(client, cast.admin)
    page = client.get("/admin/money?period=forever").get_data(as_text=True)
    assert '<a class="active" href="/admin/money?period=30d">Last 30 days</a>' in page


@pytest.mark.parametrize("who", ["owner", "buyer"])
def test_platform_money_is_for_admins_only(client, cast, who):
    sign_in_as(client, getattr(cast, who))
    response = client.get("/admin/money")
    assert response.status_code == 403
    assert "$126.00" not in response.get_data(as_text=True)
