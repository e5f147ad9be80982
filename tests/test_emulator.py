"""The local Zendesk emulator behaves like the documented API, and zenpy talks to it unchanged.

No test sleeps through the export's one-minute lag: the emulator clock is advanced instead.
"""

from __future__ import annotations

import base64
import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket
from zenpy.lib.exception import APIException, RecordNotFoundException

from emulator import ApiError, ZendeskEmulator

TOKEN = "test-token"
EMAIL = "agent@example.com"
ISO_Z = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


class Api:
    """Plain HTTP client for the emulator (token auth exactly as zenpy sends it)."""

    def __init__(self, emu: ZendeskEmulator, email: str = EMAIL, token: str = TOKEN) -> None:
        self.base = emu.url
        self.session = requests.Session()
        self.session.auth = (f"{email}/token", token)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.request(method, f"{self.base}/api/v2/{path}", **kwargs)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, params=params)

    def put(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.call("PUT", path, json=body)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", path, json=body)

    def export(self, **params: Any) -> dict[str, Any]:
        response = self.get("incremental/tickets/cursor.json", **params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def emu() -> Iterator[ZendeskEmulator]:
    emulator = ZendeskEmulator(token=TOKEN, email=EMAIL).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def api(emu: ZendeskEmulator) -> Api:
    return Api(emu)


@pytest.fixture
def account(emu: ZendeskEmulator) -> dict[str, Any]:
    """An organization, its customer, a second agent and two custom fields."""
    org = emu.create_organization("Acme GmbH")
    customer = emu.create_user("Carla Customer", "carla@acme.test", "end-user", org["id"])
    agent = emu.create_user("Anton Agent", "anton@studio.test", "agent")
    hours = emu.create_ticket_field("Hours spent", "decimal")
    issue = emu.create_ticket_field("Redmine issue", "text")
    return {"org": org, "customer": customer, "agent": agent, "hours": hours, "issue": issue}


@pytest.fixture
def zenpy_client(emu: ZendeskEmulator, monkeypatch: pytest.MonkeyPatch) -> Zenpy:
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", emu.netloc)
    # zenpy caches tickets for 30 s by id; a sync daemon re-reading tickets must not see stale
    # copies, so the round trips below run without the cache.
    return Zenpy(subdomain="studio", email=EMAIL, token=TOKEN, disable_cache=True)


def new_ticket(emu: ZendeskEmulator, account: dict[str, Any], **fields: Any) -> dict[str, Any]:
    fields.setdefault("subject", "Website down")
    fields.setdefault("comment", {"body": "Our site shows a 500 error."})
    return emu.create_ticket(requester_id=account["customer"]["id"], **fields)


# -- authentication and JSON shapes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "token"),
    [(EMAIL, "wrong"), ("someone@else.test", TOKEN), (None, None)],
    ids=["wrong-token", "wrong-email", "no-auth"],
)
def test_bad_credentials_get_401(emu: ZendeskEmulator, email: str | None, token: str | None):
    auth = (f"{email}/token", token) if email else None
    response = requests.get(f"{emu.url}/api/v2/users/me.json", auth=auth, timeout=5)
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}


def test_me_is_the_configured_admin(api: Api):
    user = api.get("users/me.json").json()["user"]
    assert user["email"] == EMAIL
    assert user["role"] == "admin"
    assert isinstance(user["id"], int)


def test_ticket_json_has_the_real_shape(emu: ZendeskEmulator, api: Api, account: dict[str, Any]):
    created = api.post(
        "tickets.json",
        {
            "ticket": {
                "subject": "Checkout broken",
                "comment": {"body": "Payment page fails"},
                "requester_id": account["customer"]["id"],
                "priority": "high",
                "type": "incident",
                "tags": ["Shop", "urgent"],
                "custom_fields": [{"id": account["issue"]["id"], "value": "4711"}],
            }
        },
    )
    assert created.status_code == 201
    ticket = created.json()["ticket"]
    assert created.json()["audit"]["events"][0]["type"] == "Comment"
    assert ticket["url"] == f"{emu.url}/api/v2/tickets/{ticket['id']}.json"
    assert ticket["description"] == "Payment page fails"
    assert ticket["status"] == "new"
    assert ticket["organization_id"] == account["org"]["id"]  # the requester's organization
    assert ticket["tags"] == ["shop", "urgent"]
    assert ticket["via"] == {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}}
    assert ticket["custom_fields"] == [
        {"id": account["hours"]["id"], "value": None},
        {"id": account["issue"]["id"], "value": "4711"},
    ]
    assert ticket["fields"] == ticket["custom_fields"]
    assert isinstance(ticket["generated_timestamp"], int)
    for key in ("created_at", "updated_at"):
        assert re.match(ISO_Z, ticket[key])
    assert api.get(f"tickets/{ticket['id']}.json").json()["ticket"] == ticket


