"""Monthly billing per client, computed from the store: read-only, exact, explainable.

For a client and a month: every time entry spent in the month on the client's projects is
grouped into a request (its ticket, found through the issue or an ancestor issue linked to one;
else its top issue; else the project), judged by the ordered billing rules (first match wins),
priced by the client's plan for that month, rounded per request, and totalled from the lines.
Months that were invoiced and closed are frozen: their document is what is shown, and later
changes to their entries come back as signed adjustments in the next open month.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

import structlog

from reports.codec import invoice_from_dict
from reports.model import (
    Adjustment,
    BillingReport,
    Charge,
    ClientInvoice,
    EntryDetail,
    Estimate,
    Line,
    TariffBalance,
    UnassignedTicket,
    money,
)
from reports.months import month_of, month_range, months_back
from reports.parallel import fork_map
from reports.wording import say
from syncd.billing_config import BillingRule, Plan
from syncd.config import Client, Config
from syncd.state import Store

log = structlog.get_logger("syncd.billing")

ZERO = Decimal("0")
TARIFF_HISTORY_MONTHS = 36  # how far back a rolling tariff balance is replayed


class BillingError(Exception):
    """The configuration can't bill a client (no plan, …); the message says which and why."""


@dataclass(frozen=True)
class _Group:
    """A request: what one invoice line (or a few, one per rule and rate) is about."""

    ticket_id: int | None
    issue_id: int | None  # the linked issue, or the top issue without a ticket
    project: str | None  # only for time logged on a project without an issue

    def sort_key(self) -> tuple:
        kind = 0 if self.ticket_id else 1 if self.issue_id else 2
        return (kind, self.ticket_id or 0, self.issue_id or 0, self.project or "")


