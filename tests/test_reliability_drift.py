"""Changes behind syncd's back (issue 5): people edit, move, merge and delete things in Zendesk
and Redmine between two cycles. Each case has one defined outcome — reconciled, or kept and
reported — and never a crash, an endless failing write, a vanished link, a duplicated issue or
an hour billed silently. The rules are in syncd/drift.py; the real Redmine and the Zendesk
emulator play the people."""

from __future__ import annotations

import json
import secrets
import warnings
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests
from reliability import figure
from studio import AGENT_EMAIL, ZENDESK_TOKEN, Studio

from reports.months import month_of, previous_month
from syncd.drift import LINKS_CURSOR
from syncd.hours import REREAD_CURSOR

pytestmark = [pytest.mark.reliability, pytest.mark.redmine]

PLAN = """
[plans.standard]
kind = "hourly"
rate = "2500.00"
currency = "RUB"
rounding_increment = "0.25"

[billing]
output_dir = "reports"
"""
LONG_AGO = "2000-01-01T00:00:00+00:00"


# ---------------------------------------------------------------------- helpers
def _billing(studio: Studio, extra: str = "") -> Studio:
    studio.write_config(client_toml='plan = "standard"', extra_toml=extra + PLAN)
    return studio


def _due(studio: Studio) -> None:
    """The periodic time-entry re-read and link check are due (they run hourly)."""
    store = studio.store()
    store.set_cursor(REREAD_CURSOR, LONG_AGO)
    store.set_cursor(LINKS_CURSOR, LONG_AGO)
    store.close()


def _sync(studio: Studio) -> tuple[int, str]:
    studio.emu.advance(61)
    return studio.syncd("sync")


def _events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = []
    for line in capsys.readouterr().err.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _store_rows(studio: Studio, what: str) -> list[dict[str, Any]]:
    store = studio.store()
    try:
        return {
            "drift": store.drifts,
            "failures": store.failures,
            "pending": store.pending_effects,
            "links": store.links,
        }[what]()
    finally:
        store.close()


def _drift(studio: Studio) -> dict[str, dict[str, Any]]:
    """kind:ticket -> row."""
    return {f"{r['kind']}:{r['ticket_id']}": r for r in _store_rows(studio, "drift")}


def _private_notes(studio: Studio, issue_id: int) -> list[str]:
    issue = studio.redmine.issue(issue_id, include="journals")
    return [j["notes"] for j in issue["journals"] if j.get("private_notes") and j.get("notes")]


def _hours(studio: Studio, ticket: int) -> str | None:
    value = studio.field(ticket, studio.hours_field)
    return None if value is None else str(value)


def _zendesk(studio: Studio, method: str, path: str, **kw: Any) -> requests.Response:
    """The Zendesk API as an agent's own script would call it."""
    return requests.request(
        method,
        f"{studio.emu.url}/api/v2/{path}",
        auth=(f"{AGENT_EMAIL}/token", ZENDESK_TOKEN),
        timeout=10,
        **kw,
    )


def _edit_entry(studio: Studio, entry_id: int, **fields: Any) -> None:
    studio.redmine.rest(
        "PUT", f"/time_entries/{entry_id}.json", json={"time_entry": fields}, expect=(200, 204)
    )


def _report(studio: Studio, month: str, client: str = "acme") -> dict[str, Any]:
    out_dir = studio.tmp / "out" / month
    code, out = studio.syncd(
        "report", "billing", "--month", month, "--out", str(out_dir), "--format", "json"
    )
    assert code == 0, out
    return json.loads((out_dir / f"billing-{month}-{client}.json").read_text())


def _lines(invoice: dict[str, Any]) -> dict[int | None, dict[str, Any]]:
    return {line["ticket_id"]: line for line in invoice["lines"]}


def _zd_writes(studio: Studio) -> list[str]:
    return [
        f"{r['method']} {r['path']}"
        for r in studio.emu.requests()
        if r["method"] in ("PUT", "POST", "DELETE")
    ]


