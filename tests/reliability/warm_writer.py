"""A market-maker process started ahead of time: imports done, it waits for one command.

The crash test kills writers at random moments; starting Python and importing Prefect
costs seconds, so each writer is started before it is needed and given its command (an
environment and the CLI's arguments, one JSON line on stdin) when its turn comes.
"""

from __future__ import annotations

import json
import os
import sys

if __name__ == "__main__":
    import flows.backfill
    import flows.grid_admin
    import flows.hourly_pipeline  # noqa: F401
    from flows.cli import main

    print("ready", flush=True)
    command = json.loads(sys.stdin.readline())
    os.environ.update(command["env"])
    print("started", flush=True)
    sys.exit(main(command["argv"]))
