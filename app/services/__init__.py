"""Workflows as verb_noun functions. They flush, never commit: the caller owns the transaction."""