def test_ticket_create_accepts_backdated_created_at(emu: ZendeskEmulator, account: dict[str, Any]):
    ticket = new_ticket(emu, account, created_at="2026-10-05T09:12:00Z")
    assert ticket["created_at"] == "2026-10-05T09:12:00Z"
    assert emu.comments(ticket["id"])[0]["created_at"] == "2026-10-05T09:12:00Z"


def test_unknown_ticket_is_404(api: Api):
    response = api.put("tickets/999.json", {"ticket": {"status": "open"}})
    assert response.status_code == 404
    assert response.json() == {"error": "RecordNotFound", "description": "Not found"}


def test_show_many_and_offset_and_cursor_pagination(
    emu: ZendeskEmulator, api: Api, account: dict[str, Any]
):
    ids = [new_ticket(emu, account, subject=f"t{i}")["id"] for i in range(5)]
    many = api.get("tickets/show_many.json", ids=f"{ids[0]},{ids[3]},999").json()
    assert [t["id"] for t in many["tickets"]] == [ids[0], ids[3]]

    page1 = api.get("tickets.json", per_page=2).json()
    assert [t["id"] for t in page1["tickets"]] == ids[:2]
    assert page1["count"] == 5
    page2 = api.session.get(page1["next_page"], timeout=5).json()
    assert [t["id"] for t in page2["tickets"]] == ids[2:4]

    seen, url = [], f"{api.base}/api/v2/tickets.json?page[size]=2"
    while url:
        body = api.session.get(url, timeout=5).json()
        seen += [t["id"] for t in body["tickets"]]
        url = body["links"]["next"] if body["meta"]["has_more"] else None
    assert seen == ids


# -- updates ---------------------------------------------------------------------------------


def test_update_fields_tags_and_audit(emu: ZendeskEmulator, api: Api, account: dict[str, Any]):
    ticket = new_ticket(emu, account, tags=["web", "shop"])
    before = emu.ticket(ticket["id"])
    emu.advance(5)
    body = {
        "ticket": {
            "priority": "urgent",
            "additional_tags": ["billing"],
            "remove_tags": ["shop"],
            "custom_fields": [{"id": account["hours"]["id"], "value": "2.5"}],
            "assignee_id": account["agent"]["id"],
        }
    }
    answer = api.put(f"tickets/{ticket['id']}.json", body).json()
    updated = answer["ticket"]
    assert updated["tags"] == ["web", "billing"]
    assert updated["priority"] == "urgent"
    assert updated["status"] == "open"  # a new ticket that gets an assignee becomes open
    assert updated["updated_at"] > before["updated_at"]
    changes = {e["field_name"]: e for e in answer["audit"]["events"]}
    assert changes["priority"]["previous_value"] is None
    assert changes[str(account["hours"]["id"])]["value"] == "2.5"
    audits = api.get(f"tickets/{ticket['id']}/audits.json").json()["audits"]
    assert [a["events"][0]["type"] for a in audits] == ["Comment", "Change"]

    replaced = api.put(f"tickets/{ticket['id']}.json", {"ticket": {"tags": ["only"]}}).json()
    assert replaced["ticket"]["tags"] == ["only"]


