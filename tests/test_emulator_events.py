"""The emulator's incremental ticket event export (and what an SLA report reads besides it).

The emulator runs on a frozen clock (``FROZEN``, an hour-aligned time 30 days ago) that only
``advance()`` moves, so every event's second is known and pages are deterministic. Being in the
past also matters for zenpy, which stops following ``next_page`` while ``end_time`` is less than
five minutes before the real time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from zenpy import Zenpy

from emulator import ZendeskEmulator
from emulator.clock import iso

TOKEN = "test-token"
EMAIL = "agent@example.com"
FROZEN = int(time.time()) // 3600 * 3600 - 30 * 86400


class Api:
    def __init__(self, emu: ZendeskEmulator) -> None:
        self.base = emu.url
        self.session = requests.Session()
        self.session.auth = (f"{EMAIL}/token", TOKEN)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.base}/api/v2/{path}", params=params, timeout=10)

    def events(self, **params: Any) -> dict[str, Any]:
        response = self.get("incremental/ticket_events.json", **params)
        assert response.status_code == 200, response.text
        return response.json()


def frozen_emulator(**options: Any) -> ZendeskEmulator:
    return ZendeskEmulator(token=TOKEN, email=EMAIL, clock=lambda: float(FROZEN), **options)


@pytest.fixture
def emu() -> Iterator[ZendeskEmulator]:
    emulator = frozen_emulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def unlimited() -> Iterator[ZendeskEmulator]:
    """No export budget: for tests that page a lot."""
    emulator = frozen_emulator(export_budget_per_minute=None).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def people(emu: ZendeskEmulator) -> dict[str, int]:
    customer = emu.create_user("Carla Customer", "carla@acme.test", "end-user")
    agent = emu.create_user("Anton Agent", "anton@studio.test", "agent")
    return {"customer": customer["id"], "agent": agent["id"], "admin": emu.admin_user_id}


@pytest.fixture
def zenpy_client(emu: ZendeskEmulator, monkeypatch: pytest.MonkeyPatch) -> Zenpy:
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", emu.netloc)
    return Zenpy(subdomain="studio", email=EMAIL, token=TOKEN, disable_cache=True)


def summary(event: dict[str, Any]) -> tuple[Any, ...]:
    """(updater, timestamp, child events) with each child event reduced to what a report reads."""
    children = []
    for child in event["child_events"]:
        kind = child["event_type"]
        if kind == "Comment" and "body" in child:
            children.append((kind, child["author_id"], child["public"], child["body"]))
        elif kind == "Comment":
            children.append((kind, child["comment_present"], child["comment_public"]))
        elif kind == "SatisfactionRating":
            children.append((kind, child["score"], child["body"]))
        elif kind == "Change":
            children.append((kind, child["field_name"], child["previous_value"], child["value"]))
        else:
            children.append((kind, child["field_name"], child["value"]))
    return (event["updater_id"], event["timestamp"], children)


def conversation(emu: ZendeskEmulator, people: dict[str, int]) -> int:
    """Creation, agent reply, client reply, internal note, pending, client reply (reopens),
    solve, rating, client reply (reopens again): one update a minute from FROZEN on."""
    customer, agent = people["customer"], people["agent"]
    ticket = emu.create_ticket(
        subject="Website down", comment={"body": "Our site shows a 500."}, requester_id=customer
    )["id"]
    emu.advance(60)
    emu.update_ticket(
        ticket, author_id=agent, assignee_id=agent, comment={"body": "Looking into it."}
    )
    emu.advance(60)
    emu.add_comment(ticket, "It also fails on mobile.", author_id=customer)
    emu.advance(60)
    emu.add_comment(ticket, "Cache node 3 is broken", public=False, author_id=agent)
    emu.advance(60)
    emu.update_ticket(
        ticket, author_id=agent, status="pending", comment={"body": "Does it work now?"}
    )
    emu.advance(60)
    emu.add_comment(ticket, "No, still broken.", author_id=customer)
    emu.advance(60)
    emu.update_ticket(ticket, author_id=agent, status="solved", comment={"body": "Fixed."})
    emu.rate_ticket(ticket, "good", "Quick, thanks")
    emu.advance(60)
    emu.add_comment(ticket, "It is down again!", author_id=customer)
    return ticket


EXPECTED_CONVERSATION = [
    # The API user creates the ticket; the requester (as submitter) writes the description.
    (
        "admin",
        0,
        [
            ("Comment", "customer", True, "Our site shows a 500."),
            ("Create", "subject", "Website down"),
            ("Create", "status", "new"),
            ("Create", "requester_id", "customer"),
        ],
    ),
    (
        "agent",
        60,
        [
            ("Comment", "agent", True, "Looking into it."),
            ("Change", "assignee_id", None, "agent"),
            ("Change", "status", "new", "open"),
        ],
    ),
    ("customer", 120, [("Comment", "customer", True, "It also fails on mobile.")]),
    ("agent", 180, [("Comment", "agent", False, "Cache node 3 is broken")]),
    (
        "agent",
        240,
        [
            ("Comment", "agent", True, "Does it work now?"),
            ("Change", "status", "open", "pending"),
        ],
    ),
    (
        "customer",
        300,
        [
            ("Comment", "customer", True, "No, still broken."),
            ("Change", "status", "pending", "open"),  # an end user's reply reopens
        ],
    ),
    (
        "agent",
        360,
        [("Comment", "agent", True, "Fixed."), ("Change", "status", "open", "solved")],
    ),
    ("customer", 360, [("SatisfactionRating", "good", "Quick, thanks")]),
    (
        "customer",
        420,
        [
            ("Comment", "customer", True, "It is down again!"),
            ("Change", "status", "solved", "open"),
        ],
    ),
]


def resolve(expected: list[tuple[Any, ...]], people: dict[str, int]) -> list[tuple[Any, ...]]:
    """Replace the role names and minute offsets of EXPECTED_CONVERSATION by ids and times."""

    def value(item: Any) -> Any:
        return people.get(item, item) if isinstance(item, str) else item

    return [
        (people[who], FROZEN + offset, [tuple(value(v) for v in child) for child in children])
        for who, offset, children in expected
    ]


# -- the conversation, as the export tells it ------------------------------------------------------


def test_conversation_events_in_order(emu: ZendeskEmulator, people: dict[str, int]):
    ticket = conversation(emu, people)
    emu.advance(61)
    page = Api(emu).events(start_time=FROZEN - 3600, include="comment_events")
    assert [summary(e) for e in page["ticket_events"]] == resolve(EXPECTED_CONVERSATION, people)
    assert page["count"] == len(EXPECTED_CONVERSATION)
    assert page["end_of_stream"] is True
    assert page["end_time"] == FROZEN + 420
    assert page["next_page"] == (
        f"{emu.url}/api/v2/incremental/ticket_events.json"
        f"?start_time={FROZEN + 420}&include=comment_events"
    )
    first = page["ticket_events"][0]
    assert {k: v for k, v in first.items() if k != "child_events"} == {
        "id": emu.audits(ticket)[0]["id"],
        "ticket_id": ticket,
        "timestamp": FROZEN,
        "created_at": iso(FROZEN),
        "updater_id": people["admin"],
        "via": "Web service",
        "system": {},
        "merged_ticket_ids": [],
        "event_type": "Audit",
    }
    comment = first["child_events"][0]
    stored = emu.comments(ticket)[0]
    assert comment == {
        "id": stored["id"],  # a comment's id is its Comment event's id
        "via": "Web service",
        "via_reference_id": None,
        "type": "Comment",
        "author_id": people["customer"],
        "body": "Our site shows a 500.",
        "html_body": stored["html_body"],
        "plain_body": "Our site shows a 500.",
        "public": True,
        "attachments": [],
        "audit_id": first["id"],
        "created_at": iso(FROZEN),
        "event_type": "Comment",
    }
    every_child = [c["id"] for e in page["ticket_events"] for c in e["child_events"]]
    assert len(every_child) == len(set(every_child))  # comments and changes share one id space


def test_without_comment_events_comments_are_only_flagged(
    emu: ZendeskEmulator, people: dict[str, int]
):
    conversation(emu, people)
    emu.advance(61)
    page = Api(emu).events(start_time=FROZEN - 3600)
    expected = resolve(EXPECTED_CONVERSATION, people)
    for (who, when, children), event in zip(expected, page["ticket_events"], strict=True):
        flagged = [
            ("Comment", True, child[2]) if child[0] == "Comment" else child for child in children
        ]
        assert summary(event) == (who, when, flagged)
        assert all("body" not in c for c in event["child_events"] if c["event_type"] == "Comment")
    assert "include" not in page["next_page"]


def test_automatic_close_is_a_system_event(emu: ZendeskEmulator, people: dict[str, int]):
    ticket = emu.create_ticket(subject="Old", requester_id=people["customer"])["id"]
    emu.set_status(ticket, "solved", author_id=people["agent"])
    emu.advance(28 * 86400)  # Zendesk closes solved tickets after 28 days at the latest
    emu.advance(61)
    events = Api(emu).events(start_time=FROZEN + 1)["ticket_events"]
    closed = {k: events[-1][k] for k in ("ticket_id", "timestamp", "updater_id", "via")}
    assert closed == {
        "ticket_id": ticket,
        "timestamp": FROZEN + 28 * 86400,
        "updater_id": -1,
        "via": "Rule",
    }
    assert summary(events[-1])[2] == [("Change", "status", "solved", "closed")]


def test_authors_roles_tell_agents_from_clients(emu: ZendeskEmulator, people: dict[str, int]):
    api = Api(emu)
    ids = f"{people['customer']},{people['agent']},{people['admin']},999"
    users = api.get("users/show_many.json", ids=ids).json()["users"]
    roles = {u["id"]: u["role"] for u in users}
    assert roles == {
        people["customer"]: "end-user",
        people["agent"]: "agent",
        people["admin"]: "admin",
    }
    for user_id, role in roles.items():
        assert api.get(f"users/{user_id}.json").json()["user"]["role"] == role
    # Zendesk documents only the comment_events side-load here; other includes are ignored.
    emu.create_ticket(subject="x", requester_id=people["customer"])
    emu.advance(61)
    page = Api(emu).events(start_time=FROZEN - 60, include="users")
    assert "users" not in page
    assert len(page["ticket_events"]) == 1


# -- the one-minute lag and the start_time rules ---------------------------------------------------


def test_newest_minute_is_never_returned(emu: ZendeskEmulator, people: dict[str, int]):
    api = Api(emu)
    start = FROZEN - 120
    ticket = emu.create_ticket(subject="Lag", requester_id=people["customer"])["id"]
    empty = api.events(start_time=start)
    assert empty["ticket_events"] == []
    assert (empty["count"], empty["end_time"], empty["end_of_stream"]) == (0, start, True)
    emu.advance(59)
    assert api.events(start_time=start)["ticket_events"] == []
    emu.advance(1)
    page = api.events(start_time=start)
    assert [e["ticket_id"] for e in page["ticket_events"]] == [ticket]
    # A change made now stays hidden for a minute, then follows from end_time.
    emu.add_comment(ticket, "later", author_id=people["customer"])
    assert [e["timestamp"] for e in api.events(start_time=page["end_time"])["ticket_events"]] == [
        FROZEN  # only the creation again: the events at end_time are repeated
    ]
    emu.advance(60)
    later = api.events(start_time=page["end_time"])["ticket_events"]
    assert [e["timestamp"] for e in later] == [FROZEN, FROZEN + 60]


def test_start_time_must_be_a_minute_old(emu: ZendeskEmulator):
    api = Api(emu)
    refused = api.get("incremental/ticket_events.json", start_time=FROZEN - 59)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "InvalidValue",
        "description": "Too recent start_time. Use a start_time older than 1 minute",
    }
    assert api.get("incremental/ticket_events.json").status_code == 400
    assert api.get("incremental/ticket_events.json", start_time=FROZEN - 60).status_code == 200


def test_backdated_history_is_exported_when_written(emu: ZendeskEmulator, people: dict[str, int]):
    """History seeded with at= keeps its timestamp but is paged by when it was written, so a
    consumer that is already past that time still gets it (like generated_timestamp)."""
    ticket = emu.create_ticket(subject="t", requester_id=people["customer"])["id"]
    emu.advance(120)
    api = Api(emu)
    cursor = api.events(start_time=FROZEN - 60)["end_time"]
    assert cursor == FROZEN
    emu.add_comment(ticket, "backdated", author_id=people["agent"], at=FROZEN + 30)
    emu.advance(61)
    events = api.events(start_time=cursor + 1)["ticket_events"]
    assert [(e["timestamp"], e["child_events"][0]["comment_public"]) for e in events] == [
        (FROZEN + 30, True)
    ]


# -- pagination ------------------------------------------------------------------------------------


def follow(api: Api, start: int, **params: Any) -> list[dict[str, Any]]:
    """Every page from start_time on, following end_time until end_of_stream."""
    pages = []
    while True:
        page = api.events(start_time=start, **params)
        pages.append(page)
        if page["end_of_stream"]:
            return pages
        assert page["end_time"] > start  # following end_time always moves on
        start = page["end_time"]


def dedupe(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check that the only repeats are the events stamped a page's start_time, drop them."""
    seen: dict[int, dict[str, Any]] = {}
    result = []
    start = None
    for page in pages:
        for event in page["ticket_events"]:
            if event["id"] in seen:
                assert event["timestamp"] == start, "a repeat not at the page boundary"
                assert event == seen[event["id"]]
                continue
            seen[event["id"]] = event
            result.append(event)
        start = page["end_time"]
    return result


