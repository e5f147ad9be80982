"""Wiring: config -> connectors, store, effects, engine; one locked cycle; dry runs on a copy."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import structlog

from connectors.redmine import RedmineConnector
from connectors.zendesk import ZendeskConnector
from syncd.config import Config
from syncd.effects import Effects
from syncd.engine import Engine, Stats
from syncd.lock import CycleLock
from syncd.logging import register_secret
from syncd.state import Store

log = structlog.get_logger("syncd")


def connectors(config: Config) -> tuple[ZendeskConnector, RedmineConnector]:
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


def run_command(
    config: Config,
    command: str,
    *,
    dry_run: bool,
    announce: Callable[[str], None],
    work: Callable[[Engine], None] | None = None,
) -> Stats:
    """Take the lock, run one engine job (a sync cycle by default), record it."""
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
            store.finish_cycle(cycle_id, "crashed", vars(engine.stats), error=repr(e)[:500])
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
