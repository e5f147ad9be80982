"""Report commands: re-read the period from Redmine, compute, write the files, close months.

Before a month is reported (or closed), its time entries are re-read in full from Redmine, and
so are the closed months before it that could owe adjustments: deleted and edited entries are
never billed from stale data. `--no-refresh` skips that (offline, from the store as it is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from reports.billing import Billing
from reports.invoices import close_month
from reports.model import BillingReport, ClientInvoice
from reports.months import month_of, month_range, months_back, previous_month
from reports.sla import Sla
from reports.sla_model import SlaReport
from syncd import app
from syncd.config import Config
from syncd.effects import Effects
from syncd.engine import Engine
from syncd.lock import CycleLock
from syncd.state import Store, iso, utcnow

log = structlog.get_logger("syncd.reports")

ALL_FORMATS = ("html", "csv", "xlsx", "json")
# Closed months this far back are re-read too: their late changes become adjustments.
ADJUSTMENT_LOOKBACK_MONTHS = 12


@dataclass(frozen=True)
class Written:
    report: BillingReport | SlaReport
    paths: list[Path]


@contextmanager
def locked_store(config: Config) -> Iterator[Store]:
    """The store, under the cycle lock: a report never reads half of a sync cycle's writes,
    and its re-reads never race one."""
    with CycleLock(config.state_path), app.store_for(config, dry_run=False) as store:
        yield store


def _engine(config: Config, store: Store) -> Engine:
    zendesk, redmine = app.connectors(config)
    return Engine(config, store, zendesk, redmine, Effects(store))


def refresh_entries(config: Config, store: Store, month: str) -> None:
    """Re-read the month's time entries, and those of closed months that may owe adjustments."""
    engine = _engine(config, store)
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

    with locked_store(config) as store:
        if refresh:
            refresh_entries(config, store, month)
        report = Billing(config, store).report(month, clients=clients, generated_at=now())
    paths = write_billing(
        report,
        out_dir,
        formats,
        language=config.sync.language,
        client_languages={c.id: c.language for c in config.clients if c.language},
        studio=config.billing.studio_name,
    )
    log.info("billing_report_written", month=month, files=len(paths), out=str(out_dir))
    return Written(report, paths)


def sla_report(
    config: Config,
    month: str,
    *,
    out_dir: Path,
    formats: list[str],
    clients: list[str] | None = None,
    rebuild: bool = False,
    now: Callable[[], datetime] = utcnow,
) -> Written:
    """The month's SLA report from the events the sync cycles collected. `rebuild` first
    re-reads the month's tickets and events from Zendesk (after the fact, or after a gap)."""
    from reports.render_sla import write_sla

    with locked_store(config) as store:
        if rebuild:
            engine = _engine(config, store)
            since, _ = month_range(previous_month(month))  # tickets opened before it too
            engine.backfill_tickets(since)
            engine.pull_events(since=since)
        report = Sla(config, store).report(month, generated_at=now(), clients=clients)
    paths = write_sla(
        report, out_dir, formats, language=config.sync.language, studio=config.billing.studio_name
    )
    log.info("sla_report_written", month=month, files=len(paths), out=str(out_dir))
    return Written(report, paths)


def monthly_reports_if_due(config: Config, *, now: Callable[[], datetime] = utcnow) -> Path | None:
    """On the 1st from [billing] report_at (UTC) on: the previous month's billing reports,
    written once (a mark in the store), then mailed when [mail] is configured (the mail
    journal makes that once too). Returns the folder written, or None when nothing was due."""
    moment = now()
    if not config.plans or (moment.hour, moment.minute) < config.billing.report_at:
        return None
    month = previous_month(month_of(moment.date()))
    mark = f"billing_reported:{month}"
    store = Store(config.state_path)  # a read: WAL lets it run beside a cycle, no lock needed
    try:
        done = store.meta(mark)
    finally:
        store.close()
    if done:
        return None
    out = config.path.resolve().parent / config.billing.output_dir / month
    written = billing_report(config, month, out_dir=out, formats=list(ALL_FORMATS), now=now)
    sla = sla_report(config, month, out_dir=out, formats=["html", "csv", "json"], now=now)
    # One message per recipient: the SLA files travel with the invoices.
    mail_reports(config, month, [*written.paths, *sla.paths], dry_run=False)
    with locked_store(config) as store:
        store.set_meta(mark, iso(moment) or "")
    log.info("monthly_reports_done", month=month, out=str(out))
    return out


def mail_reports(
    config: Config,
    month: str,
    paths: list[Path],
    *,
    dry_run: bool,
    announce: Callable[[str], None] | None = None,
) -> list[str]:
    """Mail the written reports when [mail] is configured: the manager gets everything, each
    client with an email its own files."""
    if config.mail is None:
        return []
    from syncd.mail import send_reports

    by_client: dict[str, tuple[str | None, list[Path]]] = {}
    summary: list[Path] = []
    for path in paths:
        client = _client_of(path.name, month, [c.id for c in config.clients])
        if client is None:
            summary.append(path)
        else:
            entry = config.client_by_id(client)
            by_client.setdefault(client, (entry.email if entry else None, []))[1].append(path)
    with locked_store(config) as store:
        effects = Effects(store, dry_run=dry_run, announce=announce)
        return send_reports(
            config.mail,
            effects,
            kind="billing",
            month=month,
            studio=config.billing.studio_name or "syncd",
            client_files=by_client,
            summary_files=summary,
            client_names={c.id: c.name for c in config.clients},
        )


def _client_of(filename: str, month: str, clients: list[str]) -> str | None:
    """billing-2026-10-acme.html, sla-2026-10-acme.json -> acme; the manager's summary files
    belong to no client."""
    stem = filename.split(".", 1)[0]
    rest = ""
    for prefix in (f"billing-{month}-", f"sla-{month}-"):
        if stem.startswith(prefix):
            rest = stem[len(prefix) :]
    # Longest id first: a client "acme" must not take "acme-entries" of client "acme-2".
    for client in sorted(clients, key=len, reverse=True):
        if rest == client or rest.startswith(client + "-"):
            return client
    return None


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
    with locked_store(config) as store:
        if refresh:
            refresh_entries(config, store, month)
        if dry_run:
            billing = Billing(config, store)
            return [
                billing.invoice(c, month) for c in config.clients if not clients or c.id in clients
            ]
        invoices = close_month(config, store, month, generated_at=now(), clients=clients)
    for invoice in invoices:
        log.info(
            "invoice_closed",
            month=month,
            client=invoice.client,
            amount=str(invoice.amount),
            currency=invoice.currency,
        )
    return invoices
