"""Example programs built on Tradepost's public interfaces (each runs as its own process)."""
