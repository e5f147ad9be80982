"""Benchmark 4 (issue 6): billing and SLA reports over a large store.

"Reports: billing and SLA for one month and for twelve months over 500 clients and 1,000,000
time entries in the store: wall time and peak memory. Target: under 2 s for a month."

What is measured: the real `syncd` command in a child process, from spawn to exit (wall
time), and the child's peak resident memory (ru_maxrss from os.wait4):

- `syncd report billing --month 2026-10 --no-refresh` (every format: html, csv, xlsx, json;
  500 invoices, their entry lists and the summary) and `syncd report sla --month 2026-10`
  (html, csv, json; no --rebuild). Both read the store only: `--no-refresh` is the documented
  way not to re-read the month from Redmine first, and the SLA report reads Zendesk only with
  `--rebuild`. No network is touched (the config names token variables that don't exist).
- Twelve months (2025-11 … 2026-10): the CLI takes one month per call, so one child process
  runs `syncd.cli.main` for each of the twelve months in turn (one interpreter, a fresh
  Billing/Sla per month, as twelve commands would).

The store (bench/reports_data.py) is built once per data version and size in var/bench/ and
copied for each benchmark run; the copy is opened once through syncd.state.Store (so any
newer migration runs) before anything is timed. One untimed run of each command warms the
page cache; then every command runs `RUNS` times. Beside each figure: the floor, the time to
merely read the month's rows with one SELECT (and the interpreter's start with syncd's
report modules imported), measured on the same store in the same run.

    python -m bench.reports_bench [--quick]    # prints the results as JSON
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.reports_data import FULL, MONTH, QUICK, TWELVE, Size, build_store, write_config
from syncd.state import Store

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench"
RUNS = 3
MONTH_TARGET_S = 2.0  # issue 6
TWELVE_TARGET_S = 12 * MONTH_TARGET_S  # no target in the issue: twelve times the month's
MEMORY_BOUND_MB = 1024.0  # no target in the issue: a sanity bound for a 2-CPU VPS

TWELVE_SCRIPT = """
import sys
from syncd.cli import main
config, out, kind, *months = sys.argv[1:]
extra = ["--no-refresh"] if kind == "billing" else []
for month in months:
    code = main(["--config", config, "--log-level", "warning", "report", kind,
                 "--month", month, "--out", f"{out}/{month}", *extra])
    if code:
        sys.exit(code)
"""
IMPORTS_SCRIPT = (
    "import syncd.cli, syncd.reporting, reports.billing, reports.sla, reports.render, "
    "reports.render_sla"
)


# ---------------------------------------------------------------------- the store
def seeded_store(size: Size, *, log: Callable[[str], None] = print) -> tuple[Path, float | None]:
    """The cached seeded store for `size` (built when missing); and the seconds it took to
    build it now, or None when it came from the cache."""
    path = CACHE / f"reports-{size.key}.db"
    if path.exists():
        return path, None
    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + f".{os.getpid()}.building")
    for leftover in building.parent.glob(building.name + "*"):
        leftover.unlink()
    log(f"seeding {size.key} into {path} …")
    started = time.perf_counter()
    counts = build_store(building, size)
    took = time.perf_counter() - started
    building.with_name(building.name + ".json").write_text(json.dumps(counts))
    os.replace(building.with_name(building.name + ".json"), path.with_suffix(".json"))
    os.replace(building, path)
    log(f"seeded in {took:.1f} s: {counts}")
    return path, took


def counts_of(path: Path) -> dict[str, int]:
    return json.loads(path.with_suffix(".json").read_text())


# ---------------------------------------------------------------------- measuring
def child(argv: list[str], *, cwd: Path) -> tuple[float, float, str]:
    """Run a child to its end: wall seconds, peak RSS in MB, its output. Fails loudly."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{text[-3000:]}")
    return wall, usage.ru_maxrss / 1024, text  # ru_maxrss is in KiB on Linux


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def select_floor(db: Path, months: list[str], runs: int) -> dict[str, list[float]]:
    """The floor: each report's rows read with one SELECT (fetchall), in this process."""
    from reports.months import month_range

    since, until = month_range(months[0])[0].isoformat(), month_range(months[-1])[1].isoformat()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        billing = timed(
            lambda: conn.execute(
                "SELECT * FROM time_entries WHERE spent_on BETWEEN ? AND ?", [since, until]
            ).fetchall(),
            runs,
        )
        sla = timed(
            lambda: conn.execute(
                "SELECT e.* FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
                "WHERE t.created_at >= ? AND t.created_at < ?",
                [since, until + "T99"],
            ).fetchall(),
            runs,
        )
    finally:
        conn.close()
    return {"billing": billing, "sla": sla}


