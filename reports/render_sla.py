"""Writes a computed `SlaReport` (reports/sla_model.py) as files: one report for the manager
across clients, and per client a page and JSON with only that client's tickets and figures (a
client may be shown its own SLA).

    write_sla(report, out_dir)                              # html, csv, json
    write_sla(report, out_dir, ["html"], language="ru", studio="Studio LLC")

Files, for month M (YYYY-MM) and each client key C (from `report.clients`):

    sla-M-C.html            the client's page: its figures, pictures, breaches and tickets
    sla-M-C.json            the JSON contract with only that client (`only_client`)
    sla-M.html              the manager's page: figures beside last month's, pictures, per
                            client and per agent tables, breaches, reasons, every ticket
    sla-M.csv               one row per ticket, every field
    sla-M-clients.csv       one row per client summary
    sla-M.json              the JSON contract (`sla_json`)

Order: per client (by key) its files in the order of `formats`, then the manager's; like the
billing report. Output is reproducible: one report gives the same bytes every time, in any
input order; only `generated_at` (shown in HTML and JSON) changes them. Each file is written
to a temporary name and renamed, so a reader never sees half a file.

Modules: `render_sla_json` (checks, order, the client's part, the contract), `render_sla_html`
(labels, formatting, the pages; templates `sla*.html.j2`), `render_sla_svg` (the pictures).
CSV uses the billing renderer's cells (`reports.render_tables`): UTF-8 with a BOM, CRLF, text
neutralized against formula injection.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from reports.parallel import render_each
from reports.render import check_unique, pick_formats, write_files
from reports.render_json import dumps
from reports.render_sla_html import labels, page_html, sla_html
from reports.render_sla_json import only_client, ordered_sla, sla_json, summary_json
from reports.render_tables import Cell, Table, csv_bytes
from reports.sla_model import SlaReport, Summary, TicketSla

__all__ = ["FORMATS", "sla_files", "sla_json", "write_sla"]

Files = dict[str, bytes]  # name suffix ("" or "-clients") -> content
ClientRenderer = Callable[[SlaReport, Summary, str, str], Files] | None
ReportRenderer = Callable[[SlaReport, str, str], Files]


# --------------------------------------------------------------------------- CSV
TICKET_HEADER = [
    "month",
    "ticket_id",
    "client",
    "subject",
    "url",
    "priority",
    "urgent",
    "assignee_id",
    "created_at",
    "first_reply_at",
    "solved_at",
    "first_reply_business_minutes",
    "resolution_business_minutes",
    "ack_deadline",
    "ack_met",
    "first_reply_met",
    "resolution_met",
    "resolution_due",
    "messages",
    "ping_pong",
    "reopens",
    "satisfaction",
    "reasons",
    "estimate",
    "actual",
    "target_first_reply_minutes",
    "target_resolution_minutes",
    "target_ack_cutoff",
    "zendesk_first_reply_minutes",
    "zendesk_resolution_minutes",
]
SUMMARY_HEADER = [
    "month",
    "client",
    "opened",
    "solved",
    "still_open",
    "ack_met_pct",
    "first_reply_met_pct",
    "resolution_met_pct",
    "first_reply_median",
    "first_reply_p90",
    "resolution_median",
    "resolution_p90",
    "satisfaction_good_pct",
    "rated",
    "ping_pong_pct",
    "over_estimate",
    "top_reasons",
    "breaches",
    "breached_tickets",
]
LIST_SEPARATOR = "; "


def _rows(header: list[str], rows: list[dict[str, Cell]]) -> Table:
    for row in rows:
        assert set(row) <= set(header), set(row) - set(header)
    return header, [[row.get(name) for name in header] for row in rows]


def ticket_table(report: SlaReport) -> Table:
    """One row per ticket: every `TicketSla` field; `targets` as three columns, `reasons`
    joined with "; ", moments ISO-8601 with their offset, hours with two places."""
    rows: list[dict[str, Cell]] = []
    for t in ordered_sla(report).tickets:
        rows.append(
            {
                "month": report.month,
                "ticket_id": t.ticket_id,
                "client": t.client,
                "subject": t.subject,
                "url": t.url,
                "priority": t.priority,
                "urgent": t.urgent,
                "assignee_id": t.assignee_id,
                "created_at": t.created_at,
                "first_reply_at": t.first_reply_at,
                "solved_at": t.solved_at,
                "first_reply_business_minutes": t.first_reply_business_minutes,
                "resolution_business_minutes": t.resolution_business_minutes,
                "ack_deadline": t.ack_deadline,
                "ack_met": t.ack_met,
                "first_reply_met": t.first_reply_met,
                "resolution_met": t.resolution_met,
                "resolution_due": t.resolution_due,
                "messages": t.messages,
                "ping_pong": t.ping_pong,
                "reopens": t.reopens,
                "satisfaction": t.satisfaction,
                "reasons": LIST_SEPARATOR.join(t.reasons) or None,
                "estimate": t.estimate,
                "actual": t.actual,
                "target_first_reply_minutes": t.targets.first_reply_minutes,
                "target_resolution_minutes": t.targets.resolution_minutes,
                "target_ack_cutoff": t.targets.ack_cutoff,
                "zendesk_first_reply_minutes": t.zendesk_first_reply_minutes,
                "zendesk_resolution_minutes": t.zendesk_resolution_minutes,
            }
        )
    return _rows(TICKET_HEADER, rows)


def client_table(report: SlaReport) -> Table:
    """One row per client summary: shares with one place ("90.0"), minutes as integers,
    `top_reasons` as "reason (count)" and `breached_tickets` as "#id what +minutes", joined
    with "; "; `breaches` is their number."""
    rows: list[dict[str, Cell]] = []
    for s in ordered_sla(report).clients:
        # The JSON summary's scalar figures, with its two lists flattened for a spreadsheet.
        row: dict[str, Cell] = {
            k: v for k, v in summary_json(s).items() if k not in ("key", "top_reasons", "breaches")
        }
        row |= {
            "month": report.month,
            "client": s.key,
            "top_reasons": LIST_SEPARATOR.join(f"{r} ({n})" for r, n in s.top_reasons) or None,
            "breaches": len(s.breaches),
            "breached_tickets": LIST_SEPARATOR.join(
                f"#{b.ticket_id} {b.what}"
                + ("" if b.by_minutes is None else f" +{b.by_minutes} min")
                for b in s.breaches
            )
            or None,
        }
        rows.append(row)
    return _rows(SUMMARY_HEADER, rows)


# --------------------------------------------------------------------------- formats
# A client's renderers get the client's part of the ordered report (`only_client`).
def _client_html(part: SlaReport, client: Summary, language: str, studio: str) -> Files:
    return {"": page_html(part, client, language=language, studio=studio)}


def _report_html(report: SlaReport, language: str, studio: str) -> Files:
    return {"": sla_html(report, language=language, studio=studio)}


def _client_json(part: SlaReport, client: Summary, language: str, studio: str) -> Files:
    return {"": dumps(sla_json(part))}


def _report_json(report: SlaReport, language: str, studio: str) -> Files:
    return {"": dumps(sla_json(report))}


def _report_csv(report: SlaReport, language: str, studio: str) -> Files:
    return {"": csv_bytes(ticket_table(report)), "-clients": csv_bytes(client_table(report))}


# format -> (the client's files or None, the manager's files)
FORMATS: dict[str, tuple[ClientRenderer, ReportRenderer]] = {
    "html": (_client_html, _report_html),
    "csv": (None, _report_csv),
    "json": (_client_json, _report_json),
}


def _formats(formats: Iterable[str] | str) -> list[str]:
    return pick_formats(formats, FORMATS, "SLA report")


def sla_files(
    report: SlaReport,
    formats: Iterable[str] | str = ("html", "csv", "json"),
    *,
    language: str = "en",
    studio: str = "",
) -> list[tuple[str, bytes]]:
    """Every file `write_sla` writes, as (file name, content), in its order: per client (by
    key) its files in the order of `formats`, then the manager's."""
    wanted = _formats(formats)
    labels(language)  # an unknown language fails before anything is rendered
    report = ordered_sla(report)
    month = report.month
    # Each client's part once, from the tickets picked out once (not once per client).
    tickets_of: dict[str, list[TicketSla]] = defaultdict(list)
    for t in report.tickets:
        tickets_of[t.client].append(t)

    def client_files(client: Summary) -> list[tuple[str, bytes]]:
        part = only_client(report, client, tuple(tickets_of[client.key]))
        return [
            (f"sla-{month}-{client.key}{suffix}.{fmt}", content)
            for fmt in wanted
            if (render := FORMATS[fmt][0]) is not None
            for suffix, content in render(part, client, language, studio).items()
        ]

    files = render_each(report.clients, client_files)
    for fmt in wanted:
        for suffix, content in FORMATS[fmt][1](report, language, studio).items():
            files.append((f"sla-{month}{suffix}.{fmt}", content))
    check_unique(files, "SLA report files")
    return files


def write_sla(
    report: SlaReport,
    out_dir: Path,
    formats: Iterable[str] | str = ("html", "csv", "json"),
    *,
    language: str = "en",
    studio: str = "",
) -> list[Path]:
    """Writes the report's files into `out_dir` (created if missing) and returns their paths
    in a stable order (see `sla_files`). `language` ("en" or "ru") labels the HTML pages;
    `studio` names the studio at the top of each page.

    Nothing is written when a format, the language, the month, the time zone, a moment without
    an offset, a repeated ticket or a client key is wrong (ValueError naming it)."""
    return write_files(out_dir, sla_files(report, formats, language=language, studio=studio))