def test_closed_ticket_refuses_updates(emu: ZendeskEmulator, api: Api, account: dict[str, Any]):
    ticket = new_ticket(emu, account, assignee_id=account["agent"]["id"])
    emu.set_status(ticket["id"], "closed")
    response = api.put(f"tickets/{ticket['id']}.json", {"ticket": {"comment": {"body": "hi"}}})
    assert response.status_code == 422
    assert response.json() == {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {"status": [{"description": "Status: closed prevents ticket update"}]},
    }
    assert len(emu.comments(ticket["id"])) == 1


def test_one_comment_per_update(emu: ZendeskEmulator, api: Api, account: dict[str, Any]):
    ticket = new_ticket(emu, account)
    path = f"tickets/{ticket['id']}.json"
    api.put(path, {"ticket": {"comment": {"body": "internal note", "public": False}}})
    # A list of comments is not part of the API: Zendesk ignores the unknown key.
    api.put(path, {"ticket": {"comments": [{"body": "a"}, {"body": "b"}]}})
    api.put(path, {"ticket": {"comment": {"body": "   "}, "priority": "low"}})  # empty: ignored
    api.put(path, {"ticket": {"comment": {"html_body": "<p>Fixed &amp; deployed</p>"}}})
    comments = api.get(f"tickets/{ticket['id']}/comments.json").json()["comments"]
    assert [c["plain_body"] for c in comments] == [
        "Our site shows a 500 error.",
        "internal note",
        "Fixed & deployed",
    ]
    assert [c["public"] for c in comments] == [True, False, True]
    me = api.get("users/me.json").json()["user"]["id"]
    assert comments[1]["author_id"] == me  # default author: the authenticated user
    assert comments[0]["author_id"] == account["customer"]["id"]
    assert all(c["type"] == "Comment" and "html_body" in c for c in comments)
    assert emu.ticket(ticket["id"])["priority"] == "low"


def test_invalid_comment_author_is_422_and_changes_nothing(
    emu: ZendeskEmulator, api: Api, account: dict[str, Any]
):
    ticket = new_ticket(emu, account)
    body = {"ticket": {"priority": "high", "comment": {"body": "x", "author_id": 777}}}
    assert api.put(f"tickets/{ticket['id']}.json", body).status_code == 422
    assert len(emu.audits(ticket["id"])) == 1
    assert emu.ticket(ticket["id"])["priority"] is None


def test_unknown_custom_field_is_422_and_changes_nothing(
    emu: ZendeskEmulator, api: Api, account: dict[str, Any]
):
    ticket = new_ticket(emu, account)
    body = {"ticket": {"status": "pending", "custom_fields": [{"id": 4242, "value": "x"}]}}
    response = api.put(f"tickets/{ticket['id']}.json", body)
    assert response.status_code == 422
    assert response.json()["error"] == "RecordInvalid"
    assert emu.ticket(ticket["id"])["status"] == "new"


def test_status_rules(emu: ZendeskEmulator, account: dict[str, Any]):
    ticket = new_ticket(emu, account)
    solved = emu.set_status(ticket["id"], "solved")
    assert solved["assignee_id"] == emu.admin_user_id  # solving needs an assignee
    with pytest.raises(ApiError) as back_to_new:
        emu.set_status(ticket["id"], "new")
    assert back_to_new.value.status == 422
    # An end user's reply reopens a solved ticket.
    customer = account["customer"]["id"]
    assert emu.add_comment(ticket["id"], "still broken", author_id=customer)["status"] == "open"
    emu.set_status(ticket["id"], "solved")
    emu.advance(28 * 86400)  # Zendesk closes solved tickets after 28 days at the latest
    assert emu.ticket(ticket["id"])["status"] == "closed"


def test_delete_ticket(emu: ZendeskEmulator, api: Api, account: dict[str, Any]):
    start = int(emu.now()) - 120
    ticket = new_ticket(emu, account)
    assert api.call("DELETE", f"tickets/{ticket['id']}.json").status_code == 204
    assert api.get(f"tickets/{ticket['id']}.json").status_code == 404
    emu.advance(61)
    exported = api.export(start_time=start)["tickets"]
    assert [(t["id"], t["status"]) for t in exported] == [(ticket["id"], "deleted")]
    assert api.export(start_time=start, exclude_deleted="true")["tickets"] == []


# -- incremental export ----------------------------------------------------------------------


