"""Grids: operator state in the data repository (``grids/{grid_id}.yaml``)."""