# ---------------------------------------------------------------------- the emulator's part
def test_emulator_merges_deletes_and_spams_as_zendesk_documents(studio: Studio):
    source, target = studio.ticket("Twice"), studio.ticket("Once", tags=())
    answer = _zendesk(studio, "POST", f"tickets/{target}/merge.json", json={"ids": [source]}).json()
    assert answer["job_status"]["status"] == "completed"
    merged = studio.zd(source)
    assert merged["status"] == "closed" and "closed_by_merge" in merged["tags"]
    assert f"merged into request #{target}" in studio.comments(source)[-1]["body"]
    assert f"Request #{source}" in studio.comments(target)[-1]["body"]
    again = _zendesk(studio, "POST", f"tickets/{target}/merge.json", json={"ids": [source]})
    assert again.status_code == 422  # a closed ticket can't be merged

    spam = studio.ticket("Cheap pills")
    assert _zendesk(studio, "PUT", f"tickets/{spam}/mark_as_spam.json").status_code == 200
    assert _zendesk(studio, "GET", f"tickets/{spam}.json").status_code == 404
    user = _zendesk(studio, "GET", f"users/{studio.requester_id}.json").json()["user"]
    assert user["suspended"] is True
    studio.emu.advance(61)
    exported = _zendesk(
        studio, "GET", "incremental/tickets/cursor.json", params={"start_time": 0}
    ).json()["tickets"]
    assert {t["id"]: t["status"] for t in exported}[spam] == "deleted"


# ---------------------------------------------------------------------- 1. time entries
def test_time_entries_edited_or_moved_follow_and_a_closed_month_gets_adjustments(
    studio: Studio, redmine_user
):
    s = _billing(studio)
    a, b = s.ticket("Edit my hours"), s.ticket("Take the moved hours")
    s.sync()
    ia, ib = s.issue_for(a)[0]["id"], s.issue_for(b)[0]["id"]
    this = month_of(date.today())
    last = previous_month(this)
    uid = redmine_user.id
    e1 = s.redmine.log_time(2, issue_id=ia, user_id=uid, spent_on=date.today())
    e2 = s.redmine.log_time(1, issue_id=ia, user_id=uid, spent_on=date.today())
    e3 = s.redmine.log_time(1, issue_id=ia, user_id=uid, spent_on=f"{last}-10")
    e4 = s.redmine.log_time(0.5, issue_id=ib, user_id=uid, spent_on=f"{last}-11")
    s.sync()
    assert (_hours(s, a), _hours(s, b)) == ("4.00", "0.50")
    code, out = s.syncd("invoice", "close", "--month", last)
    assert code == 0 and f"closed {last} for acme: 3750.00 RUB" in out, out

    # Behind syncd's back: hours edited, entries moved between issues, in both months.
    _edit_entry(s, e1["id"], hours=3.5)
    _edit_entry(s, e2["id"], issue_id=ib)
    _edit_entry(s, e3["id"], hours=1.5)
    _edit_entry(s, e4["id"], issue_id=ia)
    s.sync()
    # Redmine can't list edits, but the newest page the feed reads each cycle holds these
    # (older ones wait for the periodic re-read): both tickets' hours follow at once.
    assert (_hours(s, a), _hours(s, b)) == ("5.50", "1.00")
    store = s.store()
    stored = {r["id"]: r for r in store._all("SELECT id, issue_id, hours FROM time_entries")}
    store.close()
    assert (stored[e1["id"]]["hours"], stored[e2["id"]]["issue_id"]) == ("3.50", ib)

    closed = _report(s, last)["clients"][0]
    assert (closed["frozen"], closed["amount"]) == (True, "3750.00")  # as sent, unchanged
    current = _report(s, this)["clients"][0]
    adjustments = {(x["ticket_id"], x["month"]): x for x in current["adjustments"]}
    assert set(adjustments) == {(a, last), (b, last)}
    up, down = adjustments[(a, last)], adjustments[(b, last)]
    assert (up["hours"], up["amount"]) == ("1.00", "2500.00")
    assert f"entry #{e3['id']} edited: 1.00 h → 1.50 h" in up["reason"]
    assert f"entry #{e4['id']} (0.50 h" in up["reason"]
    assert (down["hours"], down["amount"]) == ("-0.50", "-1250.00")
    assert f"entry #{e4['id']}" in down["reason"] and "moved" in down["reason"]
    lines = _lines(current)
    assert lines[a]["hours"] == "3.50" and lines[b]["hours"] == "1.00"
    assert [e["entry_id"] for e in lines[b]["entries"]] == [e2["id"]]
    assert Decimal(current["amount"]) == Decimal("8750.00") + 2500 + 2500 - 1250
    figure(
        "drift",
        "time entries edited/moved: both tickets' hours follow next cycle; a closed month "
        "stays as sent, its changes come next month as +2500.00/-1250.00 adjustments naming "
        "the entries",
    )


