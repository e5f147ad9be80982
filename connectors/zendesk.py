"""Zendesk, through zenpy: the incremental ticket export in, ticket updates out.

zenpy builds `https://{subdomain}.{domain}` URLs. For any other base URL (a local emulator,
a proxy) it reads ZENPY_FORCE_SCHEME / ZENPY_FORCE_NETLOC at request time, so those are set
from the configured URL; against the real Zendesk the URL is `https://NAME.zendesk.com` and
nothing is forced.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment as ZComment
from zenpy.lib.api_objects import Ticket as ZTicket
from zenpy.lib.exception import (
    APIException,
    RatelimitBudgetExceeded,
    RecordNotFoundException,
    ZenpyException,
)

from connectors.base import (
    Comment,
    ConnectorError,
    EventPage,
    NotFound,
    Ticket,
    TicketEvent,
    TicketPage,
    TicketUpdate,
)
from connectors.http import make_session, transport_fault

T = TypeVar("T")
EXPORT_PAGE = 1000  # the export's maximum page size


class ZendeskConnector:
    def __init__(
        self,
        url: str,
        email: str,
        token: str,
        *,
        timeout: float = 30.0,
        ratelimit_budget: float = 120.0,
        page_size: int = EXPORT_PAGE,
    ) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if host.endswith(".zendesk.com") and parts.scheme == "https" and not parts.port:
            subdomain, domain = host.split(".", 1)
        else:
            # Not a zendesk.com account: point zenpy at the URL as it is.
            os.environ["ZENPY_FORCE_SCHEME"] = parts.scheme
            os.environ["ZENPY_FORCE_NETLOC"] = parts.netloc
            subdomain, domain = "local", "invalid"
        self.page_size = page_size
        self.api = Zenpy(
            subdomain=subdomain,
            domain=domain,
            email=email,
            token=token,
            # 429s are zenpy's to wait out, within ratelimit_budget (see connectors/http.py).
            session=make_session(
                timeout=timeout, retry_after_cap=ratelimit_budget, retry_429=False
            ),
            timeout=timeout,
            ratelimit_budget=ratelimit_budget,
            # Its object cache would answer a re-read with the copy we wrote: verification
            # after a crash must see the server's state.
            disable_cache=True,
        )

    # ---------------------------------------------------------------- reads
    def ticket_pages(self, *, cursor: str | None, start_time: datetime) -> Iterator[TicketPage]:
        """One export page per request; the caller stores each page's cursor with its data."""
        start = int(start_time.timestamp())
        while True:
            if cursor:
                gen = self._call(
                    lambda c=cursor: self.api.tickets.incremental(
                        cursor=c, per_page=self.page_size, include="metric_sets"
                    )
                )
            else:
                gen = self._call(
                    lambda: self.api.tickets.incremental(
                        start_time=start, per_page=self.page_size, include="metric_sets"
                    )
                )
            # zenpy reads the first page eagerly; iterating further would fetch the next page
            # behind our back, before this one's cursor is stored. So read this page only.
            raw = gen._response_json
            # Zendesk's own figures ride along in the same request (side-loaded metric sets).
            metrics = {int(m["ticket_id"]): _metrics(m) for m in raw.get("metric_sets") or []}
            tickets = [
                dataclasses.replace(t, metrics=metrics.get(t.id))
                for t in (self._ticket(x) for x in raw.get("tickets", []))
            ]
            cursor = raw.get("after_cursor") or cursor
            end = bool(raw.get("end_of_stream"))
            yield TicketPage(tickets=tickets, cursor=cursor, end_of_stream=end)
            if end or not tickets:
                return

    def event_pages(self, *, start_time: int) -> Iterator[EventPage]:
        """The incremental ticket event export with comments side-loaded; time-paginated."""
        while True:
            gen = self._call(
                lambda s=start_time: self.api.tickets.events(start_time=s, include="comment_events")
            )
            raw = gen._response_json
            events = [e for audit in raw.get("ticket_events", []) for e in _events(audit)]
            end_time = int(raw.get("end_time") or start_time)
            end = bool(raw.get("end_of_stream")) or end_time <= start_time
            yield EventPage(events=events, end_time=end_time, end_of_stream=end)
            if end:
                return
            start_time = end_time

    def user_roles(self, user_ids: list[int]) -> dict[int, tuple[str, str]]:
        """Role and name of each user: agents are told apart from clients by role, and the
        SLA report names the agents."""
        roles: dict[int, tuple[str, str]] = {}
        for i in range(0, len(user_ids), 100):  # show_many takes up to 100 ids
            chunk = user_ids[i : i + 100]
            users = self._call(lambda c=chunk: list(self.api.users(ids=c)))
            roles |= {int(u.id): (str(u.role), str(u.name or "")) for u in users}
        return roles

    def get_ticket(self, ticket_id: int) -> Ticket:
        raw = self._call(lambda: self.api.tickets(id=ticket_id).to_dict())
        return self._ticket(raw)

    def comments(self, ticket_id: int) -> list[Comment]:
        out: list[Comment] = []
        for c in self._call(lambda: list(self.api.tickets.comments(ticket=ticket_id))):
            out.append(
                Comment(
                    id=int(c.id),
                    author_id=c.author_id,
                    body=c.body or "",
                    public=bool(c.public),
                    created_at=_time(c.created_at),
                )
            )
        return out

    def user_suspended(self, user_id: int) -> bool:
        user = self._call(lambda: self.api.users(id=user_id))
        return bool(getattr(user, "suspended", False))

    def whoami(self) -> str:
        me = self._call(lambda: self.api.users.me())
        if not getattr(me, "id", None):
            raise ConnectorError(
                "Zendesk: credentials were not accepted (anonymous user)",
                retryable=False,
                status=401,
            )
        if me.role not in ("agent", "admin"):
            raise ConnectorError(
                f"Zendesk: {me.email} is an {me.role}; syncd needs an agent or admin to update "
                "tickets and post internal notes",
                retryable=False,
                status=403,
            )
        return f"{me.email} (id {me.id}, role {me.role})"

    def field_ids(self) -> set[int]:
        return {int(f.id) for f in self._call(lambda: list(self.api.ticket_fields()))}

    def ticket_url(self, ticket_id: int) -> str:
        return f"{self.url}/agent/tickets/{ticket_id}"

    # ---------------------------------------------------------------- writes
    def update_ticket(self, ticket_id: int, update: TicketUpdate) -> None:
        # A fresh zenpy object carries only what we set: no stale copy of other fields.
        t = ZTicket(id=ticket_id)
        if update.comment:
            t.comment = ZComment(body=update.comment, public=update.public)
        if update.status:
            t.status = update.status
        if update.custom_fields:
            t.custom_fields = [{"id": k, "value": v} for k, v in update.custom_fields.items()]
        if update.add_tags:
            # additional_tags adds without replacing what agents set meanwhile.
            t.additional_tags = list(update.add_tags)
        self._call(lambda: self.api.tickets.update(t))

    # ---------------------------------------------------------------- plumbing
    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except RecordNotFoundException:
            raise NotFound("Zendesk: not found") from None
        except RatelimitBudgetExceeded:
            raise ConnectorError(
                "Zendesk: rate limited longer than the configured budget",
                retryable=True,
                status=429,
            ) from None
        except APIException as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            retryable = status is not None and (status == 429 or status >= 500)
            raise ConnectorError(
                f"Zendesk answered HTTP {status}: {_short(str(e))}",
                retryable=retryable,
                status=status,
            ) from None
        except requests.HTTPError as e:
            status = e.response.status_code if e.response is not None else None
            retryable = status is None or status == 429 or status >= 500
            raise ConnectorError(
                f"Zendesk answered HTTP {status} (not JSON: a proxy error page?)",
                retryable=retryable,
                status=status,
            ) from None
        except requests.RequestException as e:
            raise ConnectorError(f"Zendesk: {transport_fault(e)}", retryable=True) from None
        except ValueError as e:  # a 2xx with a body that isn't JSON (truncated, proxy page)
            raise ConnectorError(
                f"Zendesk sent an unreadable response: {_short(str(e))}", retryable=True
            ) from None
        except ZenpyException as e:
            raise ConnectorError(
                f"Zendesk client error: {_short(str(e))}", retryable=False
            ) from None

    def _ticket(self, x: dict[str, Any]) -> Ticket:
        fields = {int(f["id"]): f.get("value") for f in x.get("custom_fields") or []}
        return Ticket(
            id=int(x["id"]),
            subject=x.get("subject") or x.get("raw_subject") or "",
            description=x.get("description") or "",
            status=x.get("status") or "new",
            type=x.get("type"),
            priority=x.get("priority"),
            tags=tuple(x.get("tags") or ()),
            organization_id=x.get("organization_id"),
            requester_id=x.get("requester_id"),
            assignee_id=x.get("assignee_id"),
            created_at=_time(x["created_at"]),
            updated_at=_time(x["updated_at"]),
            due_at=_time(x["due_at"]) if x.get("due_at") else None,
            custom_fields=fields,
            url=self.ticket_url(int(x["id"])),
            satisfaction=(x.get("satisfaction_rating") or {}).get("score"),
        )


