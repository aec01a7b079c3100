"""Affiliate programs and referral commissions (issue 18).

programs.py     a seller's program settings, included listings, bans, commission arithmetic
links.py        personal referral codes and the signed first-party attribution cookie
clicks.py       recording a landing through an affiliate link (hashed IP, bots, rate limit)
attribution.py  the referral decided when a checkout starts, bound on the paid webhook
commissions.py  commissions as ledger money: created, cleared, reversed, paid out
reports.py      read-only figures for the pages (owned by the pages' author)

See AFFILIATES_DESIGN.md at the repository root (docs/affiliates.md) for the whole design.
"""
