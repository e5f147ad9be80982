"""Benches 1-3: the idle cycle, busy cycles, and the backfill of a large studio.

Every cycle is `syncd sync` (or `syncd backfill`) as a child process (bench/common.run_syncd):
CPU time and peak RSS from the kernel's accounting of the child, HTTP time from the probe.
Requests are counted on the servers' side: the Zendesk emulator's request log and the lines
"Started GET ..." in the bench Redmine's production.log between two offsets.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench import redmine_seed
from bench import studio as st
from bench.common import Redmine, log, pages, result, spread

EXPORT_PAGE = 1000  # Zendesk's incremental exports
LIST_PAGE = 100  # Redmine's largest page


def counted(studio: st.Studio, *args: str) -> dict[str, Any]:
    """One measured syncd run and the requests each server saw during it."""
    studio.emu.clear_requests()
    offset = studio.rm.log_offset()
    run = studio.syncd(*args).check()
    zendesk = [f"{r['method']} {r['path']}" for r in studio.emu.requests()]
    redmine = [r.replace('"', "") for r in studio.rm.logged_requests(offset)]
    return {
        "run": run,
        "zendesk": zendesk,
        "redmine": redmine,
        "requests": len(zendesk) + len(redmine),
        "reads": sum(r.startswith("GET ") for r in zendesk + redmine),
        "writes": sum(not r.startswith("GET ") for r in zendesk + redmine),
    }


def _kinds(requests: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(requests).items()))


# ================================================================================ 1. idle
def idle(rm: Redmine, *, quick: bool) -> list[dict[str, Any]]:
    pairs, repeats = (30, 3) if quick else (300, 7)
    log(f"idle: building a studio of {pairs} linked pairs")
    studio = st.build(rm, clients=3, pairs=pairs, prefix="idle")
    try:
        studio.syncd("sync").check()  # adopts the pairs
        studio.emu.advance(61)
        studio.syncd("sync").check()  # settles
        runs = []
        for _ in range(repeats):
            studio.emu.advance(61)
            runs.append(counted(studio, "sync"))
    finally:
        studio.close()
    feeds = 4
    requests = [float(r["requests"]) for r in runs]
    on = f"`syncd sync`, nothing changed, {pairs} linked pairs in 3 client projects; {repeats} runs"
    last = runs[-1]
    kinds = {"zendesk": _kinds(last["zendesk"]), "redmine": _kinds(last["redmine"])}
    return [
        result(
            "idle.requests",
            "Idle cycle: requests (both sides)",
            requests,
            "requests",
            target="one per feed: 4 (Zendesk tickets, Zendesk ticket events, Redmine issues, "
            "Redmine time entries)",
            met=max(requests) <= feeds,
            beside=f"lower bound {feeds} (one page per feed; the ticket-event feed for the SLA "
            "report is the fourth)",
            measured_on=on,
            digits=0,
            requests_seen=kinds,
            zendesk=[len(r["zendesk"]) for r in runs],
            redmine=[len(r["redmine"]) for r in runs],
        ),
        result(
            "idle.cpu",
            "Idle cycle: CPU time of the syncd process",
            [r["run"].cpu for r in runs],
            "s",
            target="no target set by the issue; reported",
            met=True,
            beside="wall time "
            + _fmt([r["run"].wall for r in runs])
            + " s, of which inside HTTP "
            + _fmt([r["run"].http_seconds for r in runs])
            + " s; `python -c 'import syncd.cli'` alone: "
            + _fmt(_import_cpu())
            + " s CPU",
            measured_on=on,
            wall=[round(r["run"].wall, 3) for r in runs],
            peak_rss_mb=[round(r["run"].maxrss_mb, 1) for r in runs],
        ),
    ]


def _import_cpu(times: int = 3) -> list[float]:
    import os
    import subprocess
    import sys

    from bench.common import ROOT

    out = []
    for _ in range(times):
        proc = subprocess.Popen([sys.executable, "-c", "import syncd.cli"], cwd=ROOT)
        _, _, usage = os.wait4(proc.pid, 0)
        out.append(usage.ru_utime + usage.ru_stime)
    return out


def _fmt(values: list[float]) -> str:
    median, low, high = spread(values)
    return f"{median:.2f} ({low:.2f}–{high:.2f})"


# ================================================================================ 2. busy
def busy_once(rm: Redmine, n: int) -> dict[str, Any]:
    """A studio of 3N pairs; then N tickets reopened by their clients (solved -> open by a
    public reply), N issues moved New -> In Progress, N time entries logged on N other
    linked issues; one measured cycle."""
    group_a = set(range(n))  # solved tickets the clients reopen -> N issue reopens (Redmine)
    group_b = list(range(n, 2 * n))  # issue status changes -> N internal notes (Zendesk)
    group_c = list(range(2 * n, 3 * n))  # new time entries -> N hours updates (Zendesk)
    studio = st.build(rm, clients=1, pairs=3 * n, solved=group_a, prefix=f"busy{n}")
    try:
        project = studio.clients[0].project_id
        # History: project-level time logged weeks ago, so the time-entry feed has entries it
        # already knows behind the new ones, as in a studio that has been running.
        weeks_ago = datetime.now(UTC) - timedelta(days=20)
        redmine_seed.insert_time_entries(
            rm,
            (
                redmine_seed.NewEntry(
                    project, None, studio.user_id, Decimal("1"), weeks_ago.date(), weeks_ago
                )
                for _ in range(50)
            ),
        )
        studio.syncd("sync").check()  # adopts the 3N pairs
        studio.emu.advance(61)
        settle = counted(studio, "sync")  # settles (echoes of nothing: no writes expected)
        # ---- the changes
        for k in group_a:
            requester = studio.account.requesters[studio.client_of[k]]
            studio.emu.add_comment(studio.tickets[k], "Broken again, sorry.", True, requester)
        now = datetime.now(UTC)
        redmine_seed.set_status(rm, [studio.issues[k] for k in group_b], "In Progress", now)
        redmine_seed.insert_time_entries(
            rm,
            (
                redmine_seed.NewEntry(
                    project, studio.issues[k], studio.user_id, Decimal("1.5"), now.date(), now
                )
                for k in group_c
            ),
        )
        studio.emu.advance(61)
        busy = counted(studio, "sync")
        studio.emu.advance(61)
        echo = counted(studio, "sync")
        studio.emu.advance(61)
        after = counted(studio, "sync")
    finally:
        studio.close()
    reopened = sum(r == "PUT /issues/{id}.json" for r in _shapes(busy["redmine"]))
    bound_reads = {
        "zendesk ticket export": pages(n, EXPORT_PAGE),
        "zendesk event export": pages(n, EXPORT_PAGE),
        "redmine issues": pages(n, LIST_PAGE),
        "redmine time entries": pages(n, LIST_PAGE),
    }
    effects = 3 * n
    return {
        "busy": busy,
        "settle": settle,
        "echo": echo,
        "after": after,
        "bound": sum(bound_reads.values()) + effects,
        "bound_reads": bound_reads,
        "effects": effects,
        "reopened": reopened,
    }


def _shapes(requests: list[str]) -> list[str]:
    import re

    return [re.sub(r"/\d+", "/{id}", r) for r in requests]


def busy(rm: Redmine, *, quick: bool) -> list[dict[str, Any]]:
    # N=1000 twice: its 1,000 issue reopens alone are ~100 s of Redmine PUTs per cycle.
    sizes = [(10, 2), (100, 2)] if quick else [(10, 3), (100, 3), (1000, 2)]
    out = []
    for n, repeats in sizes:
        runs, retried = [], []
        for i in range(repeats):
            log(f"busy: N={n}, run {i + 1}/{repeats}")
            try:
                runs.append(busy_once(rm, n))
            except RuntimeError as e:  # a cycle that exited 1 (e.g. Redmine answered 500)
                retried.append(str(e).splitlines()[-1][:300])
                log(f"busy: N={n}, run {i + 1} failed, once more on a fresh studio: {e}")
                runs.append(busy_once(rm, n))
        bound = runs[0]["bound"]
        ratios = [r["busy"]["requests"] / r["bound"] for r in runs]
        last = runs[-1]
        out.append(
            result(
                f"busy.{n}",
                f"Busy cycle, N={n}: requests / lower bound",
                ratios,
                "× bound",
                target="≤ 1.1 × the lower bound",
                met=max(ratios) <= 1.1,
                beside=f"lower bound {bound} = pages "
                + " + ".join(f"{v} ({k})" for k, v in last["bound_reads"].items())
                + f" + {last['effects']} writes (one per effect); requests made: "
                + ", ".join(str(r["busy"]["requests"]) for r in runs),
                measured_on=f"{n} tickets reopened by their clients, {n} issue status changes, "
                f"{n} new time entries, in a studio of {3 * n} linked pairs and 50 older entries; "
                f"{repeats} fresh studios",
                requests=[r["busy"]["requests"] for r in runs],
                reads=[r["busy"]["reads"] for r in runs],
                writes=[r["busy"]["writes"] for r in runs],
                wall_s=[round(r["busy"]["run"].wall, 2) for r in runs],
                cpu_s=[round(r["busy"]["run"].cpu, 2) for r in runs],
                http_s=[round(r["busy"]["run"].http_seconds, 2) for r in runs],
                peak_rss_mb=[round(r["busy"]["run"].maxrss_mb, 1) for r in runs],
                requests_seen={
                    "zendesk": _kinds(_shapes(last["busy"]["zendesk"])),
                    "redmine": _kinds(_shapes(last["busy"]["redmine"])),
                },
                retried=retried,
                settle_requests=[r["settle"]["requests"] for r in runs],
                echo_requests=[r["echo"]["requests"] for r in runs],
                echo_writes=[r["echo"]["writes"] for r in runs],
                idle_after_requests=[r["after"]["requests"] for r in runs],
                idle_after_seen={
                    "zendesk": _kinds(_shapes(last["after"]["zendesk"])),
                    "redmine": _kinds(_shapes(last["after"]["redmine"])),
                },
            )
        )
    return out


# ================================================================================ 3. backfill
def backfill_studio(
    rm: Redmine, *, tickets: int, entries: int, clients: int, months: int, prefix: str
) -> tuple[st.Studio, dict[str, Any]]:
    """`tickets` linked pairs over `clients` clients, `entries` time entries spread evenly over
    the issues and over the last `months` months (up to yesterday)."""
    log(f"backfill: seeding {tickets} pairs and {entries} time entries ({prefix})")
    studio = st.build(
        rm, clients=clients, pairs=tickets, history_days=(months * 31, 1), prefix=prefix
    )
    rng = random.Random(tickets * 7 + entries)
    today = datetime.now(UTC).date()
    first_day = _month_start(today, months - 1)
    days = (today - first_day).days  # up to yesterday
    quarter = Decimal("0.25")

    def gen():
        for e in range(entries):
            k = e % tickets
            spent = first_day + timedelta(days=(e * days) // entries)
            created = datetime(spent.year, spent.month, spent.day, 18, tzinfo=UTC) + timedelta(
                seconds=e % 3600
            )
            yield redmine_seed.NewEntry(
                studio.clients[studio.client_of[k]].project_id,
                studio.issues[k],
                studio.user_id,
                quarter * rng.randint(1, 16),
                spent,
                created,
                activity=("Development", "Design", "Support")[e % 3],
                comments=f"work {e}",
            )

    redmine_seed.insert_time_entries(rm, gen())
    redmine_seed.verify(rm, studio.project_ids, issues=tickets, entries=entries)
    return studio, {"first_day": first_day, "today": today}


def _month_start(today: date, back: int) -> date:
    year, month = today.year, today.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1)


def backfill_run(studio: st.Studio, since: date) -> dict[str, Any]:
    """One `syncd backfill` from an empty state."""
    studio.state.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        studio.state.with_name(studio.state.name + suffix).unlink(missing_ok=True)
    return counted(studio, "backfill", "--since", since.isoformat())


def backfill(rm: Redmine, *, quick: bool, keep: bool = False) -> tuple[list[dict], Any]:
    """Returns the figures and (with keep) the full-size studio, backfilled, for bench 5."""
    full = (2_000, 20_000) if quick else (20_000, 200_000)
    small = (full[0] // 10, full[1] // 10)
    # A full-size backfill is ~2,000 pages of Redmine's time-entry API at 0.4-0.8 s each on
    # this machine (15-25 min): one run fits `make bench`'s 30 minutes; the tenth-size
    # studio is run three times for the spread. SYNCD_BENCH_BACKFILL_RUNS asks for more.
    repeats = int(os.environ.get("SYNCD_BENCH_BACKFILL_RUNS") or 1)
    small_repeats = 2 if quick else 3
    figures = []
    kept = None
    measured: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for size in (small, full):
        studio, info = backfill_studio(
            rm, tickets=size[0], entries=size[1], clients=10, months=12, prefix=f"bf{size[0]}"
        )
        try:
            measured[size] = []
            for i in range(repeats if size == full else small_repeats):
                log(f"backfill: {size[0]} tickets/issues, {size[1]} entries, run {i + 1}")
                measured[size].append(backfill_run(studio, info["first_day"]))
        finally:
            if keep and size == full:
                kept = (studio, info)
            else:
                studio.close()
    runs = measured[full]
    tickets, entries = full
    events = tickets  # one audit (Create + first comment) per seeded ticket
    bound = (
        pages(tickets, LIST_PAGE)
        + pages(entries, LIST_PAGE)
        + pages(tickets, EXPORT_PAGE)
        + pages(events, EXPORT_PAGE)
    )
    on = (
        f"{tickets} tickets, {tickets} issues (linked by the issues' ticket field), {entries} "
        f"time entries over 12 months, 10 clients; `syncd backfill` from an empty state, "
        f"{repeats} runs"
    )
    walls = [r["run"].wall for r in runs]
    outside = [1 - r["run"].http_seconds / r["run"].wall for r in runs]
    rss_full = [r["run"].maxrss_mb for r in runs]
    rss_small = [r["run"].maxrss_mb for r in measured[small]]
    small_runs = measured[small]
    small_on = (
        f"{small[0]} tickets, {small[0]} issues, {small[1]} time entries over 12 months, 10 "
        f"clients; `syncd backfill` from an empty state, {small_repeats} runs"
    )
    figures += [
        result(
            "backfill.tenth.wall",
            "Backfill at one tenth of the size: wall time",
            [r["run"].wall for r in small_runs],
            "s",
            target="dominated by the APIs",
            met=max(1 - r["run"].http_seconds / r["run"].wall for r in small_runs) < 0.5,
            beside="time inside HTTP "
            + _fmt([r["run"].http_seconds for r in small_runs])
            + " s; share outside HTTP "
            + _fmt([100 * (1 - r["run"].http_seconds / r["run"].wall) for r in small_runs])
            + " %; requests "
            + ", ".join(str(r["requests"]) for r in small_runs),
            measured_on=small_on,
            cpu_s=[round(r["run"].cpu, 1) for r in small_runs],
        ),
        result(
            "backfill.wall",
            "Backfill: wall time",
            walls,
            "s",
            target="dominated by the APIs (the share outside HTTP is the next figure)",
            met=max(outside) < 0.5,
            beside="time inside HTTP: "
            + _fmt([r["run"].http_seconds for r in runs])
            + " s; CPU of syncd "
            + _fmt([r["run"].cpu for r in runs])
            + " s",
            measured_on=on,
            http_s=[round(r["run"].http_seconds, 1) for r in runs],
            cpu_s=[round(r["run"].cpu, 1) for r in runs],
        ),
        result(
            "backfill.outside_http",
            "Backfill: share of wall time outside HTTP",
            [100 * x for x in outside],
            "%",
            target="< 50 % (wall time dominated by the APIs)",
            met=max(outside) < 0.5,
            beside="method: the probe (bench/probe.py) times every requests Session.send "
            "(the body's download included) in the syncd process; share = 1 - HTTP time / "
            "wall time",
            measured_on=on,
            digits=1,
        ),
        result(
            "backfill.requests",
            "Backfill: requests",
            [float(r["requests"]) for r in runs],
            "requests",
            target="the pages the data needs, nothing per item",
            met=max(r["requests"] for r in runs) <= 1.1 * bound,
            beside=f"lower bound {bound} = {pages(tickets, LIST_PAGE)} issue pages + "
            f"{pages(entries, LIST_PAGE)} time-entry pages + {pages(tickets, EXPORT_PAGE)} "
            f"ticket export pages + {pages(events, EXPORT_PAGE)} event export pages",
            measured_on=on,
            digits=0,
            requests_seen={
                "zendesk": _kinds(_shapes(runs[-1]["zendesk"])),
                "redmine": _kinds(_shapes(runs[-1]["redmine"])),
            },
        ),
        result(
            "backfill.rss",
            "Backfill: peak memory (RSS) of syncd",
            rss_full,
            "MB",
            target="< 200 MB and flat in the data size",
            met=max(rss_full) < 200 and max(rss_full) < 1.5 * max(rss_small),
            beside=f"at one tenth of the data ({small[0]} tickets/issues, {small[1]} entries): "
            + _fmt(rss_small)
            + " MB",
            measured_on=on,
            digits=1,
        ),
    ]
    return figures, kept
