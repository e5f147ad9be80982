"""Run syncd's CLI with a stopwatch on its HTTP: `python -m bench.probe SYNCD-ARGS...`.

The hook wraps requests' Session.send, the one call through which both connectors (zenpy
and python-redmine, on connectors/http.py's session) reach the network: its time covers the
connection, the request, waiting for the server and reading the body (requests reads it
after the adapter returns: timing HTTPAdapter.send, as this probe first did, counted the
download as syncd's own time), retries and their back-off included; JSON parsing and
everything syncd does with the answer happen after it. A redirect's send, inside the
first, is not counted twice.
At exit the totals go to $SYNCD_BENCH_PROBE_OUT as JSON:
{"seconds": s, "requests": n, "by_host": {"127.0.0.1:3200": {"requests": n, "seconds": s}},
 "peak_rss_mb": VmHWM of the process at exit}
With $SYNCD_BENCH_PROFILE set to a path, pyinstrument (the `bench` extra) profiles the run
and writes its text report there.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from requests import Session

_totals: dict[str, Any] = {"seconds": 0.0, "requests": 0, "by_host": {}}
_send = Session.send
_depth = 0  # a redirect is sent from within the first send


def _timed_send(self: Session, request: Any, **kwargs: Any) -> Any:
    global _depth
    if _depth:
        return _send(self, request, **kwargs)
    _depth += 1
    start = time.perf_counter()
    try:
        return _send(self, request, **kwargs)
    finally:
        _depth -= 1
        spent = time.perf_counter() - start
        host = urlsplit(request.url).netloc
        entry = _totals["by_host"].setdefault(host, {"requests": 0, "seconds": 0.0})
        entry["requests"] += 1
        entry["seconds"] += spent
        _totals["requests"] += 1
        _totals["seconds"] += spent


def _peak_rss_mb() -> float | None:
    """VmHWM: the peak RSS of this process image. (getrusage's ru_maxrss survives execve, so a
    child spawned by a big parent - the runner holds the emulator - would report the parent's
    size; VmHWM belongs to the memory map the exec created.)"""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _write() -> None:
    _totals["peak_rss_mb"] = _peak_rss_mb()
    path = os.environ.get("SYNCD_BENCH_PROBE_OUT")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(_totals, f)


def main() -> int:
    Session.send = _timed_send  # type: ignore[method-assign]
    atexit.register(_write)
    from syncd.cli import main as syncd_main

    profile = os.environ.get("SYNCD_BENCH_PROFILE")  # a path: pyinstrument's text report
    if not profile:
        return syncd_main(sys.argv[1:])
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.005)
    profiler.start()
    try:
        return syncd_main(sys.argv[1:])
    finally:
        profiler.stop()
        with open(profile, "w", encoding="utf-8") as f:
            f.write(profiler.output_text(unicode=True, show_all=False))


if __name__ == "__main__":
    sys.exit(main())
