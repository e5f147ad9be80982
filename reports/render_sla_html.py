"""The SLA report as HTML pages (Jinja2, autoescaped, the billing pages' look and print CSS): the
manager's page across clients, and one page per client with only that client's tickets.

Self-contained like the billing pages: CSS inline, no scripts, no fonts or images to fetch; the
two pictures are inline SVG (`reports.render_sla_svg`). The only links are the tickets' own
(`url`, http and https only). Labels in English and Russian (`language="en"|"ru"`); moments
are shown in the report's time zone, business time as hours and minutes.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlsplit

import jinja2

from reports.render_html import LABELS as BILLING_LABELS
from reports.render_html import MINUS, NBSP, TEMPLATES, Numbers, month_period, month_title, ref
from reports.render_html import labels as billing_labels
from reports.render_json import clean_text
from reports.render_sla_json import TENTH, month_days, only_client, ordered_sla, zone
from reports.render_sla_svg import first_reply_svg, flow_svg
from reports.sla_model import SlaReport, Summary, TicketSla

LABELS: dict[str, dict[str, Any]] = {
    "en": {
        "lang": "en",
        "title": "Service level report",
        "headline": "First reply in time",
        "period": "Period",
        "timezone": "Time zone",
        "client": "Client",
        "clients": "Clients",
        "clients_count": "{n}",
        "generated": "Generated",
        "targets": "Usual targets",
        "target_first_reply": "First reply",
        "target_resolution": "Resolution",
        "target_ack": "Acknowledged by",
        "no_target": "none",
        "overview": "The month in figures",
        "overview_note": "Business time in {tz}: working hours on working days only.",
        "compare_note": "Beside each figure: {month}, and the change.",
        "no_previous": "There are no figures for {month} to compare with.",
        "group_volume": "Requests",
        "group_within": "Within target",
        "group_time": "Business time",
        "group_quality": "Conversation",
        "opened": "Opened",
        "solved": "Solved",
        "still_open": "Still open",
        "ack": "Acknowledged",
        "first_reply": "First reply",
        "resolution": "Resolution",
        "fr_median": "First reply, median",
        "fr_p90": "First reply, 90th pct.",
        "res_median": "Resolution, median",
        "res_p90": "Resolution, 90th pct.",
        "satisfaction": "Rated good",
        "rated": "{n} rated",
        "ping_pong": "Ping-pong threads",
        "over_estimate": "Over estimate",
        "vs": "vs",
        "better": "better",
        "worse": "worse",
        "changed": "changed",
        "same": "no change",
        "pp": "pp",
        "h": "h",
        "min": "min",
        "pictures": "Ticket flow and first replies",
        "flow_title": "Tickets opened and solved per day",
        "flow_desc": "Over {days} days, {opened} tickets were opened and {solved} solved.",
        "hist_title": "First reply times against the target",
        "hist_desc": "{n} first replies; {within} within the target of {target}, {over} after it.",
        "hist_desc_no_target": "{n} first replies; there is no first-reply target.",
        "chart_tickets": "Tickets",
        "chart_day": "Day of the month",
        "chart_minutes": "First reply, business time",
        "chart_opened": "Opened",
        "chart_solved": "Solved",
        "chart_weekend": "Weekend",
        "chart_target": "Target",
        "chart_no_target": "No first-reply target",
        "chart_no_tickets": "No tickets this month",
        "chart_no_replies": "No first replies this month",
        "chart_without_reply": "{n} ticket(s) without a first reply are not shown.",
        "by_client": "Clients",
        "by_agent": "Agents",
        "agent": "Agent",
        "all": "All",
        "col_opened": "Opened",
        "col_solved": "Solved",
        "col_open": "Open",
        "col_ack": "Ack.",
        "col_first_reply": "First reply",
        "col_resolution": "Resolution",
        "col_fr_median": "FR median",
        "col_res_median": "Res. median",
        "col_good": "Good",
        "col_ping_pong": "Ping-pong",
        "col_breaches": "Breaches",
        "shares_note": "Shares within target; medians in business time.",
        "no_summaries": "No figures.",
        "breaches": "Breaches",
        "breaches_note": "Tickets that missed a target, and by how much (business time).",
        "no_breaches": "No target was missed this month.",
        "what": {
            "acknowledgement": "acknowledgement",
            "first reply": "first reply",
            "resolution": "resolution",
        },
        "missed": "Missed",
        "late_by": "Late by",
        "reasons": "Top reasons for requests",
        "reason": "Reason",
        "requests": "Requests",
        "no_reasons": "No reasons recorded.",
        "tickets": "Tickets",
        "tickets_note": "Each ticket against its own targets: ✓ met, ✗ breached, — no target "
        "or not due yet. Zendesk's own figures, where known, below ours.",
        "no_tickets": "No tickets this month.",
        "ticket": "Ticket",
        "subject": "Subject",
        "created": "Created",
        "col_solved_at": "Solved",
        "col_ack_long": "Ack.",
        "thread": "Thread",
        "messages": "{n} msg.",
        "reopens": "reopened {n}×",
        "rating": "Rating",
        "hours": "Est. / actual h",
        "met": "met",
        "breached": "breached",
        "not_measured": "no target or not due",
        "still_open_ticket": "open",
        "zendesk": "Zendesk",
        "urgent": "urgent",
        "ping_pong_tag": "ping-pong",
        "over_tag": "over",
        "due": "due",
        "by": "by",
        "agent_ref": "agent {id}",
        "satisfaction_kinds": {
            "good": "good",
            "bad": "bad",
            "offered": "not rated",
            "unoffered": "not asked",
        },
        "priorities": {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"},
        "footer": "Times are business time in {tz}, measured from the ticket events. Shares "
        "are of the tickets a target applies to and that are due.",
        "months_short": [
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "May",
            "Jun",
            "Jul",
            "Aug",
            "Sep",
            "Oct",
            "Nov",
            "Dec",
        ],
    },
    "ru": {
        "lang": "ru",
        "title": "Отчёт об уровне сервиса",
        "headline": "Первый ответ вовремя",
        "period": "Период",
        "timezone": "Часовой пояс",
        "client": "Клиент",
        "clients": "Клиенты",
        "clients_count": "{n}",
        "generated": "Сформирован",
        "targets": "Обычные нормативы",
        "target_first_reply": "Первый ответ",
        "target_resolution": "Решение",
        "target_ack": "Подтверждение до",
        "no_target": "нет",
        "overview": "Месяц в цифрах",
        "overview_note": "Рабочее время ({tz}): только рабочие часы рабочих дней.",
        "compare_note": "Рядом с каждой цифрой: {month} и изменение.",
        "no_previous": "Нет данных за {month} для сравнения.",
        "group_volume": "Заявки",
        "group_within": "В пределах норматива",
        "group_time": "Рабочее время",
        "group_quality": "Переписка",
        "opened": "Создано",
        "solved": "Решено",
        "still_open": "Ещё открыто",
        "ack": "Подтверждение",
        "first_reply": "Первый ответ",
        "resolution": "Решение",
        "fr_median": "Первый ответ, медиана",
        "fr_p90": "Первый ответ, 90-й проц.",
        "res_median": "Решение, медиана",
        "res_p90": "Решение, 90-й проц.",
        "satisfaction": "Оценка «хорошо»",
        "rated": "оценок: {n}",
        "ping_pong": "Долгая переписка",
        "over_estimate": "Сверх оценки",
        "vs": "было",
        "better": "лучше",
        "worse": "хуже",
        "changed": "изменение",
        "same": "без изменений",
        "pp": "п.\u00a0п.",
        "h": "ч",
        "min": "мин",
        "pictures": "Поток заявок и первые ответы",
        "flow_title": "Создано и решено заявок по дням",
        "flow_desc": "За {days} дн. создано заявок: {opened}, решено: {solved}.",
        "hist_title": "Время первого ответа и норматив",
        "hist_desc": "Первых ответов: {n}; в пределах норматива {target}: {within}, позже: {over}.",
        "hist_desc_no_target": "Первых ответов: {n}; норматива на первый ответ нет.",
        "chart_tickets": "Заявки",
        "chart_day": "День месяца",
        "chart_minutes": "Первый ответ, рабочее время",
        "chart_opened": "Создано",
        "chart_solved": "Решено",
        "chart_weekend": "Выходные",
        "chart_target": "Норматив",
        "chart_no_target": "Норматива на первый ответ нет",
        "chart_no_tickets": "В этом месяце заявок не было",
        "chart_no_replies": "В этом месяце первых ответов не было",
        "chart_without_reply": "Заявки без первого ответа ({n}) не показаны.",
        "by_client": "Клиенты",
        "by_agent": "Сотрудники",
        "agent": "Сотрудник",
        "all": "Все",
        "col_opened": "Созд.",
        "col_solved": "Реш.",
        "col_open": "Откр.",
        "col_ack": "Подтв.",
        "col_first_reply": "Первый ответ",
        "col_resolution": "Решение",
        "col_fr_median": "Медиана ответа",
        "col_res_median": "Медиана решения",
        "col_good": "Хорошо",
        "col_ping_pong": "Пинг-понг",
        "col_breaches": "Наруш.",
        "shares_note": "Созд. — создано, реш. — решено, откр. — ещё открыто, подтв. — "
        "подтверждение; доли в пределах норматива, медианы в рабочем времени.",
        "no_summaries": "Нет данных.",
        "breaches": "Нарушения нормативов",
        "breaches_note": "Заявки, по которым норматив не выдержан, и на сколько (рабочее время).",
        "no_breaches": "В этом месяце все нормативы выдержаны.",
        "what": {
            "acknowledgement": "подтверждение",
            "first reply": "первый ответ",
            "resolution": "решение",
        },
        "missed": "Норматив",
        "late_by": "Опоздание",
        "reasons": "Частые причины обращений",
        "reason": "Причина",
        "requests": "Заявок",
        "no_reasons": "Причины не указаны.",
        "tickets": "Заявки",
        "tickets_note": "Каждая заявка — по своим нормативам: ✓ выдержан, ✗ нарушен, — "
        "норматива нет или срок ещё не наступил. Цифры Zendesk, где есть, — под нашими.",
        "no_tickets": "В этом месяце заявок не было.",
        "ticket": "Заявка",
        "subject": "Тема",
        "created": "Создана",
        "col_solved_at": "Решена",
        "col_ack_long": "Подтв.",
        "thread": "Переписка",
        "messages": "{n} сообщ.",
        "reopens": "переоткрыта {n}×",
        "rating": "Оценка",
        "hours": "Оценка / факт, ч",
        "met": "выдержан",
        "breached": "нарушен",
        "not_measured": "норматива нет или срок не наступил",
        "still_open_ticket": "открыта",
        "zendesk": "Zendesk",
        "urgent": "срочно",
        "ping_pong_tag": "пинг-понг",
        "over_tag": "сверх",
        "due": "срок",
        "by": "до",
        "agent_ref": "сотрудник {id}",
        "satisfaction_kinds": {
            "good": "хорошо",
            "bad": "плохо",
            "offered": "не оценена",
            "unoffered": "не запрошена",
        },
        "priorities": {
            "low": "низкий",
            "normal": "обычный",
            "high": "высокий",
            "urgent": "срочный",
        },
        "footer": "Время — рабочее ({tz}), по событиям заявок. Доли — от заявок, к которым "
        "норматив применим и срок которых наступил.",
        "months_short": [
            "янв",
            "фев",
            "мар",
            "апр",
            "мая",
            "июн",
            "июл",
            "авг",
            "сен",
            "окт",
            "ноя",
            "дек",
        ],
    },
}
for _lang, _table in LABELS.items():
    for _key in ("months", "page", "of"):  # shared with the billing pages (and _base.html.j2)
        _table[_key] = BILLING_LABELS[_lang][_key]


def labels(language: str) -> dict[str, Any]:
    return billing_labels(language, LABELS)


# --------------------------------------------------------------------------- formatting
class SlaNumbers(Numbers):
    """The billing formatting, plus business time, one-place shares and local moments."""

    def __init__(self, language: str, report: SlaReport) -> None:
        super().__init__(language)
        self.t = labels(language)
        self.tz = zone(report)
        self.year = int(report.month[:4])

    def duration(self, minutes: int | None) -> str:
        """Business minutes as "45 min", "2 h", "1 h 05 min" (never days: a business day is
        not 24 hours)."""
        if minutes is None:
            return "—"
        sign = MINUS if minutes < 0 else ""
        h, m = divmod(abs(int(minutes)), 60)
        if not h:
            return f"{sign}{m}{NBSP}{self.t['min']}"
        if not m:
            return f"{sign}{self.integer(h)}{NBSP}{self.t['h']}"
        return f"{sign}{self.integer(h)}{NBSP}{self.t['h']} {m:02d}{NBSP}{self.t['min']}"

    def short(self, minutes: int) -> str:
        """Minutes for an axis: "0", "30 min", "2 h", "1 h 30"."""
        if minutes == 0:
            return "0"
        h, m = divmod(int(minutes), 60)
        if not h:
            return f"{m}{NBSP}{self.t['min']}"
        if not m:
            return f"{self.integer(h)}{NBSP}{self.t['h']}"
        return f"{self.integer(h)}{NBSP}{self.t['h']} {m:02d}"

    def integer(self, value: int) -> str:
        text = format(value, ",d")
        return text.replace(",", NBSP) if self.language == "ru" else text

    def share(self, value: Decimal | None) -> str:
        """A share with one place: "90.0%" (ru: "90,0 %")."""
        if value is None:
            return "—"
        q = Decimal(value).quantize(TENTH, rounding=ROUND_HALF_UP)
        text = self._digits(q)
        return f"{text}{NBSP}%" if self.language == "ru" else f"{text}%"

    def points(self, value: Decimal) -> str:
        q = abs(Decimal(value)).quantize(TENTH, rounding=ROUND_HALF_UP)
        return f"{self._digits(q)}{NBSP}{self.t['pp']}"

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def when(self, moment: datetime | None) -> tuple[str, str]:
        """(day, time) in the report's zone: ("Oct 3", "14:20"); the year only when it is not
        the report's."""
        if moment is None:
            return ("—", "")
        local = self.local(moment)
        return (self.short_day(local.date()), local.strftime("%H:%M"))

    def short_day(self, day: date) -> str:
        month = self.t["months_short"][day.month - 1]
        text = f"{day.day}{NBSP}{month}" if self.language == "ru" else f"{month}{NBSP}{day.day}"
        return text if day.year == self.year else f"{text} {day.year}"

    def hours(self, value: Decimal | None) -> str:
        return self.number(value)


