"""RQ cron configuration: `rq cron app.tasks.schedule`. Later sweeps register here."""
from rq import cron

from app.tasks.inbound import requeue_stale_inbound_events
from app.tasks.sweeps import prune_notifications

cron.register(prune_notifications, queue_name="scheduled", cron="17 3 * * *")
cron.register(requeue_stale_inbound_events, queue_name="scheduled", interval=600)
