"""Failures are per item: one bad ticket or issue is recorded with its reason and retried with
bounded backoff, and the rest of the cycle goes on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import structlog

from connectors.base import ConnectorError, NotFound
from syncd.effects import NotSettled
from syncd.flow import Flow
from syncd.state import parse_iso

log = structlog.get_logger("syncd.failures")


class PerItemFailures(Flow):
    # ================================================================ failures and retries
    def _item(self, item: str, work: Callable[[], None]) -> None:
        """Run one item's work; a failure is recorded with its reason, and the cycle goes on."""
        failure = self.store.failure(item)
        if failure and not self._due(failure):
            return
        try:
            work()
        except NotSettled as e:
            self.store.record_failure(item, str(e), e.retry_at)
            log.info("item_deferred", item=item, reason=str(e))
            return
        except ConnectorError as e:
            self._record_failure(item, str(e), retryable=e.retryable)
            return
        if failure:
            self.store.clear_failure(item)
            log.info("item_recovered", item=item, attempts=failure["attempts"])

    def _due(self, failure: dict) -> bool:
        next_at = parse_iso(failure["next_at"])
        return next_at is None or next_at <= self.now()

    def _record_failure(self, item: str, reason: str, *, retryable: bool) -> None:
        self.stats.failures += 1
        old = self.store.failure(item)
        attempts = (old["attempts"] if old else 0) + 1
        if attempts >= self.config.sync.max_attempts or not retryable:
            # Not blindly retried: it waits for a person (see `syncd status`). A non-retryable
            # error still gets one slow retry a day, in case a person fixed the cause.
            delay = timedelta(days=1)
        else:
            delay = min(timedelta(minutes=2**attempts), timedelta(hours=6))
        self.store.record_failure(item, reason, self.now() + delay)
        log.error(
            "item_failed",
            item=item,
            reason=reason,
            attempts=attempts,
            retry_in_s=int(delay.total_seconds()),
            retryable=retryable,
        )

    def retry_failed_items(self) -> None:
        """Items whose feed moved on without them are fetched again when their time comes."""
        for failure in self.store.failures():
            kind, _, ident = failure["item"].partition(":")
            if not self._due(failure) or not ident.isdigit():
                continue
            number = int(ident)
            fetch: dict[str, Callable[[], None]] = {
                "ticket": lambda n=number: self._retry_ticket(n),
                "issue": lambda n=number: self._retry_issue(n),
                "hours": lambda n=number: self.push_ticket_hours(n),
            }
            if kind in fetch:
                self._item(failure["item"], fetch[kind])

    # A failed item whose ticket or issue was deleted meanwhile answers 404 for good: that is
    # recorded as drift (syncd/drift.py) and the failure ends, instead of a retry every day.
    def _retry_ticket(self, ticket_id: int) -> None:
        try:
            ticket = self.helpdesk.get_ticket(ticket_id)
        except NotFound:
            self.ticket_vanished(ticket_id)
            return
        self.handle_ticket(ticket)

    def _retry_issue(self, issue_id: int) -> None:
        try:
            issue = self.tracker.get_issue(issue_id)
        except NotFound:
            self.issue_vanished(issue_id)
            return
        self.handle_issue(issue)