def test_export_hides_the_newest_minute(emu: ZendeskEmulator, api: Api, account: dict[str, Any]):
    start = int(emu.now()) - 120
    ticket = new_ticket(emu, account)
    first = api.export(start_time=start)
    assert first["tickets"] == []
    assert first["end_of_stream"] is True
    emu.advance(30)
    assert api.export(cursor=first["after_cursor"])["tickets"] == []
    emu.advance(31)
    later = api.export(cursor=first["after_cursor"])
    assert [t["id"] for t in later["tickets"]] == [ticket["id"]]
    assert later["end_of_stream"] is True
    assert later["after_url"] == (
        f"{emu.url}/api/v2/incremental/tickets/cursor.json?cursor={later['after_cursor']}"
    )
    assert later["before_cursor"] is not None


def test_export_start_time_must_be_a_minute_old(emu: ZendeskEmulator, api: Api):
    response = api.get("incremental/tickets/cursor.json", start_time=int(emu.now()) - 30)
    assert response.status_code == 400
    assert response.json() == {
        "error": "InvalidValue",
        "description": "Too recent start_time. Use a start_time older than 1 minute",
    }


def test_export_cursor_returns_only_changed_tickets(
    emu: ZendeskEmulator, api: Api, account: dict[str, Any]
):
    start = int(emu.now()) - 120
    ids = [new_ticket(emu, account, subject=f"t{i}")["id"] for i in range(4)]
    emu.advance(61)
    page = api.export(start_time=start, per_page=3)
    assert [t["id"] for t in page["tickets"]] == ids[:3]
    assert page["end_of_stream"] is False
    page = api.session.get(page["after_url"], timeout=5).json()
    assert [t["id"] for t in page["tickets"]] == ids[3:]
    assert page["end_of_stream"] is True
    backwards = api.session.get(page["before_url"], timeout=5).json()
    assert [t["id"] for t in backwards["tickets"]] == ids[:3]
    cursor = page["after_cursor"]

    emu.add_comment(ids[2], "first change")
    emu.set_status(ids[0], "pending")
    emu.add_comment(ids[2], "second change")
    emu.advance(61)
    page = api.export(cursor=cursor)
    assert [t["id"] for t in page["tickets"]] == [ids[0], ids[2]]
    assert api.export(cursor=page["after_cursor"])["tickets"] == []


class ExportConsumer:
    """Polls the export like the daemon does and checks what it gets against the truth."""

    def __init__(self, emu: ZendeskEmulator, start: int) -> None:
        self.emu = emu
        self.api = Api(emu)
        self.cursor: str | None = None
        self.start = start
        self.version: dict[int, int] = {}  # ticket id -> number of changes made
        self.changed_at: dict[int, float] = {}  # ticket id -> emulator time of the last change
        self.seen: dict[int, list[int]] = {}  # ticket id -> versions delivered, in order

    def change(self, ticket_id: int) -> None:
        self.version[ticket_id] = self.version.get(ticket_id, -1) + 1
        self.emu.update_ticket(ticket_id, subject=f"v{self.version[ticket_id]}")
        self.changed_at[ticket_id] = self.emu.now()

    def poll(self) -> None:
        polled_at = self.emu.now()
        params: dict[str, Any] = {"cursor": self.cursor} if self.cursor else {}
        params = params or {"start_time": self.start}
        delivered: set[int] = set()
        while True:
            page = self.api.export(per_page=4, **params)
            for ticket in page["tickets"]:
                current = int(ticket["subject"][1:])
                # The export shows the ticket as it is now, never an older state.
                assert current == self.version[ticket["id"]]
                self.seen.setdefault(ticket["id"], []).append(current)
                delivered.add(ticket["id"])
            params = {"cursor": page["after_cursor"]}
            if page["end_of_stream"]:
                self.cursor = page["after_cursor"]
                break
        # Every change older than the one-minute lag must have arrived by now: none lost.
        for ticket_id, version in self.version.items():
            last = self.seen.get(ticket_id, [-1])[-1]
            if self.changed_at[ticket_id] <= polled_at - 60:
                assert last == version, f"ticket {ticket_id}: change {version} not delivered"


