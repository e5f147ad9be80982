"""The SLA report's two pictures as inline SVG (no script, nothing to fetch): the month's daily
ticket flow, and the distribution of first-reply times against the target.

Each picture is a `<svg role="img">` with a `<title>` and a `<desc>` (what a screen reader
says, and what the picture shows in words), drawn in a fixed viewBox that scales to the page
width. Every text goes through `markupsafe.escape`, so the SVG is also well-formed XML. Both
pictures handle an empty month (a note instead of bars), one ticket and hundreds: axis ticks
are "nice" numbers (1, 2, 5 × 10^k tickets; whole minutes, hours or days on the time axis).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 236
LEFT, RIGHT, TOP, BOTTOM = 46, 14, 34, 44
PLOT_W = WIDTH - LEFT - RIGHT
PLOT_H = HEIGHT - TOP - BOTTOM
# Bin widths for the time axis, in business minutes: the first that gives at most MAX_BINS.
BIN_WIDTHS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 960, 1440)
MAX_BINS = 16
TICK_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 960, 1440, 2880, 4320)
COLORS = {
    "opened": "#1f3a5f",
    "solved": "#5b9bd5",
    "within": "#3f7d5a",
    "over": "#c2410c",
    "weekend": "#eef1f5",
    "grid": "#e3e7ed",
    "axis": "#8a939e",
    "text": "#5f6a78",
    "ink": "#1c2430",
}


# --------------------------------------------------------------------------- markup
def _num(value: float) -> str:
    """Coordinates with at most two decimals, no "-0", no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _attrs(attrs: dict[str, Any]) -> str:
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        name = name.rstrip("_").replace("_", "-")
        if isinstance(value, float):
            value = _num(value)
        parts.append(f' {name}="{escape(value)}"')
    return "".join(parts)


def el(tag: str, content: str | None = None, **attrs: Any) -> str:
    """One element; `content` is markup (already escaped), None for an empty element."""
    if content is None:
        return f"<{tag}{_attrs(attrs)}/>"
    return f"<{tag}{_attrs(attrs)}>{content}</{tag}>"


def text(value: str, x: float, y: float, **attrs: Any) -> str:
    return el("text", str(escape(value)), x=float(x), y=float(y), **attrs)


def svg(ident: str, title: str, desc: str, body: Iterable[str]) -> Markup:
    return Markup(
        el(
            "svg",
            el("title", str(escape(title)), id=f"{ident}-title")
            + el("desc", str(escape(desc)), id=f"{ident}-desc")
            + "".join(body),
            class_=f"chart {ident}",
            role="img",
            aria_labelledby=f"{ident}-title",
            aria_describedby=f"{ident}-desc",
            viewBox=f"0 0 {WIDTH} {HEIGHT}",
            width=str(WIDTH),
            height=str(HEIGHT),
            preserveAspectRatio="xMidYMid meet",
            font_size="10",
        )
    )


# --------------------------------------------------------------------------- scales
def count_ticks(highest: int) -> list[int]:
    """Ticks for a count axis from 0 to at least `highest` (at least 0-4): steps of 1, 2, 5,
    10, 20, 50, … so there are at most six ticks."""
    highest = max(highest, 4)
    step = 1
    while highest / step > 5:
        for factor in (2, 2.5, 2):  # 1 → 2 → 5 → 10 → 20 → 50 → 100 …
            step = int(step * factor)
            if highest / step <= 5:
                break
    top = math.ceil(highest / step) * step
    return list(range(0, top + 1, step))


def _y(value: float, top: int) -> float:
    return TOP + PLOT_H - (value / top * PLOT_H if top else 0)


def _y_axis(ticks: list[int], label: str) -> list[str]:
    out = []
    for tick in ticks:
        y = _y(tick, ticks[-1])
        out.append(
            el(
                "line",
                x1=float(LEFT),
                x2=float(LEFT + PLOT_W),
                y1=y,
                y2=y,
                stroke=COLORS["axis"] if tick == 0 else COLORS["grid"],
                stroke_width="1",
            )
        )
        out.append(text(str(tick), LEFT - 6, y + 3.5, text_anchor="end", fill=COLORS["text"]))
    out.append(
        text(
            label,
            12,
            TOP + PLOT_H / 2,
            text_anchor="middle",
            fill=COLORS["text"],
            transform=f"rotate(-90 12 {_num(TOP + PLOT_H / 2)})",
        )
    )
    return out


