"""Billing reports through the CLI, against the real Redmine: the period is re-read before it
is billed, a closed month stays as sent, and the daemon writes last month's reports once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from studio import Studio

from reports.months import month_of, previous_month
from syncd.config import load_config
from syncd.reporting import monthly_reports_if_due

pytestmark = pytest.mark.redmine

PLAN = """
[plans.standard]
kind = "hourly"
rate = "2500.00"
currency = "RUB"
rounding_increment = "0.25"

[billing]
output_dir = "reports"
"""


def _billing_studio(studio: Studio) -> Studio:
    studio.write_config(client_toml='plan = "standard"', extra_toml=PLAN)
    return studio


def _report(studio: Studio, month: str, *args: str) -> dict:
    out_dir = studio.tmp / "out" / month
    code, out = studio.syncd("report", "billing", "--month", month, "--out", str(out_dir), *args)
    assert code == 0, out
    return json.loads((out_dir / f"billing-{month}-acme.json").read_text())


def test_report_rereads_the_month_so_deleted_entries_are_not_billed(studio, redmine_user):
    s = _billing_studio(studio)
    ticket = s.ticket("Bill me")
    s.sync()
    issue_id = s.issue_for(ticket)[0]["id"]
    today = date.today()
    kept = s.redmine.log_time(1.5, issue_id=issue_id, user_id=redmine_user.id, spent_on=today)
    gone = s.redmine.log_time(2, issue_id=issue_id, user_id=redmine_user.id, spent_on=today)
    s.sync()
    s.redmine.delete_time_entry(gone["id"])  # no sync in between: the store still has it

    doc = _report(s, month_of(today))

    [client] = doc["clients"]
    assert client["hours"] == "1.50" and client["amount"] == "3750.00"
    [line] = client["lines"]
    assert (line["ticket_id"], line["issue_id"]) == (ticket, issue_id)
    assert [e["entry_id"] for e in line["entries"]] == [kept["id"]]
    # --no-refresh bills from the store as it is (here: already re-read, so the same).
    assert _report(s, month_of(today), "--no-refresh")["clients"][0]["amount"] == "3750.00"


def test_closed_month_stays_as_sent_and_late_entries_are_adjusted(studio, redmine_user, capsys):
    s = _billing_studio(studio)
    ticket = s.ticket("Old work")
    s.sync()
    issue_id = s.issue_for(ticket)[0]["id"]
    this_month = month_of(date.today())
    last_month = previous_month(this_month)
    s.redmine.log_time(1, issue_id=issue_id, user_id=redmine_user.id, spent_on=f"{last_month}-10")
    code, out = s.syncd("invoice", "close", "--month", last_month, "--dry-run")
    assert code == 0 and "would close" in out and "2500.00" in out
    code, out = s.syncd("invoice", "close", "--month", last_month)
    assert code == 0 and f"closed {last_month} for acme: 2500.00 RUB" in out, out
    code, out = s.syncd("invoice", "close", "--month", last_month)
    assert code == 78
    assert f"{last_month} is already closed for acme" in capsys.readouterr().err

    late = s.redmine.log_time(
        0.5,
        issue_id=issue_id,
        user_id=redmine_user.id,
        spent_on=f"{last_month}-20",
        comments="forgot this",
    )
    closed = _report(s, last_month)["clients"][0]
    assert (closed["frozen"], closed["amount"]) == (True, "2500.00")
    current = _report(s, this_month)["clients"][0]
    [adj] = current["adjustments"]
    assert (adj["month"], adj["hours"], adj["amount"]) == (last_month, "0.50", "1250.00")
    assert f"entry #{late['id']}" in adj["reason"]
    assert Decimal(current["amount"]) == Decimal("1250.00")


def test_the_daemon_writes_last_months_reports_once(studio, redmine_user):
    s = _billing_studio(studio)
    ticket = s.ticket("Monthly")
    s.sync()
    issue_id = s.issue_for(ticket)[0]["id"]
    this_month = month_of(date.today())
    last_month = previous_month(this_month)
    s.redmine.log_time(3, issue_id=issue_id, user_id=redmine_user.id, spent_on=f"{last_month}-05")
    config = load_config(s.config_path)
    first = datetime.fromisoformat(f"{this_month}-01T05:59:00").replace(tzinfo=UTC)
    assert monthly_reports_if_due(config, now=lambda: first) is None  # before 06:00

    at_six = first.replace(hour=6, minute=0)
    out = monthly_reports_if_due(config, now=lambda: at_six)
    assert out == s.tmp / "reports" / last_month
    doc = json.loads((out / f"billing-{last_month}-acme.json").read_text())
    assert doc["clients"][0]["amount"] == "7500.00"
    assert monthly_reports_if_due(config, now=lambda: at_six.replace(hour=9)) is None


def test_monthly_reports_are_mailed_once_to_the_manager_and_the_client(studio, redmine_user, serve):
    server = serve()
    s = studio
    s.write_config(
        client_toml='plan = "standard"\nemail = "ap@acme.example"',
        extra_toml=PLAN
        + f"""
