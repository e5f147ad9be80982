"""reports.render*: the billing report as HTML, CSV, XLSX and JSON files, and reports.chromium.

The input is what the computation hands over: `reports.model` records, built here directly.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import shutil
import struct
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports import chromium
from reports.model import (
    Adjustment,
    BillingReport,
    Charge,
    ClientInvoice,
    EntryDetail,
    Estimate,
    Line,
    TariffBalance,
    UnassignedTicket,
)
from reports.render import billing_files, billing_json, summary_rows, write_billing
from reports.render_json import clean_text, dec, dumps, problems
from reports.render_tables import CONTROL, FORMULA_START, XLSX_MAX_TEXT, neutralize, xlsx_text

try:  # the same import as conftest.py: tests/ is on sys.path, or a package
    import redmine_fixtures as rf
except ImportError:
    from tests import redmine_fixtures as rf

D = Decimal
GENERATED = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
EVIL = '<script>alert(1)</script> "quotes" &amp; \u200fשלום 🎉 =1+1'
ALL = ("html", "csv", "xlsx", "json")


# ============================================================================ sample reports
def entry(entry_id, day, user="Иван Петров", hours="1.00", comments="", issue=45, rate="2500"):
    return EntryDetail(
        entry_id=entry_id,
        spent_on=date(2026, 10, day),
        user=user,
        activity="Разработка",
        hours=D(hours),
        comments=comments,
        issue_id=issue,
        rate=None if rate is None else D(rate),
    )


def small_invoice() -> ClientInvoice:
    """One client: a billed line (entries out of order), a warranty line, a fee, a correction
    to September, a flagged estimate. 6250 + 0 + 20000 - 2500 = 23750; VAT 20 % = 4750."""
    billed = Line(
        ticket_id=123,
        issue_id=45,
        subject="Сайт не открывается",
        hours=D("2.5"),
        billable_hours=D("2.5"),
        rate=D("2500"),
        amount=D("6250"),
        rule=None,
        note="",
        entries=(
            entry(502, 5, user="Мария Соколова", hours="1", comments="Проверила"),
            entry(501, 3, hours="1.5", comments="Поправил шапку"),
        ),
    )
    warranty = Line(
        ticket_id=130,
        issue_id=52,
        subject="Наша ошибка после релиза",
        hours=D("0.75"),
        billable_hours=D("0"),
        rate=None,
        amount=D("0"),
        rule="warranty",
        note="",
        entries=(entry(503, 12, hours="0.75", issue=52, rate=None),),
    )
    return ClientInvoice(
        client="acme",
        name="ACME LLC",
        month="2026-10",
        currency="RUB",
        plan="standard",
        plan_kind="hourly",
        hours=D("3.25"),
        billable_hours=D("2.5"),
        amount=D("23750"),
        vat_rate=D("20"),
        vat=D("4750"),
        total=D("28500"),
        lines=(warranty, billed),
        charges=(Charge("fee", "tariff standard, 2026-10", None, None, D("20000")),),
        adjustments=(Adjustment(120, 40, "2026-09", D("-1"), D("-2500"), "logged twice"),),
        estimates=(Estimate(123, 45, "Сайт не открывается", D("2"), D("2.5"), D("0.25"), True),),
        tariff=None,
        frozen=False,
    )


def small_report() -> BillingReport:
    return BillingReport(
        month="2026-10",
        generated_at=GENERATED,
        clients=(small_invoice(),),
        unassigned=(UnassignedTicket(7, "Вопрос по счёту", 99),),
    )


def rich_report() -> BillingReport:
    """Three clients in two currencies: a tariff with overage, a subscription without VAT, and
    the small one; unassigned tickets with and without an organization."""
    tariff = ClientInvoice(
        client="globex",
        name="ООО «Глобекс»",
        month="2026-10",
        currency="RUB",
        plan="Пакет 10",
        plan_kind="tariff",
        hours=D("13"),
        billable_hours=D("13"),
        amount=D("37500"),
        vat_rate=D("20"),
        vat=D("7500"),
        total=D("45000"),
        lines=(
            Line(
                201,
                301,
                "Интеграция с 1С",
                D("13"),
                D("13"),
                None,
                D("0"),
                None,
                "within the plan's hours; overage below",
                (entry(601, 6, hours="8", issue=301), entry(602, 7, hours="5", issue=302)),
            ),
        ),
        charges=(
            Charge("overage", "1 h beyond the included hours", D("1"), D("2500"), D("2500")),
            Charge("fee", "tariff Пакет 10, 2026-10: 10 h included", None, None, D("35000")),
        ),
        adjustments=(),
        estimates=(Estimate(201, 301, "Интеграция с 1С", D("20"), D("13"), D("-0.35"), False),),
        tariff=TariffBalance(D("10"), D("2"), D("13"), D("1"), D("0")),
        frozen=True,
    )
    euro = ClientInvoice(
        client="initech",
        name="Initech GmbH",
        month="2026-10",
        currency="EUR",
        plan="Care",
        plan_kind="subscription",
        hours=D("2"),
        billable_hours=D("2"),
        amount=D("900"),
        vat_rate=None,
        vat=D("0"),
        total=D("900"),
        lines=(
            Line(
                None,
                77,
                "Security updates",
                D("2"),
                D("2"),
                None,
                D("0"),
                None,
                "covered by the subscription",
                (entry(701, 15, user="Alex Kim", hours="2", comments="core + plugins", issue=77),),
            ),
        ),
        charges=(Charge("fee", "subscription Care, 2026-10", None, None, D("900")),),
        adjustments=(),
        estimates=(),
        tariff=None,
        frozen=False,
    )
    return BillingReport(
        month="2026-10",
        generated_at=GENERATED,
        clients=(tariff, small_invoice(), euro),
        unassigned=(UnassignedTicket(9, "Спам?", None), UnassignedTicket(7, "Вопрос по счёту", 99)),
    )


def evil_report(text: str = EVIL) -> BillingReport:
    """Every text field a ticket, Redmine or the config can fill holds `text`."""
    inv = small_invoice()
    lines = tuple(
        dataclasses.replace(
            line,
            subject=text,
            rule=None if line.rule is None else text,
            note=text,
            entries=tuple(
                dataclasses.replace(e, user=text, activity=text, comments=text)
                for e in line.entries
            ),
        )
        for line in inv.lines
    )
    inv = dataclasses.replace(
        inv,
        name=text,
        plan=text,
        plan_kind=text,
        lines=lines,
        charges=tuple(dataclasses.replace(c, description=text) for c in inv.charges),
        adjustments=tuple(dataclasses.replace(a, reason=text) for a in inv.adjustments),
        estimates=tuple(dataclasses.replace(e, subject=text) for e in inv.estimates),
    )
    return dataclasses.replace(
        small_report(), clients=(inv,), unassigned=(UnassignedTicket(7, text, 99),)
    )


def reversed_report(report: BillingReport) -> BillingReport:
    """The same report with every collection in the opposite order."""

    def flip(inv: ClientInvoice) -> ClientInvoice:
        lines = tuple(dataclasses.replace(x, entries=tuple(reversed(x.entries))) for x in inv.lines)
        return dataclasses.replace(
            inv,
            lines=tuple(reversed(lines)),
            charges=tuple(reversed(inv.charges)),
            adjustments=tuple(reversed(inv.adjustments)),
            estimates=tuple(reversed(inv.estimates)),
        )

    return dataclasses.replace(
        report,
        clients=tuple(flip(c) for c in reversed(report.clients)),
        unassigned=tuple(reversed(report.unassigned)),
    )


def files_of(report: BillingReport, formats=ALL, **kw) -> dict[str, bytes]:
    return dict(billing_files(report, formats, **kw))


# ============================================================================ JSON
def test_json_matches_the_contract_for_a_small_report() -> None:
    assert billing_json(small_report()) == {
        "month": "2026-10",
        "generated_at": "2026-11-01T06:30:00+00:00",
        "clients": [
            {
                "client": "acme",
                "name": "ACME LLC",
                "month": "2026-10",
                "currency": "RUB",
                "plan": "standard",
                "plan_kind": "hourly",
                "hours": "3.25",
                "billable_hours": "2.50",
                "amount": "23750.00",
                "vat_rate": "20.00",
                "vat": "4750.00",
                "total": "28500.00",
                "lines": [
                    {
                        "ticket_id": 123,
                        "issue_id": 45,
                        "subject": "Сайт не открывается",
                        "hours": "2.50",
                        "billable_hours": "2.50",
                        "rate": "2500.00",
                        "amount": "6250.00",
                        "rule": None,
                        "note": "",
                        "entries": [
                            {
                                "entry_id": 501,
                                "spent_on": "2026-10-03",
                                "user": "Иван Петров",
                                "activity": "Разработка",
                                "hours": "1.50",
                                "comments": "Поправил шапку",
                                "issue_id": 45,
                                "rate": "2500.00",
                            },
                            {
                                "entry_id": 502,
                                "spent_on": "2026-10-05",
                                "user": "Мария Соколова",
                                "activity": "Разработка",
                                "hours": "1.00",
                                "comments": "Проверила",
                                "issue_id": 45,
                                "rate": "2500.00",
                            },
                        ],
                    },
                    {
                        "ticket_id": 130,
                        "issue_id": 52,
                        "subject": "Наша ошибка после релиза",
                        "hours": "0.75",
                        "billable_hours": "0.00",
                        "rate": None,
                        "amount": "0.00",
                        "rule": "warranty",
                        "note": "",
                        "entries": [
                            {
                                "entry_id": 503,
                                "spent_on": "2026-10-12",
                                "user": "Иван Петров",
                                "activity": "Разработка",
                                "hours": "0.75",
                                "comments": "",
                                "issue_id": 52,
                                "rate": None,
                            }
                        ],
                    },
                ],
                "charges": [
                    {
                        "kind": "fee",
                        "description": "tariff standard, 2026-10",
                        "hours": None,
                        "rate": None,
                        "amount": "20000.00",
                    }
                ],
                "adjustments": [
                    {
                        "ticket_id": 120,
                        "issue_id": 40,
                        "month": "2026-09",
                        "hours": "-1.00",
                        "amount": "-2500.00",
                        "reason": "logged twice",
                    }
                ],
                "estimates": [
                    {
                        "ticket_id": 123,
                        "issue_id": 45,
                        "subject": "Сайт не открывается",
                        "estimate": "2.00",
                        "actual": "2.50",
                        "over_by": "0.25",
                        "over_by_percent": "25.00",
                        "flagged": True,
                    }
                ],
                "tariff": None,
                "frozen": False,
            }
        ],
        "unassigned": [{"ticket_id": 7, "subject": "Вопрос по счёту", "organization_id": 99}],
        "totals": [
            {
                "currency": "RUB",
                "clients": 1,
                "hours": "3.25",
                "billable_hours": "2.50",
                "amount": "23750.00",
                "vat": "4750.00",
                "total": "28500.00",
            }
        ],
        "problems": [],
    }


JSON_TEXT = st.text() | st.text(st.characters(categories=["Cs", "Ll", "Zl", "Cc"]))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=5))
def test_dumps_writes_the_standard_librarys_bytes(data: dict) -> None:
    """orjson's bytes are json.dumps's; a lone surrogate (it refuses) is cleaned to U+FFFD."""
    expected = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    assert dumps(data) == clean_text(expected).encode("utf-8")


def test_json_files_sorted_keys_utf8_indent_two_trailing_newline(tmp_path: Path) -> None:
    paths = write_billing(rich_report(), tmp_path, ["json"])
    assert [p.name for p in paths] == [
        "billing-2026-10-acme.json",
        "billing-2026-10-globex.json",
        "billing-2026-10-initech.json",
        "billing-2026-10-summary.json",
    ]
    for path in paths:
        raw = path.read_bytes()
        data = json.loads(raw)
        assert (
            raw.decode("utf-8")
            == json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        )
    summary = json.loads(paths[-1].read_bytes())
    assert summary == billing_json(rich_report())
    assert "Глобекс" in paths[1].read_text("utf-8")  # not \u escapes
    # A client's own file: the contract's shape, only that client, no unassigned tickets.
    own = json.loads(paths[1].read_bytes())
    assert [c["client"] for c in own["clients"]] == ["globex"]
    assert own["unassigned"] == []
    assert own["clients"][0]["tariff"] == {
        "included": "10.00",
        "carried": "2.00",
        "used": "13.00",
        "overage": "1.00",
        "unused": "0.00",
    }
    assert [c["kind"] for c in own["clients"][0]["charges"]] == ["fee", "overage"]


def test_json_totals_are_per_currency_never_mixed() -> None:
    data = billing_json(rich_report())
    assert data["totals"] == [
        {
            "currency": "EUR",
            "clients": 1,
            "hours": "2.00",
            "billable_hours": "2.00",
            "amount": "900.00",
            "vat": "0.00",
            "total": "900.00",
        },
        {
            "currency": "RUB",
            "clients": 2,
            "hours": "16.25",
            "billable_hours": "15.50",
            "amount": "61250.00",
            "vat": "12250.00",
            "total": "73500.00",
        },
    ]
    assert data["clients"][2]["vat_rate"] is None
    assert [u["ticket_id"] for u in data["unassigned"]] == [7, 9]


def _decimal_strings(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _decimal_strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _decimal_strings(v, key)
    elif isinstance(node, str) and key in {
        "hours",
        "billable_hours",
        "rate",
        "amount",
        "vat_rate",
        "vat",
        "total",
        "estimate",
        "actual",
        "over_by",
        "included",
        "carried",
        "used",
        "overage",
        "unused",
    }:
        yield node


def test_every_decimal_is_a_string_with_two_places() -> None:
    found = list(_decimal_strings(billing_json(rich_report())))
    assert len(found) > 40
    assert all(re.fullmatch(r"-?\d+\.\d\d", s) for s in found), found


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2.675", "2.68"),  # half-up on the exact decimal (as a float it would be 2.67)
        ("0.005", "0.01"),
        ("-0.005", "-0.01"),
        ("-0.001", "0.00"),  # no "-0.00"
        ("-0", "0.00"),
        ("1E+3", "1000.00"),
        ("123456789012.345", "123456789012.35"),
        ("0.1", "0.10"),
    ],
)
def test_dec_is_exact_half_up_two_places(value: str, text: str) -> None:
    assert dec(D(value)) == text


# ============================================================================ files, names, order
def test_write_billing_names_and_order(tmp_path: Path) -> None:
    paths = write_billing(rich_report(), tmp_path / "new" / "dir")
    names = [p.name for p in paths]
    per_client = [
        "billing-2026-10-{c}.html",
        "billing-2026-10-{c}.csv",
        "billing-2026-10-{c}-entries.csv",
        "billing-2026-10-{c}.xlsx",
        "billing-2026-10-{c}.json",
    ]
    expected = [n.format(c=c) for c in ("acme", "globex", "initech") for n in per_client]
    expected += [n.format(c="summary") for n in per_client]
    expected[-3] = "billing-2026-10-summary-unassigned.csv"
    assert names == expected
    assert all(p.parent == tmp_path / "new" / "dir" and p.stat().st_size > 0 for p in paths)
    assert sorted(os.listdir(tmp_path / "new" / "dir")) == sorted(names)  # no temporary files
    # The same report in any input order gives the same list.
    assert [p.name for p in write_billing(reversed_report(rich_report()), tmp_path)] == names


def test_formats_subset_order_duplicates_and_a_single_name(tmp_path: Path) -> None:
    names = [p.name for p in write_billing(small_report(), tmp_path, ["json", "html", "json"])]
    assert names == [
        "billing-2026-10-acme.json",
        "billing-2026-10-acme.html",
        "billing-2026-10-summary.json",
        "billing-2026-10-summary.html",
    ]
    assert [p.name for p in write_billing(small_report(), tmp_path, "json")] == [
        "billing-2026-10-acme.json",
        "billing-2026-10-summary.json",
    ]


def test_unknown_format_names_it_and_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as err:
        write_billing(small_report(), tmp_path / "out", ["html", "pdf"])
    assert "'pdf'" in str(err.value)
    assert "csv, html, json, xlsx" in str(err.value)
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize(
    "key", ["../acme", "a/b", "a\\b", ".hidden", "", "con:1", "a\x00b", "x" * 101]
)
def test_client_keys_that_cannot_be_file_names_are_refused(tmp_path: Path, key: str) -> None:
    report = dataclasses.replace(
        small_report(), clients=(dataclasses.replace(small_invoice(), client=key),)
    )
    with pytest.raises(ValueError, match="cannot be part of a file name"):
        write_billing(report, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_client_keys_with_spaces_and_cyrillic_are_fine(tmp_path: Path) -> None:
    report = dataclasses.replace(
        small_report(), clients=(dataclasses.replace(small_invoice(), client="Рога и копыта"),)
    )
    assert write_billing(report, tmp_path, ["json"])[0].name == "billing-2026-10-Рога и копыта.json"


def test_clashing_file_names_are_refused(tmp_path: Path) -> None:
    summary = dataclasses.replace(small_invoice(), client="summary")
    with pytest.raises(ValueError, match="clash"):
        write_billing(dataclasses.replace(small_report(), clients=(summary,)), tmp_path)
    # "acme-entries.csv" would be both acme's entries and the invoice of "acme-entries".
    twins = (small_invoice(), dataclasses.replace(small_invoice(), client="acme-entries"))
    report = dataclasses.replace(small_report(), clients=twins)
    with pytest.raises(ValueError, match=r"billing-2026-10-acme-entries\.csv"):
        write_billing(report, tmp_path, ["csv"])
    assert len(write_billing(report, tmp_path, ["json"])) == 3  # no clash in JSON alone


def test_bad_month_duplicate_client_and_mismatched_month_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        write_billing(dataclasses.replace(small_report(), month="2026-13"), tmp_path)
    twice = dataclasses.replace(small_report(), clients=(small_invoice(), small_invoice()))
    with pytest.raises(ValueError, match="twice"):
        write_billing(twice, tmp_path)
    other = dataclasses.replace(small_invoice(), month="2026-09")
    with pytest.raises(ValueError, match="2026-09"):
        write_billing(dataclasses.replace(small_report(), clients=(other,)), tmp_path)
    with pytest.raises(ValueError, match="language"):
        write_billing(small_report(), tmp_path, language="de")


def test_an_empty_report_still_has_a_summary(tmp_path: Path) -> None:
    report = BillingReport("2026-10", GENERATED, (), ())
    names = [p.name for p in write_billing(report, tmp_path)]
    assert names == [
        "billing-2026-10-summary.html",
        "billing-2026-10-summary.csv",
        "billing-2026-10-summary-unassigned.csv",
        "billing-2026-10-summary.xlsx",
        "billing-2026-10-summary.json",
    ]
    assert billing_json(report)["clients"] == []
    html = (tmp_path / "billing-2026-10-summary.html").read_text("utf-8")
    assert "No clients in this report." in html and "Every ticket belongs to a client." in html


def test_a_client_without_work_gets_a_statement() -> None:
    idle = dataclasses.replace(
        small_invoice(),
        hours=D(0),
        billable_hours=D(0),
        amount=D(0),
        vat=D(0),
        total=D(0),
        lines=(),
        charges=(),
        adjustments=(),
        estimates=(),
    )
    report = dataclasses.replace(small_report(), clients=(idle,))
    text = _text(files_of(report, ["html"])["billing-2026-10-acme.html"].decode("utf-8"))
    assert "No work was logged this month." in text and "Total RUB 0.00" in text
    assert problems(idle) == []


# ============================================================================ reproducibility
@pytest.mark.parametrize("fmt", ALL)
def test_same_report_same_bytes(tmp_path: Path, fmt: str) -> None:
    one = write_billing(rich_report(), tmp_path / "one", [fmt])
    two = write_billing(reversed_report(rich_report()), tmp_path / "two", [fmt])
    assert [p.name for p in one] == [p.name for p in two]
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def _without_time(fmt: str, content: bytes, moment: datetime) -> object:
    """`content` with the generation time taken out, for comparison."""
    if fmt == "json":
        data = json.loads(content)
        assert data.pop("generated_at") == moment.isoformat()
        return data
    if fmt == "html":
        text = content.decode("utf-8")
        shown = moment.strftime("%Y-%m-%d %H:%M") + " UTC"
        assert moment.isoformat() in text and shown in text
        return text.replace(moment.isoformat(), "T").replace(shown, "T")
    if fmt == "xlsx":
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            members = {i.filename: z.read(i) for i in z.infolist()}
            assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        core = members.pop("docProps/core.xml")
        assert core.count(stamp) == 2  # dcterms:created and dcterms:modified
        members["docProps/core.xml"] = core.replace(stamp, b"T")
        return members
    return content


@pytest.mark.parametrize("fmt", ALL)
def test_only_the_generation_time_differs(fmt: str) -> None:
    later = GENERATED + timedelta(days=3, hours=5, minutes=7)
    one = files_of(rich_report(), [fmt])
    two = files_of(dataclasses.replace(rich_report(), generated_at=later), [fmt])
    assert one.keys() == two.keys()
    for name in one:
        if fmt == "csv":
            assert one[name] == two[name]
        else:
            assert one[name] != two[name]
            assert _without_time(fmt, one[name], GENERATED) == _without_time(fmt, two[name], later)


def test_xlsx_document_date_is_generated_at_in_utc() -> None:
    moscow = GENERATED.astimezone(UTC).replace(tzinfo=None)
    local = dataclasses.replace(
        small_report(),
        generated_at=GENERATED.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Moscow")),
    )
    wb = openpyxl.load_workbook(io.BytesIO(files_of(local, ["xlsx"])["billing-2026-10-acme.xlsx"]))
    assert wb.properties.created == moscow
    assert wb.properties.modified == moscow


# ============================================================================ CSV
def read_csv(content: bytes) -> list[dict[str, str]]:
    csv.field_size_limit(4_000_000)  # the megabyte subject
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_csv_invoice_rows_then_entries(tmp_path: Path) -> None:
    paths = {p.name: p for p in write_billing(rich_report(), tmp_path, ["csv"])}
    rows = read_csv(paths["billing-2026-10-acme.csv"].read_bytes())
    assert [r["record"] for r in rows] == [
        "line",
        "line",
        "charge",
        "adjustment",
        "subtotal",
        "vat",
        "total",
    ]
    assert rows[0] == {
        "record": "line",
        "client": "acme",
        "month": "2026-10",
        "ticket_id": "123",
        "issue_id": "45",
        "subject": "Сайт не открывается",
        "hours": "2.50",
        "billable_hours": "2.50",
        "rate": "2500.00",
        "amount": "6250.00",
        "currency": "RUB",
        "rule": "",
        "note": "",
    }
    assert (rows[1]["rule"], rows[1]["amount"], rows[1]["rate"]) == ("warranty", "0.00", "")
    assert (rows[2]["subject"], rows[2]["note"]) == ("tariff standard, 2026-10", "fee")
    adjustment = rows[3]
    assert (adjustment["hours"], adjustment["amount"]) == ("-1.00", "-2500.00")  # numbers, no '
    assert adjustment["note"] == "corrects 2026-09"
    assert [r["amount"] for r in rows[4:]] == ["23750.00", "4750.00", "28500.00"]
    assert rows[5]["subject"] == "VAT 20.00%"

    entries = read_csv(paths["billing-2026-10-acme-entries.csv"].read_bytes())
    assert [(e["entry_id"], e["spent_on"], e["user"], e["hours"]) for e in entries] == [
        ("501", "2026-10-03", "Иван Петров", "1.50"),
        ("502", "2026-10-05", "Мария Соколова", "1.00"),
        ("503", "2026-10-12", "Иван Петров", "0.75"),
    ]
    assert entries[2]["rule"] == "warranty"
    raw = paths["billing-2026-10-acme.csv"].read_bytes()
    assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")


def test_csv_summary_per_client_and_per_currency(tmp_path: Path) -> None:
    paths = {p.name: p for p in write_billing(rich_report(), tmp_path, ["csv"])}
    rows = read_csv(paths["billing-2026-10-summary.csv"].read_bytes())
    assert [(r["record"], r["client"], r["currency"], r["total"]) for r in rows] == [
        ("client", "acme", "RUB", "28500.00"),
        ("client", "globex", "RUB", "45000.00"),
        ("client", "initech", "EUR", "900.00"),
        ("total", "", "EUR", "900.00"),
        ("total", "", "RUB", "73500.00"),
    ]
    assert rows[2]["vat_rate"] == "" and rows[1]["frozen"] == "true"
    unassigned = read_csv(paths["billing-2026-10-summary-unassigned.csv"].read_bytes())
    assert [(u["ticket_id"], u["organization_id"]) for u in unassigned] == [("7", "99"), ("9", "")]


NUMERIC = {"hours", "billable_hours", "rate", "amount", "vat", "total", "vat_rate"}


def test_csv_neutralizes_formula_text_and_keeps_the_rest(tmp_path: Path) -> None:
    payloads = ["=1+1", "+7 999", "-2", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']
    for i, text in enumerate(payloads):
        files = {
            p.name: p.read_bytes() for p in write_billing(evil_report(text), tmp_path / str(i))
        }
        invoice = read_csv(files["billing-2026-10-acme.csv"])
        entries = read_csv(files["billing-2026-10-acme-entries.csv"])
        summary = read_csv(files["billing-2026-10-summary.csv"])
        unassigned = read_csv(files["billing-2026-10-summary-unassigned.csv"])
        quoted = [invoice[0]["subject"], invoice[0]["note"], invoice[1]["rule"]]
        quoted += [invoice[2]["subject"], invoice[3]["subject"]]
        quoted += [entries[0]["user"], entries[0]["activity"], entries[0]["comments"]]
        quoted += [summary[0]["name"], summary[0]["plan"], summary[0]["plan_kind"]]
        quoted += [unassigned[0]["subject"]]
        assert quoted == ["'" + text] * len(quoted)
        for row in invoice + entries + summary + unassigned:
            for key, value in row.items():
                if key not in NUMERIC:
                    assert not value.startswith(FORMULA_START), (key, value)
        assert invoice[3]["amount"] == "-2500.00"  # a number keeps its sign, no quote


def test_a_megabyte_subject_survives_csv_and_json_whole(tmp_path: Path) -> None:
    big = "Б" * 500_000 + "<x>" + "z" * 500_000
    paths = {p.name: p for p in write_billing(evil_report(big), tmp_path, ["csv", "json"])}
    rows = read_csv(paths["billing-2026-10-acme.csv"].read_bytes())
    assert rows[0]["subject"] == big
    assert json.loads(paths["billing-2026-10-acme.json"].read_bytes())["clients"][0]["name"] == big


# ============================================================================ XLSX
def load_xlsx(content: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(content))


def sheet_rows(ws) -> list[dict[str, object]]:
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, r, strict=True)) for r in rows[1:]]


def test_xlsx_numbers_are_numbers_text_is_text() -> None:
    files = files_of(rich_report(), ["xlsx"])
    wb = load_xlsx(files["billing-2026-10-acme.xlsx"])
    assert wb.sheetnames == ["Invoice", "Entries"]
    ws = wb["Invoice"]
    rows = sheet_rows(ws)
    assert [r["record"] for r in rows] == [
        "line",
        "line",
        "charge",
        "adjustment",
        "subtotal",
        "vat",
        "total",
    ]
    line = rows[0]
    assert line["ticket_id"] == 123 and line["issue_id"] == 45
    assert line["subject"] == "Сайт не открывается"
    for key in ("hours", "billable_hours", "rate", "amount"):
        assert isinstance(line[key], int | float) and not isinstance(line[key], bool)
    assert D(str(line["amount"])) == D("6250") and D(str(line["hours"])) == D("2.5")
    assert rows[1]["rate"] is None and rows[1]["rule"] == "warranty"
    assert rows[3]["amount"] == -2500 and rows[3]["hours"] == -1  # a number, not "'-2500"
    assert [r["amount"] for r in rows[4:]] == [23750, 4750, 28500]
    # Every figure has the 0.00 format, ids the 0 format; text is stored as text.
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            column = ws.cell(1, cell.column).value
            if isinstance(cell.value, float | int):
                expected = "0" if column in ("ticket_id", "issue_id") else "0.00"
                assert cell.number_format == expected, (cell.coordinate, cell.number_format)
            if isinstance(cell.value, str):
                assert cell.data_type == "s"
    entries = sheet_rows(wb["Entries"])
    assert [(e["entry_id"], e["spent_on"], e["hours"]) for e in entries] == [
        (501, datetime(2026, 10, 3), 1.5),
        (502, datetime(2026, 10, 5), 1),
        (503, datetime(2026, 10, 12), 0.75),
    ]
    summary = load_xlsx(files["billing-2026-10-summary.xlsx"])
    assert summary.sheetnames == ["Summary", "Unassigned"]
    totals = [r for r in sheet_rows(summary["Summary"]) if r["record"] == "total"]
    assert [(t["currency"], t["total"], t["clients"]) for t in totals] == [
        ("EUR", 900, 1),
        ("RUB", 73500, 2),
    ]
    assert [r["ticket_id"] for r in sheet_rows(summary["Unassigned"])] == [7, 9]


@given(st.decimals(min_value=D("-1e12"), max_value=D("1e12"), places=2, allow_nan=False))
@settings(max_examples=60, deadline=None)
def test_xlsx_keeps_money_exact(amount: Decimal) -> None:
    inv = dataclasses.replace(small_invoice(), total=amount)
    report = dataclasses.replace(small_report(), clients=(inv,))
    wb = load_xlsx(files_of(report, ["xlsx"])["billing-2026-10-acme.xlsx"])
    total = sheet_rows(wb["Invoice"])[-1]["amount"]
    assert D(repr(total)).quantize(D("0.01")) == amount


def test_xlsx_neutralizes_formula_text() -> None:
    for text in ("=1+1", "@SUM(A1)", "-2", '=HYPERLINK("http://x")'):
        files = files_of(evil_report(text), ["xlsx"])
        for name, content in files.items():
            wb = load_xlsx(content)
            for ws in wb.worksheets:
                for row in ws.iter_rows(min_row=2):
                    for cell in row:
                        if isinstance(cell.value, str):
                            assert cell.data_type == "s"
                            assert not cell.value.startswith(FORMULA_START), (name, cell.value)
                            if cell.value.startswith("'"):
                                assert cell.value == "'" + text


def test_xlsx_cuts_text_at_excels_cell_limit() -> None:
    big = "Б" * 40_000
    wb = load_xlsx(files_of(evil_report(big), ["xlsx"])["billing-2026-10-acme.xlsx"])
    subject = sheet_rows(wb["Invoice"])[0]["subject"]
    assert len(subject) == XLSX_MAX_TEXT and subject.endswith("…")
    assert subject[:-1] == big[: XLSX_MAX_TEXT - 1]
    astral = "😀" * 20_000  # two UTF-16 units each
    cut = xlsx_text(astral)
    assert len(cut.encode("utf-16-le")) // 2 <= XLSX_MAX_TEXT and cut.endswith("…")
    assert xlsx_text("x" * XLSX_MAX_TEXT) == "x" * XLSX_MAX_TEXT


# ============================================================================ formula injection
@given(st.text())
def test_neutralize_never_starts_with_a_formula_character(text: str) -> None:
    safe = neutralize(text)
    assert not safe.startswith(FORMULA_START)
    if text.startswith(FORMULA_START):
        assert safe == "'" + text  # one quote added: strip it to get the original back
    else:
        assert safe == text


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["=cmd|' /C calc'!A0", "+1", "-1", "@x", "\t=1", "\r\n=1", "'=1", ""]
)


def _original(cell: str, text: str) -> str:
    return cell[1:] if text.startswith(FORMULA_START) and cell.startswith("'") else cell


@given(TEXT)
@settings(max_examples=60, deadline=None)
def test_any_text_in_csv_is_safe_and_recoverable(text: str) -> None:
    files = files_of(evil_report(text), ["csv"])
    rows = read_csv(files["billing-2026-10-acme.csv"])
    entries = read_csv(files["billing-2026-10-acme-entries.csv"])
    cells = [rows[0]["subject"], rows[0]["note"], rows[2]["subject"], rows[3]["subject"]]
    cells += [entries[0]["user"], entries[0]["activity"], entries[0]["comments"]]
    for cell in cells:
        assert not cell.startswith(FORMULA_START)
        assert _original(cell, text) == text
    assert rows[3]["amount"] == "-2500.00"


def excel_value(cell: object) -> str:
    """A text cell as read back (openpyxl decodes Excel's "_xHHHH_" codes, like Excel)."""
    assert cell is None or isinstance(cell, str)
    return "" if cell is None else cell  # an empty string is an empty cell


@given(TEXT)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_in_xlsx_is_safe_and_recoverable(text: str) -> None:
    wb = load_xlsx(files_of(evil_report(text), ["xlsx"])["billing-2026-10-acme.xlsx"])
    rows = sheet_rows(wb["Invoice"])
    entries = sheet_rows(wb["Entries"])
    cells = [rows[0]["subject"], rows[0]["note"], rows[2]["subject"], rows[3]["subject"]]
    cells += [entries[0]["user"], entries[0]["activity"], entries[0]["comments"]]
    # What goes in: line breaks as "\n", no other control characters (they are invisible).
    kept = CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    for cell in map(excel_value, cells):
        assert not cell.startswith(FORMULA_START)
        assert cell == xlsx_text(text)
        assert (cell[1:] if kept.startswith(FORMULA_START) else cell) == kept
    assert rows[3]["amount"] == -2500


def test_xlsx_line_breaks_and_control_characters() -> None:
    assert xlsx_text("a\r\nb\rc\nd\te\x00\x0bf") == "a\nb\nc\nd\tef"
    assert xlsx_text("\r\n=1") == "'\n=1"
    assert xlsx_text("\x00=1") == "'=1"
    text = "_x0041_ stays as typed"
    wb = load_xlsx(files_of(evil_report(text), ["xlsx"])["billing-2026-10-acme.xlsx"])
    assert excel_value(sheet_rows(wb["Invoice"])[0]["subject"]) == text


# ============================================================================ HTML
def test_html_escapes_every_text_from_tickets_and_redmine() -> None:
    files = files_of(evil_report(), ["html"])
    for name in ("billing-2026-10-acme.html", "billing-2026-10-summary.html"):
        html = files[name].decode("utf-8")
        assert "<script" not in html.lower(), name
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&#34;quotes&#34;" in html
        assert "&amp;amp;" in html and "&amp; " not in html.replace("&amp;amp;", "")
        assert "\u200fשלום" in html and "🎉" in html
        assert '"quotes"' not in html


def test_html_is_self_contained_without_scripts() -> None:
    for name, content in files_of(rich_report(), ["html"]).items():
        html = content.decode("utf-8")
        assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
        assert "default-src 'none'" in html  # a CSP that would stop any script anyway
        lowered = html.lower()
        for banned in ("<script", "<link", "<img", "<iframe", "src=", "href=", "@import", "url("):
            assert banned not in lowered, (name, banned)
        assert "http://" not in lowered and "https://" not in lowered


def test_html_megabyte_subject_is_escaped_whole() -> None:
    big = "<b>" + "я" * 1_000_000 + "</b>"
    html = files_of(evil_report(big), ["html"])["billing-2026-10-acme.html"].decode("utf-8")
    assert "&lt;b&gt;" + "я" * 1_000_000 + "&lt;/b&gt;" in html
    assert "<b>" not in html


def test_html_print_css() -> None:
    html = files_of(small_report(), ["html"])["billing-2026-10-acme.html"].decode("utf-8")
    assert re.search(r"@page\s*{\s*size:\s*A4;\s*margin:\s*15mm", html)
    assert "break-inside: avoid" in html
    assert "tabular-nums" in html
    assert "text-align: right" in html
    assert re.search(r"font-family:[^;]*sans-serif", html)


def _text(html: str) -> str:
    """The visible text, roughly: tags out, whitespace squeezed, entities as written."""
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", html))


def test_html_client_page_reads_like_an_invoice() -> None:
    html = files_of(rich_report(), ["html"], studio="Студия «Пиксель»")[
        "billing-2026-10-acme.html"
    ].decode("utf-8")
    text = _text(html)
    for shown in (
        "Студия «Пиксель»",
        "Billing statement",
        "October 2026",
        "ACME LLC",
        "standard",
        "hourly",
        "2026-10-01 – 2026-10-31",
        "#123",
        "#45",
        "Сайт не открывается",
        "2,500.00",
        "6,250.00",
        "2026-10-03 Иван Петров · Разработка — Поправил шапку 1.50",
        "2026-10-05 Мария Соколова · Разработка — Проверила 1.00",
        "not billed: warranty",
        "Monthly fee — tariff standard, 2026-10",
        "20,000.00",
        "2026-09 #120 #40 logged twice −1.00 −2,500.00",
        "Amount before VAT 23,750.00",
        "VAT 20% 4,750.00",
        "Total RUB 28,500.00",
        "Estimate",
        "over estimate",
        "Preliminary",
    ):
        assert shown in text, shown
    assert text.index("2026-10-03") < text.index("2026-10-05") < text.index("#130")
    assert html.count('class="flagged"') == 1
    assert "Plan hours" not in text  # no tariff on this plan


def test_html_tariff_balance_and_no_vat() -> None:
    files = files_of(rich_report(), ["html"])
    text = _text(files["billing-2026-10-globex.html"].decode("utf-8"))
    assert "Plan hours Included Carried over Used Beyond the plan Unused" in text
    assert "10.00 2.00 13.00 1.00 0.00" in text
    assert "Hours beyond the plan — 1 h beyond the included hours 1.00 2,500.00 2,500.00" in text
    assert text.index("Monthly fee") < text.index("Hours beyond the plan")
    assert "Final — month closed" in text
    euro = _text(files["billing-2026-10-initech.html"].decode("utf-8"))
    assert "VAT not applicable" in euro and "Total EUR 900.00" in euro
    assert "RUB" not in euro


def test_html_summary_totals_per_currency_and_unassigned() -> None:
    text = _text(files_of(rich_report(), ["html"])["billing-2026-10-summary.html"].decode())
    assert "Total EUR 2.00 2.00 900.00 0.00 900.00 EUR" in text
    assert "Total RUB 16.25 15.50 61,250.00 12,250.00 73,500.00 RUB" in text
    assert "74,400.00" not in text  # 73 500 RUB + 900 EUR is not a number
    for client in ("ACME LLC", "ООО «Глобекс»", "Initech GmbH"):
        assert client in text
    assert "Tickets without a client" in text
    assert "#7 Вопрос по счёту #99" in text and "#9 Спам? none" in text
    assert "Check before sending" not in text  # every figure adds up


def test_summary_flags_figures_that_do_not_add_up() -> None:
    wrong = dataclasses.replace(small_invoice(), amount=D("23700"), total=D("28500"))
    report = dataclasses.replace(small_report(), clients=(wrong,))
    found = problems(wrong)
    assert found == [
        "amount 23700.00 but lines + charges + adjustments = 23750.00",
        "total 28500.00 but amount + VAT = 28450.00",
    ]
    assert summary_rows(report)[0]["problems"] == found
    assert billing_json(report)["problems"] == [{"client": "acme", "problem": p} for p in found]
    text = _text(files_of(report, ["html"])["billing-2026-10-summary.html"].decode())
    assert "Check before sending" in text and found[0] in text
    assert problems(small_invoice()) == []


def test_html_in_russian() -> None:
    files = files_of(rich_report(), ["html"], language="ru", client_languages={"initech": "en"})
    text = _text(files["billing-2026-10-acme.html"].decode("utf-8"))
    for shown in ("Отчёт о работах", "Октябрь 2026", "01.10.2026 – 31.10.2026", "Итого RUB"):
        assert shown in text, shown
    assert "28\u00a0500,00" in text and "НДС 20\u00a0%" in text
    assert "Billing statement" in files["billing-2026-10-initech.html"].decode("utf-8")
    assert "Сводка по клиентам" in files["billing-2026-10-summary.html"].decode("utf-8")


# ============================================================================ Chromium
@pytest.fixture(scope="module")
def browser() -> None:
    if chromium.available():
        return
    message = f"{chromium.CHROMIUM} is not installed (apt-get install chromium)"
    if rf.require_redmine():  # CI installs chromium: a skip there would hide a broken setup
        pytest.fail(f"SYNCD_REQUIRE_REDMINE=1: {message}", pytrace=False)
    pytest.skip(message)


def test_screenshot_of_a_client_page(browser, tmp_path: Path) -> None:
    paths = {p.name: p for p in write_billing(rich_report(), tmp_path, ["html"], studio="Pixel")}
    png = chromium.screenshot(paths["billing-2026-10-globex.html"], tmp_path / "globex.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1240, 1754)
    keep = os.environ.get("SYNCD_SCREENSHOT_DIR")  # to look at it: a folder to copy it to
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)


def test_client_page_prints_to_a4_pdf(browser, tmp_path: Path) -> None:
    from pypdf import PdfReader

    paths = {p.name: p for p in write_billing(rich_report(), tmp_path, ["html"])}
    pdf = chromium.print_pdf(paths["billing-2026-10-globex.html"], tmp_path / "globex.pdf")
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 1
    for page in reader.pages:
        assert abs(float(page.mediabox.width) - 595) <= 1
        assert abs(float(page.mediabox.height) - 842) <= 1
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "ООО «Глобекс»" in text  # Cyrillic comes out as text: the font has the glyphs
    assert "45,000.00" in text
    assert "Page 1 of" in text


def test_a_long_statement_prints_on_several_pages_with_headers(browser, tmp_path: Path) -> None:
    from pypdf import PdfReader

    inv = small_invoice()
    many = tuple(
        dataclasses.replace(inv.lines[1], ticket_id=1000 + i, subject=f"Заявка {i}")
        for i in range(60)
    )
    report = dataclasses.replace(small_report(), clients=(dataclasses.replace(inv, lines=many),))
    html = write_billing(report, tmp_path, ["html"])[0]
    reader = PdfReader(chromium.print_pdf(html, tmp_path / "long.pdf"))
    assert len(reader.pages) >= 3
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert f"Page {number} of {len(reader.pages)}" in text
        if number < len(reader.pages):
            assert "TICKET ISSUE DESCRIPTION" in text  # the table header repeats


def test_chromium_missing_is_a_clear_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(chromium, "CHROMIUM", tmp_path / "no-chromium")
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    with pytest.raises(chromium.ChromiumMissing, match="apt-get install chromium"):
        chromium.print_pdf(page, tmp_path / "p.pdf")
    assert not (tmp_path / "p.pdf").exists()


def test_chromium_timeout_is_an_error(browser, tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    with pytest.raises(chromium.ChromiumError, match="did not finish"):
        chromium.screenshot(page, tmp_path / "p.png", timeout=0.01)