def _legend(items: Sequence[tuple[str, str]]) -> list[str]:
    """Swatch + label pairs, right-aligned on the top line. Labels are measured roughly (5.6
    units per character at font size 10), which is enough to keep them apart."""
    out = []
    x = WIDTH - RIGHT
    for color, label in reversed(items):
        width = 5.6 * len(label)
        x -= width
        out.append(text(label, x, 15, fill=COLORS["ink"]))
        x -= 14
        out.append(
            el(
                "rect",
                x=x,
                y=6.0,
                width=10.0,
                height=10.0,
                fill=color,
                rx="1.5",
                stroke=COLORS["axis"] if color == COLORS["weekend"] else None,
                stroke_width="0.75" if color == COLORS["weekend"] else None,
            )
        )
        x -= 16
    return out


def _note(message: str) -> str:
    return text(
        message,
        LEFT + PLOT_W / 2,
        TOP + PLOT_H / 2,
        text_anchor="middle",
        fill=COLORS["text"],
        font_style="italic",
        font_size="12",
    )


# --------------------------------------------------------------------------- the flow
def flow_svg(
    days: Sequence[date],
    opened: dict[date, int],
    solved: dict[date, int],
    t: dict[str, Any],
    day_label: Callable[[date], str],
) -> Markup:
    """Opened and solved tickets per day of the month as paired bars; weekends shaded."""
    total_opened = sum(opened.get(d, 0) for d in days)
    total_solved = sum(solved.get(d, 0) for d in days)
    highest = max([opened.get(d, 0) for d in days] + [solved.get(d, 0) for d in days] + [0])
    ticks = count_ticks(highest)
    top = ticks[-1]
    slot = PLOT_W / max(len(days), 1)
    bar = slot * 0.36
    body: list[str] = []
    for i, d in enumerate(days):
        if d.weekday() >= 5:
            body.append(
                el(
                    "rect",
                    x=LEFT + i * slot,
                    y=float(TOP),
                    width=slot,
                    height=float(PLOT_H),
                    fill=COLORS["weekend"],
                )
            )
    body += _y_axis(ticks, t["chart_tickets"])
    for i, d in enumerate(days):
        x = LEFT + i * slot
        for offset, kind, counts in ((0.12, "opened", opened), (0.52, "solved", solved)):
            value = counts.get(d, 0)
            if value:
                y = _y(value, top)
                tip = f"{day_label(d)}: {t['chart_' + kind].lower()} {value}"
                body.append(
                    el(
                        "rect",
                        el("title", str(escape(tip))),
                        class_=kind,
                        x=x + slot * offset,
                        y=y,
                        width=bar,
                        height=TOP + PLOT_H - y,
                        fill=COLORS[kind],
                    )
                )
        weekend = d.weekday() >= 5
        body.append(
            text(
                str(d.day),
                x + slot / 2,
                TOP + PLOT_H + 13,
                text_anchor="middle",
                fill=COLORS["axis"] if weekend else COLORS["text"],
                font_size="9",
            )
        )
    body.append(
        text(
            t["chart_day"], LEFT + PLOT_W / 2, HEIGHT - 8, text_anchor="middle", fill=COLORS["text"]
        )
    )
    if not total_opened and not total_solved:
        body.append(_note(t["chart_no_tickets"]))
    body += _legend(
        [
            (COLORS["opened"], f"{t['chart_opened']}: {total_opened}"),
            (COLORS["solved"], f"{t['chart_solved']}: {total_solved}"),
            (COLORS["weekend"], t["chart_weekend"]),
        ]
    )
    desc = t["flow_desc"].format(opened=total_opened, solved=total_solved, days=len(days))
    return svg("flow", t["flow_title"], desc, body)