def safe_url(url: str | None) -> str | None:
    """A ticket's address as a link only when it is http(s): never `javascript:` and the like."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def previous_month(month: str) -> str:
    year, number = (int(x) for x in month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


# --------------------------------------------------------------------------- the figures
# (attribute, label, kind, which way is better: 1 higher, -1 lower, 0 neither)
FIGURES = {
    "group_volume": [
        ("opened", "opened", "count", 0),
        ("solved", "solved", "count", 0),
        ("still_open", "still_open", "count", -1),
    ],
    "group_within": [
        ("ack_met_pct", "ack", "share", 1),
        ("first_reply_met_pct", "first_reply", "share", 1),
        ("resolution_met_pct", "resolution", "share", 1),
    ],
    "group_time": [
        ("first_reply_median", "fr_median", "minutes", -1),
        ("first_reply_p90", "fr_p90", "minutes", -1),
        ("resolution_median", "res_median", "minutes", -1),
        ("resolution_p90", "res_p90", "minutes", -1),
    ],
    "group_quality": [
        ("satisfaction_good_pct", "satisfaction", "share", 1),
        ("ping_pong_pct", "ping_pong", "share", -1),
        ("over_estimate", "over_estimate", "count", -1),
    ],
}


def _show(n: SlaNumbers, kind: str, value: Any) -> str:
    if kind == "share":
        return n.share(value)
    if kind == "minutes":
        return n.duration(value)
    return "—" if value is None else n.integer(value)


def delta(n: SlaNumbers, kind: str, better: int, now: Any, before: Any) -> dict[str, str] | None:
    """The change from `before` to `now`: an arrow (▲ up, ▼ down, = same), the size, and
    whether that is better or worse (a word for screen readers and the title, a colour)."""
    if now is None or before is None:
        return None
    diff = Decimal(now) - Decimal(before)
    if kind == "share":
        diff = diff.quantize(TENTH, rounding=ROUND_HALF_UP)
    t = n.t
    if diff == 0:
        return {"arrow": "=", "size": "", "tone": "same", "word": t["same"]}
    if kind == "share":
        size = n.points(diff)
    elif kind == "minutes":
        size = n.duration(abs(int(diff)))
    else:
        size = n.integer(abs(int(diff)))
    up = diff > 0
    if not better:
        tone, word = "neutral", t["changed"]
    elif (better > 0) == up:
        tone, word = "better", t["better"]
    else:
        tone, word = "worse", t["worse"]
    sign = "+" if up else MINUS
    return {"arrow": "▲" if up else "▼", "size": sign + size, "tone": tone, "word": word}


def figure_groups(
    n: SlaNumbers, summary: Summary, previous: Summary | None
) -> list[dict[str, Any]]:
    groups = []
    for group, figures in FIGURES.items():
        tiles = []
        for attr, label, kind, better in figures:
            now = getattr(summary, attr)
            before = None if previous is None else getattr(previous, attr)
            tiles.append(
                {
                    "label": n.t[label],
                    "value": _show(n, kind, now),
                    "note": n.t["rated"].format(n=summary.rated) if attr.startswith("sat") else "",
                    "before": None if previous is None else _show(n, kind, before),
                    "delta": delta(n, kind, better, now, before),
                }
            )
        groups.append({"label": n.t[group], "tiles": tiles})
    return groups


def _common_value(values: Iterable[Any]) -> Any:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    return min(counts, key=lambda v: (-counts[v], str(v)))


# --------------------------------------------------------------------------- rendering
@functools.cache
def environment() -> jinja2.Environment:
    """Like the billing pages' environment (same templates folder, so `_base.html.j2` is
    shared), with the SLA filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every subject, reason and key comes from a ticket: text, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["ref"] = ref
    env.filters["safe_url"] = safe_url
    return env


