"""Bench 5: the per-project monthly totals of the backfilled studio (bench 3's 200,000 time
entries), from Redmine's own spent-time report and from `syncd report billing`, side by side
in one run, with the totals checked cell by cell.

- Redmine: GET /time_entries/report.csv?criteria[]=project&columns=month, filtered to the
  studio's projects and the period: once for the twelve months (one request answers every
  per-project monthly total) and once per month. Also its CSV listing, /time_entries.csv,
  for one month (the other route the issue names: every entry, summed by the reader).
- syncd: `syncd report billing --month M --no-refresh --format json` as a child process, one
  per month (the command takes one month); `--no-refresh`: from the store the backfill filled,
  as the cron job's monthly report would after its sync cycles (a refresh re-reads the month
  from Redmine's API first, which bench 3 measures). Each client is one project, so an
  invoice's hours are that project's monthly total.
Wall times; three rounds; ratios are Redmine's time / syncd's (above 1: syncd is faster).
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import sync_bench
from bench.common import ROOT, Redmine, log, result, spread

ROUNDS = 3


def _months(first: date, last: date) -> list[str]:
    out, d = [], first.replace(day=1)
    while d <= last:
        out.append(f"{d.year}-{d.month:02d}")
        d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def _month_range(month: str) -> tuple[str, str]:
    year, mon = map(int, month.split("-"))
    start = date(year, mon, 1)
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return start.isoformat(), end.isoformat()


def _filter(project_ids: list[int], since: str, until: str) -> list[tuple[str, str]]:
    return [
        ("set_filter", "1"),
        ("f[]", "project_id"),
        ("op[project_id]", "="),
        *[("v[project_id][]", str(p)) for p in project_ids],
        ("f[]", "spent_on"),
        ("op[spent_on]", "><"),
        ("v[spent_on][]", since),
        ("v[spent_on][]", until),
    ]


def redmine_report(
    rm: Redmine, project_ids: list[int], since: str, until: str
) -> tuple[float, dict[tuple[str, str], Decimal]]:
    """Redmine's time report as CSV: seconds, and {(project name, YYYY-MM): hours}."""
    params = [
        *_filter(project_ids, since, until),
        ("criteria[]", "project"),
        ("columns", "month"),
    ]
    start = time.perf_counter()
    resp = rm.session.get(f"{rm.url}/time_entries/report.csv", params=params, timeout=600)
    text = resp.content.decode("utf-8-sig")
    seconds = time.perf_counter() - start
    resp.raise_for_status()
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    months = [_norm_month(h) for h in header[1:-1]]
    totals = {}
    for row in rows[1:]:
        if not row or row[0] in ("Total time", "Total"):
            continue
        for month, value in zip(months, row[1:-1], strict=True):
            if value.strip():
                totals[(row[0], month)] = Decimal(value)
    return seconds, totals


def _norm_month(text: str) -> str:
    year, month = text.split("-")
    return f"{int(year)}-{int(month):02d}"


def redmine_listing(rm: Redmine, project_ids: list[int], month: str) -> tuple[float, Decimal]:
    """/time_entries.csv for a month (project, date, hours): seconds, and its hours summed."""
    since, until = _month_range(month)
    params = [
        *_filter(project_ids, since, until),
        ("c[]", "project"),
        ("c[]", "spent_on"),
        ("c[]", "hours"),
    ]
    start = time.perf_counter()
    resp = rm.session.get(
        f"{rm.url}/time_entries.csv",
        params=params,
        headers={"X-Redmine-API-Key": rm.key},
        timeout=600,
    )
    text = resp.content.decode("utf-8-sig")
    seconds = time.perf_counter() - start
    resp.raise_for_status()
    rows = list(csv.DictReader(io.StringIO(text)))
    return seconds, sum((Decimal(r["Hours"]) for r in rows), Decimal("0"))


LINE = re.compile(r"^(\S+)\s+\S+\s+(-?[\d.]+) h ")


def syncd_report(studio: Any, month: str, out: Path) -> tuple[float, dict[str, Decimal]]:
    """`syncd report billing` for a month: seconds (spawn to exit), {client: hours}."""
    start = time.perf_counter()
    run = studio.syncd(
        "report",
        "billing",
        "--month",
        month,
        "--no-refresh",
        "--format",
        "json",
        "--out",
        str(out / month),
    ).check()
    seconds = time.perf_counter() - start
    hours = {}
    for line in run.stdout.splitlines():
        m = LINE.match(line)
        if m:
            hours[m[1]] = Decimal(m[2])
    return seconds, hours


def inprocess_report(studio: Any, month: str) -> float:
    """The billing computation alone, in this process, on the same store and config: what
    the command costs without starting an interpreter and writing files."""
    from reports.billing import Billing
    from syncd.config import load_config
    from syncd.state import Store, utcnow

    config = load_config(studio.config)
    store = Store(studio.state)
    try:
        start = time.perf_counter()
        Billing(config, store).report(month, generated_at=utcnow())
        return time.perf_counter() - start
    finally:
        store.close()


def _import_floor(times: int = 3) -> list[float]:
    """Wall time of an interpreter that only imports what the command needs."""
    out = []
    code = "import syncd.cli, syncd.reporting, reports.billing, reports.render"
    for _ in range(times):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        out.append(time.perf_counter() - start)
    return out


def run(rm: Redmine, *, quick: bool, studio: Any = None) -> list[dict[str, Any]]:
    own = studio is None
    if own:
        size = (2_000, 20_000) if quick else (20_000, 200_000)
        studio, info = sync_bench.backfill_studio(
            rm, tickets=size[0], entries=size[1], clients=10, months=12, prefix=f"cmp{size[0]}"
        )
        sync_bench.backfill_run(studio, info["first_day"])
    else:
        studio, info = studio
    try:
        return _compare(rm, studio, info, quick=quick)
    finally:
        if own:
            studio.close()


