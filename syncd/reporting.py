"""Report commands: re-read the period from Redmine, compute, write the files, close months.

Before a month is reported (or closed), its time entries are re-read in full from Redmine, and
so are the closed months before it that could owe adjustments: deleted and edited entries are
never billed from stale data. `--no-refresh` skips that (offline, from the store as it is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from reports.billing import Billing
from reports.invoices import close_month
from reports.model import BillingReport, ClientInvoice
from reports.months import month_range, months_back
from syncd import app
from syncd.config import Config
from syncd.effects import Effects
from syncd.engine import Engine
from syncd.lock import CycleLock
from syncd.state import Store, utcnow

log = structlog.get_logger("syncd.reports")

# Closed months this far back are re-read too: their late changes become adjustments.
ADJUSTMENT_LOOKBACK_MONTHS = 12


@dataclass(frozen=True)
class Written:
    report: BillingReport
    paths: list[Path]


def refresh_entries(config: Config, store: Store, month: str) -> None:
    """Re-read the month's time entries, and those of closed months that may owe adjustments."""
    zendesk, redmine = app.connectors(config)
    engine = Engine(config, store, zendesk, redmine, Effects(store))
    months = {month}
    closed = {row["month"] for c in config.clients for row in store.invoices_before(c.id, month)}
    months |= closed & set(months_back(month, ADJUSTMENT_LOOKBACK_MONTHS))
    for m in sorted(months):
        since, until = month_range(m)
        engine.reread_time_entries(since, until)
        log.info("period_reread", month=m)


def billing_report(
    config: Config,
    month: str,
    *,
    out_dir: Path,
    formats: list[str],
    clients: list[str] | None = None,
    refresh: bool = True,
    now: Callable[[], datetime] = utcnow,
) -> Written:
    from reports.render import write_billing

    with CycleLock(config.state_path):
        store = Store(config.state_path)
        try:
            if refresh:
                refresh_entries(config, store, month)
            report = Billing(config, store).report(month, clients=clients, generated_at=now())
        finally:
            store.close()
    paths = write_billing(report, out_dir, formats)
    log.info("billing_report_written", month=month, files=len(paths), out=str(out_dir))
    return Written(report, paths)


def close_invoices(
    config: Config,
    month: str,
    *,
    clients: list[str] | None = None,
    refresh: bool = True,
    dry_run: bool = False,
    now: Callable[[], datetime] = utcnow,
) -> list[ClientInvoice]:
    """Freeze the month's invoices. With dry_run, compute and return them without freezing."""
    with CycleLock(config.state_path):
        store = Store(config.state_path)
        try:
            if refresh:
                refresh_entries(config, store, month)
            if dry_run:
                billing = Billing(config, store)
                return [
                    billing.invoice(c, month)
                    for c in config.clients
                    if not clients or c.id in clients
                ]
            invoices = close_month(config, store, month, generated_at=now(), clients=clients)
        finally:
            store.close()
    for invoice in invoices:
        log.info(
            "invoice_closed",
            month=month,
            client=invoice.client,
            amount=str(invoice.amount),
            currency=invoice.currency,
        )
    return invoices
