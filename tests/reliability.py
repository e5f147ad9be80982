"""Shared knobs and figures for the reliability suite (issue 5).

``make test`` runs the suite at a reduced size; ``make test-reliability`` sets
SYNCD_RELIABILITY=full and runs only the tests marked ``reliability`` at full size.  Tests call
``figure("crash", "kill points: 212, duplicates: 0, lost: 0")``; the lines are printed in a
"reliability figures" section at the end of the pytest run and written to
var/reliability-figures.txt, which is what the README's "Reliability" section quotes.
"""

from __future__ import annotations

import os
from collections import defaultdict

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
