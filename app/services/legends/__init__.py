"""Legends: the referral game of a seller company's community (issue 19)."""
