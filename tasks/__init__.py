"""Prefect tasks: thin wrappers around ``market_maker`` calls (retries, timeouts, tags)."""