def test_more_than_a_thousand_events_page_by_end_time(unlimited: ZendeskEmulator):
    emu = unlimited
    customer = emu.create_user("C", "c@example.test")["id"]
    truth = []
    for second in range(300):
        for _ in range(second % 3 + 3):  # 3 to 5 new tickets a second: 1,200 events
            truth.append(emu.create_ticket(subject="s", requester_id=customer)["id"])
        emu.advance(1)
    emu.advance(60)
    pages = follow(Api(emu), FROZEN - 3600, include="comment_events")
    # 996 events in seconds 0-248, 3 in second 249; the 1000th opens second 250 (4 events),
    # and a page never splits a second.
    assert len(pages) == 2
    assert pages[0]["count"] == len(pages[0]["ticket_events"]) == 1003
    assert pages[0]["end_time"] == FROZEN + 250
    assert pages[1]["count"] == 4 + 1200 - 1003
    events = dedupe(pages)
    assert [e["ticket_id"] for e in events] == truth
    stamps = [(e["timestamp"], e["id"]) for e in events]
    assert stamps == sorted(stamps)


def test_per_page_never_splits_a_second(unlimited: ZendeskEmulator):
    emu = unlimited
    customer = emu.create_user("C", "c@example.test")["id"]
    seconds = {0: 3, 1: 1, 2: 2}  # events per second
    for second, count in seconds.items():
        for _ in range(count):
            emu.create_ticket(subject=f"s{second}", requester_id=customer)
        emu.advance(1)
    emu.advance(60)
    api = Api(emu)
    pages = follow(api, FROZEN - 60, per_page=2)

    def offsets(page: dict[str, Any]) -> list[int]:
        return [e["timestamp"] - FROZEN for e in page["ticket_events"]]

    # Second 0 has three events: the first page takes all of them, more than per_page.
    # From end_time (second 0) the next page repeats them, so it takes second 1 too.
    assert [offsets(p) for p in pages] == [[0, 0, 0], [0, 0, 0, 1], [1, 2, 2]]
    assert [p["end_time"] - FROZEN for p in pages] == [0, 1, 2]
    assert [p["end_of_stream"] for p in pages] == [False, False, True]
    assert all("per_page=2" in p["next_page"] for p in pages)
    assert [e["timestamp"] - FROZEN for e in dedupe(pages)] == [0, 0, 0, 1, 2, 2]


