"""Properties of the pure rules in mappings/ (issue 5, bad input): references found in any text,
field values in any form, clients, statuses and the ticket -> issue mapping, for arbitrary input
including lone surrogates, control characters and every Unicode plane.

tests/test_references.py has the examples; here hypothesis looks for the text that breaks them.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability import figure, size

from connectors.base import Ticket
from mappings.clients import client_for_organization, client_for_project
from mappings.issues import (
    MAX_DESCRIPTION_CHARS,
    estimate_hours,
    issue_description,
    new_issue,
    ticket_reference,
)
from mappings.references import MAX_TICKET_ID, ticket_id_from_field, ticket_refs
from mappings.statuses import (
    ACTIVE_TICKET_STATUSES,
    FINAL_TICKET_STATUSES,
    is_done,
    needs_issue,
    ticket_reopened,
)
from syncd.config import DEFAULT_TICKET_PATTERNS, Client

pytestmark = pytest.mark.reliability

P = DEFAULT_TICKET_PATTERNS
EXAMPLES = size(300, 3000)
_examples_run: dict[str, int] = {}


def counted(name: str) -> None:
    _examples_run[name] = _examples_run.get(name, 0) + 1


# Any code point, lone surrogates included (JSON can carry "\ud800"; Zendesk passes it on).
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=200)
# Text that holds no reference of its own: every pattern needs ASCII digits (other digits,
# Arabic-Indic or fullwidth, are refused), so filler without 0-9 can't make one.
FILLER = st.text(ANY_CHAR.filter(lambda c: not ("0" <= c <= "9")), max_size=60)
# What may stand between a reference and the text around it.
SEPARATORS = st.sampled_from([" ", "\n", ", ", " (", ") ", ".\n", "\t", "; ", " — "])
IDS = st.integers(min_value=1, max_value=MAX_TICKET_ID)
FORMS = st.sampled_from(
    [
        "Zendesk #{}",
        "zendesk#{}",
        "ZENDESK  #  {}",
        "Ticket#{}",
        "ticket # {}",
        "TICKET #{}",
        "zd-{}",
        "ZD-{}",
        "https://acme.zendesk.com/agent/tickets/{}",
        "http://127.0.0.1:8765/agent/tickets/{}",
        "https://acme.zendesk.com/api/v2/tickets/{}.json",
    ]
)


# ---------------------------------------------------------------------- references
@settings(max_examples=EXAMPLES)
@given(
    parts=st.lists(st.tuples(FILLER, SEPARATORS, FORMS, IDS, SEPARATORS), max_size=6),
    tail=FILLER,
)
def test_the_refs_found_are_exactly_the_ones_written(
    parts: list[tuple[str, str, str, int, str]], tail: str
) -> None:
    counted("refs exact")
    text = "".join(f"{filler}{a}{form.format(n)}{b}" for filler, a, form, n, b in parts) + tail
    written = [n for _f, _a, _form, n, _b in parts]
    assert ticket_refs([text], P) == list(dict.fromkeys(written)), text


@settings(max_examples=EXAMPLES)
@given(texts=st.lists(st.one_of(st.none(), ANY_TEXT), max_size=4))
def test_arbitrary_text_never_raises(texts: list[str | None]) -> None:
    counted("refs arbitrary")
    found = ticket_refs(texts, P)
    assert all(0 < n <= MAX_TICKET_ID for n in found) and len(found) == len(set(found))
    # Every id found is written in ASCII digits somewhere in the texts.
    joined = "\n".join(t for t in texts if t)
    assert all(str(n) in joined.lstrip("0") or str(n) in joined for n in found)


@settings(max_examples=EXAMPLES)
@given(ticket_id=IDS, body=ANY_TEXT, subject=ANY_TEXT)
def test_format_then_parse_gives_the_ticket_back(ticket_id: int, body: str, subject: str) -> None:
    """The reference every created issue carries is the first one adoption finds, whatever
    the client wrote below it."""
    counted("round trip")
    assert ticket_refs([ticket_reference(ticket_id)], P) == [ticket_id]
    url = f"https://acme.zendesk.com/agent/tickets/{ticket_id}"
    description = issue_description(_ticket(ticket_id, subject=subject, body=body), url)
    assert ticket_refs([description], P)[0] == ticket_id
    assert ticket_id_from_field(str(ticket_id)) == ticket_id


@settings(max_examples=EXAMPLES)
@given(
    ticket_id=IDS,
    left=st.sampled_from(["", " ", "#", "# ", " #", "\t#\n", "  "]),
    right=st.sampled_from(["", " ", "\n", "\t "]),
    zeros=st.integers(0, 3),
)
def test_field_values_in_any_accepted_form_give_the_id(
    ticket_id: int, left: str, right: str, zeros: int
) -> None:
    counted("field forms")
    assert ticket_id_from_field(f"{left}{'0' * zeros}{ticket_id}{right}") == ticket_id
    assert ticket_id_from_field(ticket_id) == ticket_id


@settings(max_examples=EXAMPLES)
@given(
    value=st.one_of(
        ANY_TEXT,
        st.integers(),
        st.floats(allow_nan=True),
        st.none(),
        st.booleans(),
        st.lists(st.integers(), max_size=3),
        st.binary(max_size=10),
        st.decimals(allow_nan=True),
    )
)
def test_field_values_parse_to_an_id_or_are_rejected(value: Any) -> None:
    """Never raises; an id it returns is the value's only content besides '#', blanks and
    leading zeros; anything else (words, signs, decimals, other digits) is None."""
    counted("field arbitrary")
    got = ticket_id_from_field(value)
    if got is None:
        return
    assert 0 < got <= MAX_TICKET_ID
    rest = str(value).strip().lstrip("#").strip().lstrip("0")
    assert rest == str(got)


# ---------------------------------------------------------------------- clients
@settings(max_examples=EXAMPLES)
@given(
    orgs=st.lists(st.integers(1, 10**12), min_size=1, max_size=6, unique=True),
    projects=st.lists(st.text(min_size=1, max_size=12), min_size=6, max_size=6, unique=True),
    asked=st.one_of(st.none(), st.integers(-5, 10**12)),
    asked_project=st.text(max_size=12),
)
def test_clients_map_each_organization_and_project_to_one_client(
    orgs: list[int], projects: list[str], asked: int | None, asked_project: str
) -> None:
    counted("clients")
    clients = [
        Client(
            id=f"c{i}",
            name=f"C{i}",
            zendesk_organization_id=org,
            redmine_projects=(projects[i],),
        )
        for i, org in enumerate(orgs)
    ]
    for c in clients:
        assert client_for_organization(c.zendesk_organization_id, clients) is c
        assert client_for_project(c.issue_project, clients) is c
    by_org = client_for_organization(asked, clients)
    assert (by_org is None) == (asked not in orgs)
    by_project = client_for_project(asked_project, clients)
    assert (by_project is None) == (asked_project not in projects[: len(orgs)])


# ---------------------------------------------------------------------- statuses
STATUS_TEXT = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ абвгдеёжРешнаЗкрыт"),
    min_size=1,
    max_size=20,
)
TICKET_STATUSES = sorted(
    ACTIVE_TICKET_STATUSES | FINAL_TICKET_STATUSES | {"solved"} | {"weird", ""}
)


@settings(max_examples=EXAMPLES)
@given(status=STATUS_TEXT, others=st.lists(STATUS_TEXT, max_size=3))
def test_a_done_status_matches_in_any_letter_case(status: str, others: list[str]) -> None:
    counted("statuses")
    done = (*others, status)
    for shown in (status, status.upper(), status.lower(), status.title()):
        assert is_done(shown, done)
    if all(status.casefold() != o.casefold() for o in others):
        assert not is_done(status + "x", (status,)) or status.endswith("x")
        assert not is_done(status, tuple(others))


@pytest.mark.parametrize("previous", [None, *TICKET_STATUSES])
@pytest.mark.parametrize("current", TICKET_STATUSES)
def test_only_a_solved_ticket_coming_back_to_work_is_a_reopen(
    previous: str | None, current: str
) -> None:
    assert ticket_reopened(previous, current) == (
        previous == "solved" and current in ("new", "open", "pending", "hold")
    )


@settings(max_examples=EXAMPLES)
@given(
    tags=st.lists(st.text(max_size=10), max_size=5),
    tag=st.text(min_size=1, max_size=10),
    status=st.sampled_from(TICKET_STATUSES),
)
def test_a_ticket_needs_an_issue_when_tagged_and_not_final(
    tags: list[str], tag: str, status: str
) -> None:
    counted("statuses")
    assert needs_issue((*tags, tag), tag, status) == (status not in ("closed", "deleted"))
    if tag not in tags:
        assert not needs_issue(tuple(tags), tag, status)


# ---------------------------------------------------------------------- ticket -> issue
def _ticket(ticket_id: int = 1, **kw: Any) -> Ticket:
    now = datetime(2026, 10, 1, tzinfo=UTC)
    return Ticket(
        id=ticket_id,
        subject=kw.get("subject", ""),
        description=kw.get("body", ""),
        status="new",
        type=kw.get("type"),
        priority=kw.get("priority"),
        tags=("redmine",),
        organization_id=1,
        requester_id=1,
        assignee_id=None,
        created_at=now,
        updated_at=now,
        custom_fields=kw.get("custom_fields", {}),
    )


TRACKERS = {"incident": "Bug", "task": "Feature"}
PRIORITIES = {"low": "Low", "urgent": "Urgent"}


@settings(max_examples=EXAMPLES)
@given(
    ticket_id=IDS,
    subject=st.one_of(ANY_TEXT, st.text(ANY_CHAR, min_size=250, max_size=400)),
    body=st.one_of(
        ANY_TEXT,
        st.integers(MAX_DESCRIPTION_CHARS - 5, MAX_DESCRIPTION_CHARS + 50).map(lambda n: "ж" * n),
    ),
    kind=st.one_of(st.none(), ANY_TEXT, st.sampled_from(sorted(TRACKERS))),
    priority=st.one_of(st.none(), ANY_TEXT, st.sampled_from(sorted(PRIORITIES))),
    estimate=st.one_of(st.none(), ANY_TEXT, st.floats(), st.integers(), st.booleans()),
)
def test_any_ticket_maps_to_an_issue_redmine_accepts(
    ticket_id: int, subject: str, body: str, kind: Any, priority: Any, estimate: Any
) -> None:
    counted("issue mapping")
    t = _ticket(
        ticket_id,
        subject=subject,
        body=body,
        type=kind,
        priority=priority,
        custom_fields={7: estimate},
    )
    issue = new_issue(
        t,
        project="acme",
        ticket_url=f"https://acme.zendesk.com/agent/tickets/{ticket_id}",
        ticket_field_id=3,
        trackers=TRACKERS,
        default_tracker="Support",
        priorities=PRIORITIES,
        estimate_field_id=7,
    )
    # Redmine's subject: one line, 1 to 255 characters, no leading blank.
    assert 0 < len(issue.subject) <= 255
    assert issue.subject == issue.subject.lstrip()
    # No control characters, no bidi overrides, nothing UTF-8 can't carry (lone surrogates).
    assert not any(unicodedata.category(c) == "Cc" for c in issue.subject)
    assert not any("\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069" for c in issue.subject)
    issue.subject.encode("utf-8")
    issue.description.encode("utf-8")
    assert "\x00" not in issue.description
    if not subject.strip():
        assert issue.subject == f"Ticket {ticket_id}"
    assert issue.tracker == TRACKERS.get(kind or "", "Support")
    assert issue.priority == PRIORITIES.get(priority or "")
    assert issue.custom_fields == {3: str(ticket_id)}
    assert issue.description.startswith(ticket_reference(ticket_id))
    assert len(issue.description) < MAX_DESCRIPTION_CHARS + 500
    if issue.estimated_hours is not None:
        assert Decimal(0) < issue.estimated_hours <= 10_000


@settings(max_examples=EXAMPLES)
@given(value=st.one_of(ANY_TEXT, st.floats(), st.integers(), st.decimals(), st.booleans()))
def test_estimates_are_positive_hours_or_none(value: Any) -> None:
    counted("estimates")
    hours = estimate_hours(value)
    assert hours is None or (0 < hours <= 10_000 and hours == hours.quantize(Decimal("0.01")))


def test_zz_figure() -> None:
    """Records how many generated cases the properties above ran (run last in this module)."""
    total = sum(_examples_run.values())
    assert total > 0
    figure(
        "input",
        f"mappings properties: {total} generated cases over {len(_examples_run)} properties "
        "(refs, field values, clients, statuses, ticket -> issue)",
    )
