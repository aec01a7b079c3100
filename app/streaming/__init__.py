"""The Legends live-updates process (server-sent events fed by Redis pub/sub), separate from
the web app: `app.streaming.server:create_stream_app()` under gunicorn's gevent worker."""
