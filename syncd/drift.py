"""Changes made behind syncd's back, and what syncd does about each.

People merge, delete and spam tickets in Zendesk, move, delete and edit issues in Redmine, and
change a ticket's organization. None of that may crash a cycle, loop a failing write forever,
vanish silently or duplicate an issue. The rule for every case: **keep the link as the store
knows it, write nothing more to what is gone, never create a second issue, and say so** — a
structured log event, a row in the store's drift table (`syncd status`, the billing notes) and,
where a person works, a private note on the Redmine issue (or an internal note on the ticket
when the issue itself is gone). Hours stay Redmine's: billed with the project they are in.

- ticket merged (closed, tagged `closed_by_merge`): note on the issue naming the target ticket.
- ticket deleted or marked as spam (status `deleted`, GET 404): note on the issue.
- ticket's organization now another client's or none: note; the issue stays where it is.
- issue moved out of the client's projects, or into another client's: note on the issue;
  billing follows the project.
- issue deleted (404): internal note on the ticket; no new issue, no more writes to it.
- issue's ticket field cleared by hand: set again (it is the proof of the link), with a note;
  set to another ticket: reported, left alone.
- the ticket field not available where an issue would be created: no issue is created (it
  could not carry the proof and would be duplicated later); a config-level error instead.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import structlog

from connectors.base import ConnectorError, Issue, NotFound, Ticket, TicketUpdate
from mappings.clients import client_for_organization, client_for_project
from mappings.references import ticket_id_from_field
from mappings.statuses import FINAL_TICKET_STATUSES
from syncd.flow import Flow
from syncd.state import iso, parse_iso

log = structlog.get_logger("syncd.drift")

MERGE_TAG = "closed_by_merge"  # Zendesk tags every ticket closed by a merge
# Zendesk's default merge comment on the source: 'This request was closed and merged into
# request #123 "…"'. A custom comment may not say it; the note then says "another ticket".
MERGED_INTO = re.compile(r"merged into (?:request|ticket) #(\d+)", re.IGNORECASE)
LINKS_CURSOR = "links_checked"

# Internal notes for the people working the issue or the ticket (never sent to a client).
NOTES: dict[str, dict[str, str]] = {
    "en": {
        "ticket_merged": "Zendesk #{ticket} was merged into {target} and closed. This "
        "issue stays linked to #{ticket}; syncd writes nothing more to that ticket. Hours logged "
        "here are still billed with project {project}; the invoice line says it was merged.",
        "ticket_deleted": "Zendesk #{ticket} was deleted in Zendesk. This issue keeps its link; "
        "syncd writes nothing more to the ticket and creates no new issue for it. Hours logged "
        "here are still billed with project {project}; the invoice line says the ticket is gone.",
        "ticket_spam": "Zendesk #{ticket} was marked as spam (deleted, its requester suspended). "
        "This issue keeps its link; syncd writes nothing more to the ticket. Hours logged here "
        "are still billed with project {project}; the invoice line says so.",
        "ticket_client_changed": "Zendesk #{ticket} now belongs to {owner}. syncd leaves this "
        "issue in project {project}: its hours are billed to {client} as before. Move the issue "
        "yourself if the work belongs to another client.",
        "issue_moved_out": "This issue was moved to project {project}, outside the projects of "
        "{client}. syncd keeps its link to Zendesk #{ticket} but no longer follows it; its hours "
        "are no longer billed to {client}.",
        "issue_moved_client": "This issue was moved from project {old_project} ({old_client}) to "
        "project {project} ({client}). syncd keeps its link to Zendesk #{ticket}; its hours are "
        "billed to {client} from now on.",
        "field_restored": "syncd set the Zendesk ticket field back to {ticket}: this issue is "
        "linked to Zendesk #{ticket}, and the field is the proof of that link (without it a "
        "second issue could be created for the ticket).",
        "issue_deleted": "Redmine issue #{issue} was deleted in Redmine. syncd keeps the link, "
        "creates no new issue for this ticket and relays nothing more to it.",
        "another_ticket": "another ticket",
        "no_client": "no client of the studio",
        "client_of": "client {client}",
    },
    "ru": {
        "ticket_merged": "Zendesk #{ticket} объединён с {target} и закрыт. Задача "
        "остаётся связанной с #{ticket}; syncd больше ничего не пишет в этот тикет. Часы по ней "
        "по-прежнему выставляются по проекту {project}; в строке счёта указано объединение.",
        "ticket_deleted": "Zendesk #{ticket} удалён в Zendesk. Связь задачи сохранена; syncd "
        "больше ничего не пишет в тикет и не создаёт для него новую задачу. Часы по задаче "
        "по-прежнему выставляются по проекту {project}; в строке счёта указано удаление.",
        "ticket_spam": "Zendesk #{ticket} помечен как спам (удалён, автор заблокирован). Связь "
        "задачи сохранена; syncd больше ничего не пишет в тикет. Часы по задаче по-прежнему "
        "выставляются по проекту {project}; в строке счёта это указано.",
        "ticket_client_changed": "Zendesk #{ticket} теперь относится к: {owner}. syncd оставляет "
        "задачу в проекте {project}: её часы, как и раньше, выставляются клиенту {client}. "
        "Перенесите задачу сами, если работа относится к другому клиенту.",
        "issue_moved_out": "Задача перенесена в проект {project}, вне проектов клиента {client}. "
        "syncd сохраняет связь с Zendesk #{ticket}, но больше не следит за задачей; её часы "
        "больше не выставляются клиенту {client}.",
        "issue_moved_client": "Задача перенесена из проекта {old_project} ({old_client}) в "
        "проект {project} ({client}). syncd сохраняет связь с Zendesk #{ticket}; её часы теперь "
        "выставляются клиенту {client}.",
        "field_restored": "syncd вернул в поле тикета Zendesk значение {ticket}: задача связана "
        "с Zendesk #{ticket}, и это поле — доказательство связи (без него для тикета могла бы "
        "появиться вторая задача).",
        "issue_deleted": "Задача Redmine #{issue} удалена в Redmine. syncd сохраняет связь, не "
        "создаёт для тикета новую задачу и больше ничего по нему не передаёт.",
        "another_ticket": "другим тикетом",
        "no_client": "не клиент студии",
        "client_of": "клиент {client}",
    },
}


def note(language: str, key: str, **values: Any) -> str:
    return NOTES.get(language, NOTES["en"])[key].format(**values)


class TicketFieldUnavailable(ConnectorError):
    """The configured ticket field can't be set where an issue would be created."""

    def __init__(self, message: str) -> None:
        # Retried with backoff: a person fixes Redmine, and the tickets then go through.
        super().__init__(message, retryable=True)


