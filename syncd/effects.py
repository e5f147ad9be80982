"""The one place where syncd writes to other systems: journaled, verified, shown by --dry-run.

Every effect has a key derived from the state that asks for it (`create_issue:123`,
`reply_done:123:1`). Before the write, a `pending` row is committed; after it, `done`.
A kill -9 between the two leaves `pending`: the next cycle derives the same key and, instead
of writing again, first asks the other system whether the write landed (`verify`), using the
marker that rode along in the same request (the issue's ticket field, a tag on the ticket).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog

from connectors.base import ConnectorError, Issue
from syncd.state import Store, utcnow

T = TypeVar("T")
log = structlog.get_logger("syncd.effects")


class NotSettled(ConnectorError):
    """An interrupted write may still be in flight; look again at `retry_at`."""

    def __init__(self, key: str, retry_at: datetime) -> None:
        super().__init__(
            f"interrupted write {key} may still be in flight; checked after "
            f"{retry_at.isoformat(timespec='seconds')}",
            retryable=True,
        )
        self.retry_at = retry_at


class Effects:
    def __init__(
        self, store: Store, *, dry_run: bool = False, announce: Callable[[str], None] | None = None
    ) -> None:
        self.store = store
        self.dry_run = dry_run
        self.announce = announce or (lambda _line: None)
        self.performed: list[str] = []  # keys written (or, in a dry run, that would be)
        self.counts: dict[str, int] = {}  # the same, by kind

    def run(
        self,
        key: str,
        kind: str,
        *,
        describe: str,
        do: Callable[[], T],
        verify: Callable[[], T | None],
        placeholder: T | None = None,
        ticket_id: int | None = None,
        issue_id: int | None = None,
        detail: dict[str, Any] | None = None,
        settle: float = 0.0,
        then: Callable[[], None] | None = None,
    ) -> T | None:
        """Perform the effect once. Returns do()'s result, verify()'s on recovery, or None
        when it was done in an earlier cycle (the caller's state already reflects it).

        `settle` is the request timeout of the system written to: a write interrupted less
        than that long ago may still be in flight (the server got it, the killed client never
        saw the answer), so it is verified only once it is older than that.

        `then` records what the effect changed in the store, in the same transaction as the
        effect's "done": a kill between the two would leave state that derives the effect
        again under another key (the issue edited meanwhile), and it would be written twice."""
        row = self.store.effect(key)
        if row and row["status"] == "done":
            return None
        if self.dry_run:
            self.announce(f"would {describe}")
            self._count(key, kind)
            return placeholder
        if row and row["status"] == "pending":
            # Interrupted after the pending row was committed: did the write land?
            found = self._landed(row, verify, settle=settle, then=then)
            if found is not None:
                return found
            log.info("effect_retrying", key=key, kind=kind)
        self.store.begin_effect(
            key,
            kind,
            ticket_id=ticket_id,
            issue_id=issue_id,
            detail=detail or {"describe": describe},
        )
        try:
            result = do()
        except ConnectorError as e:
            if e.status is not None and 400 <= e.status < 500:
                # The server answered "no": nothing was written, nothing can be in flight.
                self.store.drop_effect(key)
            # Otherwise (5xx, timeout, reset) it may have landed: stays pending, verified later.
            raise
        with self.store.atomic():
            self.store.finish_effect(key, issue_id=_issue_id(result))
            if then is not None:
                then()
        self._count(key, kind)
        log.info("effect_done", key=key, kind=kind, ticket=ticket_id, issue=issue_id)
        self.announce(describe)
        return result

    def settle(self, row: dict[str, Any], verify: Callable[[], object], *, settle: float) -> bool:
        """Close an effect a killed run left pending under a key the state no longer derives
        (the issue or ticket moved on before the next run could verify it): without this it
        would stay pending for ever, and whatever follows it would act on stale state.

        Raises NotSettled while the write may still be in flight. Then: True (finished) when
        `verify` finds it landed; False (dropped) when it never did, which is as if it had
        never been begun."""
        if self._landed(row, verify, settle=settle) is not None:
            return True
        self.store.drop_effect(row["key"])
        log.info("effect_dropped", key=row["key"], kind=row["kind"], reason="never landed")
        return False

    def _landed(
        self,
        row: dict[str, Any],
        verify: Callable[[], object],
        *,
        settle: float,
        then: Callable[[], None] | None = None,
    ) -> object | None:
        """What `verify` found of an interrupted write (the effect is then finished), or None
        when it never landed. Raises NotSettled while it may still be in flight."""
        key = row["key"]
        started = datetime.fromisoformat(row["created_at"])
        if utcnow() - started < timedelta(seconds=settle):
            raise NotSettled(key, started + timedelta(seconds=settle))
        found = verify()
        if found is None or found is False:
            return None
        with self.store.atomic():
            self.store.finish_effect(key, issue_id=_issue_id(found))
            if then is not None:
                then()
        log.info("effect_recovered", key=key, kind=row["kind"])
        return found

    def _count(self, key: str, kind: str) -> None:
        self.performed.append(key)
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def plain(self, describe: str, do: Callable[[], T], **event: Any) -> T | None:
        """A write that is idempotent by nature (setting a field to a value): logged and
        shown by --dry-run, but not journaled."""
        if self.dry_run:
            self.announce(f"would {describe}")
            return None
        result = do()
        log.info("write_done", what=describe, **event)
        self.announce(describe)
        return result


def _issue_id(result: object) -> int | None:
    return result.id if isinstance(result, Issue) else None
