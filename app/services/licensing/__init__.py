"""License keys: issued on purchase, checked by the public API with signed answers, managed by
sellers and buyers.

Keys look like `TP-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`: a seller-chosen prefix and 30
characters of Crockford base32, 150 bits from `secrets`. Lookups normalise what a person typed
and hash it with sha256; the hash is unique in the database. The key itself is kept
encrypted (app/crypto.py), so buyers and sellers can read it in their pages while a copy of the
database alone (a backup, a replica) reveals no usable key.

Hot path (validate, activate): one indexed SELECT of the license by hash, one of the
activation when a fingerprint is sent, and at most one small UPDATE or INSERT. Activation locks
the license row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite transactions are serial here), so
concurrent activations never pass the maximum; (license_id, fingerprint) is unique too.

Modules: `license_keys` (the key strings), `signing` (the Ed25519 key that signs answers),
`issuing` (keys follow memberships), `records` (finding and locking license rows),
`public_api` (validate, activate, deactivate, offline files), `whop_compat` (Whop's
validate_license), `seller_admin` (policies and key actions), `self_service` (the buyer's keys
and machines). Functions flush, never commit: the view or job owns the transaction.
"""
