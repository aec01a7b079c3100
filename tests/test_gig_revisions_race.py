"""Deciding a revision is race-free: admins approving and the seller withdrawing the same
pending revision at once, over HTTP against the live server, leave exactly one outcome."""

import concurrent.futures
import re
import threading

import httpx
import pytest
from sqlalchemy import func, select

from app.clock import now
from app.extensions import db
from app.models import AuditEvent, Gig, GigRevision
from app.services.gigs import gig_content
from tests.factories import PASSWORD, make_cast

pytestmark = pytest.mark.committed
RACERS = 20  # half approve (admin), half withdraw (seller)


def _signed_in(live_server, email):
    client = httpx.Client(base_url=live_server, timeout=30)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/signin").text).group(1)
    assert client.post("/signin", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 303
    return client, re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)


def test_approvals_and_a_withdrawal_at_once_have_one_outcome(app, live_server):
    with app.app_context():
        cast = make_cast("rev-race-")
        gig = cast.gig
        revision = GigRevision(
            company_id=gig.company_id,
            gig_id=gig.id,
            content={**gig_content(gig), "title": "I will design a much bolder logo"},
            submitted_at=now(),
        )
        db.session.add(revision)
        db.session.commit()
        gig_id, revision_id, old_title = gig.id, revision.id, gig.title
        admin_email, owner_email = cast.admin.email, cast.owner.email

    admin, admin_token = _signed_in(live_server, admin_email)
    owner, owner_token = _signed_in(live_server, owner_email)
    requests = [
        (admin.cookies, admin_token, f"/admin/gigs/revisions/{revision_id}/approve") for _ in range(RACERS // 2)
    ] + [
        (owner.cookies, owner_token, f"/sell/gigs/{gig_id}/revisions/{revision_id}/withdraw")
        for _ in range(RACERS // 2)
    ]
    barrier = threading.Barrier(RACERS)

    def post(request):
        cookies, token, path = request
        with httpx.Client(base_url=live_server, timeout=30, cookies=cookies) as client:
            barrier.wait()
            return path, client.post(path, data={"csrf_token": token}).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=RACERS) as pool:
        results = list(pool.map(post, requests))
    admin.close()
    owner.close()

    codes = sorted(code for _, code in results)
    assert codes == [303] + [409] * (RACERS - 1), results
    winner = next(path for path, code in results if code == 303)
    with app.app_context():
        revision = db.session.get(GigRevision, revision_id)
        title = db.session.get(Gig, gig_id).title
        decisions = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action.in_(("gig.revision_approve", "gig.revision_withdraw")))
        )
        db.session.remove()
    assert decisions == 1
    if winner.endswith("/approve"):
        assert (revision.status, title) == ("approved", "I will design a much bolder logo")
    else:
        assert (revision.status, title) == ("withdrawn", old_title)