def figure(
    id_: str,
    title: str,
    runs: list[float],
    unit: str,
    target: str,
    limit: float,
    beside: str,
    measured_on: str,
) -> dict[str, Any]:
    value = statistics.median(runs)
    return {
        "id": id_,
        "title": title,
        "value": round(value, 3),
        "unit": unit,
        "spread": [round(min(runs), 3), round(max(runs), 3)],
        "runs": [round(r, 3) for r in runs],
        "target": target,
        "met": value < limit,
        "beside": beside,
        "measured_on": measured_on,
    }


def _s(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}–{max(values):.3f})"


# ---------------------------------------------------------------------- the benchmark
def run(quick: bool) -> list[dict]:
    size = QUICK if quick else FULL
    runs = RUNS
    seeded, seeded_in = seeded_store(size, log=lambda m: print(m, file=sys.stderr))
    counts = counts_of(seeded)
    python = sys.executable
    script = Path(python).parent / "syncd"  # the installed command, as a manager runs it
    syncd = [str(script)] if script.exists() else [python, "-m", "syncd.cli"]
    work = Path(tempfile.mkdtemp(prefix="reports-run-", dir=CACHE))
    try:
        db = work / "state.db"
        shutil.copyfile(seeded, db)
        Store(db).close()  # migrations, if the schema moved on since the store was seeded
        config = work / "syncd.toml"
        write_config(config, size, db)
        load = os.getloadavg()
        measured_on = (
            f"{counts['clients']} clients, {counts['time_entries']:,} time entries, "
            f"{counts['issues']:,} issues, {counts['tickets']:,} tickets, "
            f"{counts['ticket_events']:,} ticket events over 14½ months "
            f"({db.stat().st_size / 2**20:.0f} MB store); {os.cpu_count()} CPUs, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start"
        )
        if seeded_in is not None:
            measured_on += f"; the store was seeded now in {seeded_in:.1f} s"

        def month_cmd(kind: str, out: Path) -> list[str]:
            argv = [*syncd, "--config", str(config), "--log-level", "warning"]
            argv += ["report", kind, "--month", MONTH, "--out", str(out)]
            return argv + (["--no-refresh"] if kind == "billing" else [])

        def twelve_cmd(kind: str, out: Path) -> list[str]:
            return [python, "-c", TWELVE_SCRIPT, str(config), str(out), kind, *TWELVE]

        imports = [child([python, "-c", IMPORTS_SCRIPT], cwd=work)[0] for _ in range(runs)]
        floor_month = select_floor(db, [MONTH], runs)
        floor_twelve = select_floor(db, TWELVE, runs)
        results: list[dict] = []
        scenarios = [
            ("billing", "month", month_cmd, floor_month, MONTH_TARGET_S),
            ("sla", "month", month_cmd, floor_month, MONTH_TARGET_S),
            ("billing", "twelve", twelve_cmd, floor_twelve, TWELVE_TARGET_S),
            ("sla", "twelve", twelve_cmd, floor_twelve, TWELVE_TARGET_S),
        ]
        for kind, span, cmd, floor, limit in scenarios:
            walls, peaks = [], []
            for n in range(runs + 1):  # the first run warms the page cache, untimed
                out = work / f"out-{kind}-{span}-{n}"
                wall, peak, _ = child(cmd(kind, out), cwd=work)
                shutil.rmtree(out)
                if n:
                    walls.append(wall)
                    peaks.append(peak)
            what = (
                f"`syncd report {kind} --month {MONTH}"
                + (" --no-refresh`" if kind == "billing" else "`")
                + (" (html, csv, xlsx, json)" if kind == "billing" else " (html, csv, json)")
                if span == "month"
                else f"`syncd report {kind}` for each month 2025-11 … 2026-10 in one process"
            )
            rows = "the month's" if span == "month" else "the twelve months'"
            table = "time entries" if kind == "billing" else "tickets' events"
            beside = (
                f"floor: reading {rows} {table} with one SELECT {_s(floor[kind])}; "
                f"interpreter start with the report modules imported {_s(imports)}"
            )
            title = f"{kind} report, {'one month' if span == 'month' else 'twelve months'}"
            results.append(
                figure(
                    f"reports.{kind}.{span}.wall",
                    f"{title}: wall time",
                    walls,
                    "s",
                    f"< {limit:g} s"
                    + ("" if span == "month" else " (no target in issue 6: 12 × the month's)"),
                    limit,
                    beside + f"; command: {what}",
                    measured_on,
                )
            )
            results.append(
                figure(
                    f"reports.{kind}.{span}.rss",
                    f"{title}: peak memory (RSS of the child)",
                    peaks,
                    "MB",
                    f"< {MEMORY_BOUND_MB:g} MB (no target in issue 6: a sanity bound)",
                    MEMORY_BOUND_MB,
                    f"store file {db.stat().st_size / 2**20:.0f} MB; command: {what}",
                    measured_on,
                )
            )
        end = os.getloadavg()
        for r in results:
            r["load_average_end"] = [round(x, 2) for x in end]
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.reports_bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help=f"a small store ({QUICK.key})")
    args = p.parse_args(argv)
    print(json.dumps(run(args.quick), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
