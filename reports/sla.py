"""The monthly SLA report, computed from the store: per ticket, per client, per agent, overall.

Times are business minutes in the studio's calendar. A ticket's figures come from its events
(collected by the sync cycles): the first public comment by an agent after the ticket was
created is the first reply; the last change to "solved" (or straight to "closed") that still
stands is the resolution. Open tickets are judged as of the end of the month (or now, for the
current month), so a past month's report is the same whenever it is written.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from reports.calendar import Calendar
from reports.months import month_range, previous_month
from reports.parallel import fork_map, workers_for
from reports.sla_model import Breach, DayFlow, SlaReport, Summary, Targets, TicketSla
from syncd.config import Client, Config
from syncd.state import Store, iso

PING_PONG_OVER = 4  # more public messages than this is "ping-pong"
AGENT_ROLES = frozenset({"agent", "admin"})
SOLVED = frozenset({"solved", "closed"})
MARKER_TAG_PREFIX = "syncd_"
TICKETS_PER_READ = 1000  # tickets whose events are read (and held) at once
TICKETS_PER_WORKER = 500  # fewer and a worker's fork (about 10 ms) costs what it saves


@dataclass(frozen=True)
class _Timeline:
    first_reply_at: datetime | None
    solved_at: datetime | None
    reopens: int
    messages: int
    rating: str | None


class Sla:
    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self.calendar = Calendar.from_config(config.raw.get("calendar"), source=str(config.path))
        self._roles: dict[int, str] | None = None
        self._names: dict[int, str] = {}

    # ================================================================ public
    def report(
        self, month: str, *, generated_at: datetime, clients: list[str] | None = None
    ) -> SlaReport:
        chosen = [c for c in self.config.clients if not clients or c.id in clients]
        tickets = self.tickets(month, chosen, generated_at)
        since, until = month_range(month)
        of_client: dict[str, list[TicketSla]] = defaultdict(list)
        for t in tickets:
            of_client[t.client].append(t)
        by_client = [self.summary(c.id, of_client[c.id], month, generated_at) for c in chosen]
        self._user_roles()  # loads the agents' names too
        of_agent: dict[str, list[TicketSla]] = defaultdict(list)
        for t in tickets:
            of_agent[self._agent(t)].append(t)
        by_agent = [self.summary(a, of_agent[a], month, generated_at) for a in sorted(of_agent)]
        overall = self.summary("all", tickets, month, generated_at)
        before = previous_month(month)
        previous = self.summary(
            "all", self.tickets(before, chosen, generated_at), before, generated_at
        )
        opened = Counter(self._local(t.created_at).date() for t in tickets)
        solved = Counter(self._local(t.solved_at).date() for t in tickets if t.solved_at)
        flow = tuple(DayFlow(day, opened[day], solved[day]) for day in _days(since, until))
        targets = Counter(
            t.targets.first_reply_minutes for t in tickets if t.targets.first_reply_minutes
        )
        return SlaReport(
            month=month,
            generated_at=generated_at,
            timezone=str(self.calendar.zone),
            tickets=tuple(tickets),
            clients=tuple(by_client),
            agents=tuple(by_agent),
            overall=overall,
            previous=previous,
            flow=flow,
            first_reply_target=targets.most_common(1)[0][0] if targets else None,
        )

    def tickets(self, month: str, clients: list[Client], generated_at: datetime) -> list[TicketSla]:
        """Tickets of the clients created in the month or solved in it, by id."""
        since, until = month_range(month)
        start = self._at(since, time(0, 0))
        end = self._at(until + timedelta(days=1), time(0, 0))
        # Judged as of the month's end, or for the current month as of the newest thing we
        # know: the report time, or the helpdesk's latest event if its clock runs ahead.
        latest = self.store.latest_event_at()
        as_of = min(
            end, max(generated_at, datetime.fromisoformat(latest) if latest else generated_at)
        )
        # Only tickets created in the month or whose status changed in it can belong to it
        # (read with a day to spare either side: stored times are compared as text), with
        # their events, links, issues and hours in a few queries; decided exactly below.
        by_client: dict[str, list[dict[str, Any]]] = {c.id: [] for c in clients}
        margin = timedelta(days=1)
        for row in self.store.tickets_active_between(iso(start - margin), iso(end + margin)):
            if row["client"] in by_client:
                by_client[row["client"]].append(row)
        rows = [(client, row) for client in clients for row in by_client[client.id]]
        workers = workers_for(len(rows), per_worker=TICKETS_PER_WORKER) if self.store.on_disk else 1
        # On several workers, smaller batches share the work out evenly.
        size = (
            TICKETS_PER_READ
            if workers == 1
            else min(TICKETS_PER_READ, -(-len(rows) // (workers * 4)))
        )
        batches = [rows[i : i + size] for i in range(0, len(rows), size)]
        self._user_roles()  # read once, before the workers fork
        judged = fork_map(
            batches,
            lambda batch: self._judge(batch, month, start, end, as_of),
            workers=workers,
            initializer=self.store.reopen_read_only,
        )
        return sorted((t for part in judged for t in part), key=lambda t: t.ticket_id)

    def _judge(
        self,
        batch: list[tuple[Client, dict[str, Any]]],
        month: str,
        start: datetime,
        end: datetime,
        as_of: datetime,
    ) -> list[TicketSla]:
        """The tickets of `batch` that belong to the month, judged; their events, links,
        issues and hours read in four queries (a batch at a time keeps memory flat)."""
        ids = [row["id"] for _, row in batch]
        events = self.store.events_of_tickets(ids)
        links = self.store.links_of_tickets(ids)
        issues = self.store.rows_by_id("issues", [link["issue_id"] for link in links.values()])
        hours = self.store.hours_of_trees(issues)
        out = []
        for client, row in batch:
            created = datetime.fromisoformat(row["created_at"])
            if created >= end:
                continue
            line = self._timeline(events[row["id"]], created, as_of)
            solved_in_month = line.solved_at is not None and start <= line.solved_at < end
            if start <= created < end or solved_in_month:
                link = links.get(row["id"])
                issue = issues.get(link["issue_id"]) if link else None
                actual = hours[issue["id"]] if issue else None
                out.append(self._ticket(client, month, row, created, line, as_of, issue, actual))
        return out

    def summary(
        self, key: str, tickets: list[TicketSla], month: str, generated_at: datetime
    ) -> Summary:
        since, until = month_range(month)
        start = self._at(since, time(0, 0))
        end = self._at(until + timedelta(days=1), time(0, 0))
        first = [
            t.first_reply_business_minutes
            for t in tickets
            if t.first_reply_business_minutes is not None
        ]
        resolution = [
            t.resolution_business_minutes
            for t in tickets
            if t.resolution_business_minutes is not None
        ]
        rated = [t.satisfaction for t in tickets if t.satisfaction in ("good", "bad")]
        reasons = Counter(r for t in tickets for r in t.reasons)
        return Summary(
            key=key,
            opened=sum(1 for t in tickets if start <= t.created_at < end),
            solved=sum(1 for t in tickets if t.solved_at and start <= t.solved_at < end),
            still_open=sum(1 for t in tickets if t.solved_at is None),
            ack_met_pct=_pct([t.ack_met for t in tickets]),
            first_reply_met_pct=_pct([t.first_reply_met for t in tickets]),
            resolution_met_pct=_pct([t.resolution_met for t in tickets]),
            first_reply_median=_percentile(first, 50),
            first_reply_p90=_percentile(first, 90),
            resolution_median=_percentile(resolution, 50),
            resolution_p90=_percentile(resolution, 90),
            satisfaction_good_pct=_pct([r == "good" for r in rated]),
            rated=len(rated),
            ping_pong_pct=_pct([t.ping_pong for t in tickets]),
            over_estimate=sum(
                1 for t in tickets if t.estimate and t.actual is not None and t.actual > t.estimate
            ),
            top_reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:5]),
            breaches=tuple(b for t in tickets for b in _breaches(t, self.calendar)),
        )

    # ================================================================ one ticket
    def _ticket(
        self,
        client: Client,
        month: str,
        row: dict[str, Any],
        created: datetime,
        line: _Timeline,
        as_of: datetime,
        issue: dict[str, Any] | None,
        actual: Decimal | None,
    ) -> TicketSla:
        """`issue`: the linked issue; `actual`: the hours of its tree."""
        targets = self._targets(client, month, row["priority"])
        cal = self.calendar
        first_minutes = (
            cal.business_minutes(created, line.first_reply_at) if line.first_reply_at else None
        )
        resolution_minutes = (
            cal.business_minutes(created, line.solved_at) if line.solved_at else None
        )
        due = self._promised(row, issue)
        ack_deadline = (
            cal.ack_deadline(created, _clock(targets.ack_cutoff)) if targets.ack_cutoff else None
        )
        tags = [
            t
            for t in json.loads(row["tags"] or "[]")
            if t != self.config.zendesk.work_tag and not t.startswith(MARKER_TAG_PREFIX)
        ]
        reasons = tuple(
            [
                *tags,
                *([f"type:{row['type']}"] if row["type"] else []),
                *([f"tracker:{issue['tracker']}"] if issue else []),
            ]
        )
        estimate = Decimal(issue["estimated_hours"]) if issue and issue["estimated_hours"] else None
        zendesk = json.loads(row["metrics"] or "{}")
        return TicketSla(
            ticket_id=row["id"],
            client=client.id,
            subject=row["subject"] or "",
            url=row["url"] or "",
            priority=row["priority"],
            urgent=row["priority"] == "urgent",
            assignee_id=row["assignee_id"],
            created_at=created,
            first_reply_at=line.first_reply_at,
            solved_at=line.solved_at,
            first_reply_business_minutes=first_minutes,
            resolution_business_minutes=resolution_minutes,
            ack_deadline=ack_deadline,
            ack_met=_met_by(line.first_reply_at, ack_deadline, as_of),
            first_reply_met=_met_within(
                cal, created, line.first_reply_at, targets.first_reply_minutes, as_of, first_minutes
            ),
            resolution_met=(
                _met_by(line.solved_at, due, as_of)
                if due
                else _met_within(
                    cal,
                    created,
                    line.solved_at,
                    targets.resolution_minutes,
                    as_of,
                    resolution_minutes,
                )
            ),
            resolution_due=due,
            messages=line.messages,
            ping_pong=line.messages > PING_PONG_OVER,
            reopens=line.reopens,
            satisfaction=row["satisfaction"] or line.rating,
            reasons=reasons,
            estimate=estimate,
            actual=actual,
            targets=targets,
            zendesk_first_reply_minutes=zendesk.get("reply_time"),
            zendesk_resolution_minutes=zendesk.get("full_resolution_time"),
        )

    def _timeline(
        self, events: list[dict[str, Any]], created: datetime, as_of: datetime
    ) -> _Timeline:
        """From the ticket's events (`Store.events_for`, by time)."""
        roles = self._user_roles()
        first_reply = solved = None
        reopens = messages = 0
        rating = None
        status = None
        for e in events:
            at = datetime.fromisoformat(e["at"])
            if at > as_of:
                break
            if e["kind"] == "comment" and e["public"]:
                messages += 1
                if (
                    first_reply is None
                    and at > created
                    and roles.get(e["author_id"]) in AGENT_ROLES
                ):
                    first_reply = at
            elif e["kind"] == "status":
                if e["value"] in SOLVED and status not in SOLVED:
                    solved = at
                elif status == "solved" and e["value"] not in SOLVED:
                    reopens += 1
                    solved = None
                status = e["value"]
            elif e["kind"] == "rating":
                rating = e["value"] or rating
        return _Timeline(first_reply, solved, reopens, messages, rating)

    def _targets(self, client: Client, month: str, priority: str | None) -> Targets:
        plan_name = client.plan_for(month)
        sla = dict(self.config.plans[plan_name].sla) if plan_name in self.config.plans else {}
        override = sla.get(priority or "", {})
        if isinstance(override, dict):
            sla = {**sla, **override}

        def minutes(key: str) -> int | None:
            value = sla.get(key)
            return int(value) if isinstance(value, int) and not isinstance(value, bool) else None

        cutoff = sla.get("ack_cutoff")
        return Targets(
            minutes("first_reply_minutes"),
            minutes("resolution_minutes"),
            cutoff if isinstance(cutoff, str) else None,
        )

    def _promised(self, ticket: dict[str, Any], issue: dict[str, Any] | None) -> datetime | None:
        """A date promised to the client overrides the plan's resolution target: the ticket's
        due date, else the Redmine issue's due date (the end of that business day)."""
        if ticket["due_at"]:
            return datetime.fromisoformat(ticket["due_at"])
        if issue and issue["due_date"]:
            day = date.fromisoformat(issue["due_date"])
            if self.calendar.is_working_day(day):
                return self.calendar.closing(day)
            return self._at(day + timedelta(days=1), time(0, 0))
        return None

    def _agent(self, t: TicketSla) -> str:
        """An agent by name when Zendesk told us, else by id."""
        if not t.assignee_id:
            return "unassigned"
        return self._names.get(t.assignee_id) or str(t.assignee_id)

    def _user_roles(self) -> dict[int, str]:
        if self._roles is None:
            rows = self.store.user_roles()
            self._roles = {r["id"]: r["role"] for r in rows}
            self._names = {r["id"]: r["name"] for r in rows if r["name"]}
        return self._roles

    def _at(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self.calendar.zone).astimezone(UTC)

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.calendar.zone)