class DriftFlow(Flow):
    def _language(self, client_id: str | None) -> str:  # the engine's
        raise NotImplementedError

    # ================================================================ tickets
    def ticket_drift(self, ticket: Ticket, link: dict[str, Any]) -> None:
        """A linked ticket as the feed (or a re-read) shows it: merged, deleted, moved to
        another organization?"""
        if ticket.status == "deleted":
            self._ticket_gone(ticket.id, link, ticket.requester_id)
            return
        if ticket.status == "closed" and MERGE_TAG in ticket.tags:
            self._ticket_merged(ticket, link)
        self._ticket_owner(ticket, link)

    def ticket_vanished(self, ticket_id: int) -> None:
        """A ticket answered 404: deleted (or spam). Remembered as deleted, so nothing is
        written to it again and its failures stop being retried."""
        row = self.store.ticket(ticket_id)
        with self.store.atomic():
            self.store.db.execute("UPDATE tickets SET status = 'deleted' WHERE id = ?", [ticket_id])
            if self.store.link_by_ticket(ticket_id):
                self.store.update_link(ticket_id, ticket_status="deleted")
        log.warning("ticket_vanished", ticket=ticket_id)
        link = self.store.link_by_ticket(ticket_id)
        if link:
            self._ticket_gone(ticket_id, link, (row or {}).get("requester_id"))

    def ticket_gone(self, ticket_id: int) -> bool:
        """A write to the ticket was refused (404, 422): re-read it. True when it is closed
        or deleted now, so the write is dropped instead of retried forever."""
        try:
            ticket = self.helpdesk.get_ticket(ticket_id)
        except NotFound:
            self.ticket_vanished(ticket_id)
            return True
        self.save_ticket(ticket)
        link = self.store.link_by_ticket(ticket_id)
        if link:
            with self.store.atomic():
                self.store.update_link(ticket_id, ticket_status=ticket.status)
            self.ticket_drift(ticket, link)
        return ticket.status in FINAL_TICKET_STATUSES

    def save_ticket(self, ticket: Ticket) -> Any:  # the engine's
        raise NotImplementedError

    def _ticket_gone(self, ticket_id: int, link: dict, requester_id: int | None) -> None:
        known = self.store.drift_of(ticket_id=ticket_id)
        if "ticket_spam" in known or "ticket_deleted" in known:
            kind = "ticket_spam" if "ticket_spam" in known else "ticket_deleted"
        else:
            spam = bool(requester_id) and self._suspended(requester_id)
            kind = "ticket_spam" if spam else "ticket_deleted"
        what = "marked as spam" if kind == "ticket_spam" else "deleted"
        self._report(kind, link, f"ticket #{ticket_id} {what} in Zendesk", {})

    def _suspended(self, user_id: int) -> bool:
        try:
            return self.helpdesk.user_suspended(user_id)
        except ConnectorError:
            return False  # a deleted requester: plain deletion is what we can tell

    def _ticket_merged(self, ticket: Ticket, link: dict) -> None:
        known = self.store.drift_of(ticket_id=ticket.id).get("ticket_merged")
        target = known["data"].get("target") if known else self._merge_target(ticket.id)
        where = f"#{target}" if target else "another ticket"
        self._report(
            "ticket_merged", link, f"ticket #{ticket.id} merged into {where}", {"target": target}
        )

    def _merge_target(self, ticket_id: int) -> int | None:
        """The ticket it was merged into, from the merge comment on it (newest first)."""
        for comment in reversed(self.helpdesk.comments(ticket_id)):
            found = MERGED_INTO.search(comment.body)
            if found and int(found[1]) != ticket_id:
                return int(found[1])
        return None

    def _ticket_owner(self, ticket: Ticket, link: dict) -> None:
        if not link.get("client"):
            return  # adopted without a client: nothing to compare with
        client = client_for_organization(ticket.organization_id, self.config.clients)
        owner = client.id if client else None
        if owner == link["client"]:
            with self.store.atomic():
                if self.store.resolve_drift(
                    "ticket_client_changed", ticket_id=ticket.id, issue_id=link["issue_id"]
                ):
                    log.info("ticket_client_restored", ticket=ticket.id, client=owner)
            return
        detail = (
            f"ticket #{ticket.id} moved to organization {ticket.organization_id} "
            f"({'client ' + owner if owner else 'no client'}); issue #{link['issue_id']} stays "
            f"with {link['client']}"
        )
        data = {"organization_id": ticket.organization_id, "client": owner}
        self._report("ticket_client_changed", link, detail, data, variant=ticket.organization_id)

    # ================================================================ issues
    def issue_drift(self, issue: Issue, link: dict[str, Any], old_project: str | None) -> None:
        """A linked issue as the feed shows it: moved to another client's project? Its
        ticket field cleared or changed by hand?"""
        self._issue_project(issue, link, old_project)
        self._issue_field(issue, link)

    def _issue_project(self, issue: Issue, link: dict, old_project: str | None) -> None:
        client = client_for_project(issue.project, self.config.clients)
        if client is None:
            detail = f"issue #{issue.id} moved to project {issue.project}, outside {link['client']}"
            self._report("issue_moved_out", link, detail, {"project": issue.project})
            return
        with self.store.atomic():
            back = self.store.resolve_drift(
                "issue_moved_out", ticket_id=link["ticket_id"], issue_id=issue.id
            )
        if back:
            log.info("issue_moved_back", issue=issue.id, project=issue.project)
        if link.get("client") and client.id != link["client"]:
            old = old_project or "?"
            detail = (
                f"issue #{issue.id} moved from {old} to {issue.project}: billed to {client.id} "
                f"instead of {link['client']}"
            )
            data = {"project": issue.project, "old_project": old, "client": client.id}
            self._report("issue_moved_client", link, detail, data, variant=issue.project)
        else:
            with self.store.atomic():
                self.store.resolve_drift(
                    "issue_moved_client", ticket_id=link["ticket_id"], issue_id=issue.id
                )

    def _issue_field(self, issue: Issue, link: dict) -> None:
        field_id = self.config.redmine.ticket_field_id
        ticket_id = link["ticket_id"]
        if field_id not in issue.custom_fields:
            # The field isn't there at all (deleted, or off for this project or tracker): a
            # Redmine configuration problem, not a person clearing a value. Never "restored",
            # which would write in a loop to a field Redmine ignores.
            self._report(
                "ticket_field_unavailable",
                link,
                f"issue #{issue.id} has no field {field_id}: deleted or not enabled for its "
                "project or tracker",
                {"field": field_id},
                write_note=False,
            )
            return
        with self.store.atomic():
            self.store.resolve_drift(
                "ticket_field_unavailable", ticket_id=ticket_id, issue_id=issue.id
            )
        raw = (issue.custom_fields.get(field_id) or "").strip()
        if ticket_id_from_field(raw) == ticket_id:
            with self.store.atomic():
                self.store.resolve_drift(
                    "ticket_field_differs", ticket_id=ticket_id, issue_id=issue.id
                )
            return
        if raw:
            # A person wrote another ticket there: theirs to sort out, never overwritten.
            self._report(
                "ticket_field_differs",
                link,
                f"issue #{issue.id} names ticket {raw!r} but is linked to #{ticket_id}",
                {"field": raw},
                write_note=False,
            )
            return
        if link["origin"] == "adopted:text":
            return  # linked by a reference in its text: an empty field is how it always was
        text = note(self._language(link.get("client")), "field_restored", ticket=ticket_id)
        log.warning("ticket_field_cleared", issue=issue.id, ticket=ticket_id)
        self.effects.run(
            f"restore_ticket_field:{issue.id}:{iso(issue.updated_on)}",
            "restore_ticket_field",
            describe=f"set the ticket field of issue #{issue.id} back to {ticket_id} "
            "(cleared by hand) with a private note",
            do=lambda: self.tracker.update_issue(
                issue.id,
                custom_fields={field_id: str(ticket_id)},
                notes=text,
                private_notes=True,
            ),
            verify=lambda: self._field_restored(issue.id, ticket_id),
            ticket_id=ticket_id,
            issue_id=issue.id,
            settle=self.config.redmine.timeout,
        )

    def _field_restored(self, issue_id: int, ticket_id: int) -> bool | None:
        value = self.tracker.get_issue(issue_id).custom_fields.get(
            self.config.redmine.ticket_field_id
        )
        return True if ticket_id_from_field(value) == ticket_id else None

    def issue_vanished(self, issue_id: int) -> None:
        """A linked issue answered 404: deleted in Redmine. The link stays (no second issue
        is ever made for its ticket); the ticket's agents get an internal note."""
        link = self.store.link_by_issue(issue_id)
        if link is None:
            log.info("issue_vanished", issue=issue_id, linked=False)
            return
        self._report(
            "issue_deleted", link, f"issue #{issue_id} deleted in Redmine", {}, write_note=False
        )
        ticket_id = link["ticket_id"]
        ticket = self.store.ticket(ticket_id)
        if ticket is None or ticket["status"] in FINAL_TICKET_STATUSES:
            return
        text = note(self._language(link.get("client")), "issue_deleted", issue=issue_id)
        try:
            self.effects.run(
                f"drift_note:issue_deleted:{ticket_id}:{issue_id}",
                "drift_ticket_note",
                describe=f"add an internal note to ticket #{ticket_id}: issue #{issue_id} "
                "was deleted in Redmine",
                do=lambda: self.helpdesk.update_ticket(ticket_id, TicketUpdate(comment=text)),
                verify=lambda: self._ticket_has_note(ticket_id, text),
                ticket_id=ticket_id,
                issue_id=issue_id,
                settle=self.config.zendesk.timeout,
            )
        except ConnectorError as e:
            if e.status not in (404, 422) or not self.ticket_gone(ticket_id):
                raise

    def issue_is_gone(self, issue_id: int) -> bool:
        return "issue_deleted" in self.store.drift_of(issue_id=issue_id)

    def _ticket_has_note(self, ticket_id: int, text: str) -> bool | None:
        wanted = " ".join(text.split())
        comments = self.helpdesk.comments(ticket_id)
        return True if any(" ".join(c.body.split()) == wanted for c in comments) else None

    # ================================================================ the periodic link check
    def check_links(self) -> None:
        """Issues moved out of every configured project or deleted never come back through
        the issue feed (it reads those projects only). So now and then (with the time-entry
        re-read's period) the linked issues of open tickets are looked up by id, wherever they
        are: one request per 100 links."""
        last = parse_iso(self.store.cursor(LINKS_CURSOR))
        every = timedelta(minutes=self.config.sync.reread_every_minutes)
        if last is not None and self.now() - last < every:
            return
        gone = {r["issue_id"] for r in self.store.drifts() if r["kind"] == "issue_deleted"}
        links = [
            x
            for x in self.store.links()
            if x["ticket_status"] not in FINAL_TICKET_STATUSES and x["issue_id"] not in gone
        ]
        found = self.tracker.issues_by_ids([x["issue_id"] for x in links]) if links else []
        by_id = {i.id: i for i in found}
        for link in links:
            issue = by_id.get(link["issue_id"])
            self._item(f"issue:{link['issue_id']}", lambda x=link, i=issue: self._check(x, i))
        with self.store.atomic():
            self.store.set_cursor(LINKS_CURSOR, iso(self.now()) or "")

    def _check(self, link: dict, issue: Issue | None) -> None:
        if issue is None:
            try:
                issue = self.tracker.get_issue(link["issue_id"])
            except NotFound:
                self.issue_vanished(link["issue_id"])
                return
        if client_for_project(issue.project, self.config.clients) is None:
            known = self.store.issue(issue.id)
            with self.store.atomic():
                self.store.save_issue(issue, (known or {}).get("ticket_field"))
            self._issue_project(issue, link, (known or {}).get("project"))

    # ================================================================ creating issues
    def ensure_ticket_field(self, project: str, tracker: str) -> None:
        """Refuse to create an issue that could not carry the ticket field: Redmine would
        drop the field silently, the link would have no proof, and a crash or a lost state
        would later make a second issue for the same ticket."""
        cache: dict[tuple[str, str], bool | None] = self.__dict__.setdefault("_field_ok", {})
        key = (project, tracker)
        if key not in cache:
            field_id = self.config.redmine.ticket_field_id
            cache[key] = self.tracker.ticket_field_available(field_id, project, tracker)
            if cache[key] is False:
                self.config_error(self._field_message(project, tracker))
        if cache[key] is False:
            raise TicketFieldUnavailable(self._field_message(project, tracker))

    def created_without_field(self, issue: Issue, project: str, tracker: str) -> None:
        """The safety net when availability could not be told beforehand: the issue is ours
        and linked (never made twice), but no more issues are created there this cycle."""
        self.__dict__.setdefault("_field_ok", {})[(project, tracker)] = False
        message = self._field_message(project, tracker)
        log.error("issue_created_without_ticket_field", issue=issue.id, project=project)
        self.config_error(message)

    def config_error(self, message: str) -> None:
        if message not in self.stats.config_errors:
            self.stats.config_errors.append(message)
            log.error("redmine_config_error", error=message)

    def _field_message(self, project: str, tracker: str) -> str:
        field_id = self.config.redmine.ticket_field_id
        return (
            f"[redmine] ticket_field_id = {field_id} is not available for new issues in "
            f"project {project} (tracker {tracker}): the field was deleted or is not enabled "
            "for that project or tracker. syncd creates no issue without it (the field is the "
            "proof of the link). Fix it in Administration → Custom fields; the waiting tickets "
            "are retried."
        )

    # ================================================================ reporting
    def _report(
        self,
        kind: str,
        link: dict[str, Any],
        detail: str,
        data: dict[str, Any],
        *,
        variant: object = None,
        write_note: bool = True,
    ) -> None:
        """Record it (once; logged when first seen) and leave the note on the issue (once per
        variant: a second move to another project gets its own note)."""
        ticket_id, issue_id = link["ticket_id"], link["issue_id"]
        with self.store.atomic():
            new = self.store.record_drift(
                kind, ticket_id=ticket_id, issue_id=issue_id, detail=detail, data=data
            )
        if new:
            log.warning(kind, ticket=ticket_id, issue=issue_id, detail=detail, **data)
        if not write_note or self.issue_is_gone(issue_id):
            return
        text = self._note_text(kind, link, data)
        key = f"drift_note:{kind}:{ticket_id}:{issue_id}" + (
            f":{variant}" if variant is not None else ""
        )
        try:
            self.effects.run(
                key,
                "drift_note",
                describe=f"add a private note to issue #{issue_id}: {detail}",
                do=lambda: self.tracker.update_issue(issue_id, notes=text, private_notes=True),
                verify=lambda: self._issue_has_note(issue_id, text),
                ticket_id=ticket_id,
                issue_id=issue_id,
                settle=self.config.redmine.timeout,
            )
        except NotFound:
            self.issue_vanished(issue_id)

    def _note_text(self, kind: str, link: dict[str, Any], data: dict[str, Any]) -> str:
        lang = self._language(link.get("client"))
        issue = self.store.issue(link["issue_id"]) or {}
        values: dict[str, Any] = {
            "ticket": link["ticket_id"],
            "issue": link["issue_id"],
            "client": link.get("client") or "—",
            "project": data.get("project") or issue.get("project") or "?",
        }
        if kind == "ticket_merged":
            target = data.get("target")
            values["target"] = f"Zendesk #{target}" if target else note(lang, "another_ticket")
        if kind == "ticket_client_changed":
            owner = data.get("client")
            values["owner"] = (
                note(lang, "client_of", client=owner) if owner else note(lang, "no_client")
            )
        if kind == "issue_moved_client":
            values["old_project"] = data.get("old_project")
            values["old_client"] = link.get("client") or "—"
            values["client"] = data.get("client")
        if kind == "issue_moved_out":
            values["client"] = link.get("client") or "—"
        return note(lang, kind, **values)

    def _issue_has_note(self, issue_id: int, text: str) -> bool | None:
        return True if text in self.tracker.issue_notes(issue_id) else None
