"""Benchmark 4 (issue 6): billing and SLA reports over a large store.

"Reports: billing and SLA for one month and for twelve months over 500 clients and 1,000,000
time entries in the store: wall time and peak memory. Target: under 2 s for a month."

What is measured: the real `syncd` command in a child process, from spawn to exit (wall
time), and the child's peak resident memory (ru_maxrss from os.wait4). Both reports read the
store only: `syncd report billing --no-refresh` is the documented way not to re-read the month
from Redmine first, and `syncd report sla` reads Zendesk only with `--rebuild`. No network is
touched (the config names token variables that don't exist).

- One month (2026-10, the last complete one): `syncd report billing --month 2026-10
  --no-refresh` with every format (html, csv, xlsx, json: 500 invoices, their entry lists
  and the summary, 2,505 files) and `syncd report sla --month 2026-10` (html, csv, json:
  1,004 files). Beside them, the same month computed without writing any file (a child that
  loads the config and runs `Billing.report` / `Sla.report` under the store lock, as the
  command does): where the month's time goes.
- Twelve months (2025-11 … 2026-10): the CLI takes one month per call, so one child process
  runs `syncd.cli.main` for each of the twelve months in turn (one interpreter, a fresh
  Billing/Sla per month, as twelve commands would), writing the JSON contract only
  (`--format json`): every format for twelve months would take longer than the whole
  `make bench` may (under 30 minutes).

The store (bench/reports_data.py) is built once per data version and size in var/bench/ and
copied for each benchmark run (which also brings it into the page cache); the copy is opened
once through syncd.state.Store (so any newer migration runs) before anything is timed. One
untimed run of each one-month command warms the interpreter's files; then every command runs
`RUNS` times (the twelve months `TWELVE_RUNS` times). Beside each figure: the floor, the time
to merely read the month's rows with one SELECT, and the interpreter's start with syncd's
report modules imported, measured on the same store in the same run.

"Before": `python -m bench.reports_bench --before COMMIT` measures the one-month figures
with syncd as it was at COMMIT (its code taken with `git archive`, the same seeded store at
that commit's schema) and writes bench/reports_before.json; `run()` then shows those figures
beside today's as "before" (with the commit, the date and the load they were measured at).

    python -m bench.reports_bench [--quick]        # prints the results as JSON
    python -m bench.reports_bench --before 3eca70d^ [--quick]
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import result
from bench.reports_data import FULL, MONTH, QUICK, TWELVE, Size, build_store, write_config

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench"
BEFORE_FILE = Path(__file__).resolve().parent / "reports_before.json"
RUNS = 3
TWELVE_RUNS = 2  # twelve months take ten times a month's: two runs keep `make bench` under 30 min
MONTH_TARGET_S = 2.0  # issue 6
TWELVE_TARGET_S = 12 * MONTH_TARGET_S  # no target in the issue: twelve times the month's
MEMORY_BOUND_MB = 1024.0  # no target in the issue: a sanity bound for a 2-CPU VPS
V7_INDEXES = ("time_entries_project_spent", "issues_project_done", "ticket_events_at")

TWELVE_SCRIPT = """
import sys
from syncd.cli import main
config, out, kind, *months = sys.argv[1:]
extra = ["--no-refresh"] if kind == "billing" else []
for month in months:
    code = main(["--config", config, "--log-level", "warning", "report", kind,
                 "--month", month, "--out", f"{out}/{month}", "--format", "json", *extra])
    if code:
        sys.exit(code)
"""
COMPUTE_SCRIPT = """
import sys
from datetime import UTC, datetime
from syncd.config import load_config
from syncd.reporting import locked_store
config, kind, month = sys.argv[1:]
config = load_config(config)
with locked_store(config) as store:
    if kind == "billing":
        from reports.billing import Billing
        report = Billing(config, store).report(month, generated_at=datetime.now(UTC))
    else:
        from reports.sla import Sla
        report = Sla(config, store).report(month, generated_at=datetime.now(UTC))
