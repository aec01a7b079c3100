"""Outbound webhooks: sellers' endpoints, the event outbox, signed delivery, retries, replay.

Flow: a workflow calls `outbox.record_event` inside its own transaction; the outbox row commits
(or rolls back) with the change that caused it. After the commit, a session hook enqueues the
job `app.tasks.outbound.dispatch_event` (`queueing`), which fans the event out into one
`WebhookMessage` per matching enabled endpoint (`dispatch`) and asks for a delivery run, the job
`app.tasks.outbound.deliver_due`: due messages are claimed in batches under leases
(`dispatch`), signed (`signing`), sent concurrently to vetted addresses over one keep-alive
client, at most a few at a time per endpoint (`delivery`, `ssrf`), and their outcomes recorded
in groups — retries scheduled (one `deliver_message` job each, at its due time), or an endpoint
disabled after days of failures (`retries`). The database, not
Redis, is the source of truth: a sweep re-enqueues committed events that were never
dispatched and messages whose delivery is overdue (a lost job, a worker killed mid-request),
and the lease makes duplicate jobs harmless.

Modules: `catalogue` (event types), `ssrf` (where we may send), `signing` (secrets, bodies,
signatures), `endpoints` (sellers' endpoints), `outbox` (recording events), `dispatch`
(messages: fan-out, claim, replay), `delivery` (the HTTP request), `retries` (after an
attempt), `queueing` (enqueueing the jobs by dotted path). Tasks call these; none imports a task.
"""