# ---------------------------------------------------------------------- 2. merged, deleted, spam
def test_merged_deleted_and_spam_tickets_are_reported_never_written_to_and_billed_flagged(
    studio: Studio, redmine_user, capsys
):
    s = _billing(studio)
    spammer = s.emu.create_user("Spam Bot", "bot@acme.example", organization_id=s.org_id)["id"]
    merged, deleted = s.ticket("Duplicate request"), s.ticket("Withdrawn request")
    spam = s.emu.create_ticket(
        subject="Cheap pills",
        comment={"body": "buy now", "author_id": spammer},
        requester_id=spammer,
        organization_id=s.org_id,
        tags=["redmine"],
    )["id"]
    target = s.ticket("The real request", tags=())
    s.sync()
    issue = {t: s.issue_for(t)[0]["id"] for t in (merged, deleted, spam)}
    for t in issue:
        s.redmine.log_time(1, issue_id=issue[t], user_id=redmine_user.id, spent_on=date.today())
    # The hours push to `deleted` fails once (Zendesk 503): a failure waits for its retry.
    s.emu.inject_fault(match=f"PUT /api/v2/tickets/{deleted}", status=503)
    code, out = _sync(s)
    assert code == 1 and [f["item"] for f in _store_rows(s, "failures")] == [f"hours:{deleted}"]

    # Behind syncd's back, in Zendesk ...
    _zendesk(s, "POST", f"tickets/{target}/merge.json", json={"ids": [merged]}).raise_for_status()
    _zendesk(s, "DELETE", f"tickets/{deleted}.json").raise_for_status()
    _zendesk(s, "PUT", f"tickets/{spam}/mark_as_spam.json").raise_for_status()
    comments_after_merge = len(s.comments(merged))
    # ... while Redmine moves on: syncd will want to write to two of the gone tickets.
    statuses = s.redmine.statuses
    s.redmine.update_issue(issue[merged], status_id=statuses["In Progress"])
    s.redmine.update_issue(issue[spam], status_id=statuses["Resolved"])
    store = s.store()
    store.db.execute("UPDATE failures SET next_at = ?", [LONG_AGO])  # the retry is due
    store.close()
    capsys.readouterr()

    code, out = _sync(s)

    assert code == 0, out
    assert _store_rows(s, "failures") == [] and _store_rows(s, "pending") == []
    drift = _drift(s)
    assert drift[f"ticket_merged:{merged}"]["data"] == json.dumps({"target": target})
    assert f"ticket_deleted:{deleted}" in drift and f"ticket_spam:{spam}" in drift
    assert {e["event"] for e in _events(capsys)} >= {
        "ticket_merged",
        "ticket_deleted",
        "ticket_spam",
    }
    [note] = _private_notes(s, issue[merged])
    assert f"Zendesk #{merged} was merged into Zendesk #{target}" in note
    assert "deleted in Zendesk" in _private_notes(s, issue[deleted])[0]
    assert "marked as spam" in _private_notes(s, issue[spam])[0]
    assert len(s.comments(merged)) == comments_after_merge  # nothing written to it
    links = {x["ticket_id"]: x["issue_id"] for x in _store_rows(s, "links")}
    assert {t: links[t] for t in issue} == issue  # every link kept
    assert len(s.issues()) == 3  # and nothing created for the target or anyone else

    # Quiet from now on: no note twice, no write to any of them, no failure.
    s.emu.clear_requests()
    _due(s)
    code, out = _sync(s)
    assert code == 0, out
    assert _zd_writes(s) == []
    assert len(_private_notes(s, issue[merged])) == 1
    code, out = s.syncd("status")
    assert "changed behind syncd's back" in out and f"ticket #{merged} merged into #{target}" in out
    assert "unassigned tickets (tagged, but no configured client): none" in out

    # Billed from Redmine's hours, never silently: each line says what happened.
    lines = _lines(_report(s, month_of(date.today()))["clients"][0])
    assert {t: lines[t]["amount"] for t in issue} == dict.fromkeys(issue, "2500.00")
    assert f"merged into #{target}" in lines[merged]["note"]
    assert "ticket was deleted" in lines[deleted]["note"]
    assert "deleted as spam" in lines[spam]["note"]
    figure(
        "drift",
        "ticket merged/deleted/spam: link kept, 0 failures, 0 writes to them, a private note "
        "each (merge names the target), invoice lines billed and flagged",
    )