print(len(report.clients), "clients computed, no file written")
"""
IMPORTS_SCRIPT = (
    "import syncd.cli, syncd.reporting, reports.billing, reports.sla, reports.render, "
    "reports.render_sla"
)


def log(message: str) -> None:
    print(f"[reports] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- the store
def seeded_store(size: Size) -> tuple[Path, float | None]:
    """The cached seeded store for `size` (built when missing); and the seconds it took to
    build it now, or None when it came from the cache."""
    path = CACHE / f"reports-{size.key}.db"
    if path.exists():
        return path, None
    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + f".{os.getpid()}.building")
    log(f"seeding {size.key} into {path} …")
    started = time.perf_counter()
    counts = build_store(building, size)
    took = time.perf_counter() - started
    path.with_suffix(".json").write_text(json.dumps(counts))
    os.replace(building, path)
    log(f"seeded in {took:.1f} s: {counts}")
    return path, took


def counts_of(path: Path) -> dict[str, int]:
    return json.loads(path.with_suffix(".json").read_text())


def at_schema(db: Path, version: int) -> None:
    """Bring a copy of the seeded store to an older syncd's schema (for --before). Only v7
    (the report indexes) can be undone; anything older was there when the store was seeded."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        current = int(row[0])
        if current > version:
            if version != 6 or current != 7:
                raise SystemExit(f"can't bring a v{current} store to v{version}")
            for name in V7_INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(version)])
            conn.commit()
    finally:
        conn.close()


# ---------------------------------------------------------------------- measuring
# The measured command is started by this small launcher, not by the benchmark itself: on
# Linux a child's ru_maxrss starts from the peak of the process it was forked from (the
# high-water mark survives exec), and the benchmark's own peak is no part of the command's.
LAUNCHER = """
import json, os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(report, "w") as fh:
    json.dump({"wall": wall, "maxrss_kib": usage.ru_maxrss,
               "code": os.waitstatus_to_exitcode(status)}, fh)
"""


