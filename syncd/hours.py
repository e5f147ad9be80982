"""Hours back: Redmine time entries into the store, and each linked ticket's hours field kept
equal to the exact sum of its issue's entries, subtasks included.

Which tickets owe an update is a flag on the link in the store (set in the same transaction as
the entries that changed it), so a cycle that dies between storing entries and writing hours
leaves the debt for the next one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

import structlog

from connectors.base import ConnectorError, TicketUpdate, TimeEntry
from mappings.statuses import FINAL_TICKET_STATUSES
from syncd.flow import Flow
from syncd.state import iso, parse_iso

log = structlog.get_logger("syncd.hours")

REREAD_CURSOR = "redmine_time_entries_reread"
# The oldest entry stored by a scan for new entries that was cut short (see pull_time_entries).
SCAN_FLOOR = "redmine_time_entries_scan_floor"
# Redmine pages a time-entry list by offset and counts the whole filtered list for every page:
# with 200,000 entries over a year on SQLite a page of the whole year took 1.9 s (median of 12
# at random offsets), a page of one month 0.75 s (bench/, issue 6). So long periods are read a
# month at a time; the hourly re-read of the last reread_days stays one request when idle.
# Shorter windows gain little; fewer projects per request do (connectors/redmine.py).
LONG_PERIOD = timedelta(days=92)


class HoursFlow(Flow):
    # ================================================================ time entries
    def pull_time_entries(self) -> None:
        """New entries: newest first until a known one (one request when idle). Edits and
        deletions: Redmine can't list them, so a recent period is re-read now and then.

        A scan cut short after a page (a kill, a failed request) leaves its floor, the oldest
        entry it stored, with that page: the next scan would otherwise stop at the entries
        it stored, above the new ones it never reached, and lose them until the re-read."""
        floor = int(self.store.cursor(SCAN_FLOOR) or 0) or None
        for page in self.tracker.time_entry_pages(projects=self.projects()):
            known = self.store.time_entry_ids(e.id for e in page)
            # Known from before any cut-short scan: ids grow with creation, the list's order.
            reached = bool(known) and (floor is None or min(known) < floor)
            with self.store.atomic():
                self._save_entries(page)
                if not reached:
                    floor = min([*(e.id for e in page), *([floor] if floor else [])])
                    self.store.set_cursor(SCAN_FLOOR, str(floor))
                elif floor is not None:
                    self.store.set_cursor(SCAN_FLOOR, "")
            if reached:
                break
        else:
            if floor is not None:  # read to the end of the list
                self.store.set_cursor(SCAN_FLOOR, "")
        last = parse_iso(self.store.cursor(REREAD_CURSOR))
        if last is None or self.now() - last >= timedelta(
            minutes=self.config.sync.reread_every_minutes
        ):
            today = self.now().date()
            self.reread_time_entries(today - timedelta(days=self.config.sync.reread_days), today)

    def reread_time_entries(self, since: date, until: date) -> None:
        """Re-read a period in full; entries we hold that Redmine no longer lists are gone.
        Deletion happens only after the whole period was read: a failure half way deletes
        nothing. Each page is stored as it comes (with the hours debts it causes), and only the
        ids seen are remembered, in the store: memory stays flat however long the period.
        A period longer than LONG_PERIOD (a backfill) is read a calendar month at a time."""
        projects = self.projects()
        self.store.start_reread()
        for start, end in reread_windows(since, until):
            for page in self.tracker.time_entry_pages(projects=projects, since=start, until=end):
                with self.store.atomic():
                    self._save_entries(page)
                    self.store.mark_reread(e.id for e in page)
        gone = self.store.unseen_time_entries(since.isoformat(), until.isoformat(), list(projects))
        with self.store.atomic():
            self.store.delete_time_entries(row["id"] for row in gone)
            for row in gone:
                if row["issue_id"]:
                    self.store.mark_hours_dirty(row["issue_id"])
            self.store.set_cursor(REREAD_CURSOR, iso(self.now()) or "")
        for row in gone:
            log.info(
                "time_entry_deleted",
                entry=row["id"],
                issue=row["issue_id"],
                hours=row["hours"],
                spent_on=row["spent_on"],
            )
        self.stats.time_entries_deleted += len(gone)

    def _save_entries(self, entries: Iterable[TimeEntry]) -> None:
        for entry in entries:
            old_issue = self.store.time_entry_issue(entry.id)
            if self.store.save_time_entry(entry):
                self.stats.time_entries += 1
                # An entry moved to another issue changes two tickets' hours.
                for issue_id in {entry.issue_id, old_issue} - {None}:
                    self.store.mark_hours_dirty(issue_id)

    # ================================================================ hours back
    def push_hours(self) -> None:
        """Every link whose hours may have changed (flagged in the store when its entries or
        its issue tree changed) gets its ticket's hours field set to the exact sum."""
        for link in self.store.dirty_hour_links():
            ticket_id = link["ticket_id"]
            self._item(f"hours:{ticket_id}", lambda t=ticket_id: self.push_ticket_hours(t))

    def push_ticket_hours(self, ticket_id: int) -> None:
        link = self.store.link_by_ticket(ticket_id)
        if link is None:
            return
        hours = self.store.hours_for_issues(self.store.issue_tree(link["issue_id"]))
        text = hours_text(hours)
        ticket = self.store.ticket(ticket_id)
        unchanged = link["hours_pushed"] == text or (link["hours_pushed"] is None and hours == 0)
        if not unchanged and ticket and ticket["status"] in FINAL_TICKET_STATUSES:
            # Closed tickets can't be updated (422); the reports still have the hours.
            log.info("hours_not_pushed", ticket=ticket_id, hours=text, reason=ticket["status"])
            unchanged = True
        if not unchanged:
            field_id = self.config.zendesk.hours_field_id
            try:
                self.effects.plain(
                    f"set hours on ticket #{ticket_id} to {text}",
                    lambda: self.helpdesk.update_ticket(
                        ticket_id, TicketUpdate(custom_fields={field_id: text})
                    ),
                    ticket=ticket_id,
                    hours=text,
                )
            except ConnectorError as e:
                # 422: closed meanwhile (a merge closes at once); 404: deleted or spam.
                if e.status not in (404, 422) or not self.ticket_gone(ticket_id):
                    raise
                log.info("hours_not_pushed", ticket=ticket_id, hours=text, reason="closed")
                text = link["hours_pushed"]
            else:
                self.stats.hours_pushed += 1
        with self.store.atomic():
            self.store.update_link(ticket_id, hours_pushed=text, hours_dirty=0)


def reread_windows(since: date, until: date) -> list[tuple[date, date]]:
    """The period as one window, or for a long one, its calendar months (first and last
    clipped to the period); together they cover every day once."""
    if until - since <= LONG_PERIOD:
        return [(since, until)]
    windows = []
    start = since
    while start <= until:
        next_month = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        windows.append((start, min(until, next_month - timedelta(days=1))))
        start = next_month
    return windows


def hours_text(hours: Decimal) -> str:
    return str(hours.quantize(Decimal("0.01")))
