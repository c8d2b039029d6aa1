"""The top of the library: the hourly steps (collect, analyse, decide, notify, record) and
their runner, collection and backfill of snapshots, and the typed results of a cycle."""
