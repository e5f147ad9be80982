"""Invoices to plain JSON-able dicts and back: how a frozen month is kept in the store.
Decimals as strings (exact), dates as ISO strings."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from reports.model import (
    Adjustment,
    Charge,
    ClientInvoice,
    EntryDetail,
    Estimate,
    Line,
    TariffBalance,
)


def to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def invoice_from_dict(d: dict[str, Any]) -> ClientInvoice:
    def line(x: dict[str, Any]) -> Line:
        return Line(
            ticket_id=x["ticket_id"],
            issue_id=x["issue_id"],
            subject=x["subject"],
            hours=Decimal(x["hours"]),
            billable_hours=Decimal(x["billable_hours"]),
            rate=_dec(x["rate"]),
            amount=Decimal(x["amount"]),
            rule=x["rule"],
            note=x["note"],
            entries=tuple(
                EntryDetail(
                    entry_id=e["entry_id"],
                    spent_on=date.fromisoformat(e["spent_on"]),
                    user=e["user"],
                    activity=e["activity"],
                    hours=Decimal(e["hours"]),
                    comments=e["comments"],
                    issue_id=e["issue_id"],
                    rate=_dec(e["rate"]),
                )
                for e in x["entries"]
            ),
        )

    tariff = d.get("tariff")
    return ClientInvoice(
        client=d["client"],
        name=d["name"],
        month=d["month"],
        currency=d["currency"],
        plan=d["plan"],
        plan_kind=d["plan_kind"],
        hours=Decimal(d["hours"]),
        billable_hours=Decimal(d["billable_hours"]),
        amount=Decimal(d["amount"]),
        vat_rate=_dec(d["vat_rate"]),
        vat=Decimal(d["vat"]),
        total=Decimal(d["total"]),
        lines=tuple(line(x) for x in d["lines"]),
        charges=tuple(
            Charge(
                c["kind"], c["description"], _dec(c["hours"]), _dec(c["rate"]), Decimal(c["amount"])
            )
            for c in d["charges"]
        ),
        adjustments=tuple(
            Adjustment(
                a["ticket_id"],
                a["issue_id"],
                a["month"],
                Decimal(a["hours"]),
                Decimal(a["amount"]),
                a["reason"],
            )
            for a in d["adjustments"]
        ),
        estimates=tuple(
            Estimate(
                e["ticket_id"],
                e["issue_id"],
                e["subject"],
                Decimal(e["estimate"]),
                Decimal(e["actual"]),
                Decimal(e["over_by"]),
                e["flagged"],
            )
            for e in d["estimates"]
        ),
        tariff=TariffBalance(
            *(Decimal(tariff[k]) for k in ("included", "carried", "used", "overage", "unused"))
        )
        if tariff
        else None,
        frozen=d["frozen"],
    )
