"""'Open as Whop would': the sandbox frames our app and adds x-whop-user-token server-side."""

from __future__ import annotations

import re

import pytest

from app.integrations.whop import verify_user_token


def _echoed_token(html: str) -> str:
    return re.search(r"<p id=token>([^<]*)</p>", html).group(1)


@pytest.mark.parametrize(("kind", "target"), [("experiences", "exp_abc123"), ("dashboard", "biz_xyz789")])
def test_proxy_adds_a_verifiable_user_token(
    whop_http, whop_api_base, whop_user, whop_config, whop_jwks_url, kind, target
):
    response = whop_http.get(f"{whop_api_base}/proxy/{kind}/{target}", params={"user": whop_user["id"], "tab": "2"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "token-present: yes" in response.text
    assert target in response.text
    assert "<p id=query>tab=2</p>" in response.text  # the sandbox's own ?user= is not forwarded
    claims = verify_user_token(_echoed_token(response.text), app_id=whop_config["WHOP_APP_ID"], jwks_url=whop_jwks_url)
    assert claims["sub"] == whop_user["id"]


def test_proxy_forwards_form_posts(whop_http, whop_api_base, whop_user):
    response = whop_http.post(
        f"{whop_api_base}/proxy/experiences/exp_post", params={"user": whop_user["id"]}, data={"q": "hello"}
    )
    assert response.status_code == 200
    assert "<p id=method>POST q=hello</p>" in response.text
    assert "token-present: yes" in response.text


def test_proxy_requires_a_user(whop_http, whop_api_base):
    assert whop_http.get(f"{whop_api_base}/proxy/experiences/exp_abc").status_code == 400


def test_frame_page_embeds_the_proxy(whop_http, whop_api_base, whop_user):
    page = whop_http.get(f"{whop_api_base}/experiences/exp_abc123", params={"user": whop_user["id"]})
    assert page.status_code == 200
    src = re.search(r'<iframe src="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert src == f"/whop/proxy/experiences/exp_abc123?user={whop_user['id']}"

    picker = whop_http.get(f"{whop_api_base}/dashboard/biz_1")
    assert picker.status_code == 200 and "<iframe" not in picker.text
    assert whop_http.get(f"{whop_api_base}/experiences/exp_1", params={"user": "user_nobody"}).status_code == 404
