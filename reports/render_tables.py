"""The billing report as spreadsheets: CSV and XLSX, built from the same typed rows.

A row holds `str` (text, possibly from a ticket or Redmine: always neutralized against formula
injection), `int` (ids), `Decimal` (money and hours: numbers, never text), `date`, `bool` or
None (empty cell).

CSV: UTF-8 *with* a BOM, ',' as the separator, quoting by the csv module (minimal: fields with
',', '"' or line breaks), CRLF line ends (RFC 4180). The BOM is for the people these files are
for: Excel opens a BOM-less CSV in the system code page (cp1251 on a Russian Windows) and turns
every Cyrillic subject into mojibake; with the BOM it reads UTF-8. Python (`encoding=
"utf-8-sig"`), pandas and LibreOffice all accept it. Numbers are plain `1234.50`: a point and two
places, no grouping, so any program parses them. (A Russian-locale Excel splits columns on ';'
when a CSV is double-clicked; the XLSX is the file for Excel users, the CSV is for programs.)

XLSX: xlsxwriter in memory, so the zip members carry its fixed 1980-01-01 timestamp; the
document's created/modified time is the report's `generated_at`. Two writes of one report are
byte-identical. Text goes in with `write_string` (never evaluated), numbers with
`write_number` and the format `0.00`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import xlsxwriter

from reports.model import BillingReport, ClientInvoice
from reports.render_json import clean_text, currency_totals, dec, ordered_report, summary_rows

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and
# Google Sheets; OWASP's advice is to prefix such text with a single quote. "\n" is added to
# OWASP's list: some importers trim a leading line break and then see the formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")  # all but tab and line feed
XLSX_MAX_TEXT = 32767  # Excel's limit for one cell, in UTF-16 code units
TRUNCATED = "…"

Cell = str | int | Decimal | date | bool | None
Table = tuple[list[str], list[list[Cell]]]


def neutralize(text: str) -> str:
    """`text` safe to put in a spreadsheet cell: a leading formula character gets a `'` before
    it (removing that one `'` gives the original back); anything else is left alone."""
    return "'" + text if text.startswith(FORMULA_START) else text


def xlsx_text(text: str) -> str:
    """Text for one Excel cell: line breaks as "\n" (Redmine keeps the browser's "\r\n"),
    other control characters (invisible, and stored as "_xHHHH_" codes) dropped, neutralized,
    and cut with a trailing '…' at Excel's limit for a cell."""
    text = CONTROL.sub("", clean_text(text).replace("\r\n", "\n").replace("\r", "\n"))
    text = neutralize(text)
    if len(text.encode("utf-16-le")) <= 2 * XLSX_MAX_TEXT:
        return text
    room, used = XLSX_MAX_TEXT - len(TRUNCATED), 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > room:
            return text[:i] + TRUNCATED
    return text


# --------------------------------------------------------------------------- rows
INVOICE_HEADER = [
    "record",
    "client",
    "month",
    "ticket_id",
    "issue_id",
    "subject",
    "hours",
    "billable_hours",
    "rate",
    "amount",
    "currency",
    "rule",
    "note",
]
ENTRY_HEADER = [
    "client",
    "month",
    "ticket_id",
    "line_issue_id",
    "subject",
    "rule",
    "entry_id",
    "spent_on",
    "issue_id",
    "user",
    "activity",
    "hours",
    "rate",
    "comments",
]
SUMMARY_HEADER = [
    "record",
    "client",
    "name",
    "month",
    "currency",
    "plan",
    "plan_kind",
    "hours",
    "billable_hours",
    "amount",
    "vat_rate",
    "vat",
    "total",
    "frozen",
    "clients",
    "flagged_estimates",
    "problems",
]
UNASSIGNED_HEADER = ["month", "ticket_id", "subject", "organization_id"]


def _table(header: list[str], rows: list[dict[str, Cell]]) -> Table:
    for row in rows:
        assert set(row) <= set(header), set(row) - set(header)
    return header, [[row.get(name) for name in header] for row in rows]


def invoice_table(inv: ClientInvoice) -> Table:
    """Lines, then plan charges, then adjustments, then the totals (`record` says which)."""
    same = {"client": inv.client, "month": inv.month, "currency": inv.currency}
    rows: list[dict[str, Cell]] = []
    for x in inv.lines:
        rows.append(
            {
                "record": "line",
                **same,
                "ticket_id": x.ticket_id,
                "issue_id": x.issue_id,
                "subject": x.subject,
                "hours": x.hours,
                "billable_hours": x.billable_hours,
                "rate": x.rate,
                "amount": x.amount,
                "rule": x.rule,
                "note": x.note,
            }
        )
    for c in inv.charges:
        rows.append(
            {
                "record": "charge",
                **same,
                "subject": c.description,
                "hours": c.hours,
                "rate": c.rate,
                "amount": c.amount,
                "note": c.kind,
            }
        )
    for a in inv.adjustments:
        rows.append(
            {
                "record": "adjustment",
                **same,
                "ticket_id": a.ticket_id,
                "issue_id": a.issue_id,
                "subject": a.reason,
                "hours": a.hours,
                "amount": a.amount,
                "note": f"corrects {a.month}",
            }
        )
    rows.append(
        {
            "record": "subtotal",
            **same,
            "subject": "Amount before VAT",
            "hours": inv.hours,
            "billable_hours": inv.billable_hours,
            "amount": inv.amount,
        }
    )
    if inv.vat_rate is None:
        rows.append({"record": "vat", **same, "subject": "No VAT", "amount": inv.vat})
    else:
        rows.append(
            {"record": "vat", **same, "subject": f"VAT {dec(inv.vat_rate)}%", "amount": inv.vat}
        )
    rows.append({"record": "total", **same, "subject": "Total", "amount": inv.total})
    return _table(INVOICE_HEADER, rows)


def entry_table(inv: ClientInvoice) -> Table:
    rows: list[dict[str, Cell]] = []
    for x in inv.lines:
        for e in x.entries:
            rows.append(
                {
                    "client": inv.client,
                    "month": inv.month,
                    "ticket_id": x.ticket_id,
                    "line_issue_id": x.issue_id,
                    "subject": x.subject,
                    "rule": x.rule,
                    "entry_id": e.entry_id,
                    "spent_on": e.spent_on,
                    "issue_id": e.issue_id,
                    "user": e.user,
                    "activity": e.activity,
                    "hours": e.hours,
                    "rate": e.rate,
                    "comments": e.comments,
                }
            )
    return _table(ENTRY_HEADER, rows)


def summary_table(report: BillingReport) -> Table:
    """One row per client, then one `total` row per currency."""
    rows: list[dict[str, Cell]] = []
    for r in summary_rows(report):
        row = {k: v for k, v in r.items() if k in SUMMARY_HEADER and k != "problems"}
        rows.append(
            {
                "record": "client",
                "month": report.month,
                **row,
                "problems": "; ".join(r["problems"]) or None,
            }
        )
    for t in currency_totals(report):
        rows.append({"record": "total", "month": report.month, **t})
    return _table(SUMMARY_HEADER, rows)


def unassigned_table(report: BillingReport) -> Table:
    rows: list[dict[str, Cell]] = [
        {
            "month": report.month,
            "ticket_id": u.ticket_id,
            "subject": u.subject,
            "organization_id": u.organization_id,
        }
        for u in report.unassigned
    ]
    return _table(UNASSIGNED_HEADER, rows)


# --------------------------------------------------------------------------- CSV
def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return dec(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return neutralize(value)


def csv_bytes(table: Table) -> bytes:
    header, rows = table
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return clean_text("\ufeff" + buf.getvalue()).encode("utf-8")


def client_csv(report: BillingReport, inv: ClientInvoice) -> dict[str, bytes]:
    """{name suffix: content}: the invoice and its time entries."""
    return {"": csv_bytes(invoice_table(inv)), "-entries": csv_bytes(entry_table(inv))}


def summary_csv(report: BillingReport) -> dict[str, bytes]:
    return {
        "": csv_bytes(summary_table(report)),
        "-unassigned": csv_bytes(unassigned_table(report)),
    }


# --------------------------------------------------------------------------- XLSX
WIDTHS = {
    "record": 11,
    "client": 14,
    "name": 28,
    "month": 9,
    "subject": 48,
    "comments": 48,
    "note": 36,
    "rule": 16,
    "problems": 48,
    "user": 20,
    "activity": 16,
    "spent_on": 11,
    "currency": 9,
    "plan": 14,
}
EMPHASIS = {"subtotal", "total"}  # records shown in bold


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        base = {"font_name": "Calibri", "font_size": 11, "valign": "top"}
        self.header = wb.add_format(
            {**base, "bold": True, "bg_color": "#E9EDF2", "bottom": 1, "text_wrap": True}
        )
        self.text = wb.add_format(base)
        self.number = wb.add_format({**base, "num_format": "0.00"})
        self.integer = wb.add_format({**base, "num_format": "0"})
        self.date = wb.add_format({**base, "num_format": "yyyy-mm-dd"})
        bold = {**base, "bold": True, "top": 1}
        self.b_text = wb.add_format(bold)
        self.b_number = wb.add_format({**bold, "num_format": "0.00"})
        self.b_integer = wb.add_format({**bold, "num_format": "0"})
        self.b_date = wb.add_format({**bold, "num_format": "yyyy-mm-dd"})


def _write_sheet(wb: xlsxwriter.Workbook, f: _Formats, name: str, table: Table) -> None:
    header, rows = table
    ws = wb.add_worksheet(name)
    for col, title in enumerate(header):
        ws.set_column(col, col, WIDTHS.get(title, 12))
        ws.write_string(0, col, title, f.header)
    ws.freeze_panes(1, 0)
    if rows:
        ws.autofilter(0, 0, len(rows), len(header) - 1)
    for r, row in enumerate(rows, start=1):
        bold = header[0] == "record" and row[0] in EMPHASIS
        for col, value in enumerate(row):
            _write_cell(ws, f, r, col, value, bold)


def _write_cell(ws: Any, f: _Formats, row: int, col: int, value: Cell, bold: bool) -> None:
    if value is None:
        if bold:
            ws.write_blank(row, col, None, f.b_text)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, f.b_text if bold else f.text)
    elif isinstance(value, Decimal):
        # float(d) of a value with two places and up to 15 digits prints back exactly (xlsxwriter
        # writes "%.16G"), so the cell holds the Decimal's value.
        ws.write_number(row, col, float(value), f.b_number if bold else f.number)
    elif isinstance(value, int):
        ws.write_number(row, col, value, f.b_integer if bold else f.integer)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
        ws.write_datetime(row, col, moment, f.b_date if bold else f.date)
    else:
        ws.write_string(row, col, xlsx_text(value), f.b_text if bold else f.text)


def _created(report: BillingReport) -> datetime:
    """`generated_at` as naive UTC (xlsxwriter prints it with a 'Z' as it is)."""
    moment = report.generated_at
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def xlsx_bytes(
    report: BillingReport, title: str, sheets: Sequence[tuple[str, Table]], *, studio: str = ""
) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(
        buf,
        {
            "in_memory": True,  # members get xlsxwriter's fixed timestamp
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    wb.set_properties(
        {
            "title": clean_text(title),
            "author": "syncd",
            "company": clean_text(studio),
            "created": _created(report),
        }
    )
    formats = _Formats(wb)
    for name, table in sheets:
        _write_sheet(wb, formats, name, table)
    wb.close()
    return buf.getvalue()


def client_xlsx(report: BillingReport, inv: ClientInvoice, *, studio: str = "") -> bytes:
    return xlsx_bytes(
        report,
        f"Billing {inv.month}: {inv.name}",
        [("Invoice", invoice_table(inv)), ("Entries", entry_table(inv))],
        studio=studio,
    )


def summary_xlsx(report: BillingReport, *, studio: str = "") -> bytes:
    report = ordered_report(report)
    return xlsx_bytes(
        report,
        f"Billing {report.month}: summary",
        [("Summary", summary_table(report)), ("Unassigned", unassigned_table(report))],
        studio=studio,
    )
