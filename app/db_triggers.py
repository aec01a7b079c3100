"""SQL for database-side invariants, shared by migrations (and by any migration that must
re-create them after SQLite's batch mode rebuilds a table).

- KYC gate: a gig can only become `published` if its company's kyc_status is `verified`.
- Gig search: a weighted tsvector (PostgreSQL) or an FTS5 table kept in sync (SQLite).
"""

KYC_GATE = {
    "postgresql": [
        """
        CREATE OR REPLACE FUNCTION gigs_require_verified_kyc() RETURNS trigger AS $$
        BEGIN
          IF NEW.status = 'published' AND NOT EXISTS (
              SELECT 1 FROM companies WHERE id = NEW.company_id AND kyc_status = 'verified') THEN
            RAISE EXCEPTION 'kyc_not_verified: company % is not KYC-verified', NEW.company_id
              USING ERRCODE = 'check_violation';
          END IF;
          RETURN NEW;
        END $$ LANGUAGE plpgsql
        """,
        """
        CREATE TRIGGER gigs_kyc_gate BEFORE INSERT OR UPDATE OF status, company_id ON gigs
        FOR EACH ROW EXECUTE FUNCTION gigs_require_verified_kyc()
        """,
    ],
    "sqlite": [
        """
        CREATE TRIGGER gigs_kyc_gate_insert BEFORE INSERT ON gigs
        WHEN NEW.status = 'published' AND NOT EXISTS (
            SELECT 1 FROM companies WHERE id = NEW.company_id AND kyc_status = 'verified')
        BEGIN SELECT RAISE(ABORT, 'kyc_not_verified'); END
        """,
        """
        CREATE TRIGGER gigs_kyc_gate_update BEFORE UPDATE OF status, company_id ON gigs
        WHEN NEW.status = 'published' AND NOT EXISTS (
            SELECT 1 FROM companies WHERE id = NEW.company_id AND kyc_status = 'verified')
        BEGIN SELECT RAISE(ABORT, 'kyc_not_verified'); END
        """,
    ],
}

DROP_KYC_GATE = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS gigs_kyc_gate ON gigs",
        "DROP FUNCTION IF EXISTS gigs_require_verified_kyc()",
    ],
    "sqlite": ["DROP TRIGGER IF EXISTS gigs_kyc_gate_insert", "DROP TRIGGER IF EXISTS gigs_kyc_gate_update"],
}

GIG_SEARCH = {
    "postgresql": [
        """
        ALTER TABLE gigs ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
          setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
          setweight(to_tsvector('english', coalesce(description_md, '')), 'B') ||
          setweight(to_tsvector('english', replace(coalesce(tags, ''), ',', ' ')), 'C')
        ) STORED
        """,
        "CREATE INDEX ix_gigs_search_vector ON gigs USING GIN (search_vector)",
    ],
    "sqlite": [
        """
        CREATE VIRTUAL TABLE gigs_fts USING fts5(
          title, description_md, tags, content='gigs', content_rowid='id',
          tokenize='porter unicode61')
        """,
        """
        CREATE TRIGGER gigs_fts_after_insert AFTER INSERT ON gigs BEGIN
          INSERT INTO gigs_fts(rowid, title, description_md, tags)
          VALUES (new.id, new.title, new.description_md, new.tags);
        END
        """,
        """
        CREATE TRIGGER gigs_fts_after_delete AFTER DELETE ON gigs BEGIN
          INSERT INTO gigs_fts(gigs_fts, rowid, title, description_md, tags)
          VALUES ('delete', old.id, old.title, old.description_md, old.tags);
        END
        """,
        """
        CREATE TRIGGER gigs_fts_after_update AFTER UPDATE OF title, description_md, tags ON gigs BEGIN
          INSERT INTO gigs_fts(gigs_fts, rowid, title, description_md, tags)
          VALUES ('delete', old.id, old.title, old.description_md, old.tags);
          INSERT INTO gigs_fts(rowid, title, description_md, tags)
          VALUES (new.id, new.title, new.description_md, new.tags);
        END
        """,
    ],
}

DROP_GIG_SEARCH = {
    "postgresql": [
        "DROP INDEX IF EXISTS ix_gigs_search_vector",
        "ALTER TABLE gigs DROP COLUMN IF EXISTS search_vector",
    ],
    "sqlite": [
        "DROP TRIGGER IF EXISTS gigs_fts_after_insert",
        "DROP TRIGGER IF EXISTS gigs_fts_after_delete",
        "DROP TRIGGER IF EXISTS gigs_fts_after_update",
        "DROP TABLE IF EXISTS gigs_fts",
    ],
}


def run(op, statements):
    """Execute the statements for the migration's dialect."""
    for sql in statements[op.get_bind().dialect.name]:
        op.execute(sql)


LEDGER_TABLES = ("ledger_transactions", "ledger_entries")

LEDGER_APPEND_ONLY = {
    "postgresql": [
        """
        CREATE OR REPLACE FUNCTION ledger_reject_change() RETURNS trigger AS $$
        BEGIN
          RAISE EXCEPTION 'ledger_append_only: % on % is not allowed', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
        END $$ LANGUAGE plpgsql
        """,
        *[
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION ledger_reject_change()"
            for table in LEDGER_TABLES
        ],
    ],
    "sqlite": [
        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'ledger_append_only'); END"
        for table in LEDGER_TABLES
        for op in ("UPDATE", "DELETE")
    ],
}

DROP_LEDGER_APPEND_ONLY = {
    "postgresql": [
        *[f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in LEDGER_TABLES],
        "DROP FUNCTION IF EXISTS ledger_reject_change()",
    ],
    "sqlite": [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for table in LEDGER_TABLES for op in ("update", "delete")],
}