class Billing:
    """Computes invoices from one store with one config; caches what it reads per run."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self._issues: dict[int, dict[str, Any] | None] = {}
        self._tickets: dict[int, dict[str, Any] | None] = {}
        self._group_of_issue: dict[int, _Group] = {}
        self._cache: dict[tuple[str, str], ClientInvoice] = {}
        self._ticket_tags: dict[int, frozenset[str]] = {}
        self._links: dict[int, int] | None = None
        self._parents: dict[int, int] | None = None
        self._drift: dict[int, list[dict[str, Any]]] | None = None
        self._entry_fields: dict[str | None, dict[str, Any]] = {}

    # ================================================================ public
    def report(
        self, month: str, *, clients: list[str] | None = None, generated_at: datetime
    ) -> BillingReport:
        chosen = []
        for client in self.config.clients:
            if clients and client.id not in clients:
                continue
            if client.plan_for(month) is None and not clients:
                # Not every client is billed through syncd; one asked for by name must be.
                log.warning("client_not_billed", client=client.id, month=month, reason="no plan")
                continue
            chosen.append(client)
        self._read_lookups()
        invoices = fork_map(
            chosen,
            lambda c: self.invoice(c, month),
            workers=None if self.store.on_disk else 1,
            initializer=self.store.reopen_read_only,
        )
        unassigned = tuple(
            UnassignedTicket(
                ticket_id=t["id"], subject=t["subject"] or "", organization_id=t["organization_id"]
            )
            for t in self.store.unassigned_tickets()
        )
        return BillingReport(
            month=month, generated_at=generated_at, clients=tuple(invoices), unassigned=unassigned
        )

    def invoice(self, client: Client, month: str) -> ClientInvoice:
        """The invoice as it stands: the frozen document for a closed month, else computed,
        with adjustments for closed months whose entries changed since."""
        frozen = self._frozen(client.id, month)
        if frozen is not None:
            return invoice_from_dict(json.loads(frozen["document"]))
        computed = self.compute(client, month)
        adjustments = tuple(self.adjustments(client, month))
        return _with_adjustments(computed, adjustments)

    def compute(self, client: Client, month: str) -> ClientInvoice:
        """The month from the entries as they are now, without adjustments."""
        key = (client.id, month)
        if key not in self._cache:
            self._cache[key] = self._compute(client, month)
        return self._cache[key]

    def adjustments(self, client: Client, month: str) -> list[Adjustment]:
        """For every closed month before this one: what changed since it was accounted for."""
        out: list[Adjustment] = []
        for row in self.store.invoices_before(client.id, month):
            baseline = invoice_from_dict(json.loads(row["baseline"]))
            current = self.compute(client, row["month"])
            out += _differences(baseline, current, self._language(client))
        return out

    # ================================================================ one month
    def _compute(self, client: Client, month: str) -> ClientInvoice:
        plan = self._plan(client, month)
        since, until = month_range(month)
        entries = self.store.time_entries_spent_between(
            since.isoformat(), until.isoformat(), list(client.redmine_projects)
        )
        self._prefetch(entries)
        by_line: dict[tuple[_Group, str | None, Decimal | None], list[dict[str, Any]]] = (
            defaultdict(list)
        )
        for entry in sorted(entries, key=lambda e: (e["spent_on"], e["id"])):
            group = self._group(entry)
            rule = self._rule(entry, group, client)
            billable = rule is None or rule.billable
            rate = _rate(plan, entry) if billable and plan.kind == "hourly" else None
            by_line[(group, None if billable else rule.name, rate)].append(entry)
        if plan.kind == "per_request":
            # A request done this month is charged even with no hour logged this month;
            # one whose hours this month were all excluded by a rule is not.
            seen = {group for group, _, _ in by_line}
            for group in self._requests_done_in(client, month):
                if group not in seen:
                    by_line[(group, None, None)] = []
        lines = self._lines(client, plan, month, by_line)
        charges, tariff = self._charges(client, plan, month, lines)
        hours = sum((Decimal(e["hours"]) for e in entries), ZERO)
        return _invoice(client, plan, month, hours, lines, charges, tariff, self._estimates(lines))

    def _lines(
        self,
        client: Client,
        plan: Plan,
        month: str,
        by_line: dict[tuple[_Group, str | None, Decimal | None], list[dict[str, Any]]],
    ) -> tuple[Line, ...]:
        lang = self._language(client)
        lines: list[Line] = []
        for (group, rule, rate), entries in sorted(
            by_line.items(), key=lambda kv: (kv[0][0].sort_key(), kv[0][1] or "", kv[0][2] or ZERO)
        ):
            logged = sum((Decimal(e["hours"]) for e in entries), ZERO)
            # A line not billed says so in its `rule`; the note is for how amounts came about.
            billable_hours, note = ZERO, ""
            amount = ZERO
            if rule is None:
                billable_hours, note = _round(logged, plan, lang)
                if plan.kind == "hourly":
                    amount = money(billable_hours * (rate or ZERO))
                elif plan.kind == "per_request":
                    amount, note = self._request_price(group, plan, month, note, lang)
                elif plan.kind == "tariff":
                    note = _join(note, say(lang, "within_tariff"))
                else:
                    note = _join(note, say(lang, "subscription_covers"))
            note = _join(note, self._drift_note(group, lang))
            lines.append(
                Line(
                    ticket_id=group.ticket_id,
                    issue_id=group.issue_id,
                    subject=self._subject(group, lang),
                    hours=logged,
                    billable_hours=billable_hours,
                    rate=rate,
                    amount=amount,
                    rule=rule,
                    note=note,
                    entries=tuple(_detail(e, rate) for e in entries),
                )
            )
        return _apply_minimum(lines, plan, lang)

    def _charges(
        self, client: Client, plan: Plan, month: str, lines: tuple[Line, ...]
    ) -> tuple[tuple[Charge, ...], TariffBalance | None]:
        lang = self._language(client)
        if plan.kind == "subscription":
            fee = say(lang, "fee_subscription", plan=plan.name, month=month)
            return (Charge("fee", fee, None, None, money(plan.fee or ZERO)),), None
        if plan.kind != "tariff":
            return (), None
        used = sum((line.billable_hours for line in lines), ZERO)
        balance = self._tariff_balance(client, plan, month, used)
        charges = [
            Charge(
                "fee",
                say(lang, "fee_tariff", plan=plan.name, month=month, hours=_h(plan.included_hours)),
                None,
                None,
                money(plan.fee or ZERO),
            )
        ]
        if balance.overage:
            charges.append(
                Charge(
                    "overage",
                    say(lang, "overage", hours=_h(balance.overage)),
                    balance.overage,
                    plan.overage_rate,
                    money(balance.overage * (plan.overage_rate or ZERO)),
                )
            )
        return tuple(charges), balance

    def _tariff_balance(
        self, client: Client, plan: Plan, month: str, used_now: Decimal
    ) -> TariffBalance:
        """Replays the unbroken run of months this plan has been in force (from the client's
        first logged hour at most), keeping a pool of unused hours that expire after
        `rollover_months`; carried hours are used first, oldest first, as they expire first.

        The replay starts after the last month that used up everything it could have had
        (`replay_starts_after`): the pool was empty after it, whatever came before."""
        run: list[tuple[str, Decimal]] = []  # newest first
        if plan.rollover_months:  # without rollover nothing carries over: no replay
            first = self.store.first_spent_on(list(client.redmine_projects))
            for m in months_back(month, TARIFF_HISTORY_MONTHS):
                if client.plan_for(m) != plan.name or first is None or m < month_of(first):
                    break
                used = self._used_hours(client, m)
                if replay_starts_after(plan, used):
                    break
                run.append((m, used))
        return _replay(plan, [*reversed(run), (month, used_now)])

    def _used_hours(self, client: Client, month: str) -> Decimal:
        frozen = self._frozen(client.id, month)
        if frozen is not None:
            doc = invoice_from_dict(json.loads(frozen["baseline"]))
            return sum((line.billable_hours for line in doc.lines), ZERO)
        plan = self._plan(client, month)
        if (client.id, month) not in self._cache and plan.kind in ("tariff", "subscription"):
            # A replayed month needs only its billable hours: no lines built.
            since, until = month_range(month)
            entries = self.store.time_entries_spent_between(
                since.isoformat(), until.isoformat(), list(client.redmine_projects)
            )
            self._prefetch(entries)
            return self._billable_hours(client, plan, entries)
        return sum((line.billable_hours for line in self.compute(client, month).lines), ZERO)

    def _billable_hours(self, client: Client, plan: Plan, entries: list[dict[str, Any]]) -> Decimal:
        """The billable entries summed per request, each sum rounded as a line's is, added."""
        per_request: dict[_Group, Decimal] = defaultdict(lambda: ZERO)
        for entry in entries:
            group = self._group(entry)
            rule = self._rule(entry, group, client)
            if rule is None or rule.billable:
                per_request[group] += Decimal(entry["hours"])
        lang = self._language(client)
        return sum((_round(hours, plan, lang)[0] for hours in per_request.values()), ZERO)

    # ================================================================ requests
    def _group(self, entry: dict[str, Any]) -> _Group:
        issue_id = entry["issue_id"]
        if not issue_id:
            return _Group(None, None, entry["project"])
        if issue_id not in self._group_of_issue:
            chain = [issue_id, *self._ancestors(issue_id)]
            group = None
            linked = self._linked()
            for candidate in chain:
                if candidate in linked:
                    group = _Group(linked[candidate], candidate, None)
                    break
            self._group_of_issue[issue_id] = group or _Group(None, chain[-1], None)
        return self._group_of_issue[issue_id]

    def _rule(self, entry: dict[str, Any], group: _Group, client: Client) -> BillingRule | None:
        issue = self._issue(entry["issue_id"]) if entry["issue_id"] else None
        tags = self._tags(group.ticket_id) if group.ticket_id else frozenset()
        fields = self._fields(entry["custom_fields"])
        spent = date.fromisoformat(entry["spent_on"])
        warranty = (
            client.launched_on is not None
            and client.launched_on <= spent
            and (spent - client.launched_on).days <= client.warranty_days
        )
        for rule in self.config.billing.rules:
            if rule.activity is not None and rule.activity != entry["activity"]:
                continue
            if rule.tracker is not None and (not issue or rule.tracker != issue["tracker"]):
                continue
            if rule.tag is not None and rule.tag not in tags:
                continue
            if (
                rule.entry_field_id is not None
                and str(fields.get(str(rule.entry_field_id), "")) != rule.entry_value
            ):
                continue
            if rule.within_warranty is not None and rule.within_warranty != warranty:
                continue
            return rule
        return None

    def _requests_done_in(self, client: Client, month: str) -> list[_Group]:
        """Per-request plans charge a request in the month its issue was first done, even if
        no hour was logged then."""
        since, until = month_range(month)
        groups = []
        for row in self.store.issues_done_between(
            since.isoformat(), until.isoformat() + "T99", list(client.redmine_projects)
        ):
            if row["id"] in self._linked():
                groups.append(_Group(self._linked()[row["id"]], row["id"], None))
            elif not row["parent_id"]:
                groups.append(_Group(None, row["id"], None))
        return groups

    def _request_price(
        self, group: _Group, plan: Plan, month: str, note: str, lang: str
    ) -> tuple[Decimal, str]:
        issue = self._issue(group.issue_id) if group.issue_id else None
        done_on = (issue or {}).get("done_on")
        if not done_on or month_of(done_on) != month:
            when = say(lang, "done_on", date=done_on[:10]) if done_on else say(lang, "not_done")
            return ZERO, _join(note, say(lang, "charged_when_done", when=when))
        ticket = self._ticket(group.ticket_id) if group.ticket_id else None
        fields = json.loads((ticket or {}).get("custom_fields") or "{}")
        agreed = fields.get(str(plan.price_field_id)) if plan.price_field_id else None
        if agreed not in (None, ""):
            return money(Decimal(str(agreed))), _join(note, say(lang, "agreed_price"))
        estimate = (issue or {}).get("estimated_hours")
        if estimate and plan.rate is not None:
            return money(Decimal(estimate) * plan.rate), _join(
                note, say(lang, "estimate_price", hours=_h(Decimal(estimate)), rate=plan.rate)
            )
        if plan.price is not None:
            return money(plan.price), _join(note, say(lang, "plan_price"))
        return ZERO, _join(note, say(lang, "no_price"))

    def _estimates(self, lines: tuple[Line, ...]) -> tuple[Estimate, ...]:
        out: dict[int, Estimate] = {}
        tolerance = self.config.billing.estimate_tolerance
        hours = self.store.hours_of_trees(
            {line.issue_id for line in lines if line.issue_id and self._estimate(line.issue_id)}
        )
        for line in lines:
            if not line.issue_id or line.issue_id in out:
                continue
            estimate = self._estimate(line.issue_id)
            if not estimate:
                continue
            actual = hours[line.issue_id]
            over_by = (actual / estimate - 1).quantize(Decimal("0.0001"), ROUND_HALF_UP)
            out[line.issue_id] = Estimate(
                line.ticket_id,
                line.issue_id,
                line.subject,
                estimate,
                actual,
                over_by,
                over_by > tolerance,
            )
        return tuple(out.values())

    # ================================================================ lookups
    def _estimate(self, issue_id: int) -> Decimal | None:
        issue = self._issue(issue_id)
        return Decimal(issue["estimated_hours"]) if issue and issue["estimated_hours"] else None

    def _prefetch(self, entries: list[dict[str, Any]]) -> None:
        """The issues and tickets behind `entries` (theirs and their requests'), read in two
        queries instead of one per row."""
        groups = {self._group(e) for e in entries if e["issue_id"]}
        issues = {e["issue_id"] for e in entries if e["issue_id"]}
        issues |= {g.issue_id for g in groups if g.issue_id}
        issues = {i for i in issues if i not in self._issues}
        rows = self.store.rows_by_id("issues", issues)
        self._issues.update({i: rows.get(i) for i in issues})
        tickets = {g.ticket_id for g in groups if g.ticket_id and g.ticket_id not in self._tickets}
        rows = self.store.rows_by_id("tickets", tickets)
        self._tickets.update({t: rows.get(t) for t in tickets})

    def _read_lookups(self) -> None:
        """The tables every invoice looks up (links, subtask parents, drift), read once: before
        the workers fork (`fork_map`), so that each inherits them instead of reading them."""
        if self._links is None:
            self._links = self.store.linked_tickets()
        if self._parents is None:
            self._parents = self.store.issue_parents()
        if self._drift is None:
            self._drift = defaultdict(list)
            for row in self.store.drifts():
                if row["ticket_id"] is not None:
                    self._drift[row["ticket_id"]].append(row)

    def _drift_of(self, ticket_id: int) -> dict[str, Any]:
        """`Store.drift_of(ticket_id=…)`, from the drift table read once."""
        self._read_lookups()
        assert self._drift is not None
        rows = sorted(self._drift.get(ticket_id, ()), key=lambda r: r["key"])
        return {r["kind"]: {**r, "data": json.loads(r["data"] or "{}")} for r in rows}

    def _linked(self) -> dict[int, int]:
        """Issue id -> its ticket (`Store.link_by_issue`), read once."""
        self._read_lookups()
        assert self._links is not None
        return self._links

    def _ancestors(self, issue_id: int) -> list[int]:
        """`Store.ancestors`, walked up the subtasks' parents read once."""
        self._read_lookups()
        assert self._parents is not None
        chain: list[int] = []
        up = self._parents.get(issue_id)
        while up is not None and up not in chain:
            chain.append(up)
            up = self._parents.get(up)
        return chain

    def _language(self, client: Client) -> str:
        return client.language or self.config.sync.language

    def _plan(self, client: Client, month: str) -> Plan:
        name = client.plan_for(month)
        if name is None:
            raise BillingError(
                f"client {client.id!r} has no plan for {month}: set `plan` in its [[clients]] entry"
            )
        return self.config.plans[name]

    def _frozen(self, client_id: str, month: str) -> dict[str, Any] | None:
        return self.store.invoice(month, client_id)

    def _issue(self, issue_id: int) -> dict[str, Any] | None:
        if issue_id not in self._issues:
            self._issues[issue_id] = self.store.issue(issue_id)
        return self._issues[issue_id]

    def _ticket(self, ticket_id: int) -> dict[str, Any] | None:
        if ticket_id not in self._tickets:
            self._tickets[ticket_id] = self.store.ticket(ticket_id)
        return self._tickets[ticket_id]

    def _tags(self, ticket_id: int) -> frozenset[str]:
        if ticket_id not in self._ticket_tags:
            ticket = self._ticket(ticket_id)
            self._ticket_tags[ticket_id] = frozenset(
                json.loads(ticket["tags"] or "[]") if ticket else ()
            )
        return self._ticket_tags[ticket_id]

    def _fields(self, raw: str | None) -> dict[str, Any]:
        """An entry's custom fields, parsed once per distinct text (read, never changed)."""
        if raw not in self._entry_fields:
            self._entry_fields[raw] = json.loads(raw or "{}")
        return self._entry_fields[raw]

    def _drift_note(self, group: _Group, lang: str) -> str:
        """A request whose ticket was merged, deleted, marked as spam or moved to another
        organization is still billed from its Redmine hours, but never silently: the line
        says what happened (syncd/drift.py records it)."""
        if not group.ticket_id:
            return ""
        drift = self._drift_of(group.ticket_id)
        words = []
        if "ticket_merged" in drift:
            target = drift["ticket_merged"]["data"].get("target")
            words.append(
                say(lang, "ticket_merged", target=target)
                if target
                else say(lang, "ticket_merged_elsewhere")
            )
        for kind in ("ticket_spam", "ticket_deleted", "ticket_client_changed"):
            if kind in drift:
                words.append(say(lang, kind))
        return "; ".join(words)

    def _subject(self, group: _Group, lang: str) -> str:
        if group.ticket_id:
            ticket = self._ticket(group.ticket_id)
            if ticket and ticket["subject"]:
                return ticket["subject"]
        if group.issue_id:
            issue = self._issue(group.issue_id)
            if issue:
                return issue["subject"] or ""
        return say(lang, "no_issue", project=group.project)


