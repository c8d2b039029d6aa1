"""Prefect flows: thin orchestration of ``market_maker`` through the tasks in ``tasks``."""