# --------------------------------------------------------------------------- the histogram
def p90(values: Sequence[int]) -> int | None:
    """The nearest-rank 90th percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


def bins_for(values: Sequence[int], target: int | None) -> tuple[int, int, bool]:
    """(bin width, number of bins, whether the slowest replies go into one last "more" bar).

    The axis covers the slowest reply and the target, unless the slowest are far out (beyond
    three times the larger of the target and the 90th percentile): those share a last bar so
    the rest stays readable. A width that puts the target on a bin edge is preferred."""
    slowest = max(values, default=0)
    reference = max(target or 0, p90(values) or 0)
    if reference == 0:
        reference = max(slowest, 60)
    # room to the right of the target line, so it never sits on the frame
    limit = max(slowest, math.ceil((target or 0) * 1.5), 10 if values else 60)
    overflow = limit > 3 * reference
    if overflow:
        limit = 3 * reference
    fitting = [w for w in BIN_WIDTHS if math.ceil(limit / w) <= MAX_BINS]
    if not fitting:  # more than 16 days: whole business days, scaled up
        day = BIN_WIDTHS[-1]
        width = day * math.ceil(limit / (day * MAX_BINS))
    else:
        width = fitting[0]
        if target:
            aligned = [w for w in fitting[:4] if target % w == 0]
            width = aligned[0] if aligned else width
    count = max(math.ceil(limit / width), 1)
    if overflow and not any(v > count * width for v in values):
        overflow = False
    return width, count, overflow


def axis_ticks(width: int, count: int) -> list[int]:
    """Labelled minutes on the time axis: bin edges a round time apart (15 min, 1 h, 4 h, …;
    a multiple of the bin width), at most nine of them."""
    end = width * count
    for step in TICK_STEPS:
        if step % width == 0 and end / step <= 8:
            return list(range(0, end + 1, step))
    step = width * max(math.ceil(count / 8), 1)
    return list(range(0, end + 1, step))


def first_reply_svg(
    values: Sequence[int],
    target: int | None,
    missing: int,
    t: dict[str, Any],
    short: Callable[[int], str],
) -> Markup:
    """A histogram of first-reply business minutes with a dashed line at `target`. `short`
    writes minutes for the axis ("30 min", "2 h"); `missing`: tickets without a first reply
    (not in the picture, said in the description)."""
    values = sorted(v for v in values if v is not None)
    width, count, overflow = bins_for(values, target)
    counts = [0] * (count + (1 if overflow else 0))
    for v in values:
        index = max(math.ceil(v / width) - 1, 0)  # bins (lo, hi]; the first one holds 0
        counts[min(index, len(counts) - 1)] += 1
    ticks = count_ticks(max(counts, default=0))
    top = ticks[-1]
    slots = len(counts) + (0.4 if overflow else 0)  # a gap before the "more" bar
    slot = PLOT_W / slots
    axis_end = count * width

    def x_of(minutes: float) -> float:
        return LEFT + minutes / axis_end * count * slot

    body: list[str] = list(_y_axis(ticks, t["chart_tickets"]))
    for i, value in enumerate(counts):
        more = overflow and i == count
        lo, hi = i * width, (i + 1) * width
        x = LEFT + (i + 0.4 if more else i) * slot
        if value:
            within = target is not None and hi <= target
            color = COLORS["within"] if target is None or within else COLORS["over"]
            if target is not None and lo < target < hi:
                color = COLORS["solved"]  # the bin the target cuts
            y = _y(value, top)
            span = f"> {short(axis_end)}" if more else f"{short(lo)}–{short(hi)}"
            body.append(
                el(
                    "rect",
                    el("title", str(escape(f"{span}: {value}"))),
                    class_="bin",
                    x=x + 1,
                    y=y,
                    width=max(slot - 2, 0.5),
                    height=TOP + PLOT_H - y,
                    fill=color,
                )
            )
        if more:
            body.append(
                text(
                    f"> {short(axis_end)}",
                    x + slot / 2,
                    TOP + PLOT_H + 13,
                    text_anchor="middle",
                    fill=COLORS["text"],
                    font_size="9",
                )
            )
    for minutes in axis_ticks(width, count):
        x = x_of(minutes)
        body.append(
            el(
                "line",
                x1=x,
                x2=x,
                y1=float(TOP + PLOT_H),
                y2=float(TOP + PLOT_H + 4),
                stroke=COLORS["axis"],
                stroke_width="1",
            )
        )
        body.append(
            text(
                short(minutes),
                x,
                TOP + PLOT_H + 13,
                text_anchor="middle",
                fill=COLORS["text"],
                font_size="9",
            )
        )
    body.append(
        text(
            t["chart_minutes"],
            LEFT + PLOT_W / 2,
            HEIGHT - 8,
            text_anchor="middle",
            fill=COLORS["text"],
        )
    )
    if not values:
        body.append(_note(t["chart_no_replies"]))
    legend: list[tuple[str, str]] = []
    if target is not None:
        x = x_of(target)
        body.append(
            el(
                "line",
                class_="target",
                x1=x,
                x2=x,
                y1=float(TOP - 6),
                y2=float(TOP + PLOT_H),
                stroke=COLORS["ink"],
                stroke_width="1.5",
                stroke_dasharray="5 3",
            )
        )
        label = f"{t['chart_target']} {short(target)}"
        anchor = "end" if x > LEFT + PLOT_W * 0.7 else "start"
        body.append(
            text(
                label,
                x + (-5 if anchor == "end" else 5),
                TOP - 2,
                text_anchor=anchor,
                fill=COLORS["ink"],
                font_weight="700",
                class_="target-label",
            )
        )
        within = sum(1 for v in values if v <= target)
        legend = [
            (COLORS["within"], f"≤ {short(target)}: {within}"),
            (COLORS["over"], f"> {short(target)}: {len(values) - within}"),
        ]
        desc = t["hist_desc"].format(
            n=len(values), target=short(target), within=within, over=len(values) - within
        )
    else:
        legend = [(COLORS["within"], t["chart_no_target"])]
        desc = t["hist_desc_no_target"].format(n=len(values))
    if missing:
        desc += " " + t["chart_without_reply"].format(n=missing)
    body += _legend(legend)
    return svg("first-reply", t["hist_title"], desc, body)