def test_polling_from_end_time_loses_nothing(unlimited: ZendeskEmulator):
    """A consumer that polls from its last end_time while changes keep coming gets every
    event exactly once after dropping the ids it has seen."""
    emu = unlimited
    customer = emu.create_user("C", "c@example.test")["id"]
    agent = emu.create_user("A", "a@example.test", "agent")["id"]
    tickets = [emu.create_ticket(subject="t", requester_id=customer)["id"] for _ in range(3)]
    api = Api(emu)
    position, seen = FROZEN - 60, {}
    for step in range(60):
        ticket = tickets[step % 3]
        if step % 4 == 0:
            emu.add_comment(ticket, f"note {step}", public=False, author_id=agent)
        else:
            emu.add_comment(ticket, f"reply {step}", author_id=customer)
        emu.advance([0, 7, 20, 45][step % 4])
        if step % 5 == 4:
            pages = follow(api, position, per_page=3, include="comment_events")
            for event in dedupe(pages):
                if event["id"] in seen:  # a repeat from the previous poll's end_time
                    assert event["timestamp"] == position
                    continue
                seen[event["id"]] = event
            position = pages[-1]["end_time"]
    emu.advance(61)
    for event in dedupe(follow(api, position, per_page=3, include="comment_events")):
        seen.setdefault(event["id"], event)
    truth = [a["id"] for t in tickets for a in emu.audits(t)]
    assert sorted(seen) == sorted(truth)
    bodies = [c["body"] for e in seen.values() for c in e["child_events"] if "body" in c]
    assert sorted(bodies) == sorted(c["body"] for t in tickets for c in emu.comments(t))


