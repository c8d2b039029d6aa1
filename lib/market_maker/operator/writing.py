"""How an operator command writes to the data repository: all of it in one commit, or none."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from market_maker.config import load_settings
from market_maker.context import RunContext
from market_maker.data_files import validator_for

# The operator commands' logger, by the name their log lines have always carried.
log = logging.getLogger("market_maker.grid_admin")


@contextlib.contextmanager
def writing(command: str) -> Iterator[RunContext]:
    """Lock, repair what an interrupted run left, rebase onto the remote; then all or nothing:
    either the command's commit holds every file it wrote, or the working copy is as before."""
    ctx = RunContext.open(load_settings())
    with ctx.store.locked(f"market-maker {command}"):
        for line in ctx.store.reconcile(validator_for(ctx)).lines():
            log.warning("data repository: %s", line)
        ctx.store.sync()
        with ctx.store.transaction():
            yield ctx
