"""Monthly billing, figure by figure: every plan, every rule kind, rounding, a plan change, a
frozen month edited and trimmed afterwards, a client with no hours. The store is a real SQLite
store filled the way the sync fills it; the figures below are worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import Issue, Ticket, TimeEntry
from reports import parallel
from reports.billing import Billing, BillingError
from reports.invoices import close_month
from syncd.config import load_config
from syncd.state import Store

T0 = datetime(2026, 9, 1, tzinfo=UTC)
GENERATED = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)

CONFIG = """
[zendesk]
url = "http://127.0.0.1:1"
email = "a@b.c"
token_env = "X"
issue_field_id = 1
hours_field_id = 2

[redmine]
url = "http://127.0.0.1:2"
key_env = "Y"
ticket_field_id = 1

[sync]
language = "en"

[plans.standard]
kind = "hourly"
rate = "2500.00"
rates_by_activity = { Design = "3000.00" }
rates_by_user = { "Boris Lind" = "3500.00" }
currency = "RUB"
rounding_increment = "0.25"
minimum_charge = "1000.00"
vat_rate = "20"

[plans.nearest]
kind = "hourly"
rate = "1000.00"
currency = "EUR"
rounding_increment = "0.5"
rounding = "nearest"

[plans.premium]
kind = "tariff"
fee = "20000.00"
included_hours = "10"
overage_rate = "2000.00"
rollover_months = 1
currency = "RUB"

[plans.perreq]
kind = "per_request"
price = "5000.00"
price_field_id = 900
rate = "2000.00"
currency = "RUB"

[plans.flat]
kind = "subscription"
fee = "15000.00"
currency = "RUB"

[[billing.rules]]
name = "internal"
activity = "Internal"
billable = false

[[billing.rules]]
name = "warranty"
tracker = "Bug"
within_warranty = true
billable = false

[[billing.rules]]
name = "hosting outage"
tag = "hosting_outage"
billable = false

[[billing.rules]]
name = "marked non-billable"
entry_field_id = 7
entry_value = "0"
billable = false

[[clients]]
id = "acme"
redmine_projects = ["acme"]
plan = "standard"
launched_on = "2026-09-15"
warranty_days = 60

[[clients]]
id = "bakery"
redmine_projects = ["bakery"]
plan = "premium"

[[clients]]
id = "clinic"
redmine_projects = ["clinic"]
plan = "perreq"

[[clients]]
id = "delta"
redmine_projects = ["delta"]
plan = "flat"

[[clients]]
id = "echo"
redmine_projects = ["echo"]
plan = "nearest"
plan_changes = [{ from = "2026-10", plan = "premium" }]