# -- the shared export budget ----------------------------------------------------------------------


def test_export_budget_is_shared_with_the_ticket_export(emu: ZendeskEmulator):
    api = Api(emu)
    start = FROZEN - 3600
    for index in range(10):
        if index % 2:
            assert api.get("incremental/tickets/cursor.json", start_time=start).status_code == 200
        else:
            assert api.get("incremental/ticket_events.json", start_time=start).status_code == 200
    for path in ("incremental/ticket_events.json", "incremental/tickets/cursor.json"):
        refused = api.get(path, start_time=start)
        assert refused.status_code == 429
        assert refused.json() == {
            "error": "APIRateLimitExceeded",
            "description": "Rate limit for incremental exports exceeded",
        }
        assert int(refused.headers["Retry-After"]) == 60
    assert api.get("users/me.json").status_code == 200  # other endpoints are not affected
    emu.advance(60)
    assert api.get("incremental/ticket_events.json", start_time=start).status_code == 200


# -- ratings on tickets, metric sets ---------------------------------------------------------------


def test_ticket_export_shows_rating_and_metric_sets(emu: ZendeskEmulator, people: dict[str, int]):
    ticket = conversation(emu, people)
    emu.advance(61)
    page = (
        Api(emu)
        .get("incremental/tickets/cursor.json", start_time=FROZEN - 60, include="metric_sets")
        .json()
    )
    (exported,) = page["tickets"]
    rating = emu.state()["ratings"][0]
    assert exported["satisfaction_rating"] == {
        "id": rating["id"],
        "score": "good",
        "comment": "Quick, thanks",
        "reason": None,
    }
    (metrics,) = page["metric_sets"]
    assert metrics["ticket_id"] == ticket
    assert metrics["reopens"] == 1
    assert metrics["replies"] == 3  # public agent comments after the description
    assert metrics["reply_time_in_minutes"]["calendar"] == 1
    assert metrics["solved_at"] is None  # reopened
    assert "include=metric_sets" in page["after_url"]


