"""A failing side never looks like "everything was deleted"; one bad item never stops a cycle."""

from __future__ import annotations

import pytest

from syncd.engine import ZENDESK_CURSOR
from syncd.hours import REREAD_CURSOR

pytestmark = pytest.mark.redmine


def test_zendesk_down_for_a_cycle_keeps_the_cursor_and_the_rest_goes_on(studio, redmine_user):
    ticket = studio.ticket("Before the outage")
    studio.sync()
    issue_id = studio.issue_for(ticket)[0]["id"]
    store = studio.store()
    cursor_before = store.cursor(ZENDESK_CURSOR)
    store.close()

    later = studio.ticket("During the outage")
    studio.redmine.log_time(2, issue_id=issue_id, user_id=redmine_user.id)
    studio.emu.inject_fault(
        match="incremental",
        status=503,
        times=None,
        body="<html><body>503 Service Unavailable</body></html>",
        content_type="text/html",
    )
    studio.emu.advance(61)
    code, out = studio.syncd("sync")

    assert code == 1, out  # partial: the cycle says something failed
    store = studio.store()
    assert store.cursor(ZENDESK_CURSOR) == cursor_before
    assert [c["status"] for c in store.recent_cycles(1)] == ["partial"]
    # Redmine's side still ran: the time entry is stored.
    assert store.hours_for_issues([issue_id]) == 2
    store.close()
    assert studio.issue_for(later) == []

    studio.emu.clear_faults()
    studio.sync()
    assert len(studio.issue_for(later)) == 1
    assert str(studio.field(ticket, studio.hours_field)) == "2.00"


def test_redmine_unreachable_deletes_nothing(studio, redmine_user):
    ticket = studio.ticket("Keep my hours")
    studio.sync()
    issue_id = studio.issue_for(ticket)[0]["id"]
    studio.redmine.log_time(1.25, issue_id=issue_id, user_id=redmine_user.id)
    studio.sync()
    store = studio.store()
    store.set_cursor(REREAD_CURSOR, "2000-01-01T00:00:00+00:00")  # a full re-read is due
    store.close()

    good = studio.config_path.read_text()
    studio.config_path.write_text(good.replace(studio.redmine.url, "http://127.0.0.1:9"))
    studio.emu.advance(61)
    code, out = studio.syncd("sync")
    assert code == 1, out

    store = studio.store()
    assert store.hours_for_issues([issue_id]) == 1.25
    assert store.link_by_ticket(ticket) is not None
    store.close()
    assert str(studio.field(ticket, studio.hours_field)) == "1.25"


def test_a_rate_limited_export_is_waited_for_not_failed(studio):
    ticket = studio.ticket("Slow down")
    studio.emu.inject_fault(match="incremental", status=429, retry_after=1, times=1)
    studio.sync()
    assert len(studio.issue_for(ticket)) == 1
    exports = [r for r in studio.emu.requests() if "incremental" in r["path"]]
    assert [r["status"] for r in exports][:2] == [429, 200]


def test_one_bad_ticket_is_recorded_and_retried_while_the_others_go_on(studio):
    bad = studio.ticket("Will fail")
    good = studio.ticket("Will pass")
    # Every update of the bad ticket fails for now (a 422 the API gives, e.g. a locked ticket).
    studio.emu.inject_fault(
        match=f"PUT /api/v2/tickets/{bad}\\b",
        status=422,
        times=None,
        body='{"error": "RecordInvalid", "description": "locked"}',
    )
    studio.emu.advance(61)
    code, out = studio.syncd("sync")
    assert code == 1, out
    assert len(studio.comments(good, public=False)) == 1
    store = studio.store()
    failures = store.failures()
    assert [f["item"] for f in failures] == [f"ticket:{bad}"]
    assert "422" in failures[0]["reason"]
    # Not retried blindly: the next cycle leaves it alone until its time comes.
    studio.emu.clear_faults()
    store.db.execute("UPDATE failures SET next_at = '2000-01-01T00:00:00+00:00'")
    store.close()
    studio.sync()
    assert len(studio.issue_for(bad)) == 1
    assert len(studio.comments(bad, public=False)) == 1
    assert len([c for c in studio.comments(bad, public=True) if "in work" in c["body"]]) == 1
    store = studio.store()
    assert store.failures() == []
    store.close()