def _metrics(m: dict[str, Any]) -> dict[str, int | None]:
    """The business-hours figures the SLA report shows beside its own."""

    def business(key: str) -> int | None:
        value = (m.get(key) or {}).get("business")
        return int(value) if isinstance(value, int | float) else None

    return {
        "reply_time": business("reply_time_in_minutes"),
        "full_resolution_time": business("full_resolution_time_in_minutes"),
    }


def _events(audit: dict[str, Any]) -> list[TicketEvent]:
    """The child events of one audit that the SLA report reads."""
    ticket_id = int(audit["ticket_id"])
    at = _time(audit.get("created_at") or audit["timestamp"])
    out = []
    for child in audit.get("child_events") or []:
        kind = child.get("event_type")
        if kind == "Comment":
            out.append(
                TicketEvent(
                    int(child["id"]),
                    ticket_id,
                    _time(child.get("created_at") or at),
                    "comment",
                    child.get("author_id"),
                    bool(child.get("public")),
                    None,
                    None,
                )
            )
        elif kind in ("Create", "Change") and child.get("field_name") == "status":
            out.append(
                TicketEvent(
                    int(child["id"]),
                    ticket_id,
                    at,
                    "status",
                    audit.get("updater_id"),
                    None,
                    child.get("value"),
                    child.get("previous_value"),
                )
            )
        elif kind == "SatisfactionRating" or child.get("field_name") == "satisfaction_score":
            out.append(
                TicketEvent(
                    int(child["id"]),
                    ticket_id,
                    at,
                    "rating",
                    audit.get("updater_id"),
                    None,
                    str(child.get("score") or child.get("value") or ""),
                    None,
                )
            )
    return out


def _time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
