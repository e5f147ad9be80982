"""In-memory Zendesk account: organizations, users and ticket fields, plus persistence.

Tickets, comments and audits live in :mod:`emulator.tickets`, ratings in :mod:`emulator.ratings`
and the ticket renderings in :mod:`emulator.views` (mixins of this class).
Records keep times as Unix floats; ``render_*`` turns them into the API's JSON shapes.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Callable
from typing import Any

from .clock import Clock, iso
from .errors import not_found, record_invalid
from .ratings import RatingBook
from .views import TicketViews

Record = dict[str, Any]

USER_ROLES = ("end-user", "agent", "admin")
FIELD_TYPES = (
    "text",
    "textarea",
    "checkbox",
    "date",
    "integer",
    "decimal",
    "regexp",
    "partialcreditcard",
    "multiselect",
    "tagger",
    "lookup",
)
ID_KINDS = ("organization", "user", "ticket_field", "ticket", "comment", "audit", "event", "rating")


class Store(RatingBook, TicketViews):
    """All account state, guarded by one re-entrant lock.

    Every mutating method calls :meth:`_changed`, which the emulator uses to persist the state
    file after each write.
    """

    def __init__(self, clock: Clock, admin_email: str | None) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.on_change: Callable[[], None] | None = None
        self.next_ids: dict[str, int] = dict.fromkeys(ID_KINDS, 1)
        self.organizations: dict[int, Record] = {}
        self.users: dict[int, Record] = {}
        self.fields: dict[int, Record] = {}
        self.tickets: dict[int, Record] = {}
        self.comments: dict[int, list[Record]] = {}
        self.audits: dict[int, list[Record]] = {}
        self.ratings: dict[int, Record] = {}
        self.admin_email = admin_email or "admin@example.com"
        self.admin_id = self._ensure_admin(self.admin_email)

    # -- plumbing -------------------------------------------------------------------------

    def _new_id(self, kind: str) -> int:
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _ensure_admin(self, email: str) -> int:
        for user in self.users.values():
            if user["email"] == email.lower():
                return int(user["id"])
        return int(self.create_user({"name": "Admin", "email": email, "role": "admin"})["id"])

    # -- organizations --------------------------------------------------------------------

    def create_organization(self, payload: Record) -> Record:
        with self.lock:
            name = str(payload.get("name") or "").strip()
            if not name:
                raise record_invalid("name", "Name: cannot be blank", "BlankValue")
            if any(o["name"].lower() == name.lower() for o in self.organizations.values()):
                raise record_invalid("name", "Name: has already been taken", "DuplicateValue")
            now = self.clock.now()
            org = {
                "id": self._new_id("organization"),
                "name": name,
                "external_id": payload.get("external_id"),
                "details": payload.get("details") or "",
                "notes": payload.get("notes") or "",
                "domain_names": list(payload.get("domain_names") or []),
                "tags": list(payload.get("tags") or []),
                "created_at": now,
                "updated_at": now,
            }
            self.organizations[org["id"]] = org
            self._changed()
            return org

    def organization(self, org_id: int) -> Record:
        org = self.organizations.get(org_id)
        if org is None:
            raise not_found()
        return org

    def render_organization(self, org: Record, base: str) -> Record:
        return {
            "id": org["id"],
            "url": f"{base}/api/v2/organizations/{org['id']}.json",
            "name": org["name"],
            "external_id": org["external_id"],
            "details": org["details"],
            "notes": org["notes"],
            "domain_names": list(org["domain_names"]),
            "tags": list(org["tags"]),
            "group_id": None,
            "shared_tickets": False,
            "shared_comments": False,
            "organization_fields": {},
            "created_at": iso(org["created_at"]),
            "updated_at": iso(org["updated_at"]),
        }

    # -- users ----------------------------------------------------------------------------

    def create_user(self, payload: Record) -> Record:
        with self.lock:
            name = str(payload.get("name") or "").strip()
            if not name:
                raise record_invalid("name", "Name: is too short (minimum one character)")
            role = payload.get("role") or "end-user"
            if role not in USER_ROLES:
                raise record_invalid("role", f"Role: {role} is not valid", "InvalidValue")
            email = payload.get("email")
            email = str(email).strip().lower() if email else None
            if email and any(u["email"] == email for u in self.users.values()):
                raise record_invalid(
                    "email",
                    f"Email: {email} is already being used by another user",
                    "DuplicateValue",
                )
            org_id = payload.get("organization_id")
            if org_id is not None:
                self.organization(int(org_id))
            now = self.clock.now()
            user = {
                "id": self._new_id("user"),
                "name": name,
                "email": email,
                "role": role,
                "organization_id": int(org_id) if org_id is not None else None,
                "external_id": payload.get("external_id"),
                "time_zone": payload.get("time_zone") or "UTC",
                "created_at": now,
                "updated_at": now,
            }
            self.users[user["id"]] = user
            self._changed()
            return user

    def user(self, user_id: int) -> Record:
        user = self.users.get(user_id)
        if user is None:
            raise not_found()
        return user

    def user_by_email(self, email: str) -> Record | None:
        email = email.lower()
        return next((u for u in self.users.values() if u["email"] == email), None)

    def is_agent(self, user_id: int | None) -> bool:
        user = self.users.get(user_id) if user_id is not None else None
        return bool(user and user["role"] in ("agent", "admin"))

    def render_user(self, user: Record, base: str) -> Record:
        return {
            "id": user["id"],
            "url": f"{base}/api/v2/users/{user['id']}.json",
            "name": user["name"],
            "email": user["email"],
            "role": user["role"],
            "organization_id": user["organization_id"],
            "external_id": user["external_id"],
            "time_zone": user["time_zone"],
            "locale": "en-US",
            "active": True,
            "verified": True,
            # mark_as_spam suspends the requester (emulator.merge).
            "suspended": bool(user.get("suspended", False)),
            "moderator": user["role"] != "end-user",
            "ticket_restriction": None if user["role"] == "admin" else "requested",
            "tags": [],
            "user_fields": {},
            "created_at": iso(user["created_at"]),
            "updated_at": iso(user["updated_at"]),
        }

    # -- ticket fields --------------------------------------------------------------------

    def create_ticket_field(self, payload: Record) -> Record:
        with self.lock:
            title = str(payload.get("title") or "").strip()
            if not title:
                raise record_invalid("title", "Title: cannot be blank", "BlankValue")
            field_type = payload.get("type") or "text"
            if field_type not in FIELD_TYPES:
                raise record_invalid("type", f"Type: {field_type} is not valid", "InvalidValue")
            now = self.clock.now()
            field = {
                "id": self._new_id("ticket_field"),
                "type": field_type,
                "title": title,
                "description": payload.get("description") or "",
                "active": payload.get("active", True),
                "required": bool(payload.get("required", False)),
                "position": len(self.fields) + 1,
                "options": self._field_options(payload.get("custom_field_options") or []),
                "created_at": now,
                "updated_at": now,
            }
            self.fields[field["id"]] = field
            self._changed()
            return field

    def _field_options(self, options: list[Record]) -> list[Record]:
        result = []
        for option in options:
            option_id = self.next_ids["ticket_field"] * 1000 + len(result) + 1
            result.append(
                {
                    "id": option.get("id") or option_id,
                    "name": option.get("name") or option.get("value"),
                    "value": option.get("value"),
                    "default": bool(option.get("default", False)),
                }
            )
        return result

    def ticket_field(self, field_id: int) -> Record:
        field = self.fields.get(field_id)
        if field is None:
            raise not_found()
        return field

    def render_ticket_field(self, field: Record, base: str) -> Record:
        return {
            "id": field["id"],
            "url": f"{base}/api/v2/ticket_fields/{field['id']}.json",
            "type": field["type"],
            "title": field["title"],
            "raw_title": field["title"],
            "description": field["description"],
            "raw_description": field["description"],
            "position": field["position"],
            "active": field["active"],
            "required": field["required"],
            "visible_in_portal": False,
            "editable_in_portal": False,
            "removable": True,
            "custom_field_options": copy.deepcopy(field["options"]),
            "created_at": iso(field["created_at"]),
            "updated_at": iso(field["updated_at"]),
        }

    # -- persistence ----------------------------------------------------------------------

    def dump(self) -> Record:
        """Everything needed to rebuild the account, JSON-ready."""
        with self.lock:
            return copy.deepcopy(
                {
                    "version": 1,
                    "clock_offset": self.clock.offset,
                    "next_ids": self.next_ids,
                    "organizations": list(self.organizations.values()),
                    "users": list(self.users.values()),
                    "ticket_fields": list(self.fields.values()),
                    "tickets": list(self.tickets.values()),
                    "comments": {str(k): v for k, v in self.comments.items()},
                    "audits": {str(k): v for k, v in self.audits.items()},
                    "ratings": list(self.ratings.values()),
                }
            )

    def load(self, data: Record) -> None:
        with self.lock:
            # The clock offset is restored so timestamps keep increasing across a restart.
            self.clock.offset = max(self.clock.offset, float(data.get("clock_offset", 0.0)))
            self.next_ids.update(data.get("next_ids", {}))
            self.organizations = {r["id"]: r for r in data.get("organizations", [])}
            self.users = {r["id"]: r for r in data.get("users", [])}
            self.fields = {r["id"]: r for r in data.get("ticket_fields", [])}
            self.tickets = {r["id"]: r for r in data.get("tickets", [])}
            self.comments = {int(k): v for k, v in data.get("comments", {}).items()}
            self.audits = {int(k): v for k, v in data.get("audits", {}).items()}
            self.ratings = {r["id"]: r for r in data.get("ratings", [])}
            self.admin_id = self._ensure_admin(self.admin_email)

    def save_file(self, path: str) -> None:
        """Write atomically so a demo killed mid-write still finds the previous state."""
        tmp = f"{path}.tmp"
        # Tickets are client data: readable by the owner only, like syncd's own state.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.dump(), handle)
        os.replace(tmp, path)
