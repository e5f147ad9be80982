"""The demo's billing part: three clients on three kinds of plan, September closed as invoiced,
a forgotten September entry logged afterwards, and October's reports — where that entry comes
back as an adjustment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from reports.months import month_of, previous_month
from reports.sla_model import pct_text
from syncd.config import Config
from syncd.demo_env import Redmine
from syncd.demo_seed import DEVS, Seeded, WorkDone, log_time
from syncd.reporting import Written, billing_report, close_invoices, sla_report

PLANS = {"acme": "standard", "bakery": "premium", "clinic": "care"}


def _launched(today: date) -> date:
    return date.fromisoformat(previous_month(month_of(today)) + "-10")


def billing_toml() -> list[str]:
    """Plans and rules for the demo studio."""
    return [
        "",
        "[billing]",
        'studio_name = "Demo Web Studio"',
        'output_dir = "reports"',
        "",
        "[[billing.rules]]",
        'name = "internal"',
        'activity = "Internal"',
        "billable = false",
        "",
        "[[billing.rules]]",
        'name = "warranty"',
        'tracker = "Bug"',
        "within_warranty = true",
        "billable = false",
        "",
        "[calendar]",
        'timezone = "Europe/Moscow"',
        'hours = "10:00-19:00"',
        'holidays = "RU"',
        "",
        "[plans.standard]",
        'kind = "hourly"',
        'rate = "2500.00"',
        'rates_by_activity = { Design = "3000.00" }',
        'currency = "RUB"',
        'rounding_increment = "0.25"',
        'minimum_charge = "1000.00"',
        'vat_rate = "20"',
        "",
        "[plans.standard.sla]",
        "first_reply_minutes = 180",
        "resolution_minutes = 4320",
        'ack_cutoff = "12:00"',
        "",
        "[plans.premium]",
        'kind = "tariff"',
        'fee = "40000.00"',
        'included_hours = "20"',
        'overage_rate = "2000.00"',
        "rollover_months = 1",
        'currency = "RUB"',
        "",
        "[plans.premium.sla]",
        "first_reply_minutes = 60",
        "resolution_minutes = 1080",
        'ack_cutoff = "12:00"',
        "",
        "[plans.premium.sla.urgent]",
        "first_reply_minutes = 30",
        "resolution_minutes = 180",
        "",
        "[plans.care]",
        'kind = "subscription"',
        'fee = "15000.00"',
        'currency = "RUB"',
    ]


def client_billing_lines(client_id: str, today: date) -> list[str]:
    lines = [f'plan = "{PLANS[client_id]}"']
    if client_id == "acme":  # the site launched last month: bugs in 30 days are warranty
        lines += [f'launched_on = "{_launched(today)}"', "warranty_days = 30"]
    return lines


def close_and_correct(
    config: Config, rm: Redmine, seeded: Seeded, issue_id: int, out: Callable[[str], None]
) -> str:
    """Close the month before last as invoiced, then log a forgotten entry in it. Returns the
    month to report (last month), where that entry comes back as an adjustment."""
    month = previous_month(month_of(seeded.today))
    closed_month = previous_month(month)
    out(f"\n== Billing: {closed_month} was invoiced and is closed")
    for inv in close_invoices(config, closed_month):
        out(
            f"  closed {closed_month} for {inv.client:<7} {inv.plan:<9} {inv.amount:>10} "
            f"{inv.currency} + VAT {inv.vat} = {inv.total}"
        )
    dev = DEVS[0]
    late_day = date.fromisoformat(closed_month + "-28")
    log_time(
        rm,
        seeded,
        WorkDone(),
        issue_id,
        dev,
        late_day,
        1.25,
        "Development",
        comments="forgotten: logged after the invoice was sent",
    )
    out(
        f"  then {dev.name} logs a forgotten 1.25 h on {late_day} (issue #{issue_id}): "
        f"{closed_month} stays as sent, the change is billed in {month}"
    )
    return month


def write_reports(config: Config, month: str, out_dir: Path, out: Callable[[str], None]) -> Written:
    written = billing_report(
        config, month, out_dir=out_dir, formats=["html", "csv", "xlsx", "json"]
    )
    out(f"\n== Billing reports for {month}")
    for inv in written.report.clients:
        extra = f", {len(inv.adjustments)} adjustment(s)" if inv.adjustments else ""
        out(
            f"  {inv.client:<7} {inv.plan:<9} {inv.plan_kind:<12} {inv.hours:>7} h logged, "
            f"{inv.billable_hours:>7} h billed  {inv.total:>11} {inv.currency}{extra}"
        )
    sla = sla_report(config, month, out_dir=out_dir, formats=["html", "csv", "json"])
    o = sla.report.overall
    out(
        f"\n== SLA report for {month}: {o.opened} opened, {o.solved} solved, {o.still_open} open;"
        f" first reply within target {pct_text(o.first_reply_met_pct)} %"
    )
    out("  (the seeded first replies are backdated; the issues were resolved today, during the")
    out("  demo, so last month shows them still open: the report measures what really happened)")
    return Written(written.report, [*written.paths, *sla.paths])
