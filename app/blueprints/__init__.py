"""Thin views: parse input, call a service, render or redirect."""
