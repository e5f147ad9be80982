"""Rolling-window request budgets (account-wide, incremental export, per-ticket updates)."""

from __future__ import annotations

import math
import threading
from collections import deque


class RollingWindow:
    """At most ``limit`` hits within any ``period`` seconds of emulator time."""

    def __init__(self, limit: int, period: float = 60.0) -> None:
        self.limit = limit
        self.period = period
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._hits and self._hits[0] <= now - self.period:
            self._hits.popleft()

    def take(self, now: float) -> int | None:
        """Record a hit; return None if allowed, else the seconds to wait (Retry-After).

        Refused requests are not counted, so a client that honours Retry-After gets through.
        """
        with self._lock:
            self._expire(now)
            if len(self._hits) >= self.limit:
                return max(1, math.ceil(self._hits[0] + self.period - now))
            self._hits.append(now)
            return None

    def remaining(self, now: float) -> int:
        with self._lock:
            self._expire(now)
            return max(0, self.limit - len(self._hits))

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
