"""The clients' files rendered on several processes (reports/parallel.py) are the files
rendered one after another: same names, same bytes, same order; a failure in a worker fails
the whole report before anything is written."""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from pathlib import Path

import pytest
from test_render_billing import rich_report
from test_render_sla import big_report

from reports import parallel
from reports.render import billing_files, write_billing
from reports.render_sla import sla_files


def test_a_small_report_or_a_threaded_process_renders_on_one_process(monkeypatch) -> None:
    # Threads an earlier test left behind (a server still shutting down) must not count here.
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    assert parallel.workers_for(500, cpus=2) == 2
    assert parallel.workers_for(500, cpus=64) == 500 // parallel.MIN_CLIENTS_PER_WORKER
    assert parallel.workers_for(parallel.MIN_CLIENTS_PER_WORKER * 2 - 1, cpus=8) == 1
    assert parallel.workers_for(3, cpus=8) == 1
    monkeypatch.undo()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # the daemon's scheduler, say
    other.start()
    try:
        assert parallel.workers_for(500, cpus=2) == 1
    finally:
        stop.set()
        other.join()


def test_render_each_keeps_the_items_order_across_workers() -> None:
    items = list(range(101))
    # Each worker waits at its first item until all three are there: otherwise one quick
    # worker may take every chunk before the others start (seen on a loaded CI machine).
    all_started = multiprocessing.get_context("fork").Barrier(3, timeout=30)
    started_here: set[int] = set()  # a copy in each forked worker

    def render(n: int) -> list[tuple[str, bytes]]:
        if os.getpid() != parent and not started_here:
            started_here.add(n)
            all_started.wait()
        return [(f"{n}.a", str(os.getpid()).encode()), (f"{n}.b", bytes([n]))]

    parent = os.getpid()

    sequential = parallel.render_each(items, render, workers=1)
    forked = parallel.render_each(items, render, workers=3)
    assert [name for name, _ in forked] == [name for name, _ in sequential]
    assert [b for name, b in forked if name.endswith(".b")] == [bytes([n]) for n in items]
    pids = {b for name, b in forked if name.endswith(".a")}
    assert str(parent).encode() not in pids and len(pids) == 3  # really the other processes


@pytest.mark.parametrize("workers", [1, 2])
def test_the_collector_is_paused_while_the_pieces_are_worked_and_back_after(workers) -> None:
    assert gc.isenabled()
    seen = parallel.fork_map(list(range(4)), lambda n: gc.isenabled(), workers=workers)
    assert seen == [False] * 4
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with pytest.raises(ZeroDivisionError):
        parallel.fork_map([1, 0], lambda n: 1 / n, workers=workers)
    assert gc.isenabled() and gc.get_freeze_count() == 0


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every report, however small, rendered on two workers."""
    monkeypatch.setattr(parallel, "workers_for", lambda count, cpus=None: 2)


def test_billing_files_are_the_same_bytes_on_two_workers(monkeypatch, forked) -> None:
    report = rich_report()
    on_two = billing_files(report, language="ru", studio="Студия")
    monkeypatch.setattr(parallel, "workers_for", lambda count, cpus=None: 1)
    assert on_two == billing_files(report, language="ru", studio="Студия")
    assert len({name for name, _ in on_two}) == len(on_two) > 15


def test_sla_files_are_the_same_bytes_on_two_workers(monkeypatch, forked) -> None:
    report = big_report(60)
    on_two = sla_files(report)
    monkeypatch.setattr(parallel, "workers_for", lambda count, cpus=None: 1)
    assert on_two == sla_files(report)
    assert len(report.clients) >= 2


def test_a_worker_that_fails_fails_the_report_and_writes_nothing(
    monkeypatch, forked, tmp_path: Path
) -> None:
    import reports.render as render

    def broken(report, inv, language, studio):
        if inv.client == "globex":
            raise RuntimeError("template blew up for globex")
        return {"": b"fine"}

    monkeypatch.setitem(render.FORMATS, "csv", (broken, render.FORMATS["csv"][1]))
    with pytest.raises(RuntimeError, match="template blew up for globex"):
        write_billing(rich_report(), tmp_path / "out", ["csv"])
    assert not (tmp_path / "out").exists()