def _compare(rm: Redmine, studio: Any, info: dict[str, Any], *, quick: bool) -> list[dict]:
    months = _months(info["first_day"], info["today"])
    pids = studio.project_ids
    names = {f"bench {c.project}": c.id for c in studio.clients}
    since, until = months[0] + "-01", _month_range(months[-1])[1]
    rounds = 2 if quick else ROUNDS
    whole_rm, month_rm, month_syncd, listing, whole_syncd = [], [], [], [], []
    month_inproc: list[float] = []
    mismatches: list[str] = []
    cells = 0
    with tempfile.TemporaryDirectory(prefix="syncd-bench-cmp-") as tmp:
        # Untimed: the page cache warm for both sides.
        redmine_report(rm, pids, since, until)
        syncd_report(studio, months[-2], Path(tmp))
        for r in range(rounds):
            log(f"compare: round {r + 1}/{rounds}")
            seconds, rm_totals = redmine_report(rm, pids, since, until)
            whole_rm.append(seconds)
            total_syncd = 0.0
            for month in months:
                s_rm, rm_month = redmine_report(rm, pids, *_month_range(month))
                s_syncd, hours = syncd_report(studio, month, Path(tmp))
                month_rm.append(s_rm)
                month_syncd.append(s_syncd)
                month_inproc.append(inprocess_report(studio, month))
                total_syncd += s_syncd
                if r == 0:
                    for name, client in names.items():
                        want = rm_totals.get((name, month), Decimal("0"))
                        got = hours.get(client, Decimal("0"))
                        also = rm_month.get((name, month), Decimal("0"))
                        cells += 1
                        if not (want == got == also):
                            mismatches.append(
                                f"{client} {month}: Redmine {want}/{also}, syncd {got}"
                            )
            whole_syncd.append(total_syncd)
            s_list, _ = redmine_listing(rm, pids, months[-2])
            listing.append(s_list)
    floor = _import_floor()
    equal = not mismatches
    n = len(months)
    on = (
        f"bench 3's studio: {len(pids)} projects (one client each), the time entries of "
        f"{n} months ({months[0]} … {months[-1]}) backfilled into syncd's store; "
        f"{rounds} rounds; totals compared in {cells} project×month cells: "
        + ("all equal" if equal else f"{len(mismatches)} differ: {'; '.join(mismatches[:5])}")
    )
    syncd_month_med = spread(month_syncd)[0]
    whole_ratios = [a / b for a, b in zip(whole_rm, whole_syncd, strict=True)]
    month_ratios = [a / b for a, b in zip(month_rm, month_syncd, strict=True)]
    listing_ratios = [a / syncd_month_med for a in listing]
    inproc_ratios = [a / b for a, b in zip(month_rm, month_inproc, strict=True)]
    return [
        result(
            "compare.twelve_months",
            f"Per-project monthly totals, {n} months: Redmine's time report ÷ syncd",
            whole_ratios,
            "× (Redmine time / syncd time)",
            target="≥ 10 (syncd 10× faster or better), with equal totals",
            met=equal and min(whole_ratios) >= 10,
            beside=f"peer: Redmine's report.csv (criteria project, columns month), one request "
            f"for the {n} months: {_fmt(whole_rm)} s; syncd: {n} × `syncd report billing "
            f"--no-refresh --format json`: {_fmt(whole_syncd)} s",
            measured_on=on,
            digits=3,
            equal_totals=equal,
            redmine_s=[round(x, 3) for x in whole_rm],
            syncd_s=[round(x, 3) for x in whole_syncd],
        ),
        result(
            "compare.month",
            "Per-project totals of one month: Redmine's time report ÷ syncd",
            month_ratios,
            "× (Redmine time / syncd time)",
            target="≥ 10, with equal totals",
            met=equal and min(month_ratios) >= 10,
            beside=f"peer: report.csv for the month {_fmt(month_rm)} s; `syncd report billing "
            f"--month M --no-refresh --format json` {_fmt(month_syncd)} s, of which starting "
            f"Python with the report's modules imported: {_fmt(floor)} s",
            measured_on=on + f"; {len(month_ratios)} month runs",
            digits=3,
            equal_totals=equal,
        ),
        result(
            "compare.month_computation",
            "One month: Redmine's time report ÷ syncd's billing computation alone (in process)",
            inproc_ratios,
            "× (Redmine time / syncd time)",
            target="informational: what `syncd report billing` costs without starting Python "
            "and writing files (the command's target is the figure above)",
            met=min(inproc_ratios) >= 10,
            beside=f"peer: report.csv for the month {_fmt(month_rm)} s; "
            f"Billing.report() for the month {_fmt(month_inproc)} s",
            measured_on=on + f"; {len(inproc_ratios)} month runs",
            digits=3,
        ),
        result(
            "compare.listing",
            "One month: Redmine's CSV listing (/time_entries.csv) ÷ syncd",
            listing_ratios,
            "× (Redmine time / syncd time)",
            target="≥ 10, with equal totals",
            met=equal and min(listing_ratios) >= 10,
            beside=f"peer: /time_entries.csv of {months[-2]} (project, date, hours) "
            f"{_fmt(listing)} s; syncd's month median {syncd_month_med:.3f} s",
            measured_on=on,
            digits=3,
        ),
    ]


def _fmt(values: list[float]) -> str:
    median, low, high = spread(values)
    return f"{median:.3f} ({low:.3f}–{high:.3f})"


if __name__ == "__main__":
    import json

    quick = "--quick" in sys.argv
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    print(json.dumps(run(Redmine.connect(), quick=quick), indent=1, default=str))