# ==================================================================== pure helpers
def replay_starts_after(plan: Plan, used: Decimal) -> bool:
    """A month that used as many hours as it could have had (its own included hours and at
    most `rollover_months` months' carried over) left nothing to carry: the pool after it is
    empty whatever came before, so a tariff's replay may start after it."""
    return used >= plan.included_hours * (plan.rollover_months + 1)


def _replay(plan: Plan, months: list[tuple[str, Decimal]]) -> TariffBalance:
    """The tariff's pool of unused hours replayed over `months` ((month, billable hours),
    oldest first, the month reported last); the last month's balance."""
    pool: list[tuple[str, Decimal]] = []  # (last month the hours can be used, hours)
    balance = TariffBalance(plan.included_hours, ZERO, ZERO, ZERO, plan.included_hours)
    for m, used in months:
        pool = [(last, h) for last, h in pool if last >= m and h > 0]
        carried = sum((h for _, h in pool), ZERO)
        left = used
        for i, (last, hours) in enumerate(pool):
            take = min(hours, left)
            pool[i] = (last, hours - take)
            left -= take
        from_included = min(plan.included_hours, left)
        unused_included = plan.included_hours - from_included
        if plan.rollover_months and unused_included:
            pool.append((_add_months(m, plan.rollover_months), unused_included))
        unused = sum((h for _, h in pool), ZERO) if plan.rollover_months else unused_included
        balance = TariffBalance(plan.included_hours, carried, used, left - from_included, unused)
    return balance


