"""The benchmark suite: `python -m bench [--quick] [--only NAME ...]` (`make bench`).

Benches: idle (1), busy (2), backfill (3), reports (4, bench/reports_bench.py when present),
compare (5). Each returns figures (bench/common.result); this runner adds what they were
measured on (bench/machine.py) and writes bench/results.json and bench/results.md. With
--only, the figures of the benches not run are kept from the previous results.json.
Needs the bench Redmine (var/redmine-bench.env; `make bench` brings it up).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine
from bench.common import Redmine, log

HERE = Path(__file__).resolve().parent
BENCHES = ("idle", "busy", "backfill", "reports", "compare")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes, fewer runs (development)")
    p.add_argument("--only", action="append", choices=BENCHES, help="run only this (repeatable)")
    p.add_argument("--out", default=str(HERE), help="where results.md/json go (default bench/)")
    args = p.parse_args(argv)
    only = set(args.only or BENCHES)
    out = Path(args.out)

    rm = Redmine.connect()
    info = machine.describe(rm.version)
    started = time.time()
    log(f"machine: {machine.summary(info)}")
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    kept = None

    def bench(name: str, fn) -> None:
        if name not in only:
            return
        log(f"--- {name} (load {machine.load()})")
        load_start, t0 = machine.load(), time.time()
        try:
            figures = fn()
        except Exception:
            failures.append(name)
            log(f"{name} FAILED:\n{traceback.format_exc()}")
            return
        for f in figures:
            f.setdefault("bench", name)
            f["load"] = {"start": load_start, "end": machine.load()}
            f["bench_seconds"] = round(time.time() - t0, 1)
            log(
                f"{f['id']}: {f['value']} {f['unit']} [{f['spread'][0]}, {f['spread'][1]}] "
                f"met={f['met']}"
            )
        results.extend(figures)

    from bench import compare_bench, sync_bench

    bench("idle", lambda: sync_bench.idle(rm, quick=args.quick))
    bench("busy", lambda: sync_bench.busy(rm, quick=args.quick))

    def backfill() -> list[dict[str, Any]]:
        nonlocal kept
        figures, kept = sync_bench.backfill(rm, quick=args.quick, keep="compare" in only)
        return figures

    bench("backfill", backfill)
    if importlib.util.find_spec("bench.reports_bench") is not None:
        from bench import reports_bench

        bench("reports", lambda: reports_bench.run(args.quick))
    elif "reports" in only:
        log("reports: bench/reports_bench.py is not there; skipped")
    try:
        bench("compare", lambda: compare_bench.run(rm, quick=args.quick, studio=kept))
    finally:
        if kept is not None:
            kept[0].close()

    info["load_end"] = machine.load()
    info["duration_s"] = round(time.time() - started, 1)
    info["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    write(out, info, results, quick=args.quick, ran=sorted(only))
    log(f"wrote {out / 'results.md'} and results.json in {info['duration_s']} s")
    return 1 if failures else 0


def write(
    out: Path, info: dict[str, Any], results: list[dict[str, Any]], *, quick: bool, ran: list[str]
) -> None:
    path = out / "results.json"
    previous: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    if path.exists() and set(ran) != set(BENCHES):
        try:
            old = json.loads(path.read_text())
            previous = old["results"]
            sessions = old.get("sessions") or [{**old["machine"], "ran": old.get("ran")}]
        except (ValueError, KeyError):
            previous = []
    fresh = {r.get("bench") for r in results} | set(ran)
    merged = [r for r in previous if r.get("bench") not in fresh] + results
    order = {name: i for i, name in enumerate(BENCHES)}
    merged.sort(key=lambda r: order.get(r.get("bench", ""), 99))
    # Which invocations the figures come from (--only merges into the previous results).
    kept = {r.get("bench") for r in merged}
    sessions = [
        {**x, "ran": [b for b in x.get("ran") or [] if b in kept and b not in fresh]}
        for x in sessions
    ]
    sessions = [x for x in sessions if x["ran"]] + [{**info, "ran": ran}]
    doc = {"machine": info, "quick": quick, "ran": ran, "sessions": sessions, "results": merged}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n")
    (out / "results.md").write_text(markdown(doc), encoding="utf-8")


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def markdown(doc: dict[str, Any]) -> str:
    info = doc["machine"]
    lines = [
        "# syncd benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); every figure is the median of the runs"
        " listed, with their spread (min–max), beside its target and its lower bound or peer.",
        "",
        f"- **Machine**: {machine.summary(info)}",
        *(
            f"- **Run** of {', '.join(x['ran'])}: finished {x.get('finished')}, "
            f"{x.get('duration_s')} s, load average at start {x.get('load_start')}, "
            f"at end {x.get('load_end')}"
            for x in doc.get("sessions") or [{**info, "ran": doc.get("ran") or []}]
        ),
        *(["- **--quick**: small sizes, not the issue's"] if doc.get("quick") else []),
        "",
        "| # | figure | median | spread (min–max) | target | met | beside it | measured on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["results"]:
        low, high = r["spread"]
        load = r.get("load") or {}
        on = r["measured_on"] + (
            f"; runs: {', '.join(_num(x) for x in r['runs'])}"
            f"; load {load.get('start')} → {load.get('end')}"
            if load
            else f"; runs: {', '.join(_num(x) for x in r['runs'])}"
        )
        cells = [
            r["id"],
            r["title"],
            f"**{_num(r['value'])} {r['unit']}**",
            f"{_num(low)}–{_num(high)}",
            r["target"],
            "yes" if r["met"] else "**no**",
            r["beside"],
            on,
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    notes = [r for r in doc["results"] if r.get("note")]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- **{r['id']}**: {r['note']}" for r in notes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
