"""What a helpdesk and a tracker must offer the engine, and the records they speak in.

The engine never sees zenpy or python-redmine objects: each connector maps its product's
objects onto these plain records, so the engine, the mappings and the tests share one vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from syncd.logging import scrub


class ConnectorError(Exception):
    """A request to a product failed. `retryable` says whether trying later can help."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        # The message may quote the server's answer, and a careless server echoes the request's
        # credentials: it is kept in the store, printed by check and status. Scrubbed here,
        # where the server's words enter syncd.
        super().__init__(scrub(message))
        self.retryable = retryable
        self.status = status


class NotFound(ConnectorError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, status=404)


@dataclass(frozen=True)
class Ticket:
    id: int
    subject: str
    description: str  # the ticket's first comment, as Zendesk keeps it
    status: str  # new, open, pending, hold, solved, closed, deleted
    type: str | None  # question, incident, problem, task
    priority: str | None  # low, normal, high, urgent
    tags: tuple[str, ...]
    organization_id: int | None
    requester_id: int | None
    assignee_id: int | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None = None
    custom_fields: dict[int, Any] = field(default_factory=dict)
    url: str = ""  # the agent-facing link
    satisfaction: str | None = None  # offered, unoffered, good, bad
    metrics: dict[str, int | None] | None = None  # Zendesk's own SLA figures, when side-loaded


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Ticket]
    cursor: str | None  # where the next poll continues
    end_of_stream: bool


@dataclass(frozen=True)
class TicketEvent:
    """One thing that happened on a ticket, as the SLA report needs it."""

    id: int  # the child event's id (a comment's id for comments)
    ticket_id: int
    at: datetime
    kind: str  # "comment" | "status" | "rating"
    author_id: int | None  # who did it (the comment's author; the updater otherwise)
    public: bool | None  # comments only: a public reply or an internal note
    value: str | None  # the new status, the rating's score
    previous: str | None  # the status before


@dataclass(frozen=True)
class EventPage:
    events: list[TicketEvent]
    end_time: int  # where the next poll starts (Unix seconds)
    end_of_stream: bool


@dataclass(frozen=True)
class TicketUpdate:
    """One ticket update: at most one comment (Zendesk's own rule), fields and tags ride along."""

    comment: str | None = None
    public: bool = False
    status: str | None = None
    custom_fields: dict[int, Any] = field(default_factory=dict)
    add_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comment:
    id: int
    author_id: int | None
    body: str
    public: bool
    created_at: datetime


@dataclass(frozen=True)
class Issue:
    id: int
    project: str  # project identifier
    tracker: str
    status: str
    priority: str
    subject: str
    description: str
    created_on: datetime
    updated_on: datetime
    parent_id: int | None = None
    estimated_hours: Decimal | None = None
    due_date: date | None = None
    closed_on: datetime | None = None
    custom_fields: dict[int, str] = field(default_factory=dict)
    url: str = ""


@dataclass(frozen=True)
class NewIssue:
    project: str
    subject: str
    description: str
    tracker: str | None
    priority: str | None
    estimated_hours: Decimal | None
    custom_fields: dict[int, str]


@dataclass(frozen=True)
class TimeEntry:
    id: int
    project: str
    issue_id: int | None
    user: str
    user_id: int | None
    activity: str
    hours: Decimal
    spent_on: date
    comments: str
    created_on: datetime
    updated_on: datetime
    custom_fields: dict[int, str] = field(default_factory=dict)


class Helpdesk(Protocol):
    def ticket_pages(self, *, cursor: str | None, start_time: datetime) -> Iterator[TicketPage]:
        """Incremental export: pages of changed tickets, oldest first, each with its cursor."""
        ...

    def event_pages(self, *, start_time: int) -> Iterator[EventPage]:
        """Ticket events (comments with author and public flag, status changes, ratings)
        from a moment on, a page at a time, each with where the next poll starts."""
        ...

    def user_roles(self, user_ids: list[int]) -> dict[int, tuple[str, str]]: ...

    def get_ticket(self, ticket_id: int) -> Ticket: ...

    def comments(self, ticket_id: int) -> list[Comment]: ...

    def user_suspended(self, user_id: int) -> bool:
        """Zendesk suspends the requester of a ticket marked as spam."""
        ...

    def update_ticket(self, ticket_id: int, update: TicketUpdate) -> None: ...

    def ticket_url(self, ticket_id: int) -> str: ...

    def field_ids(self) -> set[int]: ...

    def whoami(self) -> str: ...


class Tracker(Protocol):
    def issue_pages(
        self, *, projects: dict[str, int], updated_since: datetime | None
    ) -> Iterator[list[Issue]]:
        """Issues updated since a moment (all when None), oldest update first, a page at a time."""
        ...

    def get_issue(self, issue_id: int) -> Issue: ...

    def issues_by_ids(self, issue_ids: list[int]) -> list[Issue]:
        """The issues that still exist and are visible, in whatever project they are now."""
        ...

    def issue_notes(self, issue_id: int) -> list[str]: ...

    def created_status(self, issue_id: int) -> str:
        """The status the issue was created with (from its history)."""
        ...

    def ticket_field_available(self, field_id: int, project: str, tracker: str) -> bool | None:
        """Whether a new issue there can carry the ticket field; None when it can't be told."""
        ...

    def find_issues_by_field(self, field_id: int, value: str) -> list[Issue]: ...

    def create_issue(self, new: NewIssue) -> Issue: ...

    def update_issue(
        self,
        issue_id: int,
        *,
        status: str | None = None,
        notes: str | None = None,
        custom_fields: dict[int, str] | None = None,
        private_notes: bool = False,
    ) -> None: ...

    def time_entry_pages(
        self, *, projects: dict[str, int], since: date | None = None, until: date | None = None
    ) -> Iterator[list[TimeEntry]]:
        """Time entries newest first (by creation), a page at a time; stop iterating to stop
        fetching. Redmine 5.0 has no updated_on filter on time entries: edits and deletions
        are found only by re-reading a period (`since`..`until`, by spent_on)."""
        ...

    def issue_url(self, issue_id: int) -> str: ...

    def whoami(self) -> str: ...

    def issue_field_exists(self, field_id: int) -> bool | None: ...

    def projects(self) -> set[str]: ...

    def project_ids(self) -> dict[str, int]: ...

    def statuses(self) -> dict[str, bool]: ...
