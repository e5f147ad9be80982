"""Renders the clients' files of a large report on every CPU.

Rendering is pure CPU work (Jinja2, xlsxwriter, csv, orjson) on an already computed report,
one client independent of another, so the clients are split among forked worker processes:
a fork inherits the report as it is (nothing to pickle on the way in) and sends back only
(file name, bytes) pairs. The result is the same list, in the same order, as rendering the
clients one after another, which is what happens when it would not pay (a small report, one
CPU) or would not be safe: a process that runs other threads (the daemon's scheduler) is
never forked, since a lock another thread holds at the fork stays held in the child.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

Files = list[tuple[str, bytes]]

# Fewer clients per worker and the forks cost about what they save: a pool of two costs about
# 10 ms to start and stop (more from a large process), a client 5–30 ms to render (the
# benchmark's month: 500 clients, 14 s on one process).
MIN_CLIENTS_PER_WORKER = 20

# The job of the pool being run: set before the fork, so the workers inherit it.
_job: tuple[Callable[[Any], Files], Sequence[Any]] | None = None


def _render(index: int) -> Files:
    assert _job is not None
    render, items = _job
    return render(items[index])


def workers_for(count: int, cpus: int | None = None) -> int:
    """How many processes render `count` clients: one, unless each of several gets a fair
    share and this process may fork."""
    cpus = cpus if cpus is not None else len(os.sched_getaffinity(0))
    if threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(cpus, count // MIN_CLIENTS_PER_WORKER))


def render_each(
    items: Sequence[Any], render: Callable[[Any], Files], *, workers: int | None = None
) -> Files:
    """`render(item)` for every item, concatenated in the items' order; on `workers`
    processes (default: `workers_for(len(items))`)."""
    workers = workers_for(len(items)) if workers is None else workers
    if workers <= 1:
        return [file for item in items for file in render(item)]
    global _job
    _job = (render, items)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            # Small chunks in order: a client with many entries does not leave a worker idle.
            chunk = max(1, len(items) // (workers * 8))
            parts = pool.map(_render, range(len(items)), chunksize=chunk)
    finally:
        _job = None
    return [file for part in parts for file in part]
