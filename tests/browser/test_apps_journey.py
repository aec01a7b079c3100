"""Journey: a seller registers the example hello app (localhost mode), starts it as its own
process, installs it from the app directory after reading the scopes it asks for, and opens
it: the dashboard frames the app, which verified the user token and says hello by name."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.processes import free_port, start_hello_app, stop_process

from .flows import become_seller, confirm_email, sign_up


def test_a_seller_registers_installs_and_opens_the_hello_app(people):
    seller = people("Hana Builder")
    sign_up(seller, intent="sell")
    confirm_email(seller)
    become_seller(seller, "Hana Tools")
    page = seller.page

    port = free_port()
    seller.visit("/sell/developers/apps", "no apps yet")
    page.get_by_role("link", name="Register an app").first.click()
    page.get_by_label("Name").fill("Hello")
    page.get_by_label("Base URL").fill(f"http://127.0.0.1:{port}")
    page.get_by_label("Localhost mode").check()
    page.get_by_label("products:read").check()
    seller.check("registering an app", screenshot="apps-register")
    page.get_by_role("button", name="Register app").click()
    expect(page.get_by_text("Hello is registered.")).to_be_visible()
    app_id = re.search(r"app_[A-Za-z0-9_-]+", page.locator("p.muted code").first.inner_text()).group(0)
    page.get_by_role("link", name="Reveal").click()
    expect(page.locator("code.wh-secret-value.muted")).to_have_count(0)  # the masked one is replaced
    secret = page.locator("code.wh-secret-value").inner_text().strip()
    assert secret.startswith("whsec_")
    seller.check("the app's page, secret revealed", screenshot="apps-developer")

    process = start_hello_app(port, seller.stack.base_url, app_id, secret)
    try:
        seller.visit("/sell", "seller home")
        page.get_by_role("navigation", name="Seller sections").get_by_role("link", name="Apps").click()
        expect(page.get_by_role("heading", name="Apps", level=1)).to_be_visible()
        seller.check("app directory", screenshot="apps-directory")
        page.get_by_role("link", name="Install…").click()
        expect(page.get_by_role("heading", name="Install Hello?")).to_be_visible()
        expect(page.get_by_text("products:read")).to_be_visible()
        seller.check("install confirmation", screenshot="apps-install")
        page.get_by_role("button", name="Install and grant").click()
        expect(page.get_by_text("Hello is installed.")).to_be_visible()
        frame = page.frame_locator("iframe.app-frame")
        expect(frame.get_by_role("heading", name="Hello, Hana Builder")).to_be_visible()
        expect(frame.locator("#api")).to_contain_text("products: 0")
        seller.check("the app inside the dashboard", screenshot="apps-dashboard")

        page.get_by_role("link", name="Apps").first.click()
        page.get_by_role("link", name="Uninstall…").click()
        page.get_by_role("button", name="Uninstall").click()
        expect(page.get_by_text("Hello is uninstalled and its API key revoked.")).to_be_visible()
        seller.check("after uninstalling")
    finally:
        stop_process(process)
