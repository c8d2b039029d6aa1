"""Exit strategy for a running grid: NORMAL, WARNING, LATEST_ACCEPTABLE_EXIT, MANDATORY_EXIT."""