def test_a_failure_waiting_for_retry_ends_when_its_ticket_or_issue_is_deleted(
    studio: Studio, capsys
):
    """Zendesk refuses two writes (403): a ticket and an issue wait for their daily retry.
    Then the ticket is deleted in Zendesk and the issue in Redmine. Their retries answer 404
    for good: that is the news, recorded and reported, and the failures end there."""
    s = studio
    relayed, refused = s.ticket("Status goes nowhere"), s.ticket("Link note refused")
    s.emu.inject_fault(match=f"PUT /api/v2/tickets/{refused}", status=403, times=None)
    code, out = _sync(s)
    assert code == 1 and [f["item"] for f in _store_rows(s, "failures")] == [f"ticket:{refused}"]
    [issue] = s.issue_for(relayed)
    s.redmine.update_issue(issue["id"], status_id=s.redmine.statuses["In Progress"])
    s.emu.inject_fault(match=f"PUT /api/v2/tickets/{relayed}", status=403)
    code, out = _sync(s)
    assert code == 1
    assert {f["item"] for f in _store_rows(s, "failures")} == {
        f"issue:{issue['id']}",
        f"ticket:{refused}",
    }
    s.emu.clear_faults()
    s.redmine.rest("DELETE", f"/issues/{issue['id']}.json", expect=(200, 204))
    _zendesk(s, "DELETE", f"tickets/{refused}.json").raise_for_status()
    store = s.store()
    store.db.execute("UPDATE failures SET next_at = ?", [LONG_AGO])  # both retries are due
    store.close()
    capsys.readouterr()

    code, out = _sync(s)

    assert code == 0, out
    assert _store_rows(s, "failures") == []
    drift = _drift(s)
    assert f"issue_deleted:{relayed}" in drift and f"ticket_deleted:{refused}" in drift
    assert {"issue_deleted", "ticket_vanished"} <= {e["event"] for e in _events(capsys)}
    [refused_issue] = s.issue_for(refused)
    assert "deleted in Zendesk" in _private_notes(s, refused_issue["id"])[0]
    figure(
        "drift", "failure waiting for retry, then its ticket/issue deleted: retry ends, reported"
    )


# ---------------------------------------------------------------------- 3. issues moved/deleted
def test_issue_moved_deleted_or_its_field_edited_keeps_one_link_and_reports_it(
    studio: Studio, redmine_env, redmine_user, capsys
):
    internal = redmine_env.create_project(name="studio internal")
    beta = redmine_env.create_project(name="beta client")
    try:
        _issue_cases(studio, internal, beta, redmine_user, capsys)
    finally:
        for project in (internal, beta):
            redmine_env.delete_project(project)