def _rate(plan: Plan, entry: dict[str, Any]) -> Decimal | None:
    if entry["user"] in plan.rates_by_user:
        return plan.rates_by_user[entry["user"]]
    if entry["activity"] in plan.rates_by_activity:
        return plan.rates_by_activity[entry["activity"]]
    return plan.rate


def _round(hours: Decimal, plan: Plan, lang: str) -> tuple[Decimal, str]:
    step = plan.rounding_increment
    if not step or hours <= 0:
        return hours, ""
    mode = ROUND_CEILING if plan.rounding == "up" else ROUND_HALF_UP
    rounded = (hours / step).quantize(Decimal("1"), rounding=mode) * step
    rounded = rounded.quantize(Decimal("0.01"))
    if rounded == hours:
        return hours, ""
    key = "rounded_up" if plan.rounding == "up" else "rounded_nearest"
    return rounded, say(lang, key, hours=_h(hours), step=_h(step))


def _apply_minimum(lines: list[Line], plan: Plan, lang: str) -> tuple[Line, ...]:
    """A request billed by the hour costs at least the plan's minimum charge: the difference
    is added to the request's last billed line, and said so."""
    if not plan.minimum_charge or plan.kind != "hourly":
        return tuple(lines)
    totals: dict[tuple[int | None, int | None], Decimal] = defaultdict(lambda: ZERO)
    last: dict[tuple[int | None, int | None], int] = {}
    for i, line in enumerate(lines):
        if line.rule is None and line.amount > 0:
            key = (line.ticket_id, line.issue_id)
            totals[key] += line.amount
            last[key] = i
    out = list(lines)
    for key, total in totals.items():
        if total < plan.minimum_charge:
            line = out[last[key]]
            out[last[key]] = replace(
                line,
                amount=line.amount + plan.minimum_charge - total,
                note=_join(line.note, say(lang, "minimum", amount=plan.minimum_charge)),
            )
    return tuple(out)


