"""One sync cycle: Redmine issues (adoption, status relay), time entries, Zendesk tickets
(issue creation, reopen), then hours back onto tickets.

Effects are derived by comparing what a feed says with what the store already knows, never
from "something changed": the daemon's own writes come back through the feeds (echoes) and
find the store already agreeing with them, so they cause nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import structlog

from connectors.base import (
    ConnectorError,
    Helpdesk,
    Issue,
    NotFound,
    Ticket,
    TicketUpdate,
    Tracker,
)
from mappings.clients import client_for_organization, client_for_project
from mappings.issues import new_issue
from mappings.references import ticket_id_from_field, ticket_refs
from mappings.statuses import FINAL_TICKET_STATUSES, is_done, needs_issue, ticket_reopened
from syncd.config import Client, Config
from syncd.drift import DriftFlow
from syncd.effects import Effects
from syncd.failures import PerItemFailures
from syncd.flow import Stats
from syncd.hours import HoursFlow, hours_text
from syncd.messages import Messages
from syncd.state import Store, iso, parse_iso, utcnow

log = structlog.get_logger("syncd.engine")

ZENDESK_CURSOR = "zendesk_tickets"
EVENTS_CURSOR = "zendesk_ticket_events"
ISSUES_CURSOR = "redmine_issues"
# Zendesk's export refuses a start_time within the last minute.
EXPORT_LAG = timedelta(minutes=1, seconds=5)


class Engine(HoursFlow, PerItemFailures, DriftFlow):
    def __init__(
        self,
        config: Config,
        store: Store,
        helpdesk: Helpdesk,
        tracker: Tracker,
        effects: Effects,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config, self.store = config, store
        self.helpdesk, self.tracker, self.effects = helpdesk, tracker, effects
        self.messages = Messages(config.templates_dir)
        self.now = now
        self.stats = Stats()
        self._project_ids: dict[str, int] | None = None

    # ================================================================ the cycle
    def cycle(self) -> Stats:
        self.retry_failed_items()
        self._source("redmine_issues", self.pull_issues)
        self._source("redmine_time_entries", self.pull_time_entries)
        self._source("zendesk_tickets", self.pull_tickets)
        self._source("zendesk_events", self.pull_events)
        self._source("hours", self.push_hours)
        self._source("links", self.check_links)
        return self.stats

    def _source(self, name: str, step: Callable[[], None]) -> None:
        # A failing source stops its own step only; its cursor stays where it was and nothing
        # is deleted or closed because of it.
        try:
            step()
        except ConnectorError as e:
            self.stats.sources_failed.append(name)
            log.error("source_failed", source=name, error=str(e), retryable=e.retryable)

    # ================================================================ Redmine issues
    def projects(self) -> dict[str, int]:
        """The configured Redmine projects, identifier -> id. Remembered in the store, so an
        idle cycle makes no request to look them up."""
        if self._project_ids is None:
            cached = json.loads(self.store.meta("redmine_project_ids") or "{}")
            wanted = self.config.all_projects()
            if any(p not in cached for p in wanted):
                cached = self.tracker.project_ids()
                self.store.set_meta("redmine_project_ids", json.dumps(cached, sort_keys=True))
                missing = [p for p in wanted if p not in cached]
                if missing:
                    log.error(
                        "projects_missing",
                        projects=missing,
                        hint="not found or not visible to the API key; see `syncd check`",
                    )
            self._project_ids = {p: cached[p] for p in wanted if p in cached}
        return self._project_ids

    def pull_issues(self, *, full: bool = False) -> None:
        cursor = None if full else parse_iso(self.store.cursor(ISSUES_CURSOR))
        since = (
            cursor - timedelta(minutes=self.config.sync.issue_overlap_minutes) if cursor else None
        )
        for page in self.tracker.issue_pages(projects=self.projects(), updated_since=since):
            for issue in page:
                self._item(f"issue:{issue.id}", lambda i=issue: self.handle_issue(i))
            newest = max(i.updated_on for i in page)
            with self.store.atomic():
                if cursor is None or newest > cursor:
                    cursor = newest
                    self.store.set_cursor(ISSUES_CURSOR, iso(newest) or "")

    def handle_issue(self, issue: Issue) -> None:
        field_value = issue.custom_fields.get(self.config.redmine.ticket_field_id) or None
        known = self.store.issue(issue.id)
        with self.store.atomic():
            if self.store.save_issue(
                issue, field_value, done=is_done(issue.status, self.config.redmine.done_statuses)
            ):
                self.stats.issues += 1
                old_parent = known["parent_id"] if known else None
                if known and old_parent != issue.parent_id:
                    # A subtask moved: both trees' hours change.
                    for moved in {issue.id, old_parent} - {None}:
                        self.store.mark_hours_dirty(moved)
        # Decided from the link's state, not from "it changed": a relay that failed last
        # time is still owed when the issue comes back unchanged.
        link = self.store.link_by_issue(issue.id)
        if link is None:
            self.adopt_issue(issue, field_value)
            return
        # Moved to another client's project, its ticket field cleared: see syncd/drift.py.
        self.issue_drift(issue, link, known["project"] if known else None)
        if link["issue_status"] != issue.status:
            self.relay_status(link, issue)

    def adopt_issue(self, issue: Issue, field_value: str | None) -> None:
        """Record a link a person made by hand: the ticket field, else a reference in the text."""
        from_field = ticket_id_from_field(field_value)
        candidates = (
            [from_field]
            if from_field
            else ticket_refs([issue.subject, issue.description], self.config.sync.ticket_patterns)
        )
        for ticket_id in candidates:
            other = self.store.link_by_ticket(ticket_id)
            if other is None:
                ticket = self.store.ticket(ticket_id)
                client = client_for_project(issue.project, self.config.clients)
                origin = self._origin(ticket_id, from_field=bool(from_field))
                created = self.store.effect(f"create_issue:{ticket_id}")
                # Our own issue, whose run died before linking it: the ticket knows of the
                # status it was created with, and a change a person made since is owed to it.
                status = (
                    self.tracker.created_status(issue.id) if origin == "created" else issue.status
                )
                with self.store.atomic():
                    self.store.add_link(
                        ticket_id=ticket_id,
                        issue_id=issue.id,
                        client=client.id if client else (ticket or {}).get("client"),
                        origin=origin,
                        issue_status=status,
                        ticket_status=(ticket or {}).get("status"),
                    )
                    if created and created["status"] == "pending":
                        # The issue is found, so the write landed; with the link recorded no
                        # later cycle derives this key again: left pending, it would stay so.
                        self.store.finish_effect(created["key"], issue_id=issue.id)
                self.stats.adopted += 1
                log.info(
                    "link_adopted",
                    ticket=ticket_id,
                    issue=issue.id,
                    origin="field" if from_field else "text",
                )
                link = self.store.link_by_ticket(ticket_id)
                if link and status != issue.status:
                    self.relay_status(link, issue)
                return
            if from_field:
                # Two issues claim one ticket: never link twice, tell a person.
                self.store.record_conflict(
                    issue.id, ticket_id, f"ticket already linked to issue #{other['issue_id']}"
                )
                log.warning(
                    "link_conflict",
                    ticket=ticket_id,
                    issue=issue.id,
                    linked_issue=other["issue_id"],
                )

    def _origin(self, ticket_id: int, *, from_field: bool) -> str:
        # An issue we created whose run died before recording the link comes back through
        # the issue feed first: it is ours, and its ticket is still owed the announcement.
        if self.store.effect(f"create_issue:{ticket_id}"):
            return "created"
        return "adopted:field" if from_field else "adopted:text"

    def relay_status(self, link: dict, issue: Issue) -> None:
        link = self._settle_reopen(link)
        ticket_id, old = link["ticket_id"], link["issue_status"]
        if old == issue.status:
            return  # our own reopen, verified only now
        if self._settle_earlier_notes(ticket_id, issue):
            # A killed run's note, verified only now, already told the ticket of this status.
            with self.store.atomic():
                self.store.update_link(ticket_id, issue_status=issue.status)
            return
        ticket = self.store.ticket(ticket_id)
        if ticket and ticket["status"] in FINAL_TICKET_STATUSES:
            log.info(
                "status_not_relayed",
                ticket=ticket_id,
                issue=issue.id,
                reason=f"ticket is {ticket['status']}",
            )
            self.store.update_link(ticket_id, issue_status=issue.status)
            return
        language = self._language(link.get("client"))
        values = {
            "issue_id": issue.id,
            "issue_url": issue.url,
            "status": issue.status,
            "old_status": old or "—",
            "subject": (ticket or {}).get("subject") or issue.subject,
            "ticket_id": ticket_id,
        }
        reopened = None
        try:
            reopened = self._relay(link, issue, language, values)
        except ConnectorError as e:
            # Deleted (404) or closed by a merge (422) since the feed last showed it: dropped,
            # not retried forever (syncd/drift.py reports it).
            if e.status not in (404, 422) or not self.ticket_gone(ticket_id):
                raise
            log.info("status_not_relayed", ticket=ticket_id, issue=issue.id, reason="ticket gone")
        with self.store.atomic():
            self.store.update_link(ticket_id, issue_status=issue.status)
        if reopened is not None:
            # After the relay is recorded: the reopen records its own status on the link.
            self.handle_ticket(reopened)

    def _relay(self, link: dict, issue: Issue, language: str, values: dict) -> Ticket | None:
        ticket_id, done_statuses = link["ticket_id"], self.config.redmine.done_statuses
        if is_done(issue.status, done_statuses) and not is_done(
            values["old_status"], done_statuses
        ):
            return self.finish_ticket(link, issue, language, values)
        else:
            note = self.messages.render("status_note", language, **values)
            describe = f"add internal note to ticket #{ticket_id}: {note}"
            self.effects.run(
                self._note_key(issue),
                "status_note",
                describe=describe,
                do=lambda: self.helpdesk.update_ticket(ticket_id, TicketUpdate(comment=note)),
                verify=lambda: self._has_comment(ticket_id, note),
                ticket_id=ticket_id,
                issue_id=issue.id,
                # What _settle_earlier_notes needs if the issue changes before it is verified.
                detail={"describe": describe, "note": note, "status": issue.status},
                settle=self.config.zendesk.timeout,
                then=lambda: self.store.update_link(ticket_id, issue_status=issue.status),
            )
            return None

    def _note_key(self, issue: Issue) -> str:
        """The status note's effect key. updated_on has whole seconds, so the issue can come
        back to the same status within the second of a note already done (In Progress →
        Feedback → In Progress): a relay is owed only when the link's status differs, and the
        link is recorded with its note (Effects.run then=), so a key already done is an
        earlier change's and the next free one is this change's."""
        base = f"status_note:{issue.id}:{iso(issue.updated_on)}:{issue.status}"
        key, n = base, 1
        while (row := self.store.effect(key)) is not None and row["status"] == "done":
            n += 1
            key = f"{base}:{n}"
        return key

    def _settle_earlier_notes(self, ticket_id: int, issue: Issue) -> bool:
        """Status notes a killed run left pending for this issue under another key (the issue
        changed again before the next run could verify them: the key holds its updated_on)
        are settled before relaying anew; else they stay pending for ever, and a note that
        did land is posted a second time. True when one of them told the ticket about the
        status the issue has now."""
        told = False
        for row in self.store.pending_effects():
            if row["kind"] != "status_note" or row["issue_id"] != issue.id:
                continue
            if row["key"] == self._note_key(issue):
                continue  # the relay below derives this one itself
            detail = json.loads(row["detail"] or "{}")
            # Rows begun before the note was kept on its own carry it in the description.
            note = detail.get("note") or str(detail.get("describe", "")).partition(": ")[2]
            landed = self.effects.settle(
                row,
                lambda n=note: self._has_comment(ticket_id, n),
                settle=self.config.zendesk.timeout,
            )
            told = told or (landed and detail.get("status") == issue.status)
        return told

    def finish_ticket(self, link: dict, issue: Issue, language: str, values: dict) -> Ticket | None:
        """The issue is done: tell the client (or note it) and solve the ticket, in one update.
        Returns the ticket when a killed run's reply is verified only now and the client has
        answered since (the ticket is no longer solved): it is owed a reopen."""
        ticket_id = link["ticket_id"]
        round_ = link["done_rounds"] + 1
        marker = f"syncd_done_{issue.id}_{round_}"
        if self.config.zendesk.notify_client:
            update = TicketUpdate(
                comment=self.messages.render("done", language, **values),
                public=True,
                status="solved",
                add_tags=(marker,),
            )
            what = f"reply 'done' to the client on ticket #{ticket_id} and set it solved"
        else:
            update = TicketUpdate(
                comment=self.messages.render("status_note", language, **values),
                status="solved",
                add_tags=(marker,),
            )
            what = f"note issue #{issue.id} done on ticket #{ticket_id} and set it solved"
        found = self.effects.run(
            f"reply_done:{ticket_id}:{round_}",
            "reply_done",
            describe=what,
            do=lambda: self.helpdesk.update_ticket(ticket_id, update),
            verify=lambda: self._ticket_tagged(ticket_id, marker),
            ticket_id=ticket_id,
            issue_id=issue.id,
            settle=self.config.zendesk.timeout,
        )
        with self.store.atomic():
            # The relayed status with the round, in one transaction: a run killed between the
            # two would take the issue's done status for a new one and send round_ + 1.
            self.store.update_link(
                ticket_id, done_rounds=round_, ticket_status="solved", issue_status=issue.status
            )
        # The export may have shown the client's answer before this reply was known to have
        # solved the ticket: then no later export shows the reopen again.
        return found if isinstance(found, Ticket) and found.status != "solved" else None

    # ================================================================ Zendesk tickets
    def pull_tickets(self) -> None:
        cursor = self.store.cursor(ZENDESK_CURSOR)
        start = self._start_time(self.config.sync.since)
        for page in self.helpdesk.ticket_pages(cursor=cursor, start_time=start):
            for ticket in page.tickets:
                self._item(f"ticket:{ticket.id}", lambda t=ticket: self.handle_ticket(t))
            if page.cursor:
                with self.store.atomic():
                    self.store.set_cursor(ZENDESK_CURSOR, page.cursor)

    def pull_events(self, *, since: date | None = None) -> None:
        """Ticket events for the SLA report: comments with author and public flag, status
        changes, ratings; with the role of each author. `since` re-reads history (backfill)
        without moving the cursor."""
        stored = None if since else self.store.cursor(EVENTS_CURSOR)
        if stored:
            start = int(stored)
        else:
            start = int(self._start_time(since or self.config.sync.since).timestamp())
        for page in self.helpdesk.event_pages(start_time=start):
            unknown = self.store.unknown_users(
                [
                    *(e.author_id for e in page.events if e.author_id),
                    *self.store.unnamed_assignees(),
                ]
            )
            roles = self.helpdesk.user_roles(unknown) if unknown else {}
            with self.store.atomic():
                self.stats.events += self.store.save_events(page.events)
                self.store.save_user_roles(roles)
                if since is None:
                    self.store.set_cursor(EVENTS_CURSOR, str(page.end_time))

    def backfill_tickets(self, since: date) -> None:
        """Import ticket history for the reports: store tickets, write nothing anywhere.
        Uses its own pass over the export; the sync cursor is left alone."""
        start = self._start_time(since)
        for page in self.helpdesk.ticket_pages(cursor=None, start_time=start):
            with self.store.atomic():
                for ticket in page.tickets:
                    self.save_ticket(ticket)
                    self.stats.tickets += 1
            if page.end_of_stream:
                break

    def _start_time(self, since: date | None) -> datetime:
        """Where an export starts: midnight UTC of `since`, else 30 days back; never within
        the last minute, which Zendesk refuses."""
        if since is not None:
            start = datetime(since.year, since.month, since.day, tzinfo=UTC)
        else:
            start = self.now() - timedelta(days=30)
        return min(start, self.now() - EXPORT_LAG)

    def save_ticket(self, ticket: Ticket) -> Client | None:
        """Store a ticket with its client (by organization); returns the client."""
        client = client_for_organization(ticket.organization_id, self.config.clients)
        with self.store.atomic():
            self.store.save_ticket(
                ticket,
                client=client.id if client else None,
                wants_issue=self.config.zendesk.work_tag in ticket.tags,
            )
        return client

    def handle_ticket(self, ticket: Ticket) -> None:
        self.stats.tickets += 1
        client = self.save_ticket(ticket)
        tagged = self.config.zendesk.work_tag in ticket.tags
        link = self.store.link_by_ticket(ticket.id)
        if link is None:
            if client and needs_issue(ticket.tags, self.config.zendesk.work_tag, ticket.status):
                self.create_issue(ticket, client)
            elif tagged and not client:
                log.warning(
                    "ticket_unassigned", ticket=ticket.id, organization=ticket.organization_id
                )
            return
        # Merged, deleted, spam, another organization: see syncd/drift.py.
        self.ticket_drift(ticket, link)
        issue = self.store.issue(link["issue_id"])
        if link["origin"] != "created" and ticket.status not in FINAL_TICKET_STATUSES:
            self.show_adopted_link(ticket, link["issue_id"])
        if link["origin"] == "created" and issue and ticket.status not in FINAL_TICKET_STATUSES:
            self.announce_link(
                ticket,
                issue["id"],
                issue["project"],
                issue["url"],
                _decimal(issue["estimated_hours"]),
                link["client"],
            )
        if ticket_reopened(link["ticket_status"], ticket.status):
            self.reopen_issue(link, ticket)
        if link["ticket_status"] != ticket.status:
            with self.store.atomic():
                self.store.update_link(ticket.id, ticket_status=ticket.status)

    def create_issue(self, ticket: Ticket, client: Client) -> None:
        cfg = self.config
        new = new_issue(
            ticket,
            project=client.issue_project,
            ticket_url=ticket.url,
            ticket_field_id=cfg.redmine.ticket_field_id,
            trackers=cfg.redmine.trackers,
            default_tracker=cfg.redmine.default_tracker,
            priorities=cfg.redmine.priorities,
            estimate_field_id=cfg.zendesk.estimate_field_id,
        )
        # Begun by a run that died: the issue may exist, its status changed by a person since.
        interrupted = self.store.effect(f"create_issue:{ticket.id}") is not None
        if not interrupted:
            self.ensure_ticket_field(new.project, new.tracker or cfg.redmine.default_tracker)
        issue = self.effects.run(
            f"create_issue:{ticket.id}",
            "create_issue",
            describe=f"create a Redmine issue in {new.project} for ticket #{ticket.id}: "
            f"{new.subject!r} ({new.tracker}, {new.priority or 'default priority'})",
            do=lambda: self.tracker.create_issue(new),
            verify=lambda: self._issue_for_ticket(ticket.id),
            placeholder=_planned_issue(new, ticket),
            ticket_id=ticket.id,
            settle=self.config.redmine.timeout,
        )
        if issue is None:  # created in an earlier cycle that died before linking
            issue = self._issue_for_ticket(ticket.id)
            if issue is None:
                raise ConnectorError(
                    f"issue for ticket #{ticket.id} was created but is not found "
                    "by its ticket field",
                    retryable=True,
                )
        if not self.effects.dry_run:
            # A change since creation is relayed when the issue feed brings the issue back.
            status = self.tracker.created_status(issue.id) if interrupted else issue.status
            with self.store.atomic():
                self.store.save_issue(issue, str(ticket.id), done=False)
                self.store.add_link(
                    ticket_id=ticket.id,
                    issue_id=issue.id,
                    client=client.id,
                    origin="created",
                    issue_status=status,
                    ticket_status=ticket.status,
                )
            self.stats.created += 1
            log.info("issue_created", ticket=ticket.id, issue=issue.id, project=issue.project)
            field = issue.custom_fields.get(cfg.redmine.ticket_field_id, "")
            if ticket_id_from_field(field) != ticket.id:
                self.created_without_field(issue, new.project, new.tracker or "")
        self.announce_link(
            ticket, issue.id, issue.project, issue.url, issue.estimated_hours, client.id
        )

    def announce_link(
        self,
        ticket: Ticket,
        issue_id: int,
        project: str,
        issue_url: str,
        estimate: Decimal | None,
        client_id: str | None,
    ) -> None:
        """Issue number and note on the ticket, then the 'in work' reply. Also called for
        every linked ticket the feed brings back: a run killed between creating the issue
        and these writes finishes them here (done ones cost a local lookup only)."""
        language = self._language(client_id)
        values = {
            "issue_id": issue_id,
            "issue_url": issue_url,
            "project": project,
            "subject": ticket.subject,
            "ticket_id": ticket.id,
        }
        note = self.messages.render("linked_note", language, **values)
        field_id = self.config.zendesk.issue_field_id
        self.effects.run(
            f"ticket_linked:{ticket.id}:{issue_id}",
            "ticket_linked",
            describe=f"write issue #{issue_id} into ticket #{ticket.id} (field {field_id}) "
            "with an internal note",
            do=lambda: self.helpdesk.update_ticket(
                ticket.id, TicketUpdate(comment=note, custom_fields={field_id: str(issue_id)})
            ),
            verify=lambda: self._field_is(ticket.id, field_id, issue_id),
            ticket_id=ticket.id,
            issue_id=issue_id,
            settle=self.config.zendesk.timeout,
        )
        if not self.config.zendesk.notify_client:
            return
        estimate_line = ""
        if estimate:
            estimate_line = self.messages.render(
                "estimate", language, estimate=hours_text(estimate)
            )
            estimate_line = " " + estimate_line
        marker = f"syncd_in_work_{issue_id}"
        reply = self.messages.render("in_work", language, **values, estimate_line=estimate_line)
        self.effects.run(
            f"reply_in_work:{ticket.id}:{issue_id}",
            "reply_in_work",
            describe=f"reply 'in work' to the client on ticket #{ticket.id}",
            do=lambda: self.helpdesk.update_ticket(
                ticket.id,
                TicketUpdate(
                    comment=reply,
                    public=True,
                    add_tags=(marker,),
                    # The request is answered and worked on: no longer "new" in the queue.
                    status="open" if ticket.status == "new" else None,
                ),
            ),
            verify=lambda: self._has_tag(ticket.id, marker),
            ticket_id=ticket.id,
            issue_id=issue_id,
            settle=self.config.zendesk.timeout,
        )

    def show_adopted_link(self, ticket: Ticket, issue_id: int) -> None:
        """A link made by hand gets the issue number in the ticket field, so agents see it in
        Zendesk too; nothing is said to the client (a person already did). A field that names
        another issue was written by a person: it is reported, not overwritten."""
        field_id = self.config.zendesk.issue_field_id
        current = str(ticket.custom_fields.get(field_id) or "").strip()
        if current == str(issue_id):
            return
        if current:
            log.warning("ticket_field_differs", ticket=ticket.id, field=current, issue=issue_id)
            return
        self.effects.plain(
            f"write issue #{issue_id} into ticket #{ticket.id} (field {field_id})",
            lambda: self.helpdesk.update_ticket(
                ticket.id, TicketUpdate(custom_fields={field_id: str(issue_id)})
            ),
            ticket=ticket.id,
            issue=issue_id,
        )

    def reopen_issue(self, link: dict, ticket: Ticket) -> None:
        issue_row = self.store.issue(link["issue_id"])
        if not issue_row or not is_done(issue_row["status"], self.config.redmine.done_statuses):
            return  # the issue is still open: the work goes on where it is
        if self.issue_is_gone(link["issue_id"]):
            log.info(
                "issue_not_reopened", ticket=ticket.id, issue=link["issue_id"], reason="deleted"
            )
            return
        link = self._settle_done_reply(link)
        status = self.config.redmine.reopen_status
        note = self.messages.render(
            "reopen_note",
            self._language(link.get("client")),
            ticket_id=ticket.id,
            ticket_url=ticket.url,
        )
        issue_id, round_ = link["issue_id"], link["done_rounds"]
        describe = f"reopen issue #{issue_id} ({status}): ticket #{ticket.id} was reopened"
        try:
            self.effects.run(
                f"reopen_issue:{ticket.id}:{round_}",
                "reopen_issue",
                describe=describe,
                do=lambda: self.tracker.update_issue(issue_id, status=status, notes=note),
                verify=lambda: self._reopen_landed(ticket.id, issue_id, note, round_),
                ticket_id=ticket.id,
                issue_id=issue_id,
                # What _settle_reopen needs if the issue changes before it is verified.
                detail={"describe": describe, "note": note},
                settle=self.config.redmine.timeout,
            )
        except NotFound:
            # Deleted in Redmine since the last link check: reported, never retried forever.
            self.issue_vanished(issue_id)
            return
        with self.store.atomic():
            # Our own status change must not come back as a note on the ticket.
            self.store.update_link(ticket.id, issue_status=status)
            self.store.set_issue_status(issue_id, status)

    def _settle_done_reply(self, link: dict) -> dict:
        """The client reopened a ticket that a "done" reply of a killed run solved, before the
        next run could verify that reply: settle it first, so the reopen (and the next round's
        reply) count from the right round. Counting from the stale one would take the next
        "done" for this one, already made: no reply, the ticket left open, the issue reopened
        again."""
        ticket_id, round_ = link["ticket_id"], link["done_rounds"] + 1
        row = self.store.effect(f"reply_done:{ticket_id}:{round_}")
        if not row or row["status"] != "pending":
            return link
        marker = f"syncd_done_{row['issue_id']}_{round_}"
        if self.effects.settle(
            row, lambda: self._has_tag(ticket_id, marker), settle=self.config.zendesk.timeout
        ):
            with self.store.atomic():
                self.store.update_link(ticket_id, done_rounds=round_)
        return self.store.link_by_ticket(ticket_id) or link

    def _settle_reopen(self, link: dict) -> dict:
        """A reopen a killed run sent, not verified yet, while the issue changed again (a person
        closed it once more): settled before relaying, so the relay starts from our reopen.
        Relayed from the stale status, the close would be a note instead of a "done" reply,
        and the reopen, verified by "is the issue open", would be sent a second time."""
        ticket_id, round_ = link["ticket_id"], link["done_rounds"]
        row = self.store.effect(f"reopen_issue:{ticket_id}:{round_}")
        if not row or row["status"] != "pending":
            return link
        note = json.loads(row["detail"] or "{}").get("note")
        issue_id = row["issue_id"]
        verify = (
            (lambda: self._reopen_landed(ticket_id, issue_id, note, round_))
            if note
            else (lambda: self._issue_open(issue_id))  # a row begun before notes were kept
        )
        if self.effects.settle(row, verify, settle=self.config.redmine.timeout):
            with self.store.atomic():
                self.store.update_link(ticket_id, issue_status=self.config.redmine.reopen_status)
        return self.store.link_by_ticket(ticket_id) or link

    def _reopen_landed(self, ticket_id: int, issue_id: int, note: str, round_: int) -> bool | None:
        """Our reopen note is in the issue's history once more than the earlier reopens account
        for: a marker that stays when a person changes the status again (the issue being open
        does not)."""
        wanted = " ".join(note.split())
        made = sum(" ".join(n.split()) == wanted for n in self.tracker.issue_notes(issue_id))
        earlier = 0
        for r in range(round_):
            row = self.store.effect(f"reopen_issue:{ticket_id}:{r}")
            earlier += bool(row and row["status"] == "done")
        return True if made > earlier else None

    # ================================================================ helpers
    def _issue_for_ticket(self, ticket_id: int) -> Issue | None:
        found = self.tracker.find_issues_by_field(
            self.config.redmine.ticket_field_id, str(ticket_id)
        )
        # Only the configured projects: an issue elsewhere in the same Redmine (another
        # studio's Zendesk, an old import) may carry the same ticket number, and taking it for
        # ours would link the ticket to a stranger's issue and never create its own.
        mine = set(self.config.all_projects())
        found = [i for i in found if i.project in mine]
        return min(found, key=lambda i: i.id) if found else None

    def _issue_open(self, issue_id: int) -> bool | None:
        status = self.tracker.get_issue(issue_id).status
        return True if not is_done(status, self.config.redmine.done_statuses) else None

    def _ticket_tagged(self, ticket_id: int, tag: str) -> Ticket | None:
        ticket = self.helpdesk.get_ticket(ticket_id)
        return ticket if tag in ticket.tags else None

    def _has_tag(self, ticket_id: int, tag: str) -> bool | None:
        return True if tag in self.helpdesk.get_ticket(ticket_id).tags else None

    def _field_is(self, ticket_id: int, field_id: int, issue_id: int) -> bool | None:
        value = self.helpdesk.get_ticket(ticket_id).custom_fields.get(field_id)
        return True if str(value or "").strip() == str(issue_id) else None

    def _has_comment(self, ticket_id: int, body: str) -> bool | None:
        wanted = " ".join(body.split())
        return (
            True
            if any(" ".join(c.body.split()) == wanted for c in self.helpdesk.comments(ticket_id))
            else None
        )

    def _language(self, client_id: str | None) -> str:
        client = self.config.client_by_id(client_id) if client_id else None
        return client.language if client and client.language else self.config.sync.language


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _planned_issue(new, ticket: Ticket) -> Issue:
    """What --dry-run shows in place of an issue that does not exist yet."""
    return Issue(
        id=0,
        project=new.project,
        tracker=new.tracker or "",
        status="(new)",
        priority=new.priority or "",
        subject=new.subject,
        description="",
        created_on=ticket.updated_at,
        updated_on=ticket.updated_at,
        estimated_hours=new.estimated_hours,
        url="(new issue)",
    )