def _issue_cases(s: Studio, internal, beta, redmine_user, capsys) -> None:
    _billing(
        s,
        f"""
[[clients]]
id = "beta"
name = "Beta"
zendesk_organization_id = {s.other_org_id}
redmine_projects = ["{beta}"]
plan = "standard"
""",
    )
    names = ("moved out", "moved to beta", "deleted", "field cleared", "field changed")
    tickets = {n: s.ticket(f"Issue {n}") for n in names}
    s.sync()
    issue = {n: s.issue_for(t)[0]["id"] for n, t in tickets.items()}
    s.redmine.log_time(
        1, issue_id=issue["moved to beta"], user_id=redmine_user.id, spent_on=date.today()
    )
    # Done and solved, so the client's answer below asks syncd to reopen a deleted issue.
    s.redmine.update_issue(issue["deleted"], status_id=s.redmine.statuses["Resolved"])
    s.sync()
    fid = s.redmine.ticket_field_id

    # Behind syncd's back, in Redmine ...
    s.redmine.update_issue(issue["moved out"], project_id=internal.id)
    s.redmine.update_issue(issue["moved to beta"], project_id=beta.id)
    s.redmine.rest("DELETE", f"/issues/{issue['deleted']}.json", expect=(200, 204))
    s.redmine.update_issue(issue["field cleared"], custom_fields=[{"id": fid, "value": ""}])
    s.redmine.update_issue(issue["field changed"], custom_fields=[{"id": fid, "value": "99999"}])
    # ... and every client writes again, so every ticket comes back through the export.
    for t in tickets.values():
        s.emu.add_comment(t, "Any news?", True, s.requester_id)
    _due(s)
    # A dry run shows what the cycle will do about it, and does none of it.
    s.emu.advance(61)
    code, out = s.syncd("sync", "--dry-run")
    assert code == 0, out
    assert f"would set the ticket field of issue #{issue['field cleared']} back" in out
    assert f"would add a private note to issue #{issue['moved out']}" in out
    assert _private_notes(s, issue["moved out"]) == [] and _store_rows(s, "drift") == []
    capsys.readouterr()

    code, out = _sync(s)

    assert code == 0, out
    assert _store_rows(s, "failures") == []
    links = {x["ticket_id"]: x["issue_id"] for x in _store_rows(s, "links")}
    assert {n: links[t] for n, t in tickets.items()} == issue  # no link vanished
    everywhere = [
        i["id"]
        for p in (s.project, internal, beta)
        for i in s.redmine.issues(project_id=p.id, status_id="*", limit=100)
    ]
    assert sorted(everywhere) == sorted(i for n, i in issue.items() if n != "deleted")
    drift = _drift(s)
    t = tickets
    assert drift[f"issue_moved_out:{t['moved out']}"]["detail"].endswith("outside acme")
    assert f"issue_moved_client:{t['moved to beta']}" in drift
    assert f"issue_deleted:{t['deleted']}" in drift
    assert f"ticket_field_differs:{t['field changed']}" in drift
    events = {e["event"] for e in _events(capsys)}
    assert events >= {"issue_moved_out", "issue_moved_client", "issue_deleted"}
    assert events >= {"ticket_field_cleared", "ticket_field_differs"}
    assert str(internal) in _private_notes(s, issue["moved out"])[0]
    assert f"to project {beta}" in _private_notes(s, issue["moved to beta"])[0]
    # The cleared field is the proof of the link: set back, with a note saying why.
    restored = s.redmine.issue(issue["field cleared"])
    assert {c["id"]: c["value"] for c in restored["custom_fields"]}[fid] == str(t["field cleared"])
    assert "set the Zendesk ticket field back" in _private_notes(s, issue["field cleared"])[0]
    # A field naming another ticket was a person's decision: reported, not overwritten.
    changed = s.redmine.issue(issue["field changed"])
    assert {c["id"]: c["value"] for c in changed["custom_fields"]}[fid] == "99999"
    assert _private_notes(s, issue["field changed"]) == []
    # The deleted issue's ticket: agents are told; the client's answer reopens nothing.
    notes = [c["body"] for c in s.comments(t["deleted"], public=False)]
    assert any(f"issue #{issue['deleted']} was deleted" in n for n in notes)
    assert s.zd(t["deleted"])["status"] == "open"

    # Idempotent: a second due check adds nothing anywhere.
    s.emu.clear_requests()
    _due(s)
    code, out = _sync(s)
    assert code == 0, out
    assert _zd_writes(s) == []
    assert len(_private_notes(s, issue["moved out"])) == 1
    assert len(_private_notes(s, issue["field cleared"])) == 1
    code, out = s.syncd("status")
    assert f"issue #{issue['deleted']} deleted in Redmine" in out

    # Billing follows the Redmine project: the moved hours are beta's now, not acme's.
    month = month_of(date.today())
    beta_lines = _lines(_report(s, month, "beta")["clients"][0])
    assert beta_lines[t["moved to beta"]]["hours"] == "1.00"
    acme = json.loads((s.tmp / "out" / month / f"billing-{month}-acme.json").read_text())
    assert t["moved to beta"] not in _lines(acme["clients"][0])
    figure(
        "drift",
        "issue moved out/to another client, deleted, field cleared/changed: 5 links kept, "
        "0 duplicates, cleared field set back, hours billed with the new project",
    )


