"""The sandbox's mail catcher, as a developer meets it: mail sent with smtplib to the sandbox
process's SMTP port, then read at /_sandbox/mail.json and on the pages over HTTP.

Every test writes to addresses of its own and reads with `?to=`, so they share one sandbox.
"""

from __future__ import annotations

import email
import email.policy
import re
import smtplib
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests import loopback
from tests.mailbox import last_mail_id, mail_json, wait_for_mail
from tests.processes import REPO_ROOT, free_port, sandbox_answers
from tests.waiting import wait_until

SENDER = "Tradepost <no-reply@tradepost.test>"
TEN_MB = 10 * 1024 * 1024


def address(name: str = "ada") -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.com"


def message(
    to: str | list[str],
    subject: str = "Hello",
    text: str | None = "Hello there.",
    html: str | None = None,
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    return msg


def send(port: int, msg: EmailMessage, to_addrs: list[str] | None = None) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(msg, to_addrs=to_addrs)


def wire_bytes(msg: EmailMessage) -> bytes:
    """The message as it goes over SMTP (CRLF line ends; smtplib leaves bytes as they are)."""
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def only_mail_to(sandbox_url: str, to: str) -> dict:
    messages = mail_json(sandbox_url, to=to)
    assert len(messages) == 1, messages
    return messages[0]


# -- what a developer sees -------------------------------------------------------------------------


def test_a_plain_text_message_is_listed_with_its_links_clickable(sandbox_url, sandbox_smtp_port, sandbox_http):
    ada = address()
    text = (
        "Welcome! Confirm your address: https://shop.example/verify?token=a1&next=%2F.\n"
        "<script>alert('not run')</script> (see https://shop.example/help)"
    )
    send(sandbox_smtp_port, message(ada, "Confirm your address", text))

    caught = only_mail_to(sandbox_url, ada)
    assert caught["from"] == "no-reply@tradepost.test"
    assert caught["to"] == [ada] and caught["cc"] == []
    assert caught["subject"] == "Confirm your address"
    assert caught["text"] == text + "\n"
    assert caught["html"] is None and caught["attachments"] == []
    assert caught["links"] == ["https://shop.example/verify?token=a1&next=%2F", "https://shop.example/help"]
    sent_at = datetime.fromisoformat(caught["sent_at"])
    assert sent_at.tzinfo is not None and abs(datetime.now(UTC) - sent_at) < timedelta(minutes=1)

    listing = sandbox_http.get(sandbox_url + "/_sandbox/mail")
    assert listing.status_code == 200
    assert ada in listing.text and "Confirm your address" in listing.text
    detail_url = f"/_sandbox/mail/{caught['id']}"
    assert f'href="{detail_url}"' in listing.text

    page = sandbox_http.get(sandbox_url + detail_url)
    assert page.status_code == 200
    assert (
        '<a href="https://shop.example/verify?token=a1&amp;next=%2F" target="_blank" rel="noopener noreferrer">'
        in page.text
    )
    assert '<a href="https://shop.example/help" target="_blank"' in page.text  # without the ")"
    assert "&lt;script&gt;alert(" in page.text and "<script>" not in page.text
    assert "This message has no HTML part." in page.text
    assert sandbox_http.get(sandbox_url + detail_url + "/html").status_code == 404


def test_multipart_alternative_with_utf8_subject_and_encoded_bodies(sandbox_url, sandbox_smtp_port, sandbox_http):
    zoe = address("zoe")
    subject = "Vérifiez votre adresse — ✓ 注文"
    text = "Bonjour Zoë,\nconfirmez ici : https://shop.example/v/é?x=1\n" + "Ça marche. " * 20
    html = (
        "<html><head><title>t</title></head><body><p>Bonjour <b>Zoë</b> — "
        '<a href="https://shop.example/v/%C3%A9?x=1">confirmer</a></p>'
        '<script>document.title = "ran"</script><img src="https://shop.example/logo.png" alt=""></body></html>'
    )
    msg = message(zoe, subject, text, html)
    msg.get_body(("plain",)).set_content(text, cte="quoted-printable")
    msg.get_body(("html",)).set_content(html, subtype="html", cte="base64")
    send(sandbox_smtp_port, msg)

    caught = only_mail_to(sandbox_url, zoe)
    assert caught["subject"] == subject
    assert caught["text"] == text + "\n"
    assert caught["html"] == html + "\n"
    assert caught["links"] == ["https://shop.example/v/%C3%A9?x=1", "https://shop.example/v/é?x=1"]
    raw = sandbox_http.get(f"{sandbox_url}/_sandbox/mail/{caught['id']}.eml")
    assert b"=?utf-8?" in raw.content  # it travelled RFC 2047-encoded, QP and base64 ...
    assert b"Content-Transfer-Encoding: quoted-printable" in raw.content
    assert b"Content-Transfer-Encoding: base64" in raw.content
    assert subject.encode() not in raw.content  # ... and is shown decoded

    page = sandbox_http.get(f"{sandbox_url}/_sandbox/mail/{caught['id']}")
    assert page.status_code == 200 and subject in page.text and "Bonjour Zoë," in page.text
    frame = re.search(r"<iframe[^>]*>", page.text).group()
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame  # no allow-scripts
    assert f'src="/_sandbox/mail/{caught["id"]}/html"' in frame
    assert "frame-src 'self'" in page.headers["Content-Security-Policy"]
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none' holds

    preview = sandbox_http.get(f"{sandbox_url}/_sandbox/mail/{caught['id']}/html")
    assert preview.status_code == 200 and preview.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = [directive.strip() for directive in preview.headers["Content-Security-Policy"].split(";")]
    assert "default-src 'none'" in csp and not [d for d in csp if d.startswith("script-src")]
    assert "sandbox allow-popups allow-popups-to-escape-sandbox" in csp  # scripts stay off opened directly
    assert "img-src data: http: https:" in csp and "form-action 'none'" in csp
    assert preview.headers["X-Content-Type-Options"] == "nosniff"
    assert preview.text.startswith('<html><head><base target="_blank"><title>t</title>')  # links open a new tab


def test_attachments_are_listed_with_names_and_sizes_and_the_eml_downloads(
    sandbox_url, sandbox_smtp_port, sandbox_http
):
    bob = address("bob")
    msg = message(bob, "Your receipt", "Attached.", "<p>Attached.</p>")
    pdf = bytes(range(256)) * 4096  # 1 MiB
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="reçu n°7.pdf")
    msg.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="rows.csv")
    send(sandbox_smtp_port, msg)

    caught = only_mail_to(sandbox_url, bob)
    assert caught["text"] == "Attached.\n" and caught["html"] == "<p>Attached.</p>\n"
    assert caught["attachments"] == [
        {"filename": "reçu n°7.pdf", "content_type": "application/pdf", "size": len(pdf)},
        {"filename": "rows.csv", "content_type": "text/csv", "size": len(b"a,b\n1,2\n")},
    ]
    page = sandbox_http.get(f"{sandbox_url}/_sandbox/mail/{caught['id']}")
    assert "reçu n°7.pdf" in page.text and "1,048,576 bytes" in page.text and "rows.csv" in page.text

    eml = sandbox_http.get(f"{sandbox_url}/_sandbox/mail/{caught['id']}.eml")
    assert eml.status_code == 200 and eml.headers["Content-Type"] == "message/rfc822"
    assert eml.headers["Content-Disposition"] == f'attachment; filename="message-{caught["id"]}.eml"'
    received = email.message_from_bytes(eml.content, policy=email.policy.default)
    attachment = next(received.iter_attachments())
    assert attachment.get_filename() == "reçu n°7.pdf" and attachment.get_content() == pdf