def test_export_random_updates_are_seen_once_per_change():
    """Random updates at random times, polled at random times in small pages: every change
    arrives once the lag has passed, and a ticket only comes back after a new change."""
    rng = random.Random(20261005)
    emu = ZendeskEmulator(token=TOKEN, email=EMAIL, export_budget_per_minute=None).start()
    try:
        customer = emu.create_user("Cust", "cust@example.test")
        consumer = ExportConsumer(emu, start=int(emu.now()) - 60)
        for _ in range(10):
            ticket = emu.create_ticket(subject="v0", requester_id=customer["id"])
            consumer.version[ticket["id"]] = 0
            consumer.changed_at[ticket["id"]] = emu.now()
        for _ in range(400):
            if rng.random() < 0.6:
                consumer.change(rng.choice(list(consumer.version)))
            emu.advance(rng.choice([0, 0, 1, 5, 20, 45, 61]))
            if rng.random() < 0.3:
                consumer.poll()
        emu.advance(61)
        consumer.poll()
        for ticket_id, versions in consumer.seen.items():
            assert versions == sorted(set(versions)), f"ticket {ticket_id} repeated: {versions}"
        assert set(consumer.seen) == set(consumer.version)
    finally:
        emu.stop()


def test_export_budget_is_ten_a_minute(emu: ZendeskEmulator, api: Api):
    start = int(emu.now()) - 3600
    for _ in range(10):
        api.export(start_time=start)
    refused = api.get("incremental/tickets/cursor.json", start_time=start)
    assert refused.status_code == 429
    assert refused.json() == {
        "error": "APIRateLimitExceeded",
        "description": "Rate limit for incremental exports exceeded",
    }
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert api.get("users/me.json").status_code == 200  # other endpoints are not affected
    emu.advance(int(refused.headers["Retry-After"]))
    assert api.get("incremental/tickets/cursor.json", start_time=start).status_code == 200


def test_the_export_budget_can_be_lifted_and_set_again(emu: ZendeskEmulator, api: Api):
    start = int(emu.now()) - 3600
    emu.set_export_budget(None)
    assert all(
        api.get("incremental/tickets/cursor.json", start_time=start).status_code == 200
        for _ in range(30)
    )
    emu.set_export_budget(2)
    assert [
        api.get("incremental/tickets/cursor.json", start_time=start).status_code for _ in range(3)
    ] == [200, 200, 429]


