"""Writes a computed `BillingReport` (reports/model.py) as files: per client a statement the
client can read and print, and one summary for the manager.

    write_billing(report, out_dir)                      # html, csv, xlsx, json
    write_billing(report, out_dir, ["html", "json"], language="ru", studio="Studio LLC")

Files, for month M (YYYY-MM) and each client key C:

    billing-M-C.html            the statement (print it, or reports.chromium.print_pdf)
    billing-M-C.csv             lines, charges, adjustments, totals
    billing-M-C-entries.csv     the time entries behind the lines
    billing-M-C.xlsx            sheets Invoice and Entries
    billing-M-C.json            the JSON contract with only this client, no unassigned tickets
    billing-M-summary.html      every client, totals per currency, unassigned tickets
    billing-M-summary.csv       one row per client + one total row per currency
    billing-M-summary-unassigned.csv
    billing-M-summary.xlsx      sheets Summary and Unassigned
    billing-M-summary.json      the JSON contract (`billing_json`)

Output is reproducible: one report gives the same bytes every time; only `generated_at` (shown
in HTML and JSON, the XLSX document date) changes them. Each file is written to a temporary
name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from reports.model import BillingReport, ClientInvoice
from reports.parallel import render_each
from reports.render_html import client_html, labels, summary_html
from reports.render_json import (
    billing_json,
    currency_totals,
    dumps,
    only_client,
    ordered_report,
    summary_rows,
)
from reports.render_tables import client_csv, client_xlsx, summary_csv, summary_xlsx

__all__ = [
    "FORMATS",
    "billing_files",
    "billing_json",
    "currency_totals",
    "summary_rows",
    "write_billing",
]

Files = dict[str, bytes]  # name suffix ("" or "-entries", …) -> content
ClientRenderer = Callable[[BillingReport, ClientInvoice, str, str], Files]
SummaryRenderer = Callable[[BillingReport, str, str], Files]


def _client_html(report: BillingReport, inv: ClientInvoice, language: str, studio: str) -> Files:
    return {"": client_html(report, inv, language=language, studio=studio)}


def _summary_html(report: BillingReport, language: str, studio: str) -> Files:
    return {"": summary_html(report, language=language, studio=studio)}


def _client_csv(report: BillingReport, inv: ClientInvoice, language: str, studio: str) -> Files:
    return client_csv(report, inv)


def _summary_csv(report: BillingReport, language: str, studio: str) -> Files:
    return summary_csv(report)


def _client_xlsx(report: BillingReport, inv: ClientInvoice, language: str, studio: str) -> Files:
    return {"": client_xlsx(report, inv, studio=studio)}


def _summary_xlsx(report: BillingReport, language: str, studio: str) -> Files:
    return {"": summary_xlsx(report, studio=studio)}


def _client_json(report: BillingReport, inv: ClientInvoice, language: str, studio: str) -> Files:
    return {"": dumps(billing_json(only_client(report, inv)))}


def _summary_json(report: BillingReport, language: str, studio: str) -> Files:
    return {"": dumps(billing_json(report))}


FORMATS: dict[str, tuple[ClientRenderer, SummaryRenderer]] = {
    "html": (_client_html, _summary_html),
    "csv": (_client_csv, _summary_csv),
    "xlsx": (_client_xlsx, _summary_xlsx),
    "json": (_client_json, _summary_json),
}


def _formats(formats: Iterable[str] | str) -> list[str]:
    return pick_formats(formats, FORMATS, "billing report")


def pick_formats(formats: Iterable[str] | str, known: Iterable[str], what: str) -> list[str]:
    """The formats asked for, once each, in the order asked; ValueError naming an unknown one."""
    wanted = [formats] if isinstance(formats, str) else list(formats)
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise ValueError(f"unknown {what} format {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return list(dict.fromkeys(wanted))


def billing_files(
    report: BillingReport,
    formats: Iterable[str] | str = ("html", "csv", "xlsx", "json"),
    *,
    language: str = "en",
    client_languages: Mapping[str, str] | None = None,
    studio: str = "",
) -> list[tuple[str, bytes]]:
    """Every file `write_billing` writes, as (file name, content), in its order: per client
    (by key) its files in the order of `formats`, then the summary's."""
    wanted = _formats(formats)
    languages = dict(client_languages or {})
    for lang in {language, *languages.values()}:
        labels(lang)  # an unknown language fails before anything is rendered
    report = ordered_report(report)
    month = report.month

    def client_files(inv: ClientInvoice) -> list[tuple[str, bytes]]:
        lang = languages.get(inv.client) or language
        return [
            (f"billing-{month}-{inv.client}{suffix}.{fmt}", content)
            for fmt in wanted
            for suffix, content in FORMATS[fmt][0](report, inv, lang, studio).items()
        ]

    files = render_each(report.clients, client_files)
    for fmt in wanted:
        for suffix, content in FORMATS[fmt][1](report, language, studio).items():
            files.append((f"billing-{month}-summary{suffix}.{fmt}", content))
    check_unique(
        files,
        "billing files",
        "(a client may not be called 'summary', nor '<another client>-entries')",
    )
    return files


def check_unique(files: list[tuple[str, bytes]], what: str, hint: str = "") -> None:
    """Two files under one name would overwrite each other: a client key may clash with
    another file's name."""
    clash = sorted(name for name, count in Counter(n for n, _ in files).items() if count > 1)
    if clash:
        raise ValueError(f"client keys clash with other {what}: {', '.join(clash)} {hint}".rstrip())


def write_billing(
    report: BillingReport,
    out_dir: Path,
    formats: Iterable[str] | str = ("html", "csv", "xlsx", "json"),
    *,
    language: str = "en",
    client_languages: Mapping[str, str] | None = None,
    studio: str = "",
) -> list[Path]:
    """Writes the report's files into `out_dir` (created if missing) and returns their paths
    in a stable order (see `billing_files`). `language` ("en" or "ru") labels the HTML pages;
    `client_languages` ({client key: language}) overrides it for a client's own page;
    `studio` names the issuer at the top of each page and in the XLSX properties.

    Nothing is written when a format, a language, the month or a client key is wrong
    (ValueError naming it)."""
    files = billing_files(
        report, formats, language=language, client_languages=client_languages, studio=studio
    )
    return write_files(out_dir, files)


def write_files(out_dir: Path, files: Iterable[tuple[str, bytes]]) -> list[Path]:
    """Write (name, bytes) pairs into `out_dir`, each atomically; their paths, in order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in files:
        path = out_dir / name
        _write_atomic(path, content)
        paths.append(path)
    return paths


def _write_atomic(path: Path, content: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
