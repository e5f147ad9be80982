"""The `syncd` command. Thin: parse arguments, load the config, call the library, map outcomes
to exit codes.

Exit codes (also in the README):
  0   done, nothing failed
  1   done, but some items or a whole source failed (they are retried next cycle)
  2   wrong arguments
  69  `check` found a problem (service unreachable, field or project missing)
  74  the state file can't be written (disk full, read-only; EX_IOERR); the next cycle picks up
  75  another syncd is running (EX_TEMPFAIL: try again later)
  78  the configuration is broken (EX_CONFIG); the message names file, key and problem,
      or it can't bill a client (no plan for the month, a month already closed)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import structlog

from connectors.base import ConnectorError
from reports.billing import BillingError
from syncd import app
from syncd.config import Config, ConfigError, load_config
from syncd.lock import Locked
from syncd.logging import configure

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
EXIT_UNAVAILABLE, EXIT_IOERR, EXIT_LOCKED, EXIT_CONFIG = 69, 74, 75, 78


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="syncd",
        description=(
            "Zendesk tickets <-> Redmine issues: mirrors tagged tickets into issues, relays "
            "progress and hours back, adopts links made by hand."
        ),
    )
    p.add_argument(
        "--config", "-c", default="syncd.toml", help="TOML config (default: %(default)s)"
    )
    p.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        default="auto",
        help="log lines on stderr (default: JSON unless stderr is a terminal)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("sync", help="run one cycle (for cron)")
    s.add_argument(
        "--dry-run", action="store_true", help="print what would be written, write nothing"
    )
    r = sub.add_parser("run", help="daemon: a cycle every [sync] interval_minutes")
    r.add_argument("--dry-run", action="store_true", help="one dry cycle, then exit")
    a = sub.add_parser("adopt", help="re-read all issues and record links people made by hand")
    a.add_argument("--dry-run", action="store_true", help="print what would be linked")
    b = sub.add_parser(
        "backfill", help="import history (tickets, issues, time entries) for reports"
    )
    b.add_argument("--since", required=True, type=_date, help="first day, e.g. 2025-01-01")
    b.add_argument("--dry-run", action="store_true", help="read everything, keep nothing")
    sub.add_parser("check", help="check config, credentials, fields, projects, statuses, templates")
    st = sub.add_parser("status", help="last cycles, cursors, links, failures, unassigned tickets")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    rep = sub.add_parser("report", help="write monthly reports").add_subparsers(
        dest="report", required=True, metavar="REPORT"
    )
    rb = rep.add_parser("billing", help="per-client invoices and a summary for the manager")
    rb.add_argument("--month", required=True, type=_month, help="e.g. 2026-10")
    rb.add_argument("--client", action="append", help="only this client (repeatable)")
    rb.add_argument(
        "--format",
        default="html,csv,xlsx,json",
        help="comma-separated: html,csv,xlsx,json (default: all)",
    )
    rb.add_argument("--out", help="output folder (default: [billing] output_dir/MONTH)")
    rb.add_argument(
        "--no-refresh",
        action="store_true",
        help="don't re-read the month's time entries from Redmine first",
    )
    rs = rep.add_parser(
        "sla", help="response and resolution against the targets, per client, agent and overall"
    )
    rs.add_argument("--month", required=True, type=_month, help="e.g. 2026-10")
    rs.add_argument("--client", action="append", help="only this client (repeatable)")
    rs.add_argument("--format", default="html,csv,json", help="comma-separated: html,csv,json")
    rs.add_argument("--out", help="output folder (default: [billing] output_dir/MONTH)")
    rs.add_argument(
        "--rebuild",
        action="store_true",
        help="re-read the month's tickets and events from Zendesk first",
    )
    inv = sub.add_parser("invoice", help="invoiced months").add_subparsers(
        dest="invoice", required=True, metavar="ACTION"
    )
    ic = inv.add_parser(
        "close",
        help="freeze a month as invoiced; later changes become adjustments in the next open month",
    )
    ic.add_argument("--month", required=True, type=_month)
    ic.add_argument("--client", action="append", help="only this client (repeatable)")
    ic.add_argument("--no-refresh", action="store_true")
    ic.add_argument("--dry-run", action="store_true", help="show the totals, freeze nothing")
    d = sub.add_parser("demo", help="start a local demo studio (Zendesk emulator + Redmine)")
    d.add_argument("--dir", default="var/demo", help="where the demo keeps its files")
    return p


def _month(text: str) -> str:
    from reports.months import parse_month

    try:
        return parse_month(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2025-01-31: {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    json_logs = {"auto": None, "json": True, "console": False}[args.log_format]
    if args.command == "run" and args.log_format == "auto":
        json_logs = True  # a daemon's log goes to a file or journald: one JSON object a line
    configure(json=json_logs, level=args.log_level)
    try:
        if args.command == "demo":
            from syncd.demo import run_demo

            return run_demo(args)
        config = load_config(args.config)
        return COMMANDS[args.command](config, args)
    except ConfigError as e:
        print(f"syncd: config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except Locked as e:
        print(f"syncd: {e}", file=sys.stderr)
        return EXIT_LOCKED
    except app.StateUnwritable as e:
        print(f"syncd: {e}", file=sys.stderr)
        return EXIT_IOERR
    except BillingError as e:
        print(f"syncd: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except ConnectorError as e:
        # A one-shot command (backfill, adopt, a report's re-read) that a tracker failed; a
        # sync cycle handles its own. What it stored stays, and nothing was deleted: a period
        # is pruned only once read in full. Running it again picks up from there.
        print(f"syncd: {e}; nothing was lost, run the command again", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except BrokenPipeError:  # `syncd status | head`: the reader left, nothing went wrong
        # Point stdout at /dev/null so the interpreter's final flush doesn't fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _announce(line: str) -> None:
    print(line, flush=True)


def _cycle_exit(stats: app.Stats) -> int:
    return EXIT_OK if stats.ok else EXIT_PARTIAL


def cmd_sync(config: Config, args: argparse.Namespace) -> int:
    stats = app.run_command(config, "sync", dry_run=args.dry_run, announce=_announce)
    _summary(stats, dry_run=args.dry_run)
    return _cycle_exit(stats)


def cmd_adopt(config: Config, args: argparse.Namespace) -> int:
    stats = app.run_command(
        config, "adopt", dry_run=args.dry_run, announce=_announce, work=app.adopt
    )
    print(f"adopted {stats.adopted} link(s) from {stats.issues} issue(s) read")
    return _cycle_exit(stats)


def cmd_backfill(config: Config, args: argparse.Namespace) -> int:
    stats = app.run_command(
        config,
        f"backfill --since {args.since}",
        dry_run=args.dry_run,
        announce=_announce,
        work=app.backfill(args.since),
    )
    print(
        f"backfill since {args.since}: {stats.tickets} tickets, {stats.issues} issues, "
        f"{stats.time_entries} time entries, {stats.adopted} links adopted"
    )
    return _cycle_exit(stats)


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    if args.dry_run:
        return cmd_sync(config, args)
    from syncd.scheduler import run_daemon

    return run_daemon(config)


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    from syncd.check import run_checks

    problems = run_checks(config, out=_announce)
    return EXIT_UNAVAILABLE if problems else EXIT_OK


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    from syncd.status import collect_status, print_status

    data = collect_status(config)
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print_status(data)
    return EXIT_OK


def _summary(stats: app.Stats, *, dry_run: bool) -> None:
    parts: dict[str, Any] = {k: v for k, v in vars(stats).items() if v}
    prefix = "dry run, nothing written: " if dry_run else ""
    print(prefix + (", ".join(f"{k}={v}" for k, v in parts.items()) or "nothing to do"))


def cmd_report(config: Config, args: argparse.Namespace) -> int:
    from syncd.reporting import billing_report, sla_report

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    out = (
        Path(args.out)
        if args.out
        else (config.path.resolve().parent / config.billing.output_dir / args.month)
    )
    try:  # before the month is re-read and computed: a bad folder is named, not a traceback
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if args.out:
            print(f"syncd: --out {out}: cannot create it: {e.strerror}", file=sys.stderr)
            return EXIT_USAGE
        raise ConfigError(
            f"{config.path}: [billing] output_dir: cannot create {out}: {e.strerror}"
        ) from None
    if args.report == "sla":
        from reports.sla_model import pct_text

        written = sla_report(
            config,
            args.month,
            out_dir=out,
            formats=formats,
            clients=args.client,
            rebuild=args.rebuild,
        )
        o = written.report.overall
        print(
            f"{args.month}: {o.opened} opened, {o.solved} solved, {o.still_open} open; "
            f"first reply within target {pct_text(o.first_reply_met_pct)} %, resolution "
            f"{pct_text(o.resolution_met_pct)} %, {len(o.breaches)} breach(es)"
        )
    else:
        written = billing_report(
            config,
            args.month,
            out_dir=out,
            formats=formats,
            clients=args.client,
            refresh=not args.no_refresh,
        )
        for invoice in written.report.clients:
            state = "closed" if invoice.frozen else "open"
            print(
                f"{invoice.client:<16} {invoice.plan:<14} {invoice.hours:>8} h  "
                f"{invoice.amount:>12} {invoice.currency}  ({state})"
            )
    print(f"{len(written.paths)} file(s) in {out}:")
    for path in written.paths:
        print(f"  {path}")
    return EXIT_OK


def cmd_invoice(config: Config, args: argparse.Namespace) -> int:
    from syncd.reporting import close_invoices

    invoices = close_invoices(
        config, args.month, clients=args.client, refresh=not args.no_refresh, dry_run=args.dry_run
    )
    verb = "would close" if args.dry_run else "closed"
    for invoice in invoices:
        print(
            f"{verb} {args.month} for {invoice.client}: {invoice.amount} {invoice.currency}"
            f" + VAT {invoice.vat} = {invoice.total}"
            + (f" (incl. {len(invoice.adjustments)} adjustment(s))" if invoice.adjustments else "")
        )
    return EXIT_OK


COMMANDS = {
    "sync": cmd_sync,
    "run": cmd_run,
    "adopt": cmd_adopt,
    "backfill": cmd_backfill,
    "check": cmd_check,
    "status": cmd_status,
    "report": cmd_report,
    "invoice": cmd_invoice,
}

log = structlog.get_logger("syncd.cli")

if __name__ == "__main__":
    sys.exit(main())
