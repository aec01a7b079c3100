"""License keys: issued on purchase, checked by the public API with signed answers, managed by
sellers and buyers.

Keys look like `TP-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`: a seller-chosen prefix and 30
characters of Crockford base32, 150 bits from `secrets`. Lookups normalise what a person typed
and hash it with sha256; the hash is unique in the database. The key itself is kept
encrypted (app/crypto.py), so buyers and sellers can read it in their pages while a copy of the
database alone (a backup, a replica) reveals no usable key.

Hot path (validate, activate), SQLAlchemy Core read as plain rows (`records.LicenseRow`), no
ORM objects, one statement each on PostgreSQL, which the view runs on a pooled connection in
autocommit (a transaction of its own: no BEGIN or COMMIT round trip). Validate is one indexed
SELECT of the license by hash with the machine's activation, the once-a-minute "last checked"
touch riding in it as a data-modifying CTE (SQLite: the SELECT, then the touch when due).
Activate locks the key if it may take a seat (`SELECT … FOR UPDATE`: racing requests wait for
the row and PostgreSQL re-checks the WHERE against the committed row), inserts the machine
(ON CONFLICT DO NOTHING), raises the count only for the row inserted, and reads the key and
machine for the answers without a seat; after a concurrent change it falls back to the locked
ORM path. SQLite (transactions serial here) runs the UPDATE, then the INSERT or the SELECT.
Concurrent activations never pass the maximum; (license_id, fingerprint) is unique.

Modules: `license_keys` (the key strings), `signing` (the Ed25519 key that signs answers),
`issuing` (keys follow memberships), `records` (finding and locking license rows),
`public_api` (validate, activate, deactivate, offline files), `whop_compat` (Whop's
validate_license), `seller_admin` (policies and key actions), `self_service` (the buyer's keys
and machines). Functions flush, never commit: the view or job owns the transaction.
"""