# -- zenpy -----------------------------------------------------------------------------------------


def test_zenpy_ticket_events_page_by_page(
    emu: ZendeskEmulator, zenpy_client: Zenpy, people: dict[str, int]
):
    conversation(emu, people)
    emu.advance(61)
    gen = zenpy_client.tickets.events(start_time=FROZEN - 3600, include="comment_events")
    # A time-based result generator: the page's JSON keys that are not lists are attributes.
    assert (gen.count, gen.end_time, gen.end_of_stream) == (9, FROZEN + 420, True)
    assert gen.next_page.endswith(f"start_time={FROZEN + 420}&include=comment_events")
    events = gen.values
    assert [type(e).__name__ for e in events] == ["TicketEvent"] * 9
    first = events[0]
    assert (first.updater_id, first.timestamp, first.via, first.event_type) == (
        people["admin"],
        FROZEN,
        "Web service",
        "Audit",
    )
    assert first.created_at == iso(FROZEN)  # a string, not a datetime
    # child_events stay plain JSON: a list of dicts (zenpy's ProxyList of ProxyDict).
    assert isinstance(first.child_events, list) and isinstance(first.child_events[0], dict)
    assert [summary(e.to_dict()) for e in events] == resolve(EXPECTED_CONVERSATION, people)

    # The next poll starts at end_time and gets the events stamped end_time again.
    again = zenpy_client.tickets.events(start_time=gen.end_time, include="comment_events")
    assert [e.id for e in again.values] == [e.id for e in events[-1:]]
    # An empty page has values None (not []), and end_time is the start_time asked for.
    empty = zenpy_client.tickets.events(start_time=FROZEN + 420 + 1)
    assert (empty.values, empty.count, empty.end_time, empty.end_of_stream) == (
        None,
        0,
        FROZEN + 421,
        True,
    )


