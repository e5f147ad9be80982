"""Merging tickets and marking them as spam, as Zendesk's Tickets API documents them.

- ``POST /api/v2/tickets/{target}/merge`` with ``{"ids": [...], "target_comment": …,
  "source_comment": …, "target_comment_is_public": …, "source_comment_is_public": …}``: each
  source ticket gets the source comment and is closed (Zendesk also tags it
  ``closed_by_merge``), the target gets the target comment. Zendesk answers with a
  ``job_status`` and does the work in a background job; here the job is done before the answer,
  so its status is already ``completed``. Closed tickets can be neither source nor target.
  Without comments, Zendesk's own default wording is used (private, like the defaults).
- ``PUT /api/v2/tickets/{id}/mark_as_spam``: the ticket is deleted and its requester suspended.
  After either, the incremental export shows the change (status ``closed`` or ``deleted``) and
  ``GET /tickets/{id}`` of a deleted ticket is 404.
"""

from __future__ import annotations

import secrets
from typing import Any

from .errors import ApiError, record_invalid

Record = dict[str, Any]
MERGE_TAG = "closed_by_merge"


def merge_tickets(store: Any, target_id: int, payload: Record, actor_id: int) -> Record:
    """Merge the tickets in ``payload["ids"]`` into ``target_id``; returns the job status."""
    with store.lock:
        target = store.ticket(target_id)
        try:
            source_ids = [int(i) for i in payload.get("ids") or []]
        except (TypeError, ValueError):
            raise record_invalid("ids", "Ids: must be ticket ids", "InvalidValue") from None
        if not source_ids:
            raise record_invalid("ids", "Ids: cannot be blank", "BlankValue")
        sources = [store.ticket(i) for i in source_ids]  # 404 for unknown or deleted
        for ticket in (target, *sources):
            if ticket["status"] == "closed":
                raise _merge_refused(f"Ticket {ticket['id']} is closed and can't be merged")
        if target_id in source_ids:
            raise _merge_refused("A ticket can't be merged into itself")
        for source in sources:
            _close_source(store, source, target, payload, actor_id)
            _note_target(store, source, target, payload, actor_id)
        return {
            "id": secrets.token_hex(16),
            "job_type": "Merge Tickets",
            "status": "completed",
            "total": len(source_ids),
            "progress": len(source_ids),
            "message": "Completed",
            "results": [{"id": i, "success": True} for i in source_ids],
        }


def _close_source(store: Any, source: Record, target: Record, payload: Record, actor: int) -> None:
    body = payload.get("source_comment") or (
        f'This request was closed and merged into request #{target["id"]} "{target["subject"]}".'
    )
    store.update_ticket(
        source["id"],
        {
            "comment": {"body": body, "public": bool(payload.get("source_comment_is_public"))},
            "status": "closed",
            "additional_tags": [MERGE_TAG],
        },
        actor,
    )


def _note_target(store: Any, source: Record, target: Record, payload: Record, actor: int) -> None:
    comments = store.comments.get(source["id"], [])
    # The source's last comment before the merge note just added to it.
    last = comments[-2]["body"] if len(comments) >= 2 else source["description"]
    body = payload.get("target_comment") or (
        f'Request #{source["id"]} "{source["subject"]}" was closed and merged into this '
        f"request. Last comment in request #{source['id']}:\n\n{last}"
    )
    store.update_ticket(
        target["id"],
        {"comment": {"body": body, "public": bool(payload.get("target_comment_is_public"))}},
        actor,
    )


def mark_as_spam(store: Any, ticket_id: int) -> None:
    """The ticket is deleted and its requester suspended (agents are never suspended)."""
    with store.lock:
        ticket = store.ticket(ticket_id)
        requester = store.users.get(ticket["requester_id"])
        if requester is not None and requester["role"] == "end-user":
            requester["suspended"] = True
        store.delete_ticket(ticket_id)


def _merge_refused(description: str) -> ApiError:
    return ApiError(422, {"error": "TicketMergeFailed", "description": description, "details": {}})