def child(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, float, str]:
    """Run a command to its end: wall seconds (fork to exit), its peak RSS in MB (ru_maxrss
    from os.wait4), its output. Fails loudly."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as report:
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, report.name]
        subprocess.run(
            [*launcher, *argv], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, check=True
        )
        figures = json.loads(report.read())
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if figures["code"] != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} … exited {figures['code']}:\n{text[-3000:]}")
    return figures["wall"], figures["maxrss_kib"] / 1024, text  # KiB on Linux


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


def _s(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}–{max(values):.3f})"


class Workspace:
    """A copy of the seeded store with its config, and how to run syncd on it."""

    def __init__(self, size: Size, *, code: Path | None = None, schema: int | None = None):
        self.size = size
        seeded, self.seeded_in = seeded_store(size)
        self.counts = counts_of(seeded)
        self.dir = Path(tempfile.mkdtemp(prefix="reports-run-", dir=CACHE))
        self.db = self.dir / "state.db"
        shutil.copyfile(seeded, self.db)
        self.env = dict(os.environ)
        self.python = sys.executable
        if code is None:
            from syncd.state import Store

            Store(self.db).close()  # migrations, if the schema moved on since it was seeded
            script = Path(self.python).parent / "syncd"  # the installed command, as run
            self.syncd = [str(script)] if script.exists() else [self.python, "-m", "syncd.cli"]
        else:
            at_schema(self.db, schema or 6)
            self.env["PYTHONPATH"] = str(code)  # the old syncd, before the installed one
            self.syncd = [self.python, "-m", "syncd.cli"]
        self.config = self.dir / "syncd.toml"
        write_config(self.config, size, self.db)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def measured_on(self) -> str:
        c = self.counts
        text = (
            f"{c['clients']} clients, {c['time_entries']:,} time entries, {c['issues']:,} "
            f"issues, {c['tickets']:,} tickets, {c['ticket_events']:,} ticket events over 14½ "
            f"months ({self.db.stat().st_size / 2**20:.0f} MB store, data {self.size.key})"
        )
        if self.seeded_in is not None:
            text += f"; the store was seeded in this run in {self.seeded_in:.1f} s"
        return text

    def month_cmd(self, kind: str, out: Path) -> list[str]:
        argv = [*self.syncd, "--config", str(self.config), "--log-level", "warning"]
        argv += ["report", kind, "--month", MONTH, "--out", str(out)]
        return argv + (["--no-refresh"] if kind == "billing" else [])

    def compute_cmd(self, kind: str, out: Path) -> list[str]:
        return [self.python, "-c", COMPUTE_SCRIPT, str(self.config), kind, MONTH]

    def twelve_cmd(self, kind: str, out: Path) -> list[str]:
        return [self.python, "-c", TWELVE_SCRIPT, str(self.config), str(out), kind, *TWELVE]

    def measure(
        self, cmd: Callable[[str, Path], list[str]], kind: str, runs: int, *, warm: bool
    ) -> tuple[list[float], list[float]]:
        walls, peaks = [], []
        for n in range(runs + int(warm)):
            out = self.dir / f"out-{kind}-{n}"
            wall, peak, _ = child(cmd(kind, out), cwd=self.dir, env=self.env)
            shutil.rmtree(out, ignore_errors=True)
            if n or not warm:
                walls.append(wall)
                peaks.append(peak)
            log(f"{cmd.__name__} {kind}: {wall:.2f} s, {peak:.0f} MB")
        return walls, peaks


# ---------------------------------------------------------------------- the benchmark
MONTH_WHAT = {
    "billing": f"`syncd report billing --month {MONTH} --no-refresh` (html, csv, xlsx, json)",
    "sla": f"`syncd report sla --month {MONTH}` (html, csv, json)",
}


def run(quick: bool) -> list[dict]:
    size = QUICK if quick else FULL
    ws = Workspace(size)
    try:
        load = os.getloadavg()
        measured_on = ws.measured_on()
        imports = [child([ws.python, "-c", IMPORTS_SCRIPT], cwd=ws.dir)[0] for _ in range(RUNS)]
        floors = {"month": select_floor(ws.db, [MONTH], RUNS)}
        floors["twelve"] = select_floor(ws.db, TWELVE, RUNS)
        before = _before(size)
        results: list[dict] = []

        def add(
            id_: str,
            title: str,
            runs: list[float],
            unit: str,
            target: str,
            limit: float,
            beside: str,
        ) -> None:
            figure = result(
                id_,
                title,
                runs,
                unit,
                target=target,
                met=statistics.median(runs) < limit,
                beside=beside,
                measured_on=measured_on,
                load_average_start=[round(x, 2) for x in load],
            )
            if id_ in before:
                figure["before"] = before[id_]
            results.append(figure)

        for kind in ("billing", "sla"):
            table = "time entries" if kind == "billing" else "tickets' events"
            floor = (
                f"floor: reading the month's {table} with one SELECT "
                f"{_s(floors['month'][kind])}; interpreter start with the report modules "
                f"imported {_s(imports)}"
            )
            walls, peaks = ws.measure(ws.month_cmd, kind, RUNS, warm=True)
            add(
                f"reports.{kind}.month.wall",
                f"{kind} report, one month, every format: wall time",
                walls,
                "s",
                f"< {MONTH_TARGET_S:g} s",
                MONTH_TARGET_S,
                f"{floor}; command: {MONTH_WHAT[kind]}",
            )
            add(
                f"reports.{kind}.month.rss",
                f"{kind} report, one month, every format: peak memory (RSS of the child)",
                peaks,
                "MB",
                f"< {MEMORY_BOUND_MB:g} MB (no target in issue 6: a sanity bound)",
                MEMORY_BOUND_MB,
                f"store file {ws.db.stat().st_size / 2**20:.0f} MB; command: {MONTH_WHAT[kind]}",
            )
            walls, _ = ws.measure(ws.compute_cmd, kind, RUNS, warm=False)
            add(
                f"reports.{kind}.month.compute",
                f"{kind} report, one month, computed without writing files: wall time",
                walls,
                "s",
                f"< {MONTH_TARGET_S:g} s",
                MONTH_TARGET_S,
                f"{floor}; the whole command (every file) beside it above",
            )
        for kind in ("billing", "sla"):
            table = "time entries" if kind == "billing" else "tickets' events"
            walls, peaks = ws.measure(ws.twelve_cmd, kind, TWELVE_RUNS, warm=False)
            what = f"`syncd report {kind} --format json` for each month 2025-11 … 2026-10"
            beside = (
                f"floor: reading the twelve months' {table} with one SELECT "
                f"{_s(floors['twelve'][kind])}; command: {what}, in one process"
            )
            add(
                f"reports.{kind}.twelve.wall",
                f"{kind} report, twelve months, JSON: wall time",
                walls,
                "s",
                f"< {TWELVE_TARGET_S:g} s (no target in issue 6: 12 × the month's)",
                TWELVE_TARGET_S,
                beside,
            )
            add(
                f"reports.{kind}.twelve.rss",
                f"{kind} report, twelve months, JSON: peak memory (RSS of the child)",
                peaks,
                "MB",
                f"< {MEMORY_BOUND_MB:g} MB (no target in issue 6: a sanity bound)",
                MEMORY_BOUND_MB,
                f"store file {ws.db.stat().st_size / 2**20:.0f} MB; command: {what}",
            )
        return results
    finally:
        ws.close()


# ---------------------------------------------------------------------- before
def _before(size: Size) -> dict[str, dict[str, Any]]:
    """The figures recorded by --before for this data, by id."""
    try:
        doc = json.loads(BEFORE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    if doc.get("data") != size.key:
        return {}
    return {
        f["id"]: {
            "value": f["value"],
            "spread": f["spread"],
            "runs": f["runs"],
            "code": doc["code"],
            "measured": doc["measured"],
            "load_average_start": f.get("load_average_start"),
        }
        for f in doc["results"]
    }


def measure_before(commit: str, quick: bool) -> dict[str, Any]:
    """The one-month figures with syncd's code at `commit`, on the same seeded store."""
    size = QUICK if quick else FULL
    rev = subprocess.run(
        ["git", "rev-parse", "--short", commit], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if not rev:
        raise SystemExit(f"not a commit: {commit}")
    code = CACHE / f"code-{rev}"
    if not code.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        code.mkdir()
        archive = subprocess.run(
            ["git", "archive", rev, "syncd", "reports", "connectors", "mappings", "config"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
    ws = Workspace(size, code=code, schema=6)
    try:
        load = os.getloadavg()
        figures = []
        for kind in ("billing", "sla"):
            walls, peaks = ws.measure(ws.month_cmd, kind, RUNS, warm=False)
            for suffix, runs in (("wall", walls), ("rss", peaks)):
                figures.append(
                    result(
                        f"reports.{kind}.month.{suffix}",
                        kind,
                        runs,
                        "s" if suffix == "wall" else "MB",
                        target="",
                        met=False,
                        beside="",
                        measured_on=ws.measured_on(),
                        load_average_start=[round(x, 2) for x in load],
                    )
                )
            walls, _ = ws.measure(ws.compute_cmd, kind, RUNS, warm=False)
            figures.append(
                result(
                    f"reports.{kind}.month.compute",
                    kind,
                    walls,
                    "s",
                    target="",
                    met=False,
                    beside="",
                    measured_on=ws.measured_on(),
                    load_average_start=[round(x, 2) for x in load],
                )
            )
    finally:
        ws.close()
    return {
        "code": rev,
        "data": size.key,
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": figures,
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.reports_bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help=f"a small store ({QUICK.key})")
    p.add_argument("--before", metavar="COMMIT", help=f"measure syncd at COMMIT into {BEFORE_FILE}")
    args = p.parse_args(argv)
    if args.before:
        doc = measure_before(args.before, args.quick)
        if not args.quick:
            BEFORE_FILE.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    print(json.dumps(run(args.quick), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
