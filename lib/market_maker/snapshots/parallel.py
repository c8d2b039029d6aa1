"""Cold reads of many snapshot files across the machine's cores.

Reading a year of files cold is CPU-bound Python (parsing, validating), so one
process uses one core. :func:`map_parts` runs a function over independent parts
of the work (a month of files each) in worker processes, each with a reader of
its own; the results are the same as one reader's, in the parts' order.

Fork safety: a process is forked only while the caller runs a single thread
(forking a threaded process can copy a lock some other thread holds); otherwise
the workers come from a fork server, started afresh (it imports the modules once
for the life of the process). A worker opens its own files with a reader of its own,
``type(reader)(reader.root, reader.limits)``: the caller's reader, its open packs and
caches, are never shared. When a pool is not worth it (little
work, one core) or cannot run the function, or when a part fails in a worker,
the parts run here in order with the caller's reader, as they always did: an
error is raised as the sequential read raises it.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from market_maker.snapshots.problems import Limits
from market_maker.snapshots.reader import SnapshotReader

T = TypeVar("T")
R = TypeVar("R", bound=SnapshotReader)

# Below this many files a pool costs more than it saves (starting the workers, sending
# the results back): a month of files takes about 0.3 s to read cold on one core.
MIN_FILES = 1000
_worker_reader: SnapshotReader | None = None


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_parts(
    reader: R,
    function: Callable[[R, Any], T],
    parts: Sequence[Any],
    *,
    files: int,
    min_files: int | None = None,
) -> list[T]:
    """``[function(reader, part) for part in parts]``, the parts spread over the cores.

    ``function`` must be a module-level function and the parts picklable; ``files`` is
    how many files the parts read in all: under ``min_files`` (default :data:`MIN_FILES`)
    a pool is not worth starting.
    """
    workers = min(cores(), len(parts))
    enough = files >= (MIN_FILES if min_files is None else min_files)
    context = _context(reader, function) if workers > 1 and enough else None
    if context is None:
        return [function(reader, part) for part in parts]
    try:
        with ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(type(reader), reader.root, reader.limits),
        ) as pool:
            return list(pool.map(_run, [function] * len(parts), parts))
    except Exception:  # read again here: the error as the sequential read gives it
        return [function(reader, part) for part in parts]


def _context(reader: SnapshotReader, function: Callable) -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" not in methods:
        return None
    try:  # a fork server's workers import what they run: it must be importable
        pickle.loads(pickle.dumps((type(reader), function, reader.root, reader.limits)))
    except Exception:
        return None
    return multiprocessing.get_context("forkserver")


def _start_worker(reader_type: type[SnapshotReader], root: Any, limits: Limits) -> None:
    global _worker_reader
    _worker_reader = reader_type(root, limits)


def _run(function: Callable[[SnapshotReader, Any], T], part: Any) -> T:
    assert _worker_reader is not None
    return function(_worker_reader, part)


__all__ = ["MIN_FILES", "cores", "map_parts"]
