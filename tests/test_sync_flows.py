"""The sync flows end to end: the real Redmine, the Zendesk emulator, syncd's own CLI."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from studio import Studio

import connectors.redmine as redmine_connector
from connectors.base import ConnectorError
from connectors.redmine import RedmineConnector
from emulator import ZendeskEmulator
from syncd.hours import REREAD_CURSOR

pytestmark = pytest.mark.redmine


def _puts(emu: ZendeskEmulator) -> list[dict]:
    return [
        r
        for r in emu.requests()
        if r["method"] in ("PUT", "POST") and r["path"].startswith("/api/v2/tickets")
    ]


def test_tagged_ticket_gets_one_issue_a_link_note_and_an_in_work_reply(studio: Studio):
    tagged = studio.ticket(
        "Checkout page 500s",
        type="incident",
        priority="high",
        custom_fields=[{"id": studio.estimate_field, "value": "3"}],
        body="Since this morning the checkout page shows an error.",
    )
    untagged = studio.ticket("Just a question", tags=())

    out = studio.sync()

    issues = studio.issue_for(tagged)
    assert len(issues) == 1, out
    issue = issues[0]
    assert issue["subject"] == "Checkout page 500s"
    assert issue["tracker"]["name"] == "Bug"
    assert issue["priority"]["name"] == "High"
    assert Decimal(str(issue["estimated_hours"])) == Decimal("3")
    assert f"Zendesk #{tagged}" in issue["description"]
    assert f"{studio.emu.url}/agent/tickets/{tagged}" in issue["description"]
    assert "checkout page shows an error" in issue["description"]
    assert studio.issue_for(untagged) == []
    assert len(studio.issues()) == 1

    assert str(studio.field(tagged, studio.issue_field)) == str(issue["id"])
    notes = studio.comments(tagged, public=False)
    assert len(notes) == 1 and f"/issues/{issue['id']}" in notes[0]["body"]
    replies = studio.comments(tagged, public=True)
    # The client's own first message plus our one reply.
    ours = [c for c in replies if f"#{issue['id']}" in c["body"]]
    assert len(ours) == 1
    assert "in work" in ours[0]["body"] and "Estimated effort: 3.00 h" in ours[0]["body"]
    assert studio.zd(tagged)["status"] == "open"  # answered and in work: no longer "new"
    assert studio.zd(untagged)["status"] == "new"
    assert "created Redmine issue" in out or "create" in out


def _redmine_requests(studio: Studio, start: int, end: int) -> list[str]:
    """Requests Redmine itself logged between two byte offsets of its production.log."""
    log = studio.redmine.datadir / "log" / "production.log"
    with log.open("rb") as f:
        f.seek(start)
        text = f.read(end - start).decode("utf-8", "replace")
    return re.findall(r'Started (\w+ "[^"?]+)', text)


def test_second_cycle_changes_nothing_and_makes_one_request_per_feed(studio: Studio):
    studio.ticket("Logo is blurry")
    studio.sync()
    studio.sync()  # the echo of the first cycle's own writes
    issues_before = studio.issues()
    studio.emu.clear_requests()
    log = studio.redmine.datadir / "log" / "production.log"
    offset = log.stat().st_size

    out = studio.sync()
    end = log.stat().st_size

    assert studio.issues() == issues_before
    assert [f"{r['method']} {r['path']}" for r in studio.emu.requests()] == [
        "GET /api/v2/incremental/tickets/cursor.json",
        "GET /api/v2/incremental/ticket_events.json",  # comments and statuses for the SLA
    ], out
    assert sorted(_redmine_requests(studio, offset, end)) == [
        'GET "/issues.json',
        'GET "/time_entries.json',
    ]
    assert "nothing to do" in out


def test_status_changes_reach_the_ticket_done_solves_and_reopen_reopens(studio: Studio):
    ticket = studio.ticket("Add a banner")
    studio.sync()
    issue_id = studio.issue_for(ticket)[0]["id"]
    statuses = studio.redmine.statuses

    studio.redmine.update_issue(issue_id, status_id=statuses["In Progress"])
    studio.sync()
    notes = [c["body"] for c in studio.comments(ticket, public=False)]
    assert any('"New" → "In Progress"' in n for n in notes), notes

    studio.redmine.update_issue(issue_id, status_id=statuses["Resolved"])
    studio.sync()
    assert studio.zd(ticket)["status"] == "solved"
    done = [
        c for c in studio.comments(ticket, public=True) if "The work on your request" in c["body"]
    ]
    assert len(done) == 1

    studio.sync()  # the echo of "solved" must not do anything
    assert (
        len(
            [
                c
                for c in studio.comments(ticket, public=True)
                if "The work on your request" in c["body"]
            ]
        )
        == 1
    )

    # The client answers: Zendesk reopens the ticket.
    studio.emu.add_comment(ticket, "Still broken on mobile", True, studio.requester_id)
    studio.emu.set_status(ticket, "open")
    studio.sync()
    issue = studio.redmine.issue(issue_id, include="journals")
    assert issue["status"]["name"] == "In Progress"
    assert any(f"reopened Zendesk #{ticket}" in (j.get("notes") or "") for j in issue["journals"])
    notes_before = len(studio.comments(ticket))
    studio.sync()  # our own reopen comes back through the issue feed: no note about it
    assert len(studio.comments(ticket)) == notes_before

    # Done a second time: a second "done" reply, because it is a second round of work.
    studio.redmine.update_issue(issue_id, status_id=statuses["Closed"])
    studio.sync()
    assert (
        len(
            [
                c
                for c in studio.comments(ticket, public=True)
                if "The work on your request" in c["body"]
            ]
        )
        == 2
    )
    assert studio.zd(ticket)["status"] == "solved"


def test_hours_flow_back_including_subtasks_and_deletions(studio: Studio, redmine_user):
    ticket = studio.ticket("Speed up the catalogue")
    studio.sync()
    issue_id = studio.issue_for(ticket)[0]["id"]
    sub = studio.redmine.create_issue(studio.project, "Profile SQL", parent_issue_id=issue_id)
    studio.redmine.log_time(1.5, issue_id=issue_id, user_id=redmine_user.id)
    studio.redmine.log_time(0.25, issue_id=sub["id"], user_id=redmine_user.id)
    doomed = studio.redmine.log_time(
        1, issue_id=sub["id"], user_id=redmine_user.id, comments="logged by mistake"
    )
    studio.sync()
    assert str(studio.field(ticket, studio.hours_field)) == "2.75"

    store = studio.store()
    stored = {r["id"]: r for r in store._all("SELECT * FROM time_entries")}
    assert len(stored) == 3
    assert stored[doomed["id"]]["comments"] == "logged by mistake"
    assert stored[doomed["id"]]["activity"] == "Development"

    studio.redmine.delete_time_entry(doomed["id"])
    # The periodic re-read is due (it finds deletions Redmine's API can't list).
    store.set_cursor(REREAD_CURSOR, "2000-01-01T00:00:00+00:00")
    store.close()
    studio.sync()
    assert str(studio.field(ticket, studio.hours_field)) == "1.75"
    store = studio.store()
    assert doomed["id"] not in {r["id"] for r in store._all("SELECT id FROM time_entries")}
    store.close()


def test_adoption_finds_hand_made_links_and_never_duplicates(studio: Studio):
    by_field, by_subject, by_url, fresh = (studio.ticket(f"Request {n}") for n in range(4))
    rm = studio.redmine
    rm.create_issue(studio.project, "Fix header", ticket=by_field)
    rm.create_issue(studio.project, f"Zendesk #{by_subject}: new footer")
    rm.create_issue(
        studio.project,
        "Menu",
        description=(f"See {studio.emu.url}/agent/tickets/{by_url} for details"),
    )
    claimant = rm.create_issue(studio.project, "Same ticket again", ticket=by_field)

    studio.sync()

    # Three adopted, one created for the ticket nobody linked by hand.
    assert len(studio.issues()) == 5
    assert len(studio.issue_for(fresh)) == 1
    store = studio.store()
    links = {r["ticket_id"]: r for r in store.links()}
    assert links[by_field]["origin"] == "adopted:field"
    assert links[by_subject]["origin"] == "adopted:text"
    assert links[by_url]["origin"] == "adopted:text"
    assert links[fresh]["origin"] == "created"
    conflicts = store.conflicts()
    assert [(c["issue_id"], c["ticket_id"]) for c in conflicts] == [(claimant["id"], by_field)]
    store.close()
    # Adopted tickets were linked by people who already told the client: no replies from us.
    for t in (by_field, by_subject, by_url):
        assert studio.comments(t, public=False) == []
        assert len(studio.comments(t, public=True)) == 1  # the client's own message
        # ... but agents see the issue number in Zendesk too.
        assert str(studio.field(t, studio.issue_field)) == str(links[t]["issue_id"])

    code, out = studio.syncd("adopt")
    assert code == 0, out
    assert len(studio.issues()) == 5


def test_unassigned_tickets_are_listed_not_dropped(studio: Studio):
    stray = studio.ticket("Who are we?", org=studio.other_org_id)
    studio.sync()
    assert studio.issues() == []
    code, out = studio.syncd("status")
    assert code == 0
    assert f"ticket #{stray}" in out and "unassigned" in out
    code, out = studio.syncd("status", "--json")
    data = json.loads(out)
    assert [t["id"] for t in data["unassigned_tickets"]] == [stray]


def test_dry_run_shows_the_actions_and_writes_nothing(studio: Studio):
    ticket = studio.ticket("Dry run me")
    studio.emu.advance(61)
    code, out = studio.syncd("sync", "--dry-run")
    assert code == 0
    assert f"would create a Redmine issue in {studio.project} for ticket #{ticket}" in out
    assert f"would reply 'in work' to the client on ticket #{ticket}" in out
    assert "dry run, nothing written" in out
    assert studio.issues() == []
    assert studio.comments(ticket, public=False) == []
    store = studio.store()
    assert store.links() == [] and store.recent_cycles() == []
    store.close()
    # The real cycle afterwards still does it all: the dry run moved no cursor.
    studio.sync()
    assert len(studio.issue_for(ticket)) == 1


def test_notify_client_off_sends_no_public_reply(studio: Studio):
    studio.write_config(notify_client=False)
    ticket = studio.ticket("Quiet please")
    studio.sync()
    assert len(studio.issue_for(ticket)) == 1
    assert len(studio.comments(ticket, public=True)) == 1  # only the client's message
    assert len(studio.comments(ticket, public=False)) == 1  # our internal link note


def test_russian_templates(studio: Studio):
    studio.write_config(language="ru")
    ticket = studio.ticket("Сломалась форма")
    studio.sync()
    issue_id = studio.issue_for(ticket)[0]["id"]
    reply = [
        c["body"] for c in studio.comments(ticket, public=True) if "передано в работу" in c["body"]
    ]
    assert len(reply) == 1 and f"№{issue_id}" in reply[0] and "«Сломалась форма»" in reply[0]


def test_death_between_creating_the_issue_and_recording_the_link(studio: Studio, monkeypatch):
    """The issue exists in Redmine, the journal says created, the link row was never written:
    the next cycle meets the issue in the issue feed first and must treat it as ours."""
    ticket = studio.ticket("Die after create")
    from syncd.state import Store

    real_add_link = Store.add_link

    def dying_add_link(self, **kw):
        raise SystemExit("killed")  # BaseException, like a kill: nothing after it runs

    monkeypatch.setattr(Store, "add_link", dying_add_link)
    studio.emu.advance(61)
    with pytest.raises(SystemExit):
        studio.syncd("sync")
    monkeypatch.setattr(Store, "add_link", real_add_link)
    assert len(studio.issue_for(ticket)) == 1
    assert studio.comments(ticket, public=False) == []

    studio.sync()
    studio.sync()

    assert len(studio.issue_for(ticket)) == 1
    store = studio.store()
    assert store.link_by_ticket(ticket)["origin"] == "created"
    store.close()
    assert len(studio.comments(ticket, public=False)) == 1
    assert len([c for c in studio.comments(ticket, public=True) if "in work" in c["body"]]) == 1


def test_backfill_imports_history_and_writes_nothing(studio: Studio, redmine_user):
    old = studio.ticket("Old request", status="solved", created_at="2026-08-03T09:00:00Z")
    pending = studio.ticket("Tagged, never linked")
    handmade = studio.redmine.create_issue(studio.project, "Old work", ticket=old)
    for day, hours in (("2026-08-04", 2), ("2026-09-10", 1.5), ("2026-10-01", 0.5)):
        studio.redmine.log_time(
            hours, issue_id=handmade["id"], user_id=redmine_user.id, spent_on=day
        )
    studio.emu.advance(61)
    assert studio.zd(old)["status"] == "closed"  # Zendesk closed it 28 days after solving
    studio.emu.advance(61)  # ... and that change, made "now", has passed the export's lag
    studio.emu.clear_requests()

    code, out = studio.syncd("backfill", "--since", "2026-08-01")

    assert code == 0, out
    assert _puts(studio.emu) == []
    assert [i["id"] for i in studio.issues()] == [handmade["id"]]  # nothing created
    store = studio.store()
    assert {t["id"] for t in store._all("SELECT id FROM tickets")} == {old, pending}
    assert store.link_by_ticket(old)["origin"] == "adopted:field"
    assert store.hours_for_issues([handmade["id"]]) == 4
    assert store.link_by_ticket(pending) is None
    store.close()
    assert "3 time entries" in out and "1 links adopted" in out


@pytest.fixture
def two_projects(studio: Studio, redmine_user):
    """A second client with its own project, deleted after the test."""
    other = studio.redmine.create_project(name="syncd test: a second client")
    studio.redmine.add_member(other, redmine_user.id)
    studio.write_config(
        extra_toml=f"""
