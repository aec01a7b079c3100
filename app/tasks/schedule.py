"""RQ cron configuration: `rq cron app.tasks.schedule`. Later sweeps register here."""
from rq import cron

from app.tasks.sweeps import prune_notifications

cron.register(prune_notifications, queue_name="scheduled", cron="17 3 * * *")
