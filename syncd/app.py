"""Wiring: config -> connectors, store, effects, engine; one locked cycle; dry runs on a copy."""

from __future__ import annotations

import errno
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from syncd.config import Config
from syncd.effects import Effects
from syncd.engine import Engine, Stats
from syncd.lock import CycleLock
from syncd.logging import register_secret
from syncd.state import Store

if TYPE_CHECKING:
    from connectors.redmine import RedmineConnector
    from connectors.zendesk import ZendeskConnector

log = structlog.get_logger("syncd")


def connectors(config: Config) -> tuple[ZendeskConnector, RedmineConnector]:
    # Imported here: the HTTP clients (requests, zenpy) are a tenth of a second of every
    # command's start, and a report from the store (--no-refresh) never talks to a tracker.
    from connectors.redmine import RedmineConnector
    from connectors.zendesk import ZendeskConnector

    token, key = config.zendesk.token(), config.redmine.key()
    register_secret(token)
    register_secret(key)
    zendesk = ZendeskConnector(
        config.zendesk.url,
        config.zendesk.email,
        token,
        timeout=config.zendesk.timeout,
        ratelimit_budget=config.zendesk.ratelimit_budget,
    )
    redmine = RedmineConnector(config.redmine.url, key, timeout=config.redmine.timeout)
    return zendesk, redmine


@contextmanager
def store_for(config: Config, *, dry_run: bool) -> Iterator[Store]:
    """The state store, or for a dry run a throwaway copy of it: a dry run goes through the
    whole cycle (so it shows exactly what a real one would do) and leaves no trace."""
    if not dry_run:
        store = Store(config.state_path)
        try:
            yield store
        finally:
            store.close()
        return
    with tempfile.TemporaryDirectory(prefix="syncd-dry-run-") as tmp:
        copy = Path(tmp) / "state.db"
        if config.state_path.exists():
            src = sqlite3.connect(f"file:{config.state_path}?mode=ro", uri=True)
            dst = sqlite3.connect(copy)
            with dst:
                src.backup(dst)
            src.close()
            dst.close()
        store = Store(copy)
        try:
            yield store
        finally:
            store.close()


class StateUnwritable(Exception):
    """The state file can't be written (disk full, read-only, I/O error): exit 74, EX_IOERR.
    What was written before the failure stands (each step commits its own transaction), what
    came after never happened, so the next cycle picks up from the store as it is."""


# SQLite's primary result codes for "the file can't take the write".
_UNWRITABLE = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY}
_UNWRITABLE |= {sqlite3.SQLITE_CANTOPEN}
_UNWRITABLE_ERRNO = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


def state_unwritable(e: BaseException) -> bool:
    if isinstance(e, sqlite3.Error):
        code = getattr(e, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _UNWRITABLE
        return any(w in str(e) for w in ("disk is full", "disk I/O error", "readonly database"))
    return isinstance(e, OSError) and e.errno in _UNWRITABLE_ERRNO


def run_command(
    config: Config,
    command: str,
    *,
    dry_run: bool,
    announce: Callable[[str], None],
    work: Callable[[Engine], None] | None = None,
) -> Stats:
    """Take the lock, run one engine job (a sync cycle by default), record it. A state file
    that can't be written (the lock's pid, the store) ends the job as StateUnwritable, told
    once as a structured event instead of a traceback."""
    try:
        return _run_locked(config, command, dry_run=dry_run, announce=announce, work=work)
    except (sqlite3.Error, OSError) as e:
        if not state_unwritable(e):
            raise
        log.error(
            "state_unwritable",
            side="state",
            path=str(config.state_path),
            error=str(e),
            command=command,
            hint="free space (or fix permissions) where the state file lives; "
            "the next cycle picks up from the store as it is",
        )
        raise StateUnwritable(f"the state file {config.state_path} can't be written: {e}") from e


def _run_locked(
    config: Config,
    command: str,
    *,
    dry_run: bool,
    announce: Callable[[str], None],
    work: Callable[[Engine], None] | None,
) -> Stats:
    with CycleLock(config.state_path), store_for(config, dry_run=dry_run) as store:
        zendesk, redmine = connectors(config)
        effects = Effects(store, dry_run=dry_run, announce=announce)
        engine = Engine(config, store, zendesk, redmine, effects)
        cycle_id = store.start_cycle(command + (" --dry-run" if dry_run else ""))
        log.info("cycle_started", command=command, dry_run=dry_run, cycle=cycle_id)
        try:
            (work or Engine.cycle)(engine)
        except BaseException as e:
            engine.stats.writes = dict(effects.counts)
            try:
                store.finish_cycle(cycle_id, "crashed", vars(engine.stats), error=repr(e)[:500])
            except sqlite3.Error as again:
                # A full disk refuses the record of the crash too: the first error is the news.
                log.warning("cycle_not_recorded", cycle=cycle_id, error=str(again))
            raise
        stats = engine.stats
        stats.writes = dict(effects.counts)
        status = "ok" if stats.ok else "partial"
        store.finish_cycle(cycle_id, status, vars(stats))
        log.info("cycle_finished", command=command, status=status, **vars(stats))
        return stats


def adopt(engine: Engine) -> None:
    engine.pull_issues(full=True)


def backfill(since: date) -> Callable[[Engine], None]:
    def work(engine: Engine) -> None:
        engine.pull_issues(full=True)
        engine.reread_time_entries(since, engine.now().date())
        engine.backfill_tickets(since)
        engine.pull_events(since=since)

    return work
