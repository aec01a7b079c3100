"""RQ cron configuration: `rq cron app.tasks.schedule`. Every periodic job registers here."""

from rq import cron

from app.tasks.inbound import requeue_stale_inbound_events
from app.tasks.mail import deliver_emails
from app.tasks.orders import auto_complete_orders, clear_seller_funds, flag_late_orders
from app.tasks.outbound import sweep_outbound
from app.tasks.payouts import run_payout_schedule
from app.tasks.referrals import flush_referral_clicks
from app.tasks.sweeps import prune_notifications, prune_user_sessions

cron.register(prune_notifications, queue_name="scheduled", cron="17 3 * * *")
cron.register(prune_user_sessions, queue_name="scheduled", cron="27 3 * * *")
cron.register(requeue_stale_inbound_events, queue_name="scheduled", interval=600)
cron.register(sweep_outbound, queue_name="scheduled", interval=60)
cron.register(auto_complete_orders, queue_name="scheduled", interval=600)
cron.register(flag_late_orders, queue_name="scheduled", interval=600)
cron.register(clear_seller_funds, queue_name="scheduled", interval=3600)
cron.register(deliver_emails, queue_name="scheduled", interval=60)
cron.register(run_payout_schedule, queue_name="scheduled", interval=3600)
cron.register(flush_referral_clicks, queue_name="scheduled", interval=60)
