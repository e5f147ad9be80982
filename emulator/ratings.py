"""Satisfaction ratings (a mixin of :class:`emulator.store.Store`).

Zendesk only lets a solved ticket be rated; a second rating replaces the first, and rating is
an update of the ticket (it shows up in the incremental export again).
"""

from __future__ import annotations

from typing import Any

from .errors import record_invalid
from .tickets import TicketBook

Record = dict[str, Any]
SCORES = ("good", "bad")


class RatingBook(TicketBook):
    def rate_ticket(self, ticket_id: int, payload: Record, actor_id: int) -> Record:
        with self.lock:
            ticket = self.ticket(ticket_id)
            if ticket["status"] != "solved":
                raise record_invalid(
                    "base", "Satisfaction rating is only allowed on solved tickets", "InvalidValue"
                )
            score = payload.get("score")
            if score not in SCORES:
                raise record_invalid("score", f"Score: {score} is not valid", "InvalidValue")
            now = self.clock.now()
            rating = self._rating_for(ticket, now)
            rating.update(score=score, comment=payload.get("comment") or "", updated_at=now)
            rating["reason"] = payload.get("reason")
            ticket["satisfaction_rating"] = {
                "id": rating["id"],
                "score": score,
                "comment": rating["comment"],
                "reason": rating["reason"],
            }
            audit = self._new_audit(ticket_id, actor_id, now)
            audit["events"].append(
                {
                    "id": self._new_event_id(),
                    "type": "SatisfactionRating",
                    "score": score,
                    "assignee_id": ticket["assignee_id"],
                    "body": rating["comment"],
                }
            )
            self._touch(ticket, now)
            self._changed()
            return rating

    def _rating_for(self, ticket: Record, now: float) -> Record:
        existing = next((r for r in self.ratings.values() if r["ticket_id"] == ticket["id"]), None)
        if existing is not None:
            return existing
        rating = {
            "id": self._new_id("rating"),
            "ticket_id": ticket["id"],
            "requester_id": ticket["requester_id"],
            "assignee_id": ticket["assignee_id"],
            "group_id": ticket["group_id"],
            "created_at": now,
        }
        self.ratings[rating["id"]] = rating
        return rating
