"""Tickets, comments and audits (a mixin of :class:`emulator.store.Store`).

The update rules follow Zendesk's documented behaviour and its native ("inborn") ticket rules:
one comment per update, closed tickets refuse updates, a new ticket that gets an assignee becomes
open, a ticket never goes back to new, solving needs an assignee (the acting agent is assigned,
as with "auto assign tickets upon solve"), and an end user's comment reopens a pending, on-hold
or solved ticket.
"""

from __future__ import annotations

import html
import re
import threading
from typing import Any

from .clock import Clock, iso, parse_time
from .errors import ApiError, not_found, record_invalid

Record = dict[str, Any]

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("question", "incident", "problem", "task")
SYSTEM_USER = -1  # Zendesk attributes automatic changes (e.g. auto-close) to user -1

# Fields an update may set directly; each maps to a validator method name.
SIMPLE_FIELDS = (
    "subject",
    "status",
    "priority",
    "type",
    "assignee_id",
    "group_id",
    "requester_id",
    "organization_id",
    "due_at",
    "external_id",
)


def normalize_tags(values: Any) -> list[str]:
    """Zendesk tags are lower case single words; a string with spaces is several tags."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    result: list[str] = []
    for value in values:
        for tag in str(value).lower().split():
            if tag not in result:
                result.append(tag)
    return result


def body_to_html(body: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p]
    inner = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<div class="zd-comment" dir="auto">{inner}</div>'


def html_to_text(markup: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>", "\n", markup)
    text = re.sub(r"(?i)</p>\s*", "\n\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


class TicketBook:
    """Ticket operations; the attributes below are provided by ``Store``."""

    lock: threading.RLock
    clock: Clock
    admin_id: int
    next_ids: dict[str, int]
    users: dict[int, Record]
    fields: dict[int, Record]
    tickets: dict[int, Record]
    comments: dict[int, list[Record]]
    audits: dict[int, list[Record]]
    ratings: dict[int, Record]

    # Implemented by Store.
    def _new_id(self, kind: str) -> int:
        raise NotImplementedError

    def _changed(self) -> None:
        raise NotImplementedError

    def _new_event_id(self) -> int:
        """Comments are audit events too, so they share one id space, as in Zendesk (where a
        comment's id is its Comment event's). The max keeps ids unique for state files written
        when comments still had their own counter."""
        value = max(self.next_ids["event"], self.next_ids["comment"])
        self.next_ids["event"] = self.next_ids["comment"] = value + 1
        return value

    def organization(self, org_id: int) -> Record:
        raise NotImplementedError

    def is_agent(self, user_id: int | None) -> bool:
        raise NotImplementedError

    # -- lookups --------------------------------------------------------------------------

    def ticket(self, ticket_id: int, include_deleted: bool = False) -> Record:
        ticket = self.tickets.get(ticket_id)
        if ticket is None or (ticket["status"] == "deleted" and not include_deleted):
            raise not_found()
        return ticket

    def ticket_comments(self, ticket_id: int) -> list[Record]:
        self.ticket(ticket_id)
        return sorted(self.comments.get(ticket_id, []), key=lambda c: (c["created_at"], c["id"]))

    def ticket_audits(self, ticket_id: int) -> list[Record]:
        self.ticket(ticket_id)
        return sorted(self.audits.get(ticket_id, []), key=lambda a: (a["created_at"], a["id"]))

    # -- create ---------------------------------------------------------------------------

    def create_ticket(
        self, payload: Record, actor_id: int, at: float | None = None
    ) -> tuple[Record, Record]:
        """POST /tickets: the first comment becomes the description. Returns (ticket, audit)."""
        with self.lock:
            now = self.clock.now()
            when = parse_time(payload["created_at"]) if payload.get("created_at") else at or now
            comment = self._comment_spec(payload.get("comment"), payload.get("description"))
            if comment is None:
                raise record_invalid("description", "Description: cannot be blank", "BlankValue")
            # The submitter (default: the API user) is the author of the first comment.
            submitter = payload.get("submitter_id")
            submitter_id = self._check_requester_id(submitter) if submitter else actor_id
            blank = self._blank_ticket(int(submitter_id or actor_id))
            self._check_author(comment, blank["submitter_id"])
            payload = {**payload}
            if payload.get("requester_id") is None:
                payload["requester_id"] = actor_id
            if payload.get("organization_id") is None and payload["requester_id"] is not None:
                requester = self.users.get(int(payload["requester_id"]))
                payload["organization_id"] = requester["organization_id"] if requester else None
            payload["status"] = payload.get("status") or "new"
            changes = self._proposed_changes(blank, payload, actor_id, creating=True)
            ticket = {**blank, **changes, "id": self._new_id("ticket")}
            # Imports may backdate created_at/updated_at, but generated_timestamp is always the
            # real moment of the write: that is what keeps export cursors from missing it.
            updated = parse_time(payload["updated_at"]) if payload.get("updated_at") else when
            ticket.update(created_at=when, updated_at=updated, generated_timestamp=int(now))
            if ticket["status"] in ("solved", "closed"):
                ticket["solved_at"] = when
            self.tickets[ticket["id"]] = ticket
            self.comments[ticket["id"]] = []
            self.audits[ticket["id"]] = []
            audit = self._new_audit(ticket["id"], actor_id, when)
            event = self._add_comment(ticket, comment, ticket["submitter_id"], when, audit["id"])
            ticket["description"] = event["body"]
            audit["events"].append(event)
            set_fields = {k: v for k, v in changes.items() if v not in (None, [], {}, "")}
            audit["events"].extend(self._field_events("Create", set_fields, blank))
            self._changed()
            return ticket, audit

    def _blank_ticket(self, actor_id: int) -> Record:
        return {
            "id": None,
            "subject": None,
            "description": "",
            "status": "new",
            "type": None,
            "priority": None,
            "tags": [],
            "requester_id": None,
            "submitter_id": actor_id,
            "assignee_id": None,
            "group_id": None,
            "organization_id": None,
            "external_id": None,
            "due_at": None,
            "custom": {},
            "satisfaction_rating": {"score": "unoffered"},
            "solved_at": None,
            "created_at": None,
            "updated_at": None,
            "generated_timestamp": 0,
        }

    # -- update ---------------------------------------------------------------------------

    def update_ticket(
        self, ticket_id: int, payload: Record, actor_id: int, at: float | None = None
    ) -> tuple[Record, Record]:
        """PUT /tickets/{id}: fields, tags and at most one comment. Returns (ticket, audit)."""
        with self.lock:
            ticket = self.ticket(ticket_id)
            if ticket["status"] == "closed":
                raise record_invalid("status", "Status: closed prevents ticket update")
            now = self.clock.now()
            when = at if at is not None else now
            comment = self._comment_spec(payload.get("comment"))
            payload = self._reopen_on_end_user_comment(ticket, payload, comment, actor_id)
            changes = self._proposed_changes(ticket, payload, actor_id, creating=False)
            if comment is not None:
                self._check_author(comment, actor_id)
            audit = self._new_audit(ticket_id, actor_id, when)
            if comment is not None:
                audit["events"].append(
                    self._add_comment(ticket, comment, actor_id, when, audit["id"])
                )
            audit["events"].extend(self._field_events("Change", changes, ticket))
            self._apply_changes(ticket, changes, when)
            self._touch(ticket, when)
            self._changed()
            return ticket, audit

    def _reopen_on_end_user_comment(
        self, ticket: Record, payload: Record, comment: Record | None, actor_id: int
    ) -> Record:
        if comment is None or ("status" in payload and payload["status"] is not None):
            return payload
        author = comment.get("author_id") or actor_id
        if ticket["status"] in ("pending", "hold", "solved") and not self.is_agent(author):
            return {**payload, "status": "open"}
        return payload

    def _apply_changes(self, ticket: Record, changes: Record, when: float) -> None:
        if "status" in changes:
            new_status = changes["status"]
            if new_status == "solved" or (new_status == "closed" and not ticket["solved_at"]):
                ticket["solved_at"] = when
            elif new_status != "closed":
                ticket["solved_at"] = None
        ticket.update(changes)

    def _touch(self, ticket: Record, when: float) -> None:
        """Every change moves the ticket to the end of the incremental export."""
        ticket["updated_at"] = max(ticket["updated_at"] or when, when)
        ticket["generated_timestamp"] = int(self.clock.now())

    def delete_ticket(self, ticket_id: int) -> None:
        with self.lock:
            ticket = self.ticket(ticket_id)
            ticket["status"] = "deleted"
            self._touch(ticket, self.clock.now())
            self._changed()

    def close_solved_older_than(self, seconds: float) -> list[int]:
        """Zendesk closes solved tickets automatically (at the latest 28 days after solving)."""
        with self.lock:
            now = self.clock.now()
            closed = []
            for ticket in self.tickets.values():
                solved_at = ticket.get("solved_at")
                if ticket["status"] == "solved" and solved_at and now - solved_at >= seconds:
                    # Stamped when Zendesk would have closed it, not when this lazy sweep
                    # noticed: a history seeded in the past must read as it would have happened.
                    # The sweep runs before every request, so no export cursor has passed it.
                    at = solved_at + seconds
                    audit = self._new_audit(ticket["id"], SYSTEM_USER, at)
                    audit["via"] = {"channel": "rule", "source": {"rel": "automatic_close"}}
                    audit["events"].extend(
                        self._field_events("Change", {"status": "closed"}, ticket)
                    )
                    ticket["status"] = "closed"
                    self._touch(ticket, at)
                    closed.append(ticket["id"])
            if closed:
                self._changed()
            return closed

    # -- validation of proposed field values -------------------------------------------------

    def _proposed_changes(
        self, ticket: Record, payload: Record, actor_id: int, creating: bool
    ) -> Record:
        """Validate everything before touching the ticket, so a 422 leaves no partial update."""
        proposed: Record = {}
        for name in SIMPLE_FIELDS:
            if name in payload:
                proposed[name] = getattr(self, f"_check_{name}")(payload[name])
        if "status" in proposed and proposed["status"] is None:
            del proposed["status"]  # zenpy may send status: null; Zendesk keeps the status
        custom = self._proposed_custom(ticket, payload)
        if custom is not None:
            proposed["custom"] = custom
        tags = self._proposed_tags(ticket, payload, custom)
        if tags is not None:
            proposed["tags"] = tags
        merged = {**ticket, **proposed}
        self._apply_status_rules(ticket, merged, proposed, actor_id, creating)
        return {k: v for k, v in proposed.items() if creating or ticket.get(k) != v}

    def _apply_status_rules(
        self, ticket: Record, merged: Record, proposed: Record, actor_id: int, creating: bool
    ) -> None:
        if not creating and ticket["status"] != "new" and merged["status"] == "new":
            raise record_invalid("status", "Status: cannot be set back to new", "InvalidValue")
        if merged["status"] == "new" and merged["assignee_id"] is not None:
            proposed["status"] = merged["status"] = "open"
        if merged["status"] in ("solved", "closed") and merged["assignee_id"] is None:
            if not self.is_agent(actor_id):
                raise record_invalid("assignee", "Assignee: is required when solving")
            proposed["assignee_id"] = actor_id

    def _check_subject(self, value: Any) -> str | None:
        return None if value is None else str(value)

    def _check_external_id(self, value: Any) -> str | None:
        return None if value is None else str(value)

    def _check_status(self, value: Any) -> str | None:
        if value is not None and value not in STATUSES:
            raise record_invalid("status", f"Status: {value} is not valid", "InvalidValue")
        return value

    def _check_priority(self, value: Any) -> str | None:
        if value not in (None, "", *PRIORITIES):
            raise record_invalid("priority", f"Priority: {value} is not valid", "InvalidValue")
        return value or None

    def _check_type(self, value: Any) -> str | None:
        if value not in (None, "", *TYPES):
            raise record_invalid("type", f"Type: {value} is not valid", "InvalidValue")
        return value or None

    def _check_assignee_id(self, value: Any) -> int | None:
        if value is None:
            return None
        if not self.is_agent(int(value)):
            raise record_invalid("assignee", "Assignee: is not an agent", "InvalidValue")
        return int(value)

    def _check_group_id(self, value: Any) -> int | None:
        return None if value is None else int(value)

    def _check_requester_id(self, value: Any) -> int | None:
        if value is None or int(value) not in self.users:
            raise record_invalid("requester", "Requester: is invalid", "InvalidValue")
        return int(value)

    def _check_organization_id(self, value: Any) -> int | None:
        if value is None:
            return None
        try:
            self.organization(int(value))
        except ApiError:
            raise record_invalid(
                "organization_id", "Organization: is invalid", "InvalidValue"
            ) from None
        return int(value)

    def _check_due_at(self, value: Any) -> float | None:
        if value in (None, ""):
            return None
        try:
            return parse_time(value)
        except ValueError:
            raise record_invalid("due_at", "Due at: is invalid", "InvalidValue") from None

    def _proposed_custom(self, ticket: Record, payload: Record) -> Record | None:
        """custom_fields (or fields) [{id, value}] merge by id into the stored values."""
        entries = payload.get("custom_fields")
        if entries is None:
            entries = payload.get("fields")
        if entries is None:
            return None
        if isinstance(entries, dict):
            entries = [{"id": k, "value": v} for k, v in entries.items()]
        custom = dict(ticket["custom"])
        for entry in entries:
            field_id = int(entry.get("id", 0))
            if field_id not in self.fields:
                raise record_invalid(
                    "base", f"Custom field {field_id} does not exist", "InvalidValue"
                )
            custom[str(field_id)] = entry.get("value")
        return custom

    def _proposed_tags(
        self, ticket: Record, payload: Record, custom: Record | None
    ) -> list[str] | None:
        touched = any(k in payload for k in ("tags", "additional_tags", "remove_tags"))
        if not touched and custom is None:
            return None
        tags = normalize_tags(payload["tags"]) if "tags" in payload else list(ticket["tags"])
        tags += [t for t in normalize_tags(payload.get("additional_tags")) if t not in tags]
        removed = normalize_tags(payload.get("remove_tags"))
        tags = [t for t in tags if t not in removed]
        if custom is not None:
            tags = self._tagger_tags(ticket["custom"], custom, tags)
        return tags

    def _tagger_tags(self, old: Record, new: Record, tags: list[str]) -> list[str]:
        """A drop-down (tagger) field's value is also a tag on the ticket."""
        for key, value in new.items():
            field = self.fields.get(int(key))
            if not field or field["type"] != "tagger" or old.get(key) == value:
                continue
            tags = [t for t in tags if t != old.get(key)]
            if value and value not in tags:
                tags.append(str(value))
        return tags

    # -- comments and audits ----------------------------------------------------------------

    def _comment_spec(self, comment: Any, fallback: Any = None) -> Record | None:
        """Normalise a comment payload; an empty body means "no comment" (Zendesk ignores it)."""
        if comment is None and fallback:
            comment = {"body": fallback}
        if isinstance(comment, str):
            comment = {"body": comment}
        if not isinstance(comment, dict):
            return None
        body = comment.get("body")
        markup = comment.get("html_body")
        if (body is None or not str(body).strip()) and (markup is None or not str(markup).strip()):
            return None
        return comment

    def _check_author(self, spec: Record, actor_id: int) -> None:
        """Checked before anything is stored, so a bad author leaves no half-made update."""
        if int(spec.get("author_id") or actor_id) not in self.users:
            raise record_invalid("author_id", "Author: is invalid", "InvalidValue")

    def _add_comment(
        self, ticket: Record, spec: Record, actor_id: int, when: float, audit_id: int
    ) -> Record:
        author_id = spec.get("author_id") or actor_id
        if spec.get("body") is not None and str(spec["body"]).strip():
            body = str(spec["body"])
            markup = body_to_html(body)
        else:
            markup = str(spec["html_body"])
            body = html_to_text(markup)
        public = spec.get("public")
        created = parse_time(spec["created_at"]) if spec.get("created_at") else when
        record = {
            "id": self._new_event_id(),
            "type": "Comment",
            "author_id": int(author_id),
            "body": body,
            "html_body": markup,
            "plain_body": body,
            "public": True if public is None else bool(public),
            "audit_id": audit_id,
            "created_at": created,
        }
        self.comments[ticket["id"]].append(record)
        return self._comment_event(record)

    def _comment_event(self, comment: Record) -> Record:
        event = {k: v for k, v in comment.items() if k not in ("created_at", "audit_id")}
        event["attachments"] = []
        return event

    def _new_audit(self, ticket_id: int, author_id: int, when: float) -> Record:
        audit = {
            "id": self._new_id("audit"),
            "ticket_id": ticket_id,
            "author_id": author_id,
            "created_at": when,
            # When the change was written (never backdated): the event export pages by it,
            # so history seeded with ``at=`` still reaches a consumer that has passed ``at``.
            "generated_timestamp": int(self.clock.now()),
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "metadata": {"system": {}, "custom": {}},
            "events": [],
        }
        self.audits[ticket_id].append(audit)
        return audit

    def _field_events(self, kind: str, changes: Record, before: Record) -> list[Record]:
        """One Create/Change event per field; custom fields are named by their id."""
        pairs: list[tuple[str, Any, Any]] = []
        for name, value in changes.items():
            if name == "custom":
                old = before.get("custom") or {}
                pairs += [(k, v, old.get(k)) for k, v in value.items() if old.get(k) != v]
            elif name == "due_at":
                pairs.append((name, iso(value), iso(before.get(name))))
            else:
                pairs.append((name, value, before.get(name)))
        events = []
        for name, value, previous in pairs:
            event = {"id": self._new_event_id(), "type": kind, "field_name": name, "value": value}
            if kind == "Change":
                event["previous_value"] = previous
            events.append(event)
        return events