def sla_html(
    report: SlaReport,
    *,
    language: str = "en",
    studio: str = "",
    client: str | None = None,
) -> bytes:
    """The manager's page; with `client` (a key in `report.clients`) that client's own page,
    from `only_client`: its figures (without last month's: there are only studio-wide ones),
    its pictures, breaches, reasons and tickets; no other client's, no agents."""
    report = ordered_sla(report)
    own: Summary | None = None
    if client is not None:
        own = next((s for s in report.clients if s.key == client), None)
        if own is None:
            raise ValueError(f"client {client!r} is not in the SLA report")
        report = only_client(report, own)
    return page_html(report, own, language=language, studio=studio)


def page_html(report: SlaReport, own: Summary | None, *, language: str, studio: str) -> bytes:
    """`sla_html` of a report already through `ordered_sla` and, for the page of the client
    `own`, through `only_client` (what `sla_files` hands each client's renderers)."""
    t = labels(language)
    n = SlaNumbers(language, report)
    summary = report.overall
    previous = report.previous
    days = month_days(report.month)
    flow = {f.day: f for f in report.flow}
    opened = {d: flow[d].opened for d in days if d in flow}
    solved = {d: flow[d].solved for d in days if d in flow}
    replies = [t_.first_reply_business_minutes for t_ in report.tickets]
    values = [v for v in replies if v is not None]
    by_id = {x.ticket_id: x for x in report.tickets}
    prev_title = month_title(previous_month(report.month), t)
    most = max((count for _, count in summary.top_reasons), default=0)
    context = {
        "t": t,
        "n": n,
        "studio": studio,
        "report": report,
        "client": own,
        "summary": summary,
        "previous": previous,
        "month": report.month,
        "month_title": month_title(report.month, t),
        "prev_title": prev_title,
        "period": month_period(report.month, n),
        "generated": n.moment(report.generated_at),
        "generated_iso": report.generated_at.isoformat(),
        "groups": figure_groups(n, summary, previous),
        "headline": {
            "value": n.share(summary.first_reply_met_pct),
            "before": None if previous is None else n.share(previous.first_reply_met_pct),
            "delta": delta(
                n,
                "share",
                1,
                summary.first_reply_met_pct,
                None if previous is None else previous.first_reply_met_pct,
            ),
        },
        "targets": {
            "first_reply": report.first_reply_target,
            "resolution": _common_value(x.targets.resolution_minutes for x in report.tickets),
            "ack": _common_value(x.targets.ack_cutoff for x in report.tickets),
        },
        "flow_svg": flow_svg(days, opened, solved, t, n.short_day),
        "hist_svg": first_reply_svg(
            values, report.first_reply_target, len(replies) - len(values), t, n.short
        ),
        "breaches": breached_tickets(summary, by_id),
        "reasons": [(r, c, (c / most * 100) if most else 0) for r, c in summary.top_reasons],
        "tickets": [ticket_row(n, x) for x in report.tickets],
    }
    html = environment().get_template("sla.html.j2").render(**context)
    return clean_text(html).encode("utf-8")


def breached_tickets(summary: Summary, by_id: dict[int, TicketSla]) -> list[dict[str, Any]]:
    """The summary's breaches, one entry per ticket (in ticket order) with its breaches."""
    rows: dict[int, dict[str, Any]] = {}
    for b in summary.breaches:
        row = rows.setdefault(
            b.ticket_id,
            {"ticket_id": b.ticket_id, "url": b.url, "x": by_id.get(b.ticket_id), "what": []},
        )
        row["what"].append(b)
    return list(rows.values())


def ticket_row(n: SlaNumbers, x: TicketSla) -> dict[str, Any]:
    over = x.estimate is not None and x.actual is not None and x.actual > x.estimate
    return {
        "x": x,
        "created": n.when(x.created_at),
        "first_reply": n.when(x.first_reply_at),
        "solved": n.when(x.solved_at),
        "ack_deadline": n.when(x.ack_deadline),
        # the acknowledgement deadline without its day when it is the day the ticket came in
        "ack_same_day": x.ack_deadline is not None
        and n.local(x.ack_deadline).date() == n.local(x.created_at).date(),
        "due": n.when(x.resolution_due),
        "over": over,
        "url": safe_url(x.url),
    }
