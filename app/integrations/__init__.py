"""Clients for third-party platforms Tradepost runs inside or signs in with (Whop)."""
