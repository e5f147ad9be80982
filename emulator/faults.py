"""Queued fault injections: errors, HTML bodies, delays, truncated bodies, reset connections."""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Fault:
    """One injected misbehaviour for requests whose "METHOD /path?query" matches ``match``.

    ``times`` is how many requests it hits (None: until cleared). With ``process`` the request is
    handled first (the write happens) and only the answer is spoiled: the client cannot tell
    whether its update landed, which is what a retry after a timeout has to cope with.
    """

    match: str = ".*"
    status: int | None = None
    retry_after: float | None = None
    times: int | None = 1
    body: str | None = None
    content_type: str | None = None
    delay: float = 0.0
    truncate: bool = False
    reset: bool = False
    process: bool = False
    hits: int = field(default=0)

    def __post_init__(self) -> None:
        re.compile(self.match)  # fail at injection time, not on the request that matches

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "hits"}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def spoils_answer(self) -> bool:
        return bool(self.status or self.reset or self.truncate)


class FaultQueue:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def take(self, request_line: str) -> Fault | None:
        """First matching fault, consumed once; spent faults leave the queue."""
        with self._lock:
            for fault in self._faults:
                if re.search(fault.match, request_line):
                    fault.hits += 1
                    if fault.times is not None and fault.hits >= fault.times:
                        self._faults.remove(fault)
                    return fault
            return None
