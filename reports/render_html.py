"""The billing report as HTML pages (Jinja2, autoescaped): one printable statement per client
and one summary for the manager. The pages are self-contained: CSS inline, no scripts (a
Content-Security-Policy forbids them anyway), no fonts, images or links to fetch.

Labels come in English and Russian (`language="en"|"ru"`); figures are formatted for the
language (`25,000.00` / `25 000,00`).
"""

from __future__ import annotations

import calendar
import functools
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jinja2

from reports.model import BillingReport, ClientInvoice
from reports.render_json import (
    CENT,
    clean_text,
    currency_totals,
    ordered_report,
    summary_rows,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
NBSP = "\u00a0"
MINUS = "\u2212"

LABELS: dict[str, dict[str, Any]] = {
    "en": {
        "lang": "en",
        "statement": "Billing statement",
        "summary": "Billing summary",
        "total_due": "Total",
        "closed": "Final — month closed",
        "preliminary": "Preliminary — month not closed yet",
        "client": "Client",
        "plan": "Plan",
        "period": "Period",
        "currency": "Currency",
        "generated": "Generated",
        "hours_logged": "Hours logged",
        "hours_billable": "Billable hours",
        "work": "Work",
        "ticket": "Ticket",
        "issue": "Issue",
        "description": "Description",
        "hours": "Hours",
        "billable": "Billable",
        "rate": "Rate",
        "amount": "Amount",
        "not_billed": "not billed",
        "no_lines": "No work was logged this month.",
        "entries_note": "Under each request: the time entries it is made of "
        "(date, specialist, activity, hours, comment).",
        "charges": "Plan charges",
        "charge_kinds": {"fee": "Monthly fee", "overage": "Hours beyond the plan"},
        "plan_kinds": {
            "hourly": "hourly",
            "per_request": "per request",
            "tariff": "hours package",
            "subscription": "subscription",
        },
        "adjustments": "Corrections to earlier months",
        "adjustments_note": "Time found after an earlier month was invoiced: added (+) or "
        "taken back (−) here.",
        "corrects": "Month",
        "reason": "Reason",
        "work_total": "Work",
        "charges_total": "Plan charges",
        "adjustments_total": "Corrections",
        "amount_before_vat": "Amount before VAT",
        "vat": "VAT",
        "no_vat": "VAT not applicable",
        "total": "Total",
        "tariff": "Plan hours",
        "included": "Included",
        "carried": "Carried over",
        "used": "Used",
        "overage": "Beyond the plan",
        "unused": "Unused",
        "estimates": "Estimates and actual hours",
        "estimates_note": "Requests with an estimate: hours spent so far against the estimate.",
        "subject": "Subject",
        "estimate": "Estimate",
        "actual": "Actual",
        "over_by": "Over by",
        "flag": "over estimate",
        "footer": "Hours are as logged in Redmine; billable hours are after the plan's rules "
        "and rounding. Amounts in {currency}.",
        "page": "Page",
        "of": "of",
        "clients": "Clients",
        "open": "month open",
        "frozen": "month closed",
        "currency_total": "Total",
        "clients_count": "{n} client(s)",
        "check": "Check before sending",
        "check_tag": "figures do not add up",
        "flagged": "Requests over estimate",
        "unassigned": "Tickets without a client",
        "unassigned_note": "Tickets with the work tag whose organization is not a configured "
        "client: not billed to anyone.",
        "organization": "Organization",
        "none": "none",
        "nothing_unassigned": "Every ticket belongs to a client.",
        "no_clients": "No clients in this report.",
        "months": [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
    },
    "ru": {
        "lang": "ru",
        "statement": "Отчёт о работах",
        "summary": "Сводка по клиентам",
        "total_due": "Итого к оплате",
        "closed": "Окончательный — месяц закрыт",
        "preliminary": "Предварительный — месяц ещё не закрыт",
        "client": "Клиент",
        "plan": "Тариф",
        "period": "Период",
        "currency": "Валюта",
        "generated": "Сформирован",
        "hours_logged": "Списано часов",
        "hours_billable": "Часов к оплате",
        "work": "Работы",
        "ticket": "Заявка",
        "issue": "Задача",
        "description": "Описание",
        "hours": "Часы",
        "billable": "К оплате",
        "rate": "Ставка",
        "amount": "Сумма",
        "not_billed": "не оплачивается",
        "no_lines": "В этом месяце работ не было.",
        "entries_note": "Под каждой заявкой — записи о трудозатратах (дата, специалист, "
        "вид работ, часы, комментарий).",
        "charges": "Платежи по тарифу",
        "charge_kinds": {"fee": "Абонентская плата", "overage": "Часы сверх тарифа"},
        "plan_kinds": {
            "hourly": "почасовая оплата",
            "per_request": "оплата за заявку",
            "tariff": "пакет часов",
            "subscription": "абонемент",
        },
        "adjustments": "Корректировки прошлых месяцев",
        "adjustments_note": "Часы, найденные после выставления счёта за прошлый месяц: "
        "добавлены (+) или сняты (−) здесь.",
        "corrects": "Месяц",
        "reason": "Причина",
        "work_total": "Работы",
        "charges_total": "Платежи по тарифу",
        "adjustments_total": "Корректировки",
        "amount_before_vat": "Сумма без НДС",
        "vat": "НДС",
        "no_vat": "Без НДС",
        "total": "Итого",
        "tariff": "Часы по тарифу",
        "included": "Включено",
        "carried": "Перенесено",
        "used": "Использовано",
        "overage": "Сверх тарифа",
        "unused": "Осталось",
        "estimates": "Оценки и фактические часы",
        "estimates_note": "Заявки с оценкой: сколько часов потрачено на сегодня.",
        "subject": "Тема",
        "estimate": "Оценка",
        "actual": "Факт",
        "over_by": "Превышение",
        "flag": "превышена оценка",
        "footer": "Часы — как списаны в Redmine; часы к оплате — после правил тарифа и "
        "округления. Суммы в {currency}.",
        "page": "Стр.",
        "of": "из",
        "clients": "Клиенты",
        "open": "месяц открыт",
        "frozen": "месяц закрыт",
        "currency_total": "Итого",
        "clients_count": "клиентов: {n}",
        "check": "Проверить перед отправкой",
        "check_tag": "суммы не сходятся",
        "flagged": "Заявки с превышением оценки",
        "unassigned": "Заявки без клиента",
        "unassigned_note": "Заявки с рабочим тегом, чья организация не настроена как клиент: "
        "никому не выставлены.",
        "organization": "Организация",
        "none": "нет",
        "nothing_unassigned": "Все заявки относятся к клиентам.",
        "no_clients": "В отчёте нет клиентов.",
        "months": [
            "Январь",
            "Февраль",
            "Март",
            "Апрель",
            "Май",
            "Июнь",
            "Июль",
            "Август",
            "Сентябрь",
            "Октябрь",
            "Ноябрь",
            "Декабрь",
        ],
    },
}


def labels(language: str, table: dict[str, dict[str, Any]] = LABELS) -> dict[str, Any]:
    """The words of a page in `language` (the billing pages' by default)."""
    try:
        return table[language]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ValueError(f"unknown language {language!r}; known: {known}") from None


# --------------------------------------------------------------------------- formatting
class Numbers:
    """Figures as a reader of `language` writes them: grouped, two places, a real minus."""

    def __init__(self, language: str) -> None:
        self.language = language

    def _digits(self, q: Decimal) -> str:
        text = format(abs(q), ",f")
        if self.language == "ru":
            text = text.replace(",", NBSP).replace(".", ",")
        return MINUS + text if q < 0 else text

    def number(self, value: Decimal | None, sign: bool = False) -> str:
        if value is None:
            return "—"
        q = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
        text = self._digits(q)
        return "+" + text if sign and q > 0 else text

    def signed(self, value: Decimal) -> str:
        return self.number(value, sign=True)

    def percent(self, value: Decimal | None) -> str:
        """20 → "20%", 12.5 → "12.50%" (ru: "12,50 %")."""
        if value is None:
            return "—"
        q = Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
        if q == q.to_integral():
            q = q.quantize(Decimal(1))
        text = self._digits(q)
        return f"{text}{NBSP}%" if self.language == "ru" else f"{text}%"

    def day(self, value: date) -> str:
        return value.strftime("%d.%m.%Y") if self.language == "ru" else value.isoformat()

    def moment(self, value: datetime) -> str:
        text = value.strftime("%d.%m.%Y %H:%M" if self.language == "ru" else "%Y-%m-%d %H:%M")
        offset = value.utcoffset()
        if offset is None:
            return text
        if not offset:
            return text + " UTC"
        return text + " UTC" + value.strftime("%z")[:3] + ":" + value.strftime("%z")[3:]


def ref(value: int | None) -> str:
    return "—" if value is None else f"#{value}"


def month_title(month: str, t: dict[str, Any]) -> str:
    year, number = month.split("-")
    return f"{t['months'][int(number) - 1]} {year}"


def month_period(month: str, numbers: Numbers) -> str:
    year, number = (int(x) for x in month.split("-"))
    last = calendar.monthrange(year, number)[1]
    return f"{numbers.day(date(year, number, 1))} – {numbers.day(date(year, number, last))}"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value from a ticket or Redmine is text, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["ref"] = ref
    return env


def _render(template: str, **context: Any) -> bytes:
    html = environment().get_template(template).render(**context)
    return clean_text(html).encode("utf-8")


def _common(report: BillingReport, language: str, studio: str) -> dict[str, Any]:
    t = labels(language)
    numbers = Numbers(language)
    return {
        "t": t,
        "n": numbers,
        "studio": studio,
        "month": report.month,
        "month_title": month_title(report.month, t),
        "period": month_period(report.month, numbers),
        "generated": numbers.moment(report.generated_at),
        "generated_iso": report.generated_at.isoformat(),
    }


def client_html(
    report: BillingReport, invoice: ClientInvoice, *, language: str = "en", studio: str = ""
) -> bytes:
    """The statement for one client (`invoice` as ordered by `ordered_report`)."""
    sums = {
        "lines": sum((x.amount for x in invoice.lines), Decimal(0)),
        "charges": sum((x.amount for x in invoice.charges), Decimal(0)),
        "adjustments": sum((x.amount for x in invoice.adjustments), Decimal(0)),
    }
    return _render("client.html.j2", inv=invoice, sums=sums, **_common(report, language, studio))


def summary_html(report: BillingReport, *, language: str = "en", studio: str = "") -> bytes:
    """The manager's page: every client, totals per currency, what to check, unassigned."""
    report = ordered_report(report)
    rows = summary_rows(report)
    groups = []
    for totals in currency_totals(report):
        groups.append(
            {"totals": totals, "rows": [r for r in rows if r["currency"] == totals["currency"]]}
        )
    flagged = [(inv, e) for inv in report.clients for e in inv.estimates if e.flagged]
    return _render(
        "summary.html.j2",
        report=report,
        groups=groups,
        rows=rows,
        flagged=flagged,
        **_common(report, language, studio),
    )
