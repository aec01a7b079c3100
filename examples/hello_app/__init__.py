"""Hello app: the smallest Tradepost app. See README.md next to this file."""
