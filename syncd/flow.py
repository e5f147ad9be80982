"""What the parts of the engine share. `Engine` (syncd/engine.py) is built from `HoursFlow`
(syncd/hours.py) and `PerItemFailures` (syncd/failures.py); each part reads the same config,
store, connectors, effect journal and cycle figures, set up once by `Engine.__init__`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import Helpdesk, Tracker
from syncd.config import Config
from syncd.effects import Effects
from syncd.state import Store


@dataclass
class Stats:
    tickets: int = 0
    events: int = 0
    issues: int = 0
    time_entries: int = 0
    time_entries_deleted: int = 0
    created: int = 0
    adopted: int = 0
    hours_pushed: int = 0
    failures: int = 0
    sources_failed: list[str] = field(default_factory=list)
    # Redmine set up so that syncd must refuse work (the ticket field gone): says what to fix.
    config_errors: list[str] = field(default_factory=list)
    writes: dict[str, int] = field(default_factory=dict)  # effects performed, by kind

    @property
    def ok(self) -> bool:
        return not self.failures and not self.sources_failed and not self.config_errors


class Flow:
    config: Config
    store: Store
    helpdesk: Helpdesk
    tracker: Tracker
    effects: Effects
    stats: Stats
    now: Callable[[], datetime]