[[clients]]
id = "quiet"
redmine_projects = ["quiet"]
plan = "standard"
"""


class Studio:
    def __init__(self, tmp: Path, config: str = CONFIG) -> None:
        (tmp / "syncd.toml").write_text(config, encoding="utf-8")
        self.config = load_config(tmp / "syncd.toml")
        self.store = Store(tmp / "state.db")
        self._entry = 0

    def ticket(self, ticket_id: int, subject: str, *, tags=(), fields=None) -> None:
        self.store.save_ticket(
            Ticket(
                id=ticket_id,
                subject=subject,
                description="",
                status="open",
                type=None,
                priority=None,
                tags=tuple(tags),
                organization_id=None,
                requester_id=None,
                assignee_id=None,
                created_at=T0,
                updated_at=T0,
                custom_fields=fields or {},
            ),
            client=None,
            wants_issue=True,
        )

    def issue(
        self,
        issue_id: int,
        project: str,
        subject: str,
        *,
        tracker="Feature",
        parent=None,
        ticket=None,
        estimate=None,
        done_on=None,
    ) -> None:
        done_at = datetime.fromisoformat(done_on).replace(tzinfo=UTC) if done_on else None
        self.store.save_issue(
            Issue(
                id=issue_id,
                project=project,
                tracker=tracker,
                status="Closed" if done_on else "New",
                priority="Normal",
                subject=subject,
                description="",
                created_on=T0,
                updated_on=done_at or T0,
                parent_id=parent,
                estimated_hours=D(estimate) if estimate else None,
                closed_on=done_at,
            ),
            None,
            done=bool(done_on),
        )
        if ticket:
            self.store.add_link(
                ticket_id=ticket,
                issue_id=issue_id,
                client=None,
                origin="created",
                issue_status="New",
                ticket_status="open",
            )

    def log(
        self,
        project: str,
        issue: int | None,
        hours: str,
        spent_on: str,
        *,
        user="Anna Petrova",
        activity="Development",
        fields=None,
        comments="",
        entry_id=None,
    ) -> int:
        self._entry += 1
        entry_id = entry_id or self._entry
        self.store.save_time_entry(
            TimeEntry(
                id=entry_id,
                project=project,
                issue_id=issue,
                user=user,
                user_id=None,
                activity=activity,
                hours=D(hours),
                spent_on=date.fromisoformat(spent_on),
                comments=comments,
                created_on=T0,
                updated_on=T0,
                custom_fields=fields or {},
            )
        )
        return entry_id

    def invoice(self, client: str, month: str):
        billing = Billing(self.config, self.store)
        return billing.invoice(self.config.client_by_id(client), month)


@pytest.fixture
def studio(tmp_path) -> Studio:
    return Studio(tmp_path)


def _line(inv, ticket_id=None, issue_id=None, rule=None, rate=None):
    found = [
        x
        for x in inv.lines
        if (x.ticket_id, x.issue_id, x.rule) == (ticket_id, issue_id, rule)
        and rate in (None, x.rate)
    ]
    assert len(found) == 1, [(x.ticket_id, x.issue_id, x.rule) for x in inv.lines]
    return found[0]


def test_hourly_rates_rounding_minimum_and_every_rule(studio: Studio):
    s = studio
    s.ticket(101, "Checkout fails")
    s.ticket(102, "Footer typo")
    s.ticket(103, "Server fell over", tags=["hosting_outage"])
    s.issue(11, "acme", "Checkout fails", ticket=101, estimate="2")
    s.issue(12, "acme", "Profile SQL", parent=11)  # a subtask: billed with its ticket
    s.issue(13, "acme", "Footer typo", tracker="Bug", ticket=102)
    s.issue(14, "acme", "Restart the server", ticket=103)
    s.issue(15, "acme", "Internal refactoring")  # no ticket: its own line
    s.log("acme", 11, "1.10", "2026-10-02")  # with the subtask's 0.30: 1.40 -> 1.50 h x 2500
    s.log("acme", 12, "0.30", "2026-10-03")
    s.log("acme", 11, "0.50", "2026-10-04", activity="Design")  # Design: 3000/h
    s.log("acme", 11, "1.00", "2026-10-05", user="Boris Lind", activity="Design")  # 3500/h
    s.log("acme", 13, "0.40", "2026-10-06")  # a bug within 60 days of 2026-09-15: warranty
    s.log("acme", 13, "0.20", "2026-11-20")  # after the warranty: billed (November)
    s.log("acme", 14, "3.00", "2026-10-07")  # hosting outage tag
    s.log("acme", 15, "0.10", "2026-10-08")  # 0.10 -> 0.25 h = 625.00 -> minimum 1000.00
    s.log("acme", 15, "2.00", "2026-10-09", activity="Internal")
    s.log("acme", None, "0.50", "2026-10-10", fields={7: "0"})  # marked non-billable

    inv = s.invoice("acme", "2026-10")

    dev = _line(inv, 101, 11, rate=D("2500.00"))
    assert dev.rate == D("2500.00")
    assert (dev.hours, dev.billable_hours, dev.amount) == (D("1.40"), D("1.50"), D("3750.00"))
    assert "1.40 h rounded up to 0.25 h steps" in dev.note
    assert {e.entry_id for e in dev.entries} == {1, 2}  # the subtask's entry is here
    design = _line(inv, 101, 11, rate=D("3000.00"))
    assert (design.hours, design.billable_hours, design.amount) == (
        D("0.50"),
        D("0.50"),
        D("1500.00"),
    )
    boris = _line(inv, 101, 11, rate=D("3500.00"))
    assert (boris.billable_hours, boris.amount) == (D("1.00"), D("3500.00"))
    warranty = _line(inv, 102, 13, "warranty")
    assert (warranty.hours, warranty.billable_hours, warranty.amount) == (D("0.40"), D("0"), D("0"))
    assert _line(inv, 103, 14, "hosting outage").hours == D("3.00")
    small = _line(inv, None, 15)
    assert (small.billable_hours, small.amount) == (D("0.25"), D("1000.00"))
    assert "minimum charge per request 1000.00" in small.note
    assert _line(inv, None, 15, "internal").hours == D("2.00")
    assert _line(inv, None, None, "marked non-billable").hours == D("0.50")

    assert inv.hours == D("8.90")  # every hour logged in October
    assert inv.billable_hours == D("3.25")
    assert inv.amount == D("9750.00")  # 3750 + 1500 + 3500 + 1000
    assert (inv.vat_rate, inv.vat, inv.total) == (D("20"), D("1950.00"), D("11700.00"))
    assert inv.charges == () and inv.adjustments == ()
    est = {e.issue_id: e for e in inv.estimates}[11]
    assert (est.estimate, est.actual, est.flagged) == (D("2"), D("2.90"), True)  # 45 % over

    november = s.invoice("acme", "2026-11")
    assert _line(november, 102, 13).billable_hours == D("0.25")  # outside the warranty


def test_an_invoice_explains_itself_in_the_clients_language(tmp_path):
    s = Studio(tmp_path, CONFIG.replace('language = "en"', 'language = "ru"'))
    s.issue(13, "acme", "Опечатка", tracker="Bug")
    s.issue(11, "acme", "Доработка")
    s.log("acme", 13, "0.40", "2026-10-06")
    s.log("acme", 11, "1.10", "2026-10-07")
    s.log("acme", None, "0.50", "2026-10-08")
    inv = s.invoice("acme", "2026-10")
    assert _line(inv, None, 13, "warranty").note == ""  # the rule says it; the page shows it
    assert _line(inv, None, 11).note == "1.10 ч округлено вверх до шага 0.25 ч"
    assert _line(inv, None, None).subject == "время по проекту acme без задачи"


def test_nearest_rounding(studio: Studio):
    studio.issue(51, "echo", "Something")
    studio.log("echo", 51, "1.20", "2026-09-10")  # 1.20 -> 1.00 (nearest 0.5)
    studio.issue(52, "echo", "Other")
    studio.log("echo", 52, "1.25", "2026-09-11")  # 1.25 -> 1.50 (half up)
    inv = studio.invoice("echo", "2026-09")
    assert [(x.billable_hours, x.amount) for x in inv.lines] == [
        (D("1.00"), D("1000.00")),
        (D("1.50"), D("1500.00")),
    ]
    assert inv.currency == "EUR" and inv.amount == D("2500.00")


def test_tariff_overage_and_rollover(studio: Studio):
    s = studio
    s.issue(21, "bakery", "Menu")
    s.log("bakery", 21, "6.00", "2026-09-05")  # September: 4 h unused roll over one month
    s.log("bakery", 21, "15.00", "2026-10-05")  # October: 4 carried + 10 included, 1 over
    s.log("bakery", 21, "3.00", "2026-11-05")  # November: nothing carried (Oct used it all)

    sep = s.invoice("bakery", "2026-09")
    assert sep.tariff.used == D("6.00") and sep.tariff.unused == D("4.00")
    assert [(c.kind, c.amount) for c in sep.charges] == [("fee", D("20000.00"))]
    assert sep.lines[0].amount == D("0") and sep.amount == D("20000.00")

    oct_ = s.invoice("bakery", "2026-10")
    assert (oct_.tariff.carried, oct_.tariff.used, oct_.tariff.overage) == (
        D("4.00"),
        D("15.00"),
        D("1.00"),
    )
    assert [(c.kind, c.hours, c.amount) for c in oct_.charges] == [
        ("fee", None, D("20000.00")),
        ("overage", D("1.00"), D("2000.00")),
    ]
    assert oct_.amount == D("22000.00")

    nov = s.invoice("bakery", "2026-11")
    assert (nov.tariff.carried, nov.tariff.overage, nov.tariff.unused) == (
        D("0"),
        D("0"),
        D("7.00"),
    )


def test_plan_change_from_a_month(studio: Studio):
    s = studio
    s.issue(61, "echo", "Work")
    s.log("echo", 61, "2.00", "2026-09-10")
    s.log("echo", 61, "12.00", "2026-10-10")
    sep, oct_ = s.invoice("echo", "2026-09"), s.invoice("echo", "2026-10")
    assert (sep.plan, sep.plan_kind, sep.amount) == ("nearest", "hourly", D("2000.00"))
    assert (oct_.plan, oct_.plan_kind) == ("premium", "tariff")
    # The tariff starts in October: nothing carried from the hourly September.
    assert (oct_.tariff.carried, oct_.tariff.overage, oct_.amount) == (
        D("0"),
        D("2.00"),
        D("24000.00"),
    )


def test_per_request_charged_once_in_the_month_it_is_done(studio: Studio):
    s = studio
    s.ticket(301, "Agreed price", fields={900: "7500"})
    s.ticket(302, "Estimated")
    s.ticket(303, "Plain")
    s.issue(31, "clinic", "Agreed price", ticket=301, done_on="2026-10-20T10:00:00")
    s.issue(32, "clinic", "Estimated", ticket=302, estimate="3", done_on="2026-10-21T10:00:00")
    s.issue(33, "clinic", "Plain", ticket=303, done_on="2026-11-02T10:00:00")
    s.log("clinic", 31, "2.00", "2026-09-30")  # work in September, done in October
    s.log("clinic", 33, "4.00", "2026-10-15")  # work in October, done in November

    sep = s.invoice("clinic", "2026-09")
    assert [(x.ticket_id, x.amount) for x in sep.lines] == [(301, D("0"))]
    assert "charged in the month it is done (done 2026-10-20)" in sep.lines[0].note
    oct_ = s.invoice("clinic", "2026-10")
    assert [(x.ticket_id, x.hours, x.amount) for x in oct_.lines] == [
        (301, D("0"), D("7500.00")),
        (302, D("0"), D("6000.00")),
        (303, D("4.00"), D("0")),
    ]
    assert oct_.amount == D("13500.00")
    nov = s.invoice("clinic", "2026-11")
    assert [(x.ticket_id, x.amount) for x in nov.lines] == [(303, D("5000.00"))]


def test_subscription_and_a_client_with_no_hours(studio: Studio):
    studio.issue(41, "delta", "Update")
    studio.log("delta", 41, "9.00", "2026-10-01")
    flat = studio.invoice("delta", "2026-10")
    assert (flat.hours, flat.amount, [c.amount for c in flat.charges]) == (
        D("9.00"),
        D("15000.00"),
        [D("15000.00")],
    )
    assert flat.lines[0].amount == D("0") and "subscription" in flat.lines[0].note
    quiet = studio.invoice("quiet", "2026-10")
    assert (quiet.hours, quiet.amount, quiet.lines, quiet.total) == (D("0"), D("0"), (), D("0"))


def test_frozen_month_later_edit_and_deletion_become_adjustments(studio: Studio):
    s = studio
    s.ticket(101, "Checkout")
    s.issue(11, "acme", "Checkout", ticket=101)
    a = s.log("acme", 11, "2.00", "2026-09-20")
    b = s.log("acme", 11, "1.00", "2026-09-21")
    billing = Billing(s.config, s.store)
    sent = close_month(s.config, s.store, "2026-09", generated_at=GENERATED)
    assert [inv.amount for inv in sent if inv.client == "acme"] == [D("7500.00")]

    # After invoicing: one entry edited, one deleted, one added late — all for September.
    s.log("acme", 11, "1.50", "2026-09-20", entry_id=a)
    s.store.delete_time_entries([b])
    s.log("acme", 11, "0.25", "2026-09-30", comments="forgot to log")
    s.log("acme", 11, "1.00", "2026-10-02")

    frozen = Billing(s.config, s.store).invoice(s.config.client_by_id("acme"), "2026-09")
    assert frozen.frozen and frozen.amount == D("7500.00")  # a sent invoice never changes
    october = Billing(s.config, s.store).invoice(s.config.client_by_id("acme"), "2026-10")
    [adj] = october.adjustments
    assert (adj.ticket_id, adj.month, adj.hours, adj.amount) == (
        101,
        "2026-09",
        D("-1.25"),
        D("-3125.00"),
    )
    assert f"entry #{a} edited: 2.00 h → 1.50 h" in adj.reason
    assert f"entry #{b} (1.00 h on 2026-09-21, Anna Petrova) deleted" in adj.reason
    assert "added after invoicing" in adj.reason
    assert october.amount == D("2500.00") - D("3125.00")
    del billing

    # Closing October freezes the adjustment too: November doesn't repeat it.
    close_month(s.config, s.store, "2026-10", generated_at=GENERATED)
    november = Billing(s.config, s.store).invoice(s.config.client_by_id("acme"), "2026-11")
    assert november.adjustments == ()
    s.log("acme", 11, "0.50", "2026-10-31")  # ... but a new late change still shows
    november = Billing(s.config, s.store).invoice(s.config.client_by_id("acme"), "2026-11")
    assert [(x.month, x.hours, x.amount) for x in november.adjustments] == [
        ("2026-10", D("0.50"), D("1250.00"))
    ]


def test_a_report_computed_on_two_workers_is_the_one_computed_on_one(studio: Studio, monkeypatch):
    """reports/parallel.py: the clients' invoices computed in forked workers, each reading
    the store through its own connection, are the invoices computed one after another."""
    s = studio
    s.ticket(101, "Checkout")
    s.issue(11, "acme", "Checkout", ticket=101)
    s.issue(21, "bakery", "Menu")
    s.issue(31, "clinic", "Booking", done_on="2026-10-12", estimate="3")
    a = s.log("acme", 11, "2.00", "2026-09-20")
    close_month(s.config, s.store, "2026-09", generated_at=GENERATED)
    s.log("acme", 11, "1.50", "2026-09-20", entry_id=a)  # an adjustment in October
    for day in range(1, 29):
        s.log("acme", 11, "0.75", f"2026-10-{day:02d}", activity="Design")
        s.log("bakery", 21, "0.50", f"2026-10-{day:02d}")
        s.log("clinic", 31, "0.25", f"2026-10-{day:02d}")
        s.log("echo", None, "0.40", f"2026-10-{day:02d}")

    def report(workers: int):
        monkeypatch.setattr(parallel, "workers_for", lambda *args, **kw: workers)
        return Billing(s.config, s.store).report("2026-10", generated_at=GENERATED)

    on_two = report(2)
    assert on_two == report(1)
    assert [c.client for c in on_two.clients] == [
        "acme",
        "bakery",
        "clinic",
        "delta",
        "echo",
        "quiet",
    ]
    assert on_two.clients[0].adjustments and on_two.clients[1].tariff is not None


def test_closing_a_month_twice_is_refused(studio: Studio):
    close_month(studio.config, studio.store, "2026-09", generated_at=GENERATED)
    with pytest.raises(BillingError, match="already closed"):
        close_month(studio.config, studio.store, "2026-09", generated_at=GENERATED)


hours = st.decimals(min_value=D("0.01"), max_value=D("12"), places=2)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            hours,
            st.sampled_from(["Development", "Design", "Internal"]),
            st.sampled_from([11, 12, 13, None]),
            st.integers(1, 28),
            st.sampled_from(["Anna Petrova", "Boris Lind"]),
        ),
        min_size=0,
        max_size=25,
    )
)
def test_no_hour_lost_or_counted_twice_and_totals_are_sums(tmp_path_factory, entries):
    s = Studio(tmp_path_factory.mktemp("prop"))
    s.ticket(101, "A")
    s.issue(11, "acme", "A", ticket=101)
    s.issue(12, "acme", "B", parent=11)
    s.issue(13, "acme", "C", tracker="Bug")
    for h, activity, issue, day, user in entries:
        s.log("acme", issue, str(h), f"2026-10-{day:02d}", activity=activity, user=user)
    inv = s.invoice("acme", "2026-10")
    logged = sum((D(str(h)) for h, *_ in entries), D("0"))
    assert inv.hours == logged == sum((x.hours for x in inv.lines), D("0"))
    assert sorted(e.entry_id for x in inv.lines for e in x.entries) == list(
        range(1, len(entries) + 1)
    )
    assert inv.amount == sum((x.amount for x in inv.lines), D("0")) + sum(
        (c.amount for c in inv.charges), D("0")
    )
    assert inv.billable_hours == sum((x.billable_hours for x in inv.lines), D("0"))
    for line in inv.lines:
        if line.rule:
            assert line.billable_hours == 0 and line.amount == 0
        else:
            assert line.billable_hours >= line.hours  # rounding up never loses time
            assert line.billable_hours - line.hours < D("0.25")
    assert inv.total == inv.amount + inv.vat


@settings(max_examples=30, deadline=None)
@given(
    before=st.lists(st.tuples(hours, st.integers(1, 28)), min_size=1, max_size=8),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["edit", "delete", "add"]), hours, st.integers(1, 28), st.integers(0, 7)
        ),
        max_size=8,
    ),
    plan=st.sampled_from(["acme", "bakery"]),  # hourly with rounding and VAT; a tariff
)
def test_adjustments_carry_exactly_what_changed_in_a_closed_month(
    tmp_path_factory, before, edits, plan
):
    s = Studio(tmp_path_factory.mktemp("adj"))
    project = plan
    s.issue(11, project, "Work")
    ids = [s.log(project, 11, str(h), f"2026-09-{d:02d}") for h, d in before]
    close_month(s.config, s.store, "2026-09", generated_at=GENERATED)
    client = s.config.client_by_id(plan)
    sent = Billing(s.config, s.store).invoice(client, "2026-09")
    for action, h, d, pick in edits:
        if action == "add":
            ids.append(s.log(project, 11, str(h), f"2026-09-{d:02d}"))
        elif ids:
            target = ids[pick % len(ids)]
            if action == "delete":
                s.store.delete_time_entries([target])
                ids.remove(target)
            else:
                s.log(project, 11, str(h), f"2026-09-{d:02d}", entry_id=target)

    billing = Billing(s.config, s.store)
    now_sept = billing.compute(client, "2026-09")
    october = billing.invoice(client, "2026-10")

    def billed(inv):
        return sum((x.amount for x in inv.lines), D("0")) + sum(
            (c.amount for c in inv.charges), D("0")
        )

    assert sum((a.hours for a in october.adjustments), D("0")) == now_sept.hours - sent.hours
    assert sum((a.amount for a in october.adjustments), D("0")) == billed(now_sept) - billed(sent)
    assert billing.invoice(client, "2026-09").amount == sent.amount  # the sent one never moves
    # Once October is closed, its adjustments are accounted for: nothing repeats in November.
    close_month(s.config, s.store, "2026-10", generated_at=GENERATED)
    assert Billing(s.config, s.store).invoice(client, "2026-11").adjustments == ()
