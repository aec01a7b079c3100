"""The web app's side of Legends live updates: the game page loads the live script, and a
member (only) gets a signed stream link for their game at GET /legends/<slug>/live-link."""

from pathlib import Path

import httpx

from app.services.legends import live
from tests.legends_game import game_for, join

ROOT = Path(__file__).resolve().parents[1]


def token_of(url):
    return httpx.URL(url).params["token"]


def test_a_member_gets_a_stream_link_for_their_game_only(client, db, app, make_seller, make_user, sign_in):
    _owner, company = make_seller(title="Lumen Co")
    _other_owner, other = make_seller(title="Other Co")
    game_for(company)
    game_for(other)
    player = make_user()
    join(client, sign_in, player, company)

    page = client.get(f"/legends/{company.slug}").get_data(as_text=True)
    assert "js/legends-live.js" in page and "vendor/htmx-ext-sse.js" in page
    assert f'data-feed-url="/legends/{company.slug}/feed"' in page

    response = client.get(f"/legends/{company.slug}/live-link?after=12")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["user_id"] == player.id and body["expires_in"] == int(app.config["LEGENDS_STREAM_TOKEN_SECONDS"])
    assert body["url"].startswith(f"{app.config['LEGENDS_STREAM_URL']}/stream/legends/{company.id}?token=")
    assert httpx.URL(body["url"]).params["last_event_id"] == "12"
    secret = app.config["SECRET_KEY"]
    assert live.read_stream_token(token_of(body["url"]), company.id, secret, 60) == player.id

    # not a member of the other company's game: its link is the game's 404, like its feed
    refused = client.get(f"/legends/{other.slug}/live-link")
    assert refused.status_code == 404
    assert client.get(f"/legends/{other.slug}/feed").status_code == 404
    assert client.get("/legends/no-such-company/live-link").status_code == 404


def test_someone_who_has_not_joined_gets_no_link(client, db, make_seller, make_user, sign_in):
    _owner, company = make_seller()
    game_for(company)
    sign_in(make_user())
    assert client.get(f"/legends/{company.slug}/live-link").status_code == 404


def test_signed_out_the_link_asks_to_sign_in(client, db, make_seller):
    _owner, company = make_seller()
    game_for(company)
    response = client.get(f"/legends/{company.slug}/live-link")
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin?")


def test_make_run_and_the_procfile_start_the_stream_on_a_gevent_worker(monkeypatch):
    from honcho.environ import expand_processes, parse_procfile

    from app.devrun import stack_environment

    monkeypatch.setenv("LEGENDS_STREAM_PORT", "5161")
    monkeypatch.delenv("LEGENDS_STREAM_URL", raising=False)
    env, _config = stack_environment()
    assert (env["LEGENDS_STREAM_PORT"], env["LEGENDS_STREAM_URL"]) == ("5161", "http://127.0.0.1:5161")
    for name in ("Procfile", "Procfile.dev"):
        procfile = parse_procfile((ROOT / name).read_text(encoding="utf-8"))
        [stream] = [p for p in expand_processes(procfile.processes, env={}, port=5100) if p.name == "stream.1"]
        assert "gunicorn --worker-class gevent" in stream.cmd
        assert "app.streaming.server:create_stream_app()" in stream.cmd
        assert "LEGENDS_STREAM_PORT" in stream.cmd


def test_the_partial_carries_a_signed_link_for_the_viewer(app):
    from flask import render_template

    with app.test_request_context():
        html = render_template(
            "legends/_live.html",
            live_company_id=41,
            live_user_id=7,
            live_feed_url="/legends/quill/feed",
            live_last_event_id=9,
        )
    [url] = [part.split('"')[1] for part in html.split() if part.startswith("data-stream-url=")]
    url = url.replace("&amp;", "&")
    assert url.startswith(f"{app.config['LEGENDS_STREAM_URL']}/stream/legends/41?token=")
    assert httpx.URL(url).params["last_event_id"] == "9"
    assert live.read_stream_token(token_of(url), 41, app.config["SECRET_KEY"], 60) == 7
    assert 'data-feed-url="/legends/quill/feed"' in html and 'data-user-id="7"' in html
