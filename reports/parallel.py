"""A large report computed and rendered on every CPU.

A month's report is many independent pieces of pure CPU work: one client's invoice, one batch
of tickets judged against the SLA, one client's files rendered. `fork_map` hands the pieces
to forked worker processes: a fork inherits the report's inputs as they are (nothing to
pickle on the way in, the caches already read included) and sends back only each piece's
result. The result is the same list, in the same order, as working through the pieces one
after another, which is what happens when forking would not pay (a small report, one CPU) or
would not be safe: a process that runs other threads (the daemon's scheduler) is never
forked, since a lock another thread holds at the fork stays held in the child.

A worker that reads the store opens its own read-only connection (`initializer`): SQLite
connections must not cross a fork. The parent still holds the cycle lock, so the workers
read the same committed state it does.

The cyclic garbage collector is paused while the pieces are worked through: a report builds
hundreds of thousands of objects that all live until it is written (an entry behind each
invoice line), and every collection would walk them all again, in vain; in the parent the
same holds for unpickling the workers' results (half its time, with the collector on). The
inherited heap is frozen before the fork, so that a worker's collector never touches, and
so never copies, the parent's pages.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
Files = list[tuple[str, bytes]]

# Fewer pieces per worker and the forks cost about what they save: a pool of two costs about
# 10 ms to start and stop (more from a large process), a client 5–30 ms to render (the
# benchmark's month: 500 clients, 14 s on one process).
MIN_CLIENTS_PER_WORKER = 20

# The job of the pool being run: set before the fork, so the workers inherit it.
_job: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


def _run(index: int) -> Any:
    assert _job is not None
    fn, items = _job
    return fn(items[index])


def workers_for(
    count: int, cpus: int | None = None, per_worker: int = MIN_CLIENTS_PER_WORKER
) -> int:
    """How many processes work through `count` pieces: one, unless each of several gets at
    least `per_worker` and this process may fork."""
    cpus = cpus if cpus is not None else len(os.sched_getaffinity(0))
    if threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(cpus, count // per_worker))


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (reference counting still frees what
    is dropped); back on after it, if it was on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _start_worker(initializer: Callable[[], None] | None) -> None:
    gc.disable()  # a worker lives for one report: what it allocates goes when it exits
    if initializer is not None:
        initializer()


def fork_map(
    items: Sequence[T],
    fn: Callable[[T], R],
    *,
    workers: int | None = None,
    initializer: Callable[[], None] | None = None,
) -> list[R]:
    """[fn(item) for item in items], on `workers` processes (default: `workers_for`), each
    started with `initializer()`. An exception in a worker is raised here."""
    workers = workers_for(len(items)) if workers is None else workers
    if workers <= 1:
        with collector_paused():
            return [fn(item) for item in items]
    global _job
    _job = (fn, items)
    gc.freeze()
    try:
        context = multiprocessing.get_context("fork")
        with collector_paused(), context.Pool(workers, _start_worker, (initializer,)) as pool:
            # Small chunks, in order: a piece that takes long does not leave a worker idle.
            return pool.map(_run, range(len(items)), chunksize=max(1, len(items) // (workers * 8)))
    finally:
        gc.unfreeze()
        _job = None


def render_each(
    items: Sequence[T], render: Callable[[T], Files], *, workers: int | None = None
) -> Files:
    """Every item's files, concatenated in the items' order (see `fork_map`)."""
    return [file for files in fork_map(items, render, workers=workers) for file in files]