[[clients]]
id = "globex"
name = "Globex"
zendesk_organization_id = {studio.other_org_id}
redmine_projects = ["{other}"]
"""
    )
    yield other
    studio.redmine.delete_project(other)


def _record_entry_requests(monkeypatch) -> list[tuple[int, tuple[str, ...], bool]]:
    """Pages of two entries; every time-entry request recorded as (offset, the project ids
    asked for, whether it is a period re-read)."""
    monkeypatch.setattr(redmine_connector, "PAGE", 2)
    asked: list[tuple[int, tuple[str, ...], bool]] = []
    get = RedmineConnector._get

    def recorded(self, path, params):
        if path == "/time_entries.json":
            projects = tuple(v for k, v in params if k == "v[project_id][]")
            asked.append((dict(params)["offset"], projects, ("f[]", "spent_on") in params))
        return get(self, path, params)

    monkeypatch.setattr(RedmineConnector, "_get", recorded)
    return asked


def _log(studio: Studio, user, project, count: int) -> dict[int, Decimal]:
    issue = studio.redmine.create_issue(project, "September's work")
    logged = {}
    for day in range(1, count + 1):
        entry = studio.redmine.log_time(
            day / 4, issue_id=issue["id"], user_id=user.id, spent_on=f"2026-09-0{day}"
        )
        logged[entry["id"]] = Decimal(day) / 4
    return logged


def _stored_entries(studio: Studio) -> dict[int, Decimal]:
    store = studio.store()
    try:
        return {r["id"]: Decimal(r["hours"]) for r in store._all("SELECT * FROM time_entries")}
    finally:
        store.close()


def test_a_long_re_read_asks_project_by_project(
    studio: Studio, redmine_user, two_projects, monkeypatch
):
    """Redmine scans all the entries of the projects asked for on every page: a window that
    holds two pages a project is read one project at a time; a short one in one list."""
    asked = _record_entry_requests(monkeypatch)
    logged = _log(studio, redmine_user, studio.project, 5) | _log(
        studio, redmine_user, two_projects, 4
    )
    both = (str(studio.project.id), str(two_projects.id))

    code, out = studio.syncd("backfill", "--since", "2026-09-01")

    assert code == 0, out
    assert _stored_entries(studio) == logged
    september = [(offset, ids) for offset, ids, period in asked if period][:6]
    assert (
        september
        == [
            (0, both),  # 9 entries: two pages of two for each of the two projects
            (0, both[:1]),
            (2, both[:1]),
            (4, both[:1]),
            (0, both[1:]),
            (2, both[1:]),
        ]
    )
    # The months since hold nothing: one request each, for both projects at once.
    assert {(offset, ids) for offset, ids, period in asked[6:] if period} == {(0, both)}

    studio.redmine.delete_time_entry(next(iter(logged)))  # 8 entries: still by project
    del asked[:]
    assert studio.syncd("backfill", "--since", "2026-09-01")[0] == 0
    assert len(_stored_entries(studio)) == 8
    assert [ids for _, ids, period in asked if period][:2] == [both, both[:1]]


def test_a_page_that_fails_fails_the_re_read_and_deletes_nothing(
    studio: Studio, redmine_user, two_projects, monkeypatch, capsys
):
    _record_entry_requests(monkeypatch)
    logged = _log(studio, redmine_user, studio.project, 5) | _log(
        studio, redmine_user, two_projects, 4
    )
    assert studio.syncd("backfill", "--since", "2026-09-01")[0] == 0
    gone = next(iter(logged))
    studio.redmine.delete_time_entry(gone)
    get = RedmineConnector._get

    def failing(self, path, params):
        if ("offset", 2) in params and ("v[project_id][]", str(two_projects.id)) in params:
            raise ConnectorError("Redmine: server error (500)", retryable=True, status=500)
        return get(self, path, params)

    monkeypatch.setattr(RedmineConnector, "_get", failing)
    capsys.readouterr()
    code, out = studio.syncd("backfill", "--since", "2026-09-01")
    assert code == 69, out
    assert capsys.readouterr().err.splitlines()[-1] == (
        "syncd: Redmine: server error (500); nothing was lost, run the command again"
    )
    assert _stored_entries(studio) == logged  # read half way: nothing deleted

    monkeypatch.setattr(RedmineConnector, "_get", get)
    assert studio.syncd("backfill", "--since", "2026-09-01")[0] == 0
    assert _stored_entries(studio) == {k: v for k, v in logged.items() if k != gone}


def test_hours_owed_survive_a_death_before_the_push(studio: Studio, redmine_user, monkeypatch):
    ticket = studio.ticket("Hours after a crash")
    studio.sync()
    issue_id = studio.issue_for(ticket)[0]["id"]
    studio.redmine.log_time(3.5, issue_id=issue_id, user_id=redmine_user.id)
    from syncd.engine import Engine

    def killed(self):
        raise SystemExit("killed after the time entries were stored")

    monkeypatch.setattr(Engine, "push_hours", killed)
    studio.emu.advance(61)
    with pytest.raises(SystemExit):
        studio.syncd("sync")
    monkeypatch.undo()
    assert studio.field(ticket, studio.hours_field) is None

    studio.sync()  # the entry is already stored: nothing new arrives, the flag remains
    assert str(studio.field(ticket, studio.hours_field)) == "3.50"


def test_sync_collects_the_conversation_for_the_sla_report(studio: Studio):
    ticket = studio.ticket("Measure me")
    studio.sync()  # our "in work" reply: a public agent comment, and the status change
    studio.emu.add_comment(ticket, "Thanks, waiting", True, studio.requester_id)
    studio.sync()
    studio.sync()  # the events' own one-minute lag

    store = studio.store()
    events = store.events_for(ticket)
    comments = [(e["public"], e["author_id"]) for e in events if e["kind"] == "comment"]
    agent = studio.emu.admin_user_id
    assert comments == [(1, studio.requester_id), (0, agent), (1, agent), (1, studio.requester_id)]
    statuses = [(e["previous"], e["value"]) for e in events if e["kind"] == "status"]
    assert statuses[0] == (None, "new") and ("new", "open") in statuses
    users = {r["id"]: (r["role"], r["name"]) for r in store._all("SELECT * FROM users")}
    assert users[studio.requester_id] == ("end-user", "Ivan Client")
    assert users[agent][0] == "admin" and users[agent][1]
    before = store.count("ticket_events")
    store.close()
    studio.sync()  # the boundary second comes back: nothing is stored twice
    store = studio.store()
    assert store.count("ticket_events") == before
    store.close()


def test_a_status_the_issue_comes_back_to_within_the_same_second_is_relayed_again(
    studio: Studio,
):
    """updated_on has whole seconds: In Progress → Feedback → In Progress within one second
    (fast cycles between them) derived the key of the first note, already done, and the third
    change was never told (full-size faults suite, the issue feed answering 500)."""
    rm = studio.redmine
    ticket = studio.ticket("Back and forth")
    studio.sync()
    [issue] = studio.issue_for(ticket)
    rm.update_issue(issue["id"], status_id=rm.statuses["In Progress"])
    updated_on = rm.issue(issue["id"])["updated_on"].replace("Z", "+00:00")
    # The history within that second: In Progress told (its note done), then Feedback told.
    store = studio.store()
    with store.atomic():
        key = f"status_note:{issue['id']}:{updated_on}:In Progress"
        store.begin_effect(key, "status_note", ticket_id=ticket, issue_id=issue["id"], detail={})
        store.finish_effect(key)
        store.update_link(ticket, issue_status="Feedback")
    store.close()

    studio.sync()

    notes = [c["body"] for c in studio.comments(ticket, public=False)]
    assert sum('"Feedback" → "In Progress"' in n for n in notes) == 1, notes
    store = studio.store()
    assert store.link_by_ticket(ticket)["issue_status"] == "In Progress"
    store.close()