def test_every_recipient_counts_bcc_included_and_the_to_filter_finds_each(sandbox_url, sandbox_smtp_port):
    to_1, to_2, cc, bcc = address("to1"), address("to2"), address("cc"), address("bcc")
    msg = message([to_1, to_2], "Team invitation", Cc=f"Carla <{cc}>")
    send(sandbox_smtp_port, msg, to_addrs=[to_1, to_2, cc, bcc])

    caught = only_mail_to(sandbox_url, bcc)
    assert caught["to"] == [to_1, to_2, cc, bcc]
    assert caught["cc"] == [cc]
    assert caught["envelope"] == {"from": "no-reply@tradepost.test", "to": [to_1, to_2, cc, bcc]}
    assert caught["headers"]["cc"] == f"Carla <{cc}>"
    for recipient in (to_1, to_2, cc, bcc.upper()):
        assert [m["id"] for m in mail_json(sandbox_url, to=recipient)] == [caught["id"]]
    assert mail_json(sandbox_url, to=address("nobody")) == []


def test_a_message_over_the_size_limit_is_refused_with_552_and_not_stored(sandbox_url, sandbox_smtp_port):
    big = address("big")
    line = "x" * 76 + "\n"
    msg = message(big, "Too big", line * (TEN_MB // len(line) + 1000))
    # smtplib declares the SIZE: refused at MAIL FROM, before the data is sent
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(sandbox_smtp_port, msg)
    assert refused.value.smtp_code == 552
    # a client that does not declare it is refused after DATA
    with smtplib.SMTP("127.0.0.1", sandbox_smtp_port, timeout=60) as smtp:
        smtp.ehlo()
        assert smtp.mail("no-reply@tradepost.test")[0] == 250
        assert smtp.rcpt(big)[0] == 250
        code, answer = smtp.data(wire_bytes(msg))
        assert code == 552, answer
        # the connection goes on: a message within the limit is taken
        assert smtp.sendmail("no-reply@tradepost.test", [big], wire_bytes(message(big, "Small"))) == {}
    assert [m["subject"] for m in mail_json(sandbox_url, to=big)] == ["Small"]


def test_since_takes_an_id_or_a_time_and_bad_filters_are_refused_naming_the_field(
    sandbox_url, sandbox_smtp_port, sandbox_http
):
    cleo = address("cleo")
    send(sandbox_smtp_port, message(cleo, "First"))
    first = only_mail_to(sandbox_url, cleo)
    send(sandbox_smtp_port, message(cleo, "Second"))

    assert [m["subject"] for m in mail_json(sandbox_url, to=cleo)] == ["Second", "First"]
    assert [m["subject"] for m in mail_json(sandbox_url, to=cleo, since=first["id"])] == ["Second"]
    assert [m["subject"] for m in mail_json(sandbox_url, to=cleo, since=first["sent_at"])] == ["Second", "First"]
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert mail_json(sandbox_url, to=cleo, since=later) == []
    naive_utc = (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None).isoformat()
    assert len(mail_json(sandbox_url, to=cleo, since=naive_utc)) == 2
    assert last_mail_id(sandbox_url) >= first["id"] + 1

    for value in ("yesterday", "-1", "1e3", "12\x00", "9" * 30, "2026-13-45T99:00", "٣"):
        refused = sandbox_http.get(sandbox_url + "/_sandbox/mail.json", params={"since": value})
        assert refused.status_code == 400, value
        assert refused.json()["error"]["field"] == "since"
    for value in ("a" * 400 + "@example.com", "ada\x00@example.com"):
        refused = sandbox_http.get(sandbox_url + "/_sandbox/mail.json", params={"to": value})
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "to"
    page = sandbox_http.get(sandbox_url + "/_sandbox/mail", params={"since": "yesterday"})
    assert page.status_code == 400 and "since must be a message id" in page.text


def test_unknown_messages_are_404_never_500(sandbox_url, sandbox_http):
    for path in (
        "/_sandbox/mail/999999999",
        "/_sandbox/mail/999999999/html",
        "/_sandbox/mail/999999999.eml",
        "/_sandbox/mail/" + "9" * 40,
        "/_sandbox/mail/" + "9" * 40 + ".eml",
        "/_sandbox/mail/-1",
        "/_sandbox/mail/abc",
    ):
        assert sandbox_http.get(sandbox_url + path).status_code == 404, path


def test_unreadable_mail_is_still_caught(sandbox_url, sandbox_smtp_port):
    odd = address("odd")
    raw = (
        b"Subject: =?x-unknown?q?caf=E9?=\r\nContent-Type: text/plain; charset=x-unknown\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n%%% not base64 \xff\xfe\r\n"
    )
    with smtplib.SMTP("127.0.0.1", sandbox_smtp_port, timeout=30) as smtp:
        smtp.sendmail("", [odd], raw)
    caught = only_mail_to(sandbox_url, odd)
    assert caught["from"] == "" and caught["to"] == [odd]
    assert caught["subject"] == "caf\ufffd" and "not base64" in caught["text"]
    assert caught["html"] is None and caught["defects"]


def test_any_login_is_accepted_as_a_relay_would(sandbox_url, sandbox_smtp_port):
    dev = address("dev")
    with smtplib.SMTP("127.0.0.1", sandbox_smtp_port, timeout=30) as smtp:
        smtp.login("apikey", "not-checked")
        smtp.send_message(message(dev, "Logged in"))
    assert only_mail_to(sandbox_url, dev)["subject"] == "Logged in"


def test_delete_all_empties_the_catcher_and_ids_keep_growing(sandbox_url, sandbox_smtp_port, sandbox_http):
    dan = address("dan")
    send(sandbox_smtp_port, message(dan, "Before"))
    before = only_mail_to(sandbox_url, dan)

    deleted = sandbox_http.delete(sandbox_url + "/_sandbox/mail")
    assert deleted.status_code == 200 and deleted.json()["deleted"] >= 1
    assert mail_json(sandbox_url) == []
    assert "No mail yet." in sandbox_http.get(sandbox_url + "/_sandbox/mail").text
    assert sandbox_http.get(f"{sandbox_url}/_sandbox/mail/{before['id']}").status_code == 404

    send(sandbox_smtp_port, message(dan, "After"))
    after = only_mail_to(sandbox_url, dan)
    assert after["id"] > before["id"]  # `since=<id>` taken before a clear still means "newer"
    page = sandbox_http.get(sandbox_url + "/_sandbox/mail")
    assert 'action="/_sandbox/mail/clear"' in page.text  # the "Delete all" button
    cleared = sandbox_http.post(sandbox_url + "/_sandbox/mail/clear")
    assert cleared.status_code == 303 and cleared.headers["Location"] == "/_sandbox/mail"
    assert mail_json(sandbox_url) == []


def test_the_sandbox_index_links_the_mail_page(sandbox_url, sandbox_http):
    index = sandbox_http.get(sandbox_url + "/_sandbox/")
    assert index.status_code == 200 and 'href="/_sandbox/mail"' in index.text
    assert "SMTP on <code>127.0.0.1:" in sandbox_http.get(sandbox_url + "/_sandbox/mail").text


def test_waiting_for_mail_returns_once_it_arrived(sandbox_url, sandbox_smtp_port):
    eve = address("eve")
    since = last_mail_id(sandbox_url)
    send(sandbox_smtp_port, message(eve, "One"))
    send(sandbox_smtp_port, message(eve, "Two"))
    assert [m["subject"] for m in wait_for_mail(sandbox_url, eve, since=since, count=2)] == ["Two", "One"]


# -- settings: how many it keeps, off, a taken port ------------------------------------------------


def test_only_the_newest_messages_are_kept(tmp_path, sandbox_of_its_own):
    port = free_port()
    with sandbox_of_its_own(tmp_path, SANDBOX_SMTP_PORT=str(port), SANDBOX_MAIL_KEEP="3") as url:
        fay = address("fay")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for number in range(1, 6):
                smtp.send_message(message(fay, f"Message {number}"))
        kept = mail_json(url)
        assert [m["subject"] for m in kept] == ["Message 5", "Message 4", "Message 3"]
        assert loopback.get(f"{url}/_sandbox/mail/{kept[-1]['id'] - 1}").status_code == 404
        assert "Keeps the newest 3 messages" in loopback.get(url + "/_sandbox/mail").text


def test_smtp_port_zero_turns_the_catcher_off(tmp_path, sandbox_of_its_own):
    with sandbox_of_its_own(tmp_path, SANDBOX_SMTP_PORT="0") as url:
        page = loopback.get(url + "/_sandbox/mail")
        assert page.status_code == 200 and "The SMTP server is off (<code>SANDBOX_SMTP_PORT=0</code>)" in page.text
        assert loopback.get(url + "/_sandbox/mail.json").json() == []


def run_sandbox(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "LANG": "C.UTF-8",
        "SANDBOX_DATABASE": str(tmp_path / "sandbox.db"),
        **settings,
    }
    try:
        return subprocess.run(
            [sys.executable, "-m", "app.sandbox", "--port", str(free_port())],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the sandbox kept running")


def test_flask_sandbox_run_as_make_run_starts_it_logs_each_message_once(tmp_path):
    smtp_port, http_port = free_port(), free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "LANG": "C.UTF-8",
        "FLASK_APP": "app",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "SANDBOX_DATABASE": str(tmp_path / "sandbox.db"),
        "SANDBOX_SMTP_PORT": str(smtp_port),
        "SANDBOX_DELIVER_WEBHOOKS": "0",
    }
    log_path = tmp_path / "sandbox.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "sandbox", "run", "--port", str(http_port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{http_port}"
        wait_until(
            lambda: process.poll() is not None or sandbox_answers(url),
            timeout=30,
            message="flask sandbox run did not answer",
        )
        assert process.poll() is None, log_path.read_text()
        gus = address("gus")
        send(smtp_port, message(gus, "Logged once"))
        caught = only_mail_to(url, gus)
    finally:
        process.terminate()
        process.wait(timeout=10)
    line = f"mail #{caught['id']} to {gus}: Logged once  {url}/_sandbox/mail/{caught['id']}"
    assert log_path.read_text().count(line) == 1, log_path.read_text()


def test_a_taken_smtp_port_stops_the_sandbox_saying_which(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = run_sandbox(tmp_path, SANDBOX_SMTP_PORT=str(port))
    assert refused.returncode != 0
    assert f"sandbox: the mail catcher cannot listen on 127.0.0.1:{port}" in refused.stderr
    assert "set SANDBOX_SMTP_PORT to a free port, or 0 to turn it off" in refused.stderr


@pytest.mark.parametrize(
    "name, value",
    [
        ("SANDBOX_SMTP_PORT", "70000"),
        ("SANDBOX_SMTP_PORT", "smtp"),
        ("SANDBOX_MAIL_KEEP", "0"),
        ("SANDBOX_MAIL_MAX_BYTES", "-5"),
    ],
)
def test_out_of_range_mail_settings_stop_the_sandbox_naming_the_setting(tmp_path, name, value):
    refused = run_sandbox(tmp_path, **{name: value})
    assert refused.returncode != 0
    assert f"sandbox: {name} must be a whole number from" in refused.stderr and repr(value) in refused.stderr