def test_account_rate_limit_headers_and_429():
    emu = ZendeskEmulator(token=TOKEN, email=EMAIL, rate_limit_per_minute=3).start()
    try:
        api = Api(emu)
        remaining = [api.get("users/me.json").headers["X-Rate-Limit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        refused = api.get("users/me.json")
        assert refused.status_code == 429
        assert refused.headers["X-Rate-Limit"] == "3"
        assert int(refused.headers["Retry-After"]) >= 1
        emu.advance(60)
        assert api.get("users/me.json").status_code == 200
    finally:
        emu.stop()


def test_metric_sets_are_side_loaded(emu: ZendeskEmulator, api: Api, account: dict[str, Any]):
    start = int(emu.now()) - 120
    ticket = new_ticket(emu, account)
    emu.advance(61)
    page = api.export(start_time=start, include="metric_sets")
    assert [m["ticket_id"] for m in page["metric_sets"]] == [ticket["id"]]
    assert "include=metric_sets" in page["after_url"]


# -- metrics and satisfaction -------------------------------------------------------------------


def test_ticket_metrics_follow_comments_and_statuses(
    emu: ZendeskEmulator, api: Api, account: dict[str, Any]
):
    ticket = new_ticket(emu, account)
    agent = account["agent"]["id"]
    emu.advance(600)
    emu.add_comment(ticket["id"], "looking into it", public=False, author_id=agent)
    emu.advance(1200)
    emu.update_ticket(ticket["id"], author_id=agent, assignee_id=agent, comment={"body": "Hi!"})
    emu.advance(1800)
    emu.set_status(ticket["id"], "solved", author_id=agent)
    emu.advance(600)
    emu.add_comment(ticket["id"], "broken again", author_id=account["customer"]["id"])
    emu.advance(600)
    emu.set_status(ticket["id"], "solved", author_id=agent)

    metric = api.get(f"tickets/{ticket['id']}/metrics.json").json()["ticket_metric"]
    assert metric["ticket_id"] == ticket["id"]
    assert metric["replies"] == 1  # internal notes and the description do not count
    assert metric["reply_time_in_minutes"] == {"calendar": 30, "business": 30}
    assert metric["first_resolution_time_in_minutes"]["calendar"] == 60
    assert metric["full_resolution_time_in_minutes"]["calendar"] == 80
    assert metric["reopens"] == 1
    assert metric["solved_at"] == emu.ticket(ticket["id"])["updated_at"]
    assert metric["assigned_at"] is not None
    listed = api.get("ticket_metrics.json").json()["ticket_metrics"]
    assert [m["ticket_id"] for m in listed] == [ticket["id"]]


def test_satisfaction_rating_needs_a_solved_ticket(
    emu: ZendeskEmulator, api: Api, account: dict[str, Any]
):
    ticket = new_ticket(emu, account)
    path = f"tickets/{ticket['id']}/satisfaction_rating.json"
    rating = {"satisfaction_rating": {"score": "good", "comment": "Fast!"}}
    assert api.post(path, rating).status_code == 422
    emu.set_status(ticket["id"], "solved")
    created = api.post(path, rating).json()["satisfaction_rating"]
    assert created["score"] == "good"
    assert emu.ticket(ticket["id"])["satisfaction_rating"]["score"] == "good"
    start = int(emu.now()) - 10
    good = api.get("satisfaction_ratings.json", score="good", start_time=start).json()
    assert [r["id"] for r in good["satisfaction_ratings"]] == [created["id"]]
    bad = api.get("satisfaction_ratings.json", score="bad").json()["satisfaction_ratings"]
    assert bad == []


# -- fault injection and admin endpoints ------------------------------------------------------


def test_fault_status_then_recovery(emu: ZendeskEmulator, api: Api):
    emu.inject_fault(r"GET /api/v2/users/me", status=503, times=2)
    assert [api.get("users/me.json").status_code for _ in range(3)] == [503, 503, 200]
    assert [r["status"] for r in emu.requests()] == [503, 503, 200]


def test_fault_html_body(emu: ZendeskEmulator, api: Api):
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    emu.inject_fault("GET", status=502, body=page)
    response = api.get("users/me.json")
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.text == page


def test_fault_reset_and_truncate(emu: ZendeskEmulator, api: Api, account: dict[str, Any]):
    emu.inject_fault("GET /api/v2/users/me", reset=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("users/me.json")
    ticket = new_ticket(emu, account)
    # The update lands but its answer is cut off: the client cannot tell.
    emu.inject_fault(f"PUT /api/v2/tickets/{ticket['id']}", truncate=True)
    with pytest.raises((requests.exceptions.RequestException, ValueError)):
        api.put(f"tickets/{ticket['id']}.json", {"ticket": {"status": "pending"}}).json()
    assert emu.ticket(ticket["id"])["status"] == "pending"
    assert api.get("users/me.json").status_code == 200


def test_fault_after_processing_hides_a_successful_write(
    emu: ZendeskEmulator, api: Api, account: dict[str, Any]
):
    ticket = new_ticket(emu, account)
    emu.inject_fault("PUT /api/v2/tickets/", status=502, process=True)
    body = {"ticket": {"comment": {"body": "Redmine #12 created", "public": False}}}
    assert api.put(f"tickets/{ticket['id']}.json", body).status_code == 502
    # The note landed although the client saw an error: a blind retry would duplicate it.
    assert [c["body"] for c in emu.comments(ticket["id"])][-1] == "Redmine #12 created"


def test_per_ticket_update_budget(emu: ZendeskEmulator, api: Api, account: dict[str, Any]):
    ticket = new_ticket(emu, account)
    path = f"tickets/{ticket['id']}.json"
    statuses = [api.put(path, {"ticket": {"subject": f"s{i}"}}).status_code for i in range(31)]
    assert statuses == [200] * 30 + [429]
    emu.advance(600)
    assert api.put(path, {"ticket": {"subject": "later"}}).status_code == 200


def test_fault_delay_causes_client_timeout(emu: ZendeskEmulator, api: Api):
    emu.inject_fault("users/me", delay=0.5)
    with pytest.raises(requests.exceptions.Timeout):
        api.call("GET", "users/me.json", timeout=0.1)


def test_admin_endpoints_over_http(emu: ZendeskEmulator, api: Api):
    before = emu.now()
    clock = requests.post(f"{emu.url}/_emulator/clock", json={"advance": 3600}, timeout=5).json()
    assert clock["now"] >= before + 3600
    fault = {"match": "GET /api/v2/ticket_fields", "status": 500, "times": 1}
    assert requests.post(f"{emu.url}/_emulator/faults", json=fault, timeout=5).ok
    assert api.get("ticket_fields.json").status_code == 500
    log = requests.get(f"{emu.url}/_emulator/requests", timeout=5).json()["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/api/v2/ticket_fields.json", 500)
    ]
    requests.delete(f"{emu.url}/_emulator/requests", timeout=5)
    assert requests.get(f"{emu.url}/_emulator/requests", timeout=5).json()["requests"] == []
    state = requests.get(f"{emu.url}/_emulator/state", timeout=5).json()
    assert [u["email"] for u in state["users"]] == [EMAIL]


# -- zenpy round trips -----------------------------------------------------------------------


def test_zenpy_reads_account_data(zenpy_client: Zenpy, account: dict[str, Any]):
    me = zenpy_client.users.me()
    assert (me.email, me.role) == (EMAIL, "admin")
    assert [o.name for o in zenpy_client.organizations()] == ["Acme GmbH"]
    titles = [f.title for f in zenpy_client.ticket_fields()]
    assert titles == ["Hours spent", "Redmine issue"]


def test_zenpy_ticket_update_with_internal_note_and_custom_field(
    emu: ZendeskEmulator, zenpy_client: Zenpy, account: dict[str, Any]
):
    created = new_ticket(emu, account)
    ticket = zenpy_client.tickets(id=created["id"])
    assert ticket.subject == "Website down"
    ticket.comment = Comment(body="Redmine #4711 created", public=False)
    ticket.custom_fields = [{"id": account["issue"]["id"], "value": "4711"}]
    ticket.status = "open"
    emu.clear_requests()
    audit = zenpy_client.tickets.update(ticket)
    # zenpy sends only the attributes changed since the ticket was read, plus its id.
    sent = emu.requests()[0]["body"]
    assert sent == {
        "ticket": {
            "id": created["id"],
            "status": "open",
            "custom_fields": [{"id": account["issue"]["id"], "value": "4711"}],
            "comment": {"body": "Redmine #4711 created", "public": False},
        }
    }
    assert audit.ticket.status == "open"
    comments = list(zenpy_client.tickets.comments(ticket=created["id"]))
    assert [(c.body, c.public) for c in comments][-1] == ("Redmine #4711 created", False)
    assert emu.ticket(created["id"])["custom_fields"][1] == {
        "id": account["issue"]["id"],
        "value": "4711",
    }
    # A second update of the same object sends no comment again: zenpy clears dirty state.
    ticket.priority = "high"
    zenpy_client.tickets.update(ticket)
    assert emu.requests()[-1]["body"] == {"ticket": {"id": created["id"], "priority": "high"}}
    assert len(emu.comments(created["id"])) == 2


def test_zenpy_incremental_export_page_by_page(
    emu: ZendeskEmulator, zenpy_client: Zenpy, account: dict[str, Any]
):
    start = int(emu.now()) - 120
    ids = [new_ticket(emu, account, subject=f"t{i}")["id"] for i in range(3)]
    emu.advance(61)
    gen = zenpy_client.tickets.incremental(start_time=start, per_page=2)
    assert [t.id for t in gen.values] == ids[:2]
    assert gen.end_of_stream is False
    gen = zenpy_client.tickets.incremental(cursor=gen.after_cursor, per_page=2)
    assert [t.id for t in gen.values] == ids[2:]
    assert gen.end_of_stream is True
    cursor = gen.after_cursor

    emu.add_comment(ids[1], "changed")
    gen = zenpy_client.tickets.incremental(cursor=cursor)
    assert gen.values is None  # zenpy turns an empty page into None, not []
    assert gen.end_of_stream is True
    emu.advance(61)
    gen = zenpy_client.tickets.incremental(cursor=gen.after_cursor)
    assert [t.id for t in gen.values] == [ids[1]]
    # Iterating the generator follows after_url until end_of_stream.
    every = list(zenpy_client.tickets.incremental(start_time=start, per_page=1))
    assert [t.id for t in every] == [ids[0], ids[2], ids[1]]


def test_zenpy_errors_and_429(emu: ZendeskEmulator, zenpy_client: Zenpy, account: dict[str, Any]):
    with pytest.raises(RecordNotFoundException):
        zenpy_client.tickets(id=999)
    ticket = new_ticket(emu, account, assignee_id=account["agent"]["id"])
    emu.set_status(ticket["id"], "closed")
    closed = zenpy_client.tickets(id=ticket["id"])
    closed.comment = Comment(body="too late")
    with pytest.raises(APIException) as refused:
        zenpy_client.tickets.update(closed)
    assert refused.value.response.status_code == 422
    # zenpy sleeps for Retry-After on a 429 and retries the same request by itself.
    emu.inject_fault("GET /api/v2/users/me", status=429, retry_after=1)
    started = time.monotonic()
    assert zenpy_client.users.me().email == EMAIL
    assert time.monotonic() - started >= 1
    assert [r["status"] for r in emu.requests()][-2:] == [429, 200]


def test_zenpy_create_returns_ticket_audit(zenpy_client: Zenpy, account: dict[str, Any]):
    audit = zenpy_client.tickets.create(
        Ticket(subject="Via zenpy", description="Body", requester_id=account["customer"]["id"])
    )
    assert audit.ticket.description == "Body"
    assert audit.ticket.organization_id == account["org"]["id"]


# -- persistence and the command line ---------------------------------------------------------


def test_state_file_survives_restart(tmp_path: Path):
    state = tmp_path / "zendesk.json"
    first = ZendeskEmulator(token=TOKEN, email=EMAIL, state_file=str(state)).start()
    org = first.create_organization("Persisted")
    ticket = first.create_ticket(subject="kept", description="kept body")
    first.advance(3600)
    clock = first.now()
    first.stop()

    second = ZendeskEmulator(token=TOKEN, email=EMAIL, state_file=str(state)).start()
    try:
        assert second.ticket(ticket["id"])["subject"] == "kept"
        assert second.now() >= clock  # the advanced clock is kept, so timestamps never go back
        assert second.create_organization("Next")["id"] == org["id"] + 1
        assert Api(second).get("users/me.json").json()["user"]["email"] == EMAIL
    finally:
        second.stop()


def test_command_line_serves_and_persists(tmp_path: Path):
    state = tmp_path / "state.json"
    command = [sys.executable, "-m", "emulator", "--port", "0", "--token", TOKEN]
    command += ["--email", EMAIL, "--state-file", str(state)]
    auth = (f"{EMAIL}/token", TOKEN)
    for round_number in range(2):
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            line = process.stdout.readline().strip() if process.stdout else ""
            assert line.startswith("emulator listening on http://127.0.0.1:")
            url = line.rsplit(" ", 1)[1]
            orgs = requests.get(f"{url}/api/v2/organizations.json", auth=auth, timeout=5).json()
            assert len(orgs["organizations"]) == round_number
            body = {"organization": {"name": f"Org {round_number}"}}
            requests.post(f"{url}/api/v2/organizations.json", json=body, auth=auth, timeout=5)
        finally:
            process.terminate()
            process.wait(timeout=10)
    saved = json.loads(state.read_text())
    assert [o["name"] for o in saved["organizations"]] == ["Org 0", "Org 1"]


def test_basic_auth_header_format_is_zenpys(emu: ZendeskEmulator):
    """zenpy authenticates as ("{email}/token", token); the raw header must be accepted."""
    raw = base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {raw}"}
    response = requests.get(f"{emu.url}/api/v2/users/me.json", headers=headers, timeout=5)
    assert response.status_code == 200
