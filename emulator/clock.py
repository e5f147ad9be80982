"""The emulator's notion of "now" and the Zendesk time formats."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Clock:
    """Wall clock (or an injected source) plus an offset that tests can advance.

    The clock never runs backwards: the incremental export relies on every change getting a
    timestamp at least as large as anything already handed out in a cursor.
    """

    def __init__(self, source: Callable[[], float] | None = None, offset: float = 0.0) -> None:
        self._source = source or time.time
        self.offset = offset
        self._last = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            self._last = max(self._last, self._source() + self.offset)
            return self._last

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self.offset += seconds
        return self.now()

    def jump_to(self, timestamp: float) -> float:
        """Move the clock forward to an absolute Unix time (never backwards)."""
        current = self.now()
        if timestamp > current:
            self.advance(timestamp - current)
        return self.now()


def iso(timestamp: float | None) -> str | None:
    """Unix seconds -> Zendesk's ISO-8601 UTC form, e.g. 2026-10-05T09:12:00Z."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(int(timestamp), tz=UTC).strftime(ISO_FORMAT)


def parse_time(value: object) -> float:
    """Accept Unix seconds, ISO-8601 (with Z or an offset) or a bare date; return Unix seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a time: {value!r}")
    text = value.strip()
    if text.isdigit():
        return float(text)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
