"""The grid's life around the exit strategy: setup recommendations, capital, restart gates
after a stop, cooldowns, and the position a running grid holds."""