def _detail(entry: dict[str, Any], rate: Decimal | None) -> EntryDetail:
    return EntryDetail(
        entry_id=entry["id"],
        spent_on=date.fromisoformat(entry["spent_on"]),
        user=entry["user"] or "",
        activity=entry["activity"] or "",
        hours=Decimal(entry["hours"]),
        comments=entry["comments"] or "",
        issue_id=entry["issue_id"],
        rate=rate,
    )


def _invoice(
    client: Client,
    plan: Plan,
    month: str,
    hours: Decimal,
    lines: tuple[Line, ...],
    charges: tuple[Charge, ...],
    tariff: TariffBalance | None,
    estimates: tuple[Estimate, ...],
) -> ClientInvoice:
    return ClientInvoice(
        client=client.id,
        name=client.name,
        month=month,
        currency=plan.currency,
        plan=plan.name,
        plan_kind=plan.kind,
        hours=hours,
        billable_hours=sum((x.billable_hours for x in lines), ZERO),
        vat_rate=plan.vat_rate,
        **_totals(lines, charges, (), plan.vat_rate),
        lines=lines,
        charges=charges,
        adjustments=(),
        estimates=estimates,
        tariff=tariff,
        frozen=False,
    )


def _with_adjustments(invoice: ClientInvoice, adjustments: tuple[Adjustment, ...]) -> ClientInvoice:
    if not adjustments:
        return invoice
    return replace(
        invoice,
        adjustments=adjustments,
        **_totals(invoice.lines, invoice.charges, adjustments, invoice.vat_rate),
    )