def test_zenpy_iteration_follows_next_page(
    emu: ZendeskEmulator, zenpy_client: Zenpy, people: dict[str, int]
):
    for _ in range(3):
        emu.create_ticket(subject="s", requester_id=people["customer"])
        emu.advance(1)
    emu.advance(60)
    emu.clear_requests()
    # per_page is passed through; iterating follows next_page (start_time=end_time) until
    # end_of_stream, repeats at the page boundaries included.
    ids = [e.ticket_id for e in zenpy_client.tickets.events(start_time=FROZEN, per_page=2)]
    assert ids == [1, 2, 2, 3]
    assert [r["params"]["start_time"] for r in emu.requests()] == [
        str(FROZEN),
        str(FROZEN + 1),
    ]


def test_zenpy_iteration_stops_near_the_real_time(monkeypatch: pytest.MonkeyPatch):
    """zenpy stops following next_page while end_time is under five minutes before the real
    (local) time, even if end_of_stream is false: a consumer must page by end_time itself."""
    emulator = ZendeskEmulator(token=TOKEN, email=EMAIL).start()  # real time
    try:
        monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
        monkeypatch.setenv("ZENPY_FORCE_NETLOC", emulator.netloc)
        client = Zenpy(subdomain="studio", email=EMAIL, token=TOKEN, disable_cache=True)
        start = int(emulator.now()) - 120
        for _ in range(3):
            emulator.create_ticket(subject="s", description="d")
            emulator.advance(1)
        emulator.advance(60)
        gen = client.tickets.events(start_time=start, per_page=1)
        assert gen.end_of_stream is False
        assert len(list(gen)) == 1  # the first page only
        assert time.time() - gen.end_time < 300
    finally:
        emulator.stop()


def test_admin_history_endpoint_seeds_a_backdated_conversation():
    import requests

    from emulator import ZendeskEmulator

    emu = ZendeskEmulator(token="t", email="a@b.c").start()
    try:
        ticket = emu.create_ticket(
            subject="Old", comment={"body": "help"}, created_at="2026-10-01T07:00:00Z"
        )
        answer = requests.post(
            f"{emu.url}/_emulator/tickets/{ticket['id']}/history",
            json={
                "at": "2026-10-01T08:15:00Z",
                "author_id": emu.admin_user_id,
                "comment": {"body": "On it", "public": True},
                "status": "open",
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        [_, reply] = emu.comments(ticket["id"])
        assert (reply["body"], reply["public"], reply["created_at"]) == (
            "On it",
            True,
            "2026-10-01T08:15:00Z",
        )
        assert emu.ticket(ticket["id"])["status"] == "open"
    finally:
        emu.stop()
