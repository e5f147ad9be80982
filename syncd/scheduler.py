"""`syncd run`: APScheduler runs a sync cycle every [sync] interval_minutes, and after a
cycle, once a month, the previous month's reports (see `monthly_reports_if_due`).

Each tick takes the same lock as `syncd sync`, so a manual or cron cycle and the daemon never
overlap: whoever comes second skips its turn. A cycle that raises is logged and the daemon goes
on; SIGTERM/SIGINT stop it between cycles.
"""

from __future__ import annotations

import signal
from datetime import datetime
from types import FrameType

import structlog
from apscheduler.schedulers.blocking import BlockingScheduler

from syncd import app
from syncd.config import Config
from syncd.lock import Locked
from syncd.reporting import monthly_reports_if_due

log = structlog.get_logger("syncd.daemon")


def _tick(config: Config) -> None:
    try:
        app.run_command(config, "run", dry_run=False, announce=lambda _line: None)
    except Locked as e:
        log.warning("cycle_skipped", reason=str(e))
        return
    except app.StateUnwritable:
        return  # told as state_unwritable; the next tick tries again, the reports wait
    except Exception as e:  # the daemon outlives a bad cycle; the next tick tries again
        log.exception("cycle_crashed", error=repr(e))
    try:
        # Decided from the store, not from the clock alone: a daemon that was down at the
        # hour on the 1st produces the reports when it comes back.
        monthly_reports_if_due(config)
    except Locked as e:
        log.warning("reports_postponed", reason=str(e))
    except Exception as e:
        log.exception("reports_failed", error=repr(e))


def run_daemon(config: Config) -> int:
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        _tick,
        "interval",
        args=[config],
        id="sync",
        minutes=config.sync.interval_minutes,
        next_run_time=datetime.now().astimezone(),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=60,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("daemon_stopping", signal=signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "daemon_started",
        interval_minutes=config.sync.interval_minutes,
        state=str(config.state_path),
    )
    scheduler.start()
    return 0