def test_a_cleared_field_and_a_lost_state_still_make_no_second_issue(studio: Studio):
    s = studio
    ticket = s.ticket("Clear my field, lose the state")
    s.sync()
    [issue] = s.issue_for(ticket)
    fid = s.redmine.ticket_field_id
    s.redmine.update_issue(issue["id"], custom_fields=[{"id": fid, "value": ""}])
    for suffix in ("", "-wal", "-shm"):
        s.state_path.with_name(s.state_path.name + suffix).unlink(missing_ok=True)
    s.emu.add_comment(ticket, "Hello?", True, s.requester_id)

    s.sync()

    assert [i["id"] for i in s.issues()] == [issue["id"]]  # adopted by its text, not recreated
    [link] = _store_rows(s, "links")
    assert (link["ticket_id"], link["issue_id"]) == (ticket, issue["id"])
    assert link["origin"] == "adopted:text"
    figure("drift", "cleared field + lost state: adopted again by its text, 1 issue, 0 created")


# ---------------------------------------------------------------------- 4. the field itself
def test_ticket_field_deleted_or_disabled_is_a_config_error_and_creates_nothing(
    studio: Studio, redmine_env, capsys
):
    if not redmine_env.can_run_ruby:
        pytest.skip("needs root to run Ruby inside Redmine")
    name = f"Zendesk ticket (drift {secrets.token_hex(3)})"
    # A field of this test's own: disabled for this project and deleted, nobody else notices.
    fid = int(
        redmine_env.run_ruby(
            f"cf = IssueCustomField.create!(name: {name!r}, field_format: 'string', "
            f"is_for_all: false, is_filter: true, tracker_ids: Tracker.pluck(:id), "
            f"project_ids: [{studio.project.id}]); puts cf.id"
        ).split()[-1]
    )
    try:
        _field_cases(studio, redmine_env, fid, capsys)
    finally:
        try:  # best effort, like the fixtures' own cleanup: never hide the test's own failure
            redmine_env.run_ruby(f"IssueCustomField.where(id: {fid}).destroy_all")
        except RuntimeError as e:
            warnings.warn(f"could not delete custom field {fid}: {e}", stacklevel=1)


def _field_cases(s: Studio, redmine_env, fid: int, capsys) -> None:
    s.write_config(ticket_field_id=fid)
    first = s.ticket("Made while the field is there")
    s.sync()
    [issue] = s.issues()
    assert {c["id"]: c["value"] for c in issue["custom_fields"]}[fid] == str(first)
    code, out = s.syncd("check")
    assert f"ticket_field_id = {fid} available in project {s.project}" in out, out

    # Behind syncd's back: the field is switched off for this project.
    redmine_env.rest(
        "PUT",
        f"/projects/{s.project.id}.json",
        json={"project": {"issue_custom_field_ids": [redmine_env.ticket_field_id]}},
        expect=(200, 204),
    )
    code, out = s.syncd("check")
    assert code == 69
    assert f"FAIL  [redmine] ticket_field_id = {fid} is not available for new issues" in out
    assert f"in project {s.project}, tracker Bug" in out
    waiting = s.ticket("Arrives while the field is off")
    s.redmine.update_issue(issue["id"], notes="a person works on the old issue")
    journals_before = len(s.redmine.issue(issue["id"], include="journals")["journals"])
    capsys.readouterr()
    code, out = _sync(s)
    assert code == 1
    assert "config_errors=" in out and f"ticket_field_id = {fid} is not available" in out
    assert [i["id"] for i in s.issues()] == [issue["id"]]  # nothing created without the proof
    [failure] = _store_rows(s, "failures")
    assert failure["item"] == f"ticket:{waiting}" and "not available" in failure["reason"]
    assert "redmine_config_error" in {e["event"] for e in _events(capsys)}
    # The old issue lost the field with it: reported, never "restored" in a loop.
    _sync(s)
    assert len(s.redmine.issue(issue["id"], include="journals")["journals"]) == journals_before
    assert f"ticket_field_unavailable:{first}" in _drift(s)
    code, out = s.syncd("status")
    assert f"ticket:{waiting}:" in out and "not available" in out
    assert f"REDMINE SETUP: [redmine] ticket_field_id = {fid}" in out

    # Switched back on: the waiting ticket gets its issue at its retry.
    redmine_env.rest(
        "PUT",
        f"/projects/{s.project.id}.json",
        json={"project": {"issue_custom_field_ids": [redmine_env.ticket_field_id, fid]}},
        expect=(200, 204),
    )
    store = s.store()
    store.db.execute("UPDATE failures SET next_at = ?", [LONG_AGO])
    store.close()
    code, out = _sync(s)
    assert code == 0, out
    assert len(s.issues()) == 2 and _store_rows(s, "failures") == []

    # Deleted outright: check says so, and again nothing is created.
    redmine_env.run_ruby(f"IssueCustomField.where(id: {fid}).destroy_all")
    code, out = s.syncd("check")
    assert code == 69 and f"ticket_field_id = {fid}: no such issue custom field" in out
    s.ticket("Arrives after the field was deleted")
    code, out = _sync(s)
    assert code == 1 and f"ticket_field_id = {fid} is not available" in out
    assert len(s.issues()) == 2
    figure(
        "drift",
        "ticket field disabled for the project / deleted: check exits 69, sync exits 1 with a "
        "config error, 0 issues created without it, created at the retry once it is back",
    )


