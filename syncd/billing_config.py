"""The billing part of the configuration: plans, ordered billable rules, report settings.

Money and hours are written as strings in the TOML ("2500.00") and become Decimal here: a TOML
float would already have lost the exact value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncd.config import _Reader

PLAN_KINDS = ("hourly", "tariff", "per_request", "subscription")
ROUNDING_MODES = ("up", "nearest")


@dataclass(frozen=True)
class Plan:
    name: str
    kind: str
    currency: str
    rate: Decimal | None = None  # hourly; per_request prices an estimate with it
    rates_by_activity: dict[str, Decimal] = field(default_factory=dict)
    rates_by_user: dict[str, Decimal] = field(default_factory=dict)
    rounding_increment: Decimal | None = None  # hours, per request per month
    rounding: str = "up"
    minimum_charge: Decimal | None = None  # per request, money
    fee: Decimal | None = None  # tariff, subscription
    included_hours: Decimal = Decimal("0")
    overage_rate: Decimal | None = None
    rollover_months: int = 0  # unused tariff hours stay usable this many months
    price: Decimal | None = None  # per_request default price
    price_field_id: int | None = None  # Zendesk ticket field with the agreed price
    vat_rate: Decimal | None = None  # percent
    sla: dict[str, Any] = field(default_factory=dict)  # read by the SLA report


@dataclass(frozen=True)
class BillingRule:
    """Ordered; the first rule whose every condition holds decides. Conditions left out match."""

    name: str
    billable: bool
    activity: str | None = None
    tracker: str | None = None
    tag: str | None = None
    entry_field_id: int | None = None  # a time-entry custom field ...
    entry_value: str | None = None  # ... holding this value
    within_warranty: bool | None = None


@dataclass(frozen=True)
class BillingSettings:
    rules: tuple[BillingRule, ...] = ()
    studio_name: str = ""
    estimate_tolerance: Decimal = Decimal("0.20")  # flag requests over their estimate by more
    output_dir: str = "var/reports"
    report_at: tuple[int, int] = (6, 0)  # on the 1st, UTC: when `syncd run` writes the reports


def parse_decimal(
    r: _Reader, key: str, default: Any = None, *, positive: bool = False
) -> Decimal | None:
    value = r.get(key, (str, int), default)
    if value is None:
        return None
    if isinstance(value, float):  # pragma: no cover - excluded by the type check above
        r.fail(key, 'write it as a string, e.g. "2500.00"')
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        r.fail(key, f'must be a number written as a string, e.g. "2500.00"; got {value!r}')
        raise AssertionError from None  # fail() raises; this line satisfies type checkers
    if not number.is_finite() or number < 0 or (positive and number == 0):
        r.fail(key, f"must be {'greater than 0' if positive else 'zero or more'}; got {value!r}")
    return number


def _rates(r: _Reader, key: str) -> dict[str, Decimal]:
    table = r.get(key, dict, {})
    out: dict[str, Decimal] = {}
    for name, value in table.items():
        try:
            rate = Decimal(str(value))
        except InvalidOperation:
            rate = Decimal("NaN")
        if isinstance(value, float) or not rate.is_finite() or rate < 0:
            r.fail(key, f"{name!r}: a rate is a non-negative number written as a string")
        out[str(name)] = rate
    return out


def parse_plans(path: Any, raw: Any, reader: type[_Reader]) -> dict[str, Plan]:
    plans: dict[str, Plan] = {}
    table = reader(path, "plans", raw)
    for name, body in sorted(table.table.items()):
        r = reader(path, f"plans.{name}", body)
        kind = r.get(
            "kind",
            str,
            check=lambda v: None if v in PLAN_KINDS else f"must be one of {', '.join(PLAN_KINDS)}",
        )
        plan = Plan(
            name=name,
            kind=kind,
            currency=r.get("currency", str, "RUB", check=_currency),
            rate=parse_decimal(r, "rate"),
            rates_by_activity=_rates(r, "rates_by_activity"),
            rates_by_user=_rates(r, "rates_by_user"),
            rounding_increment=parse_decimal(r, "rounding_increment", positive=True),
            rounding=r.get(
                "rounding",
                str,
                "up",
                check=lambda v: None if v in ROUNDING_MODES else "must be 'up' or 'nearest'",
            ),
            minimum_charge=parse_decimal(r, "minimum_charge"),
            fee=parse_decimal(r, "fee"),
            included_hours=parse_decimal(r, "included_hours", "0") or Decimal("0"),
            overage_rate=parse_decimal(r, "overage_rate"),
            rollover_months=r.get(
                "rollover_months", int, 0, check=lambda v: None if v >= 0 else "must be 0 or more"
            ),
            price=parse_decimal(r, "price"),
            price_field_id=r.get("price_field_id", int, None),
            vat_rate=parse_decimal(r, "vat_rate"),
            sla=_sla_targets(reader(path, f"plans.{name}.sla", r.get("sla", dict, {})), reader),
        )
        r.reject_unknown()
        needs = {
            "hourly": ("rate",),
            "tariff": ("fee", "overage_rate"),
            "subscription": ("fee",),
            "per_request": (),
        }[kind]
        for key in needs:
            if getattr(plan, key) is None:
                r.fail(key, f"is required for a {kind} plan")
        if (
            kind == "per_request"
            and plan.price is None
            and plan.price_field_id is None
            and plan.rate is None
        ):
            r.fail(
                "price",
                "a per_request plan needs price, price_field_id or rate (to price the estimate)",
            )
        plans[name] = plan
    return plans


def parse_billing(path: Any, raw: Any, reader: type[_Reader]) -> BillingSettings:
    b = reader(path, "billing", raw)
    rules = []
    for i, item in enumerate(b.get("rules", list, [])):
        r = reader(path, f"billing.rules[{i}]", item)
        value = r.get("entry_value", (str, int, bool), None)
        if isinstance(value, bool):  # a checkbox field: Redmine stores "1" / "0"
            value = "1" if value else "0"
        rule = BillingRule(
            name=r.get("name", str),
            billable=r.get("billable", bool),
            activity=r.get("activity", str, None),
            tracker=r.get("tracker", str, None),
            tag=r.get("tag", str, None),
            entry_field_id=r.get("entry_field_id", int, None),
            entry_value=None if value is None else str(value),
            within_warranty=r.get("within_warranty", bool, None),
        )
        r.reject_unknown()
        if (rule.entry_field_id is None) != (rule.entry_value is None):
            r.fail("entry_field_id", "entry_field_id and entry_value go together")
        conditions = (
            rule.activity,
            rule.tracker,
            rule.tag,
            rule.entry_field_id,
            rule.within_warranty,
        )
        if all(c is None for c in conditions):
            r.fail(
                "name",
                "a rule needs at least one condition: activity, tracker, tag, "
                "entry_field_id/entry_value or within_warranty",
            )
        rules.append(rule)
    settings = BillingSettings(
        rules=tuple(rules),
        studio_name=b.get("studio_name", str, ""),
        estimate_tolerance=parse_decimal(b, "estimate_tolerance", "0.20") or Decimal("0"),
        output_dir=b.get("output_dir", str, "var/reports"),
        report_at=_clock(b, "report_at", "06:00"),
    )
    b.reject_unknown()
    return settings


SLA_PRIORITIES = ("low", "normal", "high", "urgent")  # Zendesk's ticket priorities


def _sla_targets(r: _Reader, reader: type[_Reader], *, nested: bool = False) -> dict[str, Any]:
    """[plans.X.sla] and its per-priority tables, checked at load: the SLA report reads them
    months later, and a target written as "180" or a misspelt key would silently vanish."""
    out: dict[str, Any] = {}
    for key in ("first_reply_minutes", "resolution_minutes"):
        value = r.get(key, int, None, check=lambda v: None if v > 0 else "must be greater than 0")
        if value is not None:
            out[key] = value
    if r.get("ack_cutoff", str, None) is not None:
        _clock(r, "ack_cutoff", "12:00")
        out["ack_cutoff"] = r.table["ack_cutoff"]
    if not nested:
        for priority in SLA_PRIORITIES:
            table = r.get(priority, dict, None)
            if table is not None:
                sub = reader(r.path, f"{r.section}.{priority}", table)
                out[priority] = _sla_targets(sub, reader, nested=True)
    r.reject_unknown()
    return out


def _clock(r: _Reader, key: str, default: str) -> tuple[int, int]:
    text = r.get(key, str, default)
    try:
        hours, minutes = (int(x) for x in text.split(":"))
        if not (0 <= hours < 24 and 0 <= minutes < 60):
            raise ValueError
    except ValueError:
        r.fail(key, f"must be a time like 06:00, got {text!r}")
        raise AssertionError from None
    return hours, minutes


def _currency(value: str) -> str | None:
    return (
        None
        if len(value) == 3 and value.isalpha() and value.isupper()
        else "must be a three-letter ISO code like RUB, EUR, USD"
    )
