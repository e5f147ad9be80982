"""What a billing report says, as plain frozen records: computed by `reports.billing`, written
by the renderers (`reports.render_*`). Money and hours are Decimal; every figure on a line can be
traced to the time entries listed under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class EntryDetail:
    """One Redmine time entry as billed: the evidence behind a line."""

    entry_id: int
    spent_on: date
    user: str
    activity: str
    hours: Decimal
    comments: str
    issue_id: int | None
    rate: Decimal | None  # the hourly rate that applies to it (None: not billed by the hour)


@dataclass(frozen=True)
class Line:
    """One request (a ticket, or an issue without a ticket) under one billing rule."""

    ticket_id: int | None
    issue_id: int | None
    subject: str
    hours: Decimal  # logged in the month, exactly as in Redmine
    billable_hours: Decimal  # after the rules and rounding; 0 when not billable
    rate: Decimal | None
    amount: Decimal
    rule: str | None  # the rule that made it not billable; None when billed
    note: str  # how the amount came about, in words ("rounded up to 0.25 h", …)
    entries: tuple[EntryDetail, ...]


@dataclass(frozen=True)
class Charge:
    """A plan-level figure: the monthly fee, overage beyond included hours."""

    kind: str  # "fee" | "overage"
    description: str
    hours: Decimal | None
    rate: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class Adjustment:
    """A change, found later, to a month that was already invoiced (frozen)."""

    ticket_id: int | None
    issue_id: int | None
    month: str  # the frozen month it corrects, YYYY-MM
    hours: Decimal  # signed
    amount: Decimal  # signed
    reason: str


@dataclass(frozen=True)
class Estimate:
    """Profitability of one request: the estimate given against all hours spent so far."""

    ticket_id: int | None
    issue_id: int
    subject: str
    estimate: Decimal
    actual: Decimal
    over_by: Decimal  # actual / estimate - 1, e.g. 0.25 = 25 % over
    flagged: bool


@dataclass(frozen=True)
class TariffBalance:
    included: Decimal  # hours the plan includes this month
    carried: Decimal  # unused hours rolled over from earlier months
    used: Decimal  # billable hours this month
    overage: Decimal  # hours beyond included + carried
    unused: Decimal  # left at month end (rolls over or expires)


@dataclass(frozen=True)
class ClientInvoice:
    client: str
    name: str
    month: str
    currency: str
    plan: str
    plan_kind: str
    hours: Decimal  # every hour logged in the month on the client's projects
    billable_hours: Decimal
    amount: Decimal  # before VAT: lines + charges + adjustments
    vat_rate: Decimal | None  # percent
    vat: Decimal
    total: Decimal  # amount + vat
    lines: tuple[Line, ...]
    charges: tuple[Charge, ...]
    adjustments: tuple[Adjustment, ...]
    estimates: tuple[Estimate, ...]
    tariff: TariffBalance | None
    frozen: bool  # the month has been invoiced and closed


@dataclass(frozen=True)
class UnassignedTicket:
    ticket_id: int
    subject: str
    organization_id: int | None


@dataclass(frozen=True)
class BillingReport:
    month: str
    generated_at: datetime
    clients: tuple[ClientInvoice, ...]
    unassigned: tuple[UnassignedTicket, ...]


def money(value: Decimal) -> Decimal:
    """Half-up to kopecks/cents, the way an invoice rounds."""
    return value.quantize(CENT, rounding="ROUND_HALF_UP")