def _totals(
    lines: tuple[Line, ...],
    charges: tuple[Charge, ...],
    adjustments: tuple[Adjustment, ...],
    vat_rate: Decimal | None,
) -> dict[str, Decimal]:
    """Amount before VAT summed from the lines, charges and adjustments; VAT on it; total."""
    amount = money(sum((x.amount for x in (*lines, *charges, *adjustments)), ZERO))
    vat = money(amount * vat_rate / 100) if vat_rate else money(ZERO)
    return {"amount": amount, "vat": vat, "total": amount + vat}


def _differences(baseline: ClientInvoice, current: ClientInvoice, lang: str) -> list[Adjustment]:
    """Signed differences per request between what was accounted for and what is now, with
    the entries that explain them."""

    def per_request(inv: ClientInvoice) -> dict[tuple, tuple[Decimal, Decimal, dict]]:
        out: dict[tuple, tuple[Decimal, Decimal, dict]] = {}
        for line in inv.lines:
            key = (line.ticket_id, line.issue_id)
            hours, amount, entries = out.get(key, (ZERO, ZERO, {}))
            entries = {**entries, **{e.entry_id: e for e in line.entries}}
            out[key] = (hours + line.hours, amount + line.amount, entries)
        return out

    before, after = per_request(baseline), per_request(current)
    adjustments = []
    for key in sorted(set(before) | set(after), key=lambda k: (k[0] or 0, k[1] or 0)):
        h0, a0, e0 = before.get(key, (ZERO, ZERO, {}))
        h1, a1, e1 = after.get(key, (ZERO, ZERO, {}))
        if h0 == h1 and a0 == a1:
            continue
        adjustments.append(
            Adjustment(key[0], key[1], baseline.month, h1 - h0, a1 - a0, _explain(e0, e1, lang))
        )
    c0 = sum((c.amount for c in baseline.charges), ZERO)
    c1 = sum((c.amount for c in current.charges), ZERO)
    if c0 != c1:
        adjustments.append(
            Adjustment(
                None,
                None,
                baseline.month,
                ZERO,
                c1 - c0,
                say(lang, "charges_recalculated", old=c0, new=c1),
            )
        )
    return adjustments