# ---------------------------------------------------------------------- 5. another organization
def test_a_ticket_moved_to_another_organization_keeps_its_issue_and_is_reported(
    studio: Studio, redmine_env, redmine_user, capsys
):
    beta = redmine_env.create_project(name="beta client")
    try:
        _organization_cases(studio, beta, redmine_user, capsys)
    finally:
        redmine_env.delete_project(beta)


def _organization_cases(s: Studio, beta, redmine_user, capsys) -> None:
    _billing(
        s,
        f"""
[[clients]]
id = "beta"
name = "Beta"
zendesk_organization_id = {s.other_org_id}
redmine_projects = ["{beta}"]
plan = "standard"
""",
    )
    ticket = s.ticket("Whose request is it?")
    s.sync()
    [issue] = s.issue_for(ticket)
    s.redmine.log_time(1, issue_id=issue["id"], user_id=redmine_user.id, spent_on=date.today())

    s.emu.update_ticket(ticket, organization_id=s.other_org_id)  # now beta's
    capsys.readouterr()
    s.sync()

    assert [i["id"] for i in s.issues()] == [issue["id"]]  # stays in acme's project
    assert s.redmine.issues(project_id=beta.id, status_id="*") == []  # nothing made for beta
    row = _drift(s)[f"ticket_client_changed:{ticket}"]
    assert json.loads(row["data"]) == {"organization_id": s.other_org_id, "client": "beta"}
    assert "ticket_client_changed" in {e["event"] for e in _events(capsys)}
    [note] = _private_notes(s, issue["id"])
    assert "now belongs to client beta" in note and "billed to acme as before" in note
    month = month_of(date.today())
    line = _lines(_report(s, month)["clients"][0])[ticket]
    assert line["amount"] == "2500.00" and "another organization" in line["note"]
    beta_doc = json.loads((s.tmp / "out" / month / f"billing-{month}-beta.json").read_text())
    assert beta_doc["clients"][0]["lines"] == []

    s.emu.update_ticket(ticket, organization_id=None)  # nobody's
    s.sync()
    assert json.loads(_drift(s)[f"ticket_client_changed:{ticket}"]["data"])["client"] is None
    _, out = s.syncd("status", "--json")  # linked: reported as drift, not as "unassigned"
    assert json.loads(out)["unassigned_tickets"] == []
    assert "no client of the studio" in _private_notes(s, issue["id"])[-1]

    s.emu.update_ticket(ticket, organization_id=s.org_id)  # back to acme
    s.sync()
    assert f"ticket_client_changed:{ticket}" not in _drift(s)
    assert len(_private_notes(s, issue["id"])) == 2
    assert [i["id"] for i in s.issues()] == [issue["id"]]
    figure(
        "drift",
        "ticket moved to another organization / none: issue stays, 0 created, a note per "
        "change, billed to acme with a flag; cleared when it comes back",
    )
