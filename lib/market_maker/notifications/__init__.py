"""Operator notifications: Pushover, an optional webhook, rate limits, message templates."""
