"""JSON renderings of tickets, comments and audits (a mixin of :class:`emulator.store.Store`)."""

from __future__ import annotations

import copy
from typing import Any

from .clock import iso

Record = dict[str, Any]
API_VIA = {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}}


class TicketViews:
    """Turns stored records (times as Unix floats) into the API's shapes."""

    fields: dict[int, Record]
    comments: dict[int, list[Record]]

    def render_ticket(self, ticket: Record, base: str) -> Record:
        custom = [
            {"id": fid, "value": ticket["custom"].get(str(fid))} for fid in sorted(self.fields)
        ]
        first = next(iter(self.comments.get(ticket["id"], [])), None)
        return {
            "id": ticket["id"],
            "url": f"{base}/api/v2/tickets/{ticket['id']}.json",
            "external_id": ticket["external_id"],
            "subject": ticket["subject"],
            "raw_subject": ticket["subject"],
            "description": ticket["description"],
            "status": ticket["status"],
            "type": ticket["type"],
            "priority": ticket["priority"],
            "tags": list(ticket["tags"]),
            "requester_id": ticket["requester_id"],
            "submitter_id": ticket["submitter_id"],
            "assignee_id": ticket["assignee_id"],
            "group_id": ticket["group_id"],
            "organization_id": ticket["organization_id"],
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "has_incidents": False,
            "is_public": bool(first and first["public"]),
            "problem_id": None,
            "brand_id": None,
            "ticket_form_id": None,
            "custom_fields": custom,
            "fields": copy.deepcopy(custom),
            "due_at": iso(ticket["due_at"]),
            "satisfaction_rating": copy.deepcopy(ticket["satisfaction_rating"]),
            "via": copy.deepcopy(API_VIA),
            "allow_channelback": False,
            "allow_attachments": True,
            "created_at": iso(ticket["created_at"]),
            "updated_at": iso(ticket["updated_at"]),
            "generated_timestamp": ticket["generated_timestamp"],
        }

    def render_comment(self, comment: Record) -> Record:
        rendered = {k: v for k, v in comment.items() if k != "created_at"}
        rendered.update(
            attachments=[],
            metadata={"system": {}, "custom": {}},
            via=copy.deepcopy(API_VIA),
            created_at=iso(comment["created_at"]),
        )
        return rendered

    def render_audit(self, audit: Record) -> Record:
        rendered = copy.deepcopy(audit)
        rendered.pop("generated_timestamp", None)  # bookkeeping for the event export only
        rendered["created_at"] = iso(audit["created_at"])
        return rendered

    def render_rating(self, rating: Record, base: str) -> Record:
        return {
            "id": rating["id"],
            "url": f"{base}/api/v2/satisfaction_ratings/{rating['id']}.json",
            "ticket_id": rating["ticket_id"],
            "requester_id": rating["requester_id"],
            "assignee_id": rating["assignee_id"],
            "group_id": rating["group_id"],
            "score": rating["score"],
            "comment": rating["comment"],
            "reason": rating.get("reason"),
            "created_at": iso(rating["created_at"]),
            "updated_at": iso(rating["updated_at"]),
        }
