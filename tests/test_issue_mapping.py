"""mappings.issues (ticket -> new Redmine issue), mappings.statuses and mappings.clients."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import Ticket
from mappings.clients import client_for_organization, client_for_project
from mappings.issues import (
    MAX_DESCRIPTION_CHARS,
    estimate_hours,
    issue_description,
    new_issue,
    priority_for,
    ticket_reference,
    tracker_for,
)
from mappings.references import ticket_refs
from mappings.statuses import is_done, needs_issue, ticket_reopened
from syncd.config import DEFAULT_TICKET_PATTERNS, Client

TRACKERS = {"incident": "Bug", "problem": "Bug", "task": "Feature", "question": "Support"}
PRIORITIES = {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"}
URL = "https://acme.zendesk.com/agent/tickets/4711"
TRUNCATION_MARKER = "[…] (truncated; full text in the ticket)"


def ticket(**kw: Any) -> Ticket:
    at = datetime(2026, 10, 5, 9, 12, tzinfo=UTC)
    base: dict[str, Any] = {
        "id": 4711,
        "subject": "Site is down",
        "description": "Nothing loads since this morning.",
        "status": "open",
        "type": "incident",
        "priority": "high",
        "tags": ("redmine",),
        "organization_id": 361,
        "requester_id": 1,
        "assignee_id": None,
        "created_at": at,
        "updated_at": at,
        "custom_fields": {},
        "url": URL,
    }
    base.update(kw)
    return Ticket(**base)


def make(t: Ticket, *, estimate_field_id: int | None = 360003, default_tracker: str = "Support"):
    return new_issue(
        t,
        project="acme-site",
        ticket_url=URL,
        ticket_field_id=7,
        trackers=TRACKERS,
        default_tracker=default_tracker,
        priorities=PRIORITIES,
        estimate_field_id=estimate_field_id,
    )


# ---------------------------------------------------------------------- tracker and priority
@pytest.mark.parametrize(
    ("ticket_type", "expected"),
    [
        ("incident", "Bug"),
        ("problem", "Bug"),
        ("task", "Feature"),
        ("question", "Support"),
        (None, "Default"),
        ("", "Default"),
        ("something-new", "Default"),
        ("Incident", "Default"),  # Zendesk sends lower case; no guessing
    ],
)
def test_tracker_for(ticket_type: str | None, expected: str) -> None:
    assert tracker_for(ticket_type, TRACKERS, "Default") == expected


@pytest.mark.parametrize(
    ("prio", "expected"),
    [("low", "Low"), ("urgent", "Urgent"), (None, None), ("", None), ("critical", None)],
)
def test_priority_for(prio: str | None, expected: str | None) -> None:
    assert priority_for(prio, PRIORITIES) == expected


def test_new_issue_maps_tracker_priority_and_project() -> None:
    issue = make(ticket(type="task", priority="urgent"))
    assert (issue.project, issue.tracker, issue.priority) == ("acme-site", "Feature", "Urgent")


def test_new_issue_defaults_without_type_and_priority() -> None:
    issue = make(ticket(type=None, priority=None), default_tracker="Support")
    assert issue.tracker == "Support"
    assert issue.priority is None


# ---------------------------------------------------------------------- estimate
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("abc", None),
        ("2,5", Decimal("2.50")),
        (" 2.5 ", Decimal("2.50")),
        ("-1", None),
        ("0", None),
        ("0.00", None),
        ("NaN", None),
        ("sNaN", None),
        ("Infinity", None),
        ("-Infinity", None),
        (True, None),
        (False, None),
        (3, Decimal("3.00")),
        (2.5, Decimal("2.50")),
        ("1e3", Decimal("1000.00")),
        ("10000", Decimal("10000.00")),
        ("10001", None),
        ("1e5", None),
        ("1/2", None),
        ("1.005", Decimal("1.00")),  # banker's rounding to cents, never a float
    ],
)
def test_estimate_hours(value: Any, expected: Decimal | None) -> None:
    got = estimate_hours(value)
    assert got == expected
    if expected is not None:
        assert isinstance(got, Decimal)
        assert str(got) == str(expected)  # exactly two places


@pytest.mark.parametrize("value", ["0.001", "0.004", "1e-9"])
def test_estimate_that_rounds_to_zero_is_no_estimate(value: str) -> None:
    assert estimate_hours(value) is None


def test_new_issue_reads_the_estimate_field() -> None:
    t = ticket(custom_fields={360003: "1,5", 360004: "99"})
    assert make(t).estimated_hours == Decimal("1.50")
    assert make(t, estimate_field_id=None).estimated_hours is None
    assert make(ticket(custom_fields={})).estimated_hours is None
    assert make(ticket(custom_fields={360003: "junk"})).estimated_hours is None


# ---------------------------------------------------------------------- subject
def test_subject_whitespace_is_collapsed() -> None:
    issue = make(ticket(subject="  Site\t is\n\n down   again \r\n"))
    assert issue.subject == "Site is down again"


def test_subject_is_capped_at_255() -> None:
    issue = make(ticket(subject="word " * 200))
    assert len(issue.subject) == 255
    assert issue.subject.startswith("word word")
    long_cyrillic = make(ticket(subject="Я" * 1000))
    assert long_cyrillic.subject == "Я" * 255


def test_subject_of_exactly_255_is_kept() -> None:
    assert make(ticket(subject="x" * 255)).subject == "x" * 255


@pytest.mark.parametrize("subject", ["", "   ", "\n\t", None])
def test_empty_subject_gets_a_placeholder(subject: str | None) -> None:
    assert make(ticket(subject=subject)).subject == "Ticket 4711"


# ---------------------------------------------------------------------- description
def test_description_starts_with_reference_and_url_then_body() -> None:
    d = make(ticket(description="Line one.\nLine two.")).description
    assert d == f"Zendesk #4711: {URL}\n\nLine one.\nLine two.\n"
    assert ticket_reference(4711) == "Zendesk #4711"


def test_description_reference_is_found_by_the_default_patterns() -> None:
    # adoption after a crash relies on this: the created issue names its ticket
    d = make(ticket()).description
    assert ticket_refs([d], DEFAULT_TICKET_PATTERNS) == [4711]


def test_empty_body_gives_just_the_reference() -> None:
    assert issue_description(ticket(description=""), URL) == f"Zendesk #4711: {URL}\n"


def test_one_megabyte_body_is_truncated_with_marker() -> None:
    body = ("abcdefghij" * 100_000) + "THE-END"
    d = issue_description(ticket(description=body), URL)
    assert TRUNCATION_MARKER in d
    assert "THE-END" not in d
    assert d.startswith(f"Zendesk #4711: {URL}\n\n" + body[:1000])
    assert body[:MAX_DESCRIPTION_CHARS] in d
    assert body[: MAX_DESCRIPTION_CHARS + 1] not in d
    assert len(d) < MAX_DESCRIPTION_CHARS + 200


def test_body_at_the_limit_is_not_truncated() -> None:
    body = "y" * MAX_DESCRIPTION_CHARS
    d = issue_description(ticket(description=body), URL)
    assert TRUNCATION_MARKER not in d
    assert d.endswith(body + "\n")


# ---------------------------------------------------------------------- custom field
def test_custom_field_holds_ticket_id_as_string() -> None:
    issue = make(ticket(id=90210))
    assert issue.custom_fields == {7: "90210"}
    assert isinstance(issue.custom_fields[7], str)


def test_new_issue_is_pure() -> None:
    t = ticket()
    assert make(t) == make(replace(t))


# ---------------------------------------------------------------------- statuses
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Resolved", True),
        ("resolved", True),
        ("CLOSED", True),
        ("In Progress", False),
        ("New", False),
        ("", False),
        ("Resolved ", False),
    ],
)
def test_is_done(status: str, expected: bool) -> None:
    assert is_done(status, ("Resolved", "Closed")) is expected


def test_is_done_folds_unicode_case() -> None:
    assert is_done("РЕШЕНА", ("Решена",))
    assert is_done("STRASSE", ("straße",))
    assert not is_done("Resolved", ())


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        ("solved", "open", True),
        ("solved", "new", True),
        ("solved", "pending", True),
        ("solved", "hold", True),
        ("solved", "solved", False),
        ("solved", "closed", False),
        ("open", "open", False),
        ("pending", "open", False),
        ("closed", "open", False),
        (None, "open", False),
    ],
)
def test_ticket_reopened(previous: str | None, current: str, expected: bool) -> None:
    assert ticket_reopened(previous, current) is expected


@pytest.mark.parametrize(
    ("tags", "status", "expected"),
    [
        (("redmine",), "new", True),
        (("vip", "redmine"), "open", True),
        (("redmine",), "solved", True),
        (("redmine",), "closed", False),
        (("redmine",), "deleted", False),
        (("other",), "open", False),
        ((), "open", False),
        (("redmine-later",), "open", False),
    ],
)
def test_needs_issue(tags: tuple[str, ...], status: str, expected: bool) -> None:
    assert needs_issue(tags, "redmine", status) is expected


# ---------------------------------------------------------------------- clients
CLIENTS = (
    Client(id="acme", name="ACME", zendesk_organization_id=361, redmine_projects=("a1", "a2")),
    Client(id="solo", name="Solo", zendesk_organization_id=None, redmine_projects=("s",)),
)


def test_client_for_organization() -> None:
    assert client_for_organization(361, CLIENTS) is CLIENTS[0]
    assert client_for_organization(999, CLIENTS) is None
    assert client_for_organization(None, CLIENTS) is None  # never matches the org-less client


def test_client_for_project() -> None:
    assert client_for_project("a2", CLIENTS) is CLIENTS[0]
    assert client_for_project("s", CLIENTS) is CLIENTS[1]
    assert client_for_project("nope", CLIENTS) is None
    assert CLIENTS[0].issue_project == "a1"
