"""The baseline for bench/licensing.py: a bare Flask endpoint doing one indexed SELECT and one
UPDATE on PostgreSQL (SQLAlchemy Core, pooled), served by gunicorn exactly like the app."""

import os

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

from app.config import database_url

app = Flask(__name__)
engine = create_engine(database_url(os.environ["DATABASE_URL"]), pool_pre_ping=True)


@app.post("/")
def touch():
    key_hash = (request.get_json(silent=True) or {}).get("key_hash", "")
    with engine.begin() as conn:
        row = conn.execute(text("SELECT id, hits FROM bench_baseline WHERE key_hash = :h"), {"h": key_hash}).first()
        if row is None:
            return jsonify(found=False), 404
        conn.execute(text("UPDATE bench_baseline SET hits = hits + 1 WHERE id = :id"), {"id": row.id})
    return jsonify(found=True, id=row.id, hits=row.hits + 1)


@app.get("/healthz")
def healthz():
    return "ok"
