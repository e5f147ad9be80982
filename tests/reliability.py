"""Shared knobs and figures for the reliability suite (issue 5).

``make test`` runs the suite at a reduced size; ``make test-reliability`` sets
SYNCD_RELIABILITY=full and runs only the tests marked ``reliability`` at full size.  Tests call
``figure("crash", "kill points: 212, duplicates: 0, lost: 0")``; the lines are printed in a
"reliability figures" section at the end of the pytest run and written to
var/reliability-figures.txt, which is what the README's "Reliability" section quotes.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

FULL = os.environ.get("SYNCD_RELIABILITY", "").lower() == "full"

_figures: dict[str, list[str]] = defaultdict(list)


def size(reduced: int, full: int) -> int:
    """The reduced size under ``make test``, the full one under ``make test-reliability``."""
    return full if FULL else reduced


def figure(section: str, line: str) -> None:
    """Record one measured line, printed at the end of the run under its section."""
    _figures[section].append(line)


def figures() -> dict[str, list[str]]:
    return {k: list(v) for k, v in sorted(_figures.items())}


def patiently(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A test-side call to Redmine, tried again when Redmine answers 500: its SQLite database
    is shared with the other suites running at the same time and says "database is locked"
    under their load. (syncd's own requests are not helped: its cycle must succeed as is.)"""
    for attempt in range(4):
        try:
            return call(*args, **kwargs)
        except AssertionError as e:
            if "500" not in str(e) or attempt == 3:
                raise
            time.sleep(2)
    raise AssertionError("unreachable")
