"""Replaying the decision logic over recorded history: preflight, feed, grid simulation, results."""
