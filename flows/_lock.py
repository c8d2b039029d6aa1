"""The data repository's lock for flows: a file lock on the disk, then a Prefect concurrency
slot with a lease across pods.

Neither outlives a writer killed outright. The kernel drops the file lock of a
dead process. The slot is a lease the holder renews every 45 s: a Prefect
server frees it 60 s after the last renewal (its repossessor sweeps every 15 s);
a writer that finds the slot taken by a dead holder of its own machine (the
file lock proves nobody else here writes) releases the dead holder's lease at
once, which is what ephemeral servers (the embedded default, the test
harness) need, since they run no repossessor.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from uuid import UUID

import httpx
from prefect import get_client
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.runtime import flow_run

from market_maker.base.errors import StoreError
from market_maker.context import RunContext
from market_maker.data_files import validator_for
from market_maker.store.holder import Holder

log = logging.getLogger("market_maker.lock")

# The Prefect global concurrency limit that serialises writers of the data repository, unless
# data_repository.concurrency_limit names another (one per working copy).
DATA_REPOSITORY_LIMIT = "data-repository"
POLL_SECONDS = 2.0
WAIT_LOG_SECONDS = 10.0
RENEW_FRACTION = 0.75  # renew when three quarters of the lease have run, as Prefect does

_known_limits: set[str] = set()


def ensure_concurrency_limit(name: str, limit: int = 1) -> None:
    """Create the global concurrency limit on first use, so a fresh server enforces it too."""
    if name in _known_limits:
        return
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=limit)
                )
    _known_limits.add(name)


def run_label() -> str:
    """Who is writing, for the holder record: the flow run's name, or the process."""
    name = flow_run.get_name()
    return f"flow run {name}" if name else "market-maker"


@contextlib.contextmanager
def data_repository_lock(ctx: RunContext) -> Iterator[None]:
    """Hold the repository for a read-write-commit-push cycle.

    Inside, the working copy is first reconciled: whatever an interrupted run left
    uncommitted is validated and committed with this run, or quarantined.
    """
    store = ctx.store
    timeout = ctx.settings.data_repository.lock_timeout_seconds
    started = time.monotonic()
    with store.locked(run_label()):
        remaining = max(timeout - (time.monotonic() - started), 1.0)
        with _slot(ctx, remaining) as lease_id:
            me = store.holder()
            if me is not None:
                store.set_holder(me.with_lease(str(lease_id) if lease_id else None))
            for line in store.reconcile(validator_for(ctx)).lines():
                log.warning("data repository: %s", line)
            yield


@contextlib.contextmanager
def _slot(ctx: RunContext, timeout: float) -> Iterator[UUID | None]:
    ensure_concurrency_limit(ctx.settings.data_repository.concurrency_limit)
    lease_seconds = ctx.settings.data_repository.lease_seconds
    with get_client(sync_client=True) as client:
        lease_id = _acquire(client, ctx, timeout, lease_seconds)
        stop = threading.Event()
        renewer = threading.Thread(
            target=_renew,
            args=(client, lease_id, lease_seconds, stop),
            name="lease-renewal",
            daemon=True,
        )
        renewer.start()
        try:
            yield lease_id
        finally:
            stop.set()
            renewer.join(timeout=5)
            try:
                client.release_concurrency_slots_with_lease(lease_id)
            except Exception as exc:  # the lease then expires on its own
                log.warning("could not release the data repository's slot: %s", exc)


def _acquire(client, ctx: RunContext, timeout: float, lease_seconds: float) -> UUID:
    deadline = time.monotonic() + timeout
    next_log = time.monotonic() + 1.0
    run_id = flow_run.get_id()
    holder = ConcurrencyLeaseHolder(type="flow_run", id=UUID(run_id)) if run_id else None
    attempts_to_free = 0
    while True:
        try:
            response = client.increment_concurrency_slots_with_lease(
                names=[ctx.settings.data_repository.concurrency_limit],
                slots=1,
                mode="concurrency",
                lease_duration=lease_seconds,
                holder=holder,
            )
            return UUID(response.json()["lease_id"])
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 423:
                raise StoreError(
                    f"the data repository's concurrency slot could not be taken: "
                    f"HTTP {exc.response.status_code}"
                ) from None
        previous = ctx.store.previous_holder
        if attempts_to_free < 2 and previous is not None and not previous.alive():
            _free_dead_holder(
                client,
                previous,
                ctx.settings.data_repository.concurrency_limit,
                by_lease=attempts_to_free == 0,
            )
            attempts_to_free += 1
            continue
        now = time.monotonic()
        who = previous.describe() if previous else "another run (holder unknown)"
        if now > deadline:
            raise StoreError(
                f"the data repository is held by {who}; gave up after {timeout:.0f} s "
                "(data_repository.lock_timeout_seconds)"
            )
        if now >= next_log:
            log.warning("waiting for the data repository's concurrency slot: held by %s", who)
            next_log = now + WAIT_LOG_SECONDS
        time.sleep(POLL_SECONDS)


def _free_dead_holder(client, dead: Holder, limit: str, *, by_lease: bool) -> None:
    """Release the slot of a holder that died on this machine without releasing it.

    First by its lease. When the server does not know that lease (each ephemeral server
    keeps its leases in its own memory) or none was recorded, the slot itself is given
    back: safe, because the file lock held here proves no writer of this machine runs,
    and the dead holder's record proves it was the last to take the slot.
    """
    log.warning(
        "the data repository's slot is held by %s, which is no longer running: releasing it",
        dead.describe(),
    )
    if by_lease and dead.lease_id:
        with contextlib.suppress(Exception):
            client.release_concurrency_slots_with_lease(UUID(dead.lease_id))
        return
    client.release_concurrency_slots(names=[limit], slots=1, occupancy_seconds=1.0)


def _renew(client, lease_id: UUID, lease_seconds: float, stop: threading.Event) -> None:
    """Renew until stopped, on the holder's client (a client of its own costs a connection)."""
    while not stop.wait(lease_seconds * RENEW_FRACTION):
        try:
            client.renew_concurrency_lease(lease_id=lease_id, lease_duration=lease_seconds)
        except Exception as exc:  # the next renewal may succeed; the file lock still holds
            log.warning("renewing the data repository's lease failed: %s", exc)
