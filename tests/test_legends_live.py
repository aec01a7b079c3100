"""Legends live updates over real HTTP: the streaming process (gunicorn, gevent worker) started
as its own process on a free port, real Redis pub/sub, messages published with
`app.services.legends.live.publish` as game code does, read by an SSE client over the wire.
"""

import queue
import threading
import time

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from app.devredis import start_redis_server
from app.services.legends import live
from tests import loopback
from tests.processes import free_port, start_stream, stop_process
from tests.waiting import wait_until

COMPANY, OTHER_COMPANY = 7001, 7002
ANN, BOB = 501, 502
WAIT = 5.0  # seconds a published message may take to arrive (it takes milliseconds)


@pytest.fixture(scope="module")
def stream(app, redis_url, tmp_path_factory):
    """The streaming process on the suite's Redis, heartbeating every second."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("stream") / "stream.log"
    process = start_stream(app, port, redis_url, log_path, env={"LEGENDS_STREAM_HEARTBEAT_SECONDS": "1"})
    yield f"http://127.0.0.1:{port}"
    stop_process(process)
    assert "Traceback" not in log_path.read_text(errors="replace")


def url_for_stream(base, company_id, user_id, app, **query):
    token = live.stream_token(company_id, user_id, app.config["SECRET_KEY"])
    params = httpx.QueryParams({"token": token, **query})
    return f"{base}/stream/legends/{company_id}?{params}"


class SSEClient:
    """An EventSource-like reader on a thread: `events` receives (event, data, id) tuples,
    `comments` the comment lines (heartbeats)."""

    def __init__(self, url, headers=None):
        self.url, self.headers = url, headers or {}
        self.events: queue.Queue = queue.Queue()
        self.comments: queue.Queue = queue.Queue()
        self.connected = threading.Event()
        self.ended = threading.Event()
        self.status = None
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=30))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.connected.wait(10), "the stream did not open"

    def _read(self):
        try:
            with self.client.stream("GET", self.url, headers=self.headers) as response:
                self.status = response.status_code
                self.response_headers = response.headers
                fields: dict = {}
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments.put(line)
                        if line == ": connected":
                            self.connected.set()
                    elif line == "":
                        if "event" in fields:
                            self.events.put((fields["event"], fields.get("data"), fields.get("id")))
                        fields = {}
                    else:
                        name, _, value = line.partition(": ")
                        fields[name] = value
        except httpx.HTTPError:
            pass
        finally:
            self.connected.set()
            self.ended.set()

    def next_event(self, timeout=WAIT):
        return self.events.get(timeout=timeout)

    def assert_no_event(self, wait=0.5):
        with pytest.raises(queue.Empty):
            self.events.get(timeout=wait)

    def close(self):
        self.client.close()
        self.thread.join(timeout=5)


@pytest.fixture
def open_stream(stream, app):
    opened = []

    def open_(company_id, user_id, headers=None, **query):
        client = SSEClient(url_for_stream(stream, company_id, user_id, app, **query), headers)
        assert client.status == 200
        opened.append(client)
        return client

    yield open_
    for client in opened:
        client.close()


def publish(app, company_id, event, data, user_id=None):
    with app.app_context():
        assert live.publish(company_id, event, data, user_id=user_id)


def test_a_published_level_up_reaches_the_open_page_at_once(app, open_stream):
    page = open_stream(COMPANY, ANN)
    assert page.response_headers["content-type"].startswith("text/event-stream")
    sent = time.monotonic()
    publish(app, COMPANY, "level_up", {"event_id": 11, "user_id": ANN, "old_level": 2, "level": 3}, user_id=ANN)
    event, data, event_id = page.next_event()
    assert time.monotonic() - sent < WAIT
    assert (event, event_id) == ("level_up", "11")
    assert data == '{"event_id":11,"user_id":501,"old_level":2,"level":3}'


def test_a_message_for_one_member_reaches_only_that_member(app, open_stream):
    ann, bob = open_stream(COMPANY, ANN), open_stream(COMPANY, BOB)
    publish(app, COMPANY, "achievement_unlocked", {"event_id": 21, "name": "First referral"}, user_id=ANN)
    publish(app, COMPANY, "leaderboard_moved", {"event_id": 22, "rank": 1, "old_rank": 2})
    assert ann.next_event()[0] == "achievement_unlocked"
    assert ann.next_event()[0] == "leaderboard_moved"
    # Bob's first event is the game-wide one: Ann's achievement never reached him.
    assert bob.next_event()[:1] == ("leaderboard_moved",)
    bob.assert_no_event()


def test_another_games_messages_never_reach_the_page(app, open_stream):
    page = open_stream(COMPANY, ANN)
    publish(app, OTHER_COMPANY, "leaderboard_moved", {"event_id": 31, "rank": 1})
    publish(app, OTHER_COMPANY, "level_up", {"event_id": 32, "level": 9}, user_id=ANN)
    publish(app, COMPANY, "quest_completed", {"event_id": 33, "title": "Three referrals"}, user_id=ANN)
    assert page.next_event()[0] == "quest_completed"
    page.assert_no_event()


def test_a_reconnecting_page_gets_what_it_missed_from_last_event_id(app, open_stream):
    keeper = open_stream(COMPANY, BOB)  # keeps the game subscribed in the stream process
    publish(app, COMPANY, "xp_awarded", {"event_id": 41, "amount": 10}, user_id=ANN)
    publish(app, COMPANY, "xp_awarded", {"event_id": 42, "amount": 20}, user_id=ANN)
    publish(app, COMPANY, "level_up", {"event_id": 43, "level": 4}, user_id=BOB)
    publish(app, COMPANY, "leaderboard_moved", {"event_id": 44, "rank": 2})
    assert keeper.next_event()[2] == "43"
    back = open_stream(COMPANY, ANN, headers={"Last-Event-ID": "41"})
    assert [back.next_event()[2], back.next_event()[2]] == ["42", "44"]  # not Bob's 43
    back.assert_no_event()
    # the page's first connection names the last event it rendered the same way
    first = open_stream(COMPANY, ANN, last_event_id="43")
    assert first.next_event()[2] == "44"


def test_an_idle_stream_sends_heartbeats(open_stream):
    page = open_stream(COMPANY, ANN)
    wait_until(lambda: ": heartbeat" in list(page.comments.queue), timeout=5, message="no heartbeat")


def test_the_stream_answers_the_apps_origin_only(stream, app):
    url = url_for_stream(stream, COMPANY, ANN, app)
    with loopback.stream("GET", url, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == app.config["APP_BASE_URL"]
        assert response.headers["cache-control"] == "no-store"


def expired_token(app, company_id, user_id):
    class IssuedTwoHoursAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 7200

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=live.TOKEN_SALT, signer=IssuedTwoHoursAgo)
    return serializer.dumps({"c": company_id, "u": user_id})


def test_the_stream_refuses_without_a_valid_link(stream, app):
    path = f"{stream}/stream/legends/{COMPANY}"
    forged = live.stream_token(COMPANY, ANN, "someone-elses-secret-key-not-ours-at-all")
    tampered = live.stream_token(COMPANY, ANN, app.config["SECRET_KEY"])[:-2] + "xx"
    cases = [
        ({}, 401, "token_missing"),
        ({"token": forged}, 401, "token_invalid"),
        ({"token": tampered}, 401, "token_invalid"),
        ({"token": "not-a-token"}, 401, "token_invalid"),
        ({"token": expired_token(app, COMPANY, ANN)}, 401, "token_expired"),
        # a member of another company's game cannot open this one with their link
        ({"token": live.stream_token(OTHER_COMPANY, ANN, app.config["SECRET_KEY"])}, 403, "wrong_game"),
    ]
    for params, status, code in cases:
        response = loopback.get(path, params=params, timeout=10)
        assert response.status_code == status, (params, response.text)
        assert response.json()["error"]["code"] == code
        assert response.headers["content-type"] == "application/json"
    assert loopback.get(f"{stream}/stream/legends/not-a-number", timeout=10).status_code == 404
    assert loopback.post(url_for_stream(stream, COMPANY, ANN, app), timeout=10).status_code == 405


def test_the_stream_counts_open_connections_and_relayed_messages(app, open_stream, stream):
    def figure(name, labels=""):
        text = loopback.get(f"{stream}/metrics", timeout=10).text
        lines = [line for line in text.splitlines() if line.startswith(name + labels + " ")]
        return float(lines[0].split()[-1]) if lines else 0.0

    # the earlier tests' closed connections are noticed at their next heartbeat (1 s)
    wait_until(lambda: figure("tradepost_legends_sse_connections") == 0, timeout=10, message="connections left")
    before = figure("tradepost_legends_sse_messages_total", '{how="live"}')
    page = open_stream(COMPANY, ANN)
    assert figure("tradepost_legends_sse_connections") == 1
    publish(app, COMPANY, "leaderboard_moved", {"event_id": 51, "rank": 3})
    page.next_event()
    assert figure("tradepost_legends_sse_messages_total", '{how="live"}') == before + 1
    page.close()
    wait_until(lambda: figure("tradepost_legends_sse_connections") == 0, timeout=10, message="connection not closed")


def test_redis_down_the_stream_says_so_and_the_page_retries(app, tmp_path):
    """Redis stopped for real under an open stream: the page is told to reconnect later; new
    connections get a clear 503 with Retry-After (the page polls meanwhile); Redis back, the
    stream works again. No traceback in the process's log."""
    redis_port, port = free_port(), free_port()
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis = start_redis_server(redis_port, redis_dir)
    log_path = tmp_path / "stream.log"
    process = start_stream(app, port, redis_url, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        page = SSEClient(url_for_stream(base, COMPANY, ANN, app))
        assert page.status == 200
        stop_process(redis)
        assert page.next_event(timeout=15)[:2] == ("unavailable", '{"retry": true}')
        assert page.ended.wait(10)
        page.close()

        refused = loopback.get(url_for_stream(base, COMPANY, ANN, app), timeout=10)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "stream_unavailable"
        assert refused.headers["retry-after"] == "10"
        assert loopback.get(f"{base}/healthz", timeout=10).json() == {"status": "ok", "redis": False}

        redis = start_redis_server(redis_port, redis_dir)
        page = SSEClient(url_for_stream(base, COMPANY, ANN, app))
        assert page.status == 200
        from redis import Redis

        with Redis.from_url(redis_url) as publisher:
            publisher.publish(live.channel(COMPANY), '{"event":"level_up","data":{"event_id":61}}')
        assert page.next_event()[2] == "61"
        page.close()
    finally:
        stop_process(process)
        if redis.poll() is None:
            stop_process(redis)
    assert "Traceback" not in log_path.read_text(errors="replace")


def test_publish_without_redis_is_logged_not_raised(app, caplog):
    with app.app_context():
        original = app.extensions["redis"]
        from redis import Redis

        app.extensions["redis"] = nowhere = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
        try:
            assert live.publish(COMPANY, "level_up", {"event_id": 1}) is False
        finally:
            app.extensions["redis"] = original
            nowhere.close()
    assert "not published" in caplog.text


def test_pages_may_connect_to_the_stream_origin(client, app):
    response = client.get("/")
    stream_origin = live.origin_of(app.config["LEGENDS_STREAM_URL"])
    assert f"connect-src 'self' {stream_origin};" in response.headers["Content-Security-Policy"]
    with app.test_request_context():
        url = live.stream_url(COMPANY, ANN, last_event_id=5)
    assert url.startswith(f"{app.config['LEGENDS_STREAM_URL']}/stream/legends/{COMPANY}?token=")
    assert url.endswith("&last_event_id=5")
    token = httpx.URL(url).params["token"]
    assert live.read_stream_token(token, COMPANY, app.config["SECRET_KEY"], 60) == ANN


def test_malformed_messages_are_skipped_and_the_stream_goes_on(app, open_stream):
    page = open_stream(COMPANY, ANN)
    redis = app.extensions["redis"]
    for raw in ("not json", '{"event": "bad\\nname", "data": {}}', '{"data": {"event_id": 70}}', "[1, 2]"):
        redis.publish(live.channel(COMPANY), raw)
    publish(app, COMPANY, "prestige", {"event_id": 71, "prestige": 1}, user_id=ANN)
    assert page.next_event() == ("prestige", '{"event_id":71,"prestige":1}', "71")
    page.assert_no_event()