def _explain(before: dict[int, EntryDetail], after: dict[int, EntryDetail], lang: str) -> str:
    parts = []
    for entry_id in sorted(set(before) | set(after)):
        old, new = before.get(entry_id), after.get(entry_id)
        if old and not new:
            parts.append(
                say(
                    lang,
                    "entry_gone",
                    id=entry_id,
                    hours=_h(old.hours),
                    date=old.spent_on,
                    user=old.user,
                )
            )
        elif new and not old:
            parts.append(
                say(
                    lang,
                    "entry_added",
                    id=entry_id,
                    hours=_h(new.hours),
                    date=new.spent_on,
                    user=new.user,
                )
            )
        elif (
            old
            and new
            and (old.hours, old.activity, old.spent_on) != (new.hours, new.activity, new.spent_on)
        ):
            text = say(lang, "entry_edited", id=entry_id, old=_h(old.hours), new=_h(new.hours))
            if old.activity != new.activity:
                text += say(lang, "activity_changed", old=old.activity, new=new.activity)
            parts.append(text)
    return "; ".join(parts) or say(lang, "recalculated")


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a and b else a or b


def _h(hours: Decimal) -> str:
    return str(hours.quantize(Decimal("0.01")))


def _add_months(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:7]) + n
    year += (mon - 1) // 12
    return f"{year:04d}-{(mon - 1) % 12 + 1:02d}"