[mail]
host = "127.0.0.1"
port = {server.port}
starttls = false
sender = "Studio <billing@studio.example>"
manager = ["boss@studio.example"]
""",
    )
    ticket = s.ticket("Mail me")
    s.sync()
    issue_id = s.issue_for(ticket)[0]["id"]
    last_month = previous_month(month_of(date.today()))
    s.redmine.log_time(2, issue_id=issue_id, user_id=redmine_user.id, spent_on=f"{last_month}-03")
    config = load_config(s.config_path)
    first = datetime.fromisoformat(f"{month_of(date.today())}-01T07:00:00").replace(tzinfo=UTC)

    assert monthly_reports_if_due(config, now=lambda: first) is not None

    boss, client = server.handler.to("boss@studio.example"), server.handler.to("ap@acme.example")
    assert len(boss) == 1 and len(client) == 1
    assert set(client[0].attachments()) == {
        f"billing-{last_month}-acme.{ext}" for ext in ("html", "csv", "xlsx", "json")
    } | {f"billing-{last_month}-acme-entries.csv"} | {
        f"sla-{last_month}-acme.{ext}" for ext in ("html", "json")
    }
    assert f"billing-{last_month}-summary.html" in boss[0].attachments()
    # The mark and the mail journal: a restarted daemon neither rewrites nor re-mails.
    store = s.store()
    store.db.execute("DELETE FROM meta WHERE key LIKE 'billing_reported:%'")
    store.close()
    monthly_reports_if_due(config, now=lambda: first)
    assert len(server.received) == 2


def test_sla_report_from_what_the_sync_collected(studio):
    s = _billing_studio(studio)
    s.write_config(
        extra_toml=PLAN
        + """
[plans.standard.sla]
first_reply_minutes = 180
resolution_minutes = 4320
ack_cutoff = "12:00"

[calendar]
timezone = "UTC"
hours = "00:00-24:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
holidays = "none"
"""
    )
    ticket = s.ticket("Measure me")
    s.sync()  # our "in work" reply is the first public agent reply
    s.sync()  # ... and its events pass the export's one-minute lag
    month = month_of(date.today())
    out_dir = s.tmp / "sla"
    code, out = s.syncd("report", "sla", "--month", month, "--out", str(out_dir))
    assert code == 0, out
    assert "1 opened" in out
    doc = json.loads((out_dir / f"sla-{month}.json").read_text())
    [row] = doc["tickets"]
    assert (row["ticket_id"], row["client"]) == (ticket, "acme")
    # The emulator's clock runs ahead (61 s per cycle): the reply came a minute or so later.
    assert 0 <= row["first_reply_business_minutes"] <= 3
    assert row["first_reply_met"] is True and row["ack_met"] is True
    assert row["messages"] == 2 and row["ping_pong"] is False
    # Zendesk's own figure, side-loaded with the export, beside the computed one.
    assert isinstance(row["zendesk_first_reply_minutes"], int)
    [client] = doc["clients"]
    assert (client["client"], client["opened"], client["first_reply_met_pct"]) == (
        "acme",
        1,
        "100.0",
    )