# ==================================================================== pure helpers
def _met_by(done: datetime | None, deadline: datetime | None, as_of: datetime) -> bool | None:
    if deadline is None:
        return None
    if done is not None:
        return done <= deadline
    return False if as_of > deadline else None  # not done, and not due yet: undecided


def _met_within(
    cal: Calendar,
    start: datetime,
    done: datetime | None,
    target: int | None,
    as_of: datetime,
    minutes: int | None = None,
) -> bool | None:
    """`minutes`: the business minutes from start to done, when the caller has them."""
    if target is None:
        return None
    if done is not None:
        return (cal.business_minutes(start, done) if minutes is None else minutes) <= target
    return False if cal.business_minutes(start, as_of) > target else None


def _breaches(t: TicketSla, cal: Calendar) -> list[Breach]:
    out = []
    if t.ack_met is False and t.ack_deadline:
        late = cal.business_minutes(t.ack_deadline, t.first_reply_at) if t.first_reply_at else None
        out.append(Breach(t.ticket_id, t.url, "acknowledgement", late))
    if t.first_reply_met is False:
        late = (
            t.first_reply_business_minutes - t.targets.first_reply_minutes
            if t.first_reply_business_minutes is not None
            and t.targets.first_reply_minutes is not None
            else None
        )
        out.append(Breach(t.ticket_id, t.url, "first reply", late))
    if t.resolution_met is False:
        late = None
        if t.resolution_due and t.solved_at:
            late = cal.business_minutes(t.resolution_due, t.solved_at)
        elif t.resolution_business_minutes is not None and t.targets.resolution_minutes:
            late = t.resolution_business_minutes - t.targets.resolution_minutes
        out.append(Breach(t.ticket_id, t.url, "resolution", late))
    return out


def _pct(flags: list[bool | None]) -> Decimal | None:
    known = [f for f in flags if f is not None]
    if not known:
        return None
    share = Decimal(sum(1 for f in known if f)) * 100 / Decimal(len(known))
    return share.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _percentile(values: list[int], pct: int) -> int | None:
    """Nearest-rank percentile: a value that occurred, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-pct * len(ordered) // 100))  # ceil(pct/100 * n)
    return ordered[rank - 1]


def _clock(text: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    return time(hours, minutes)


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]
