"""A tariff's replay of earlier months may start after the last month that used up all it
could have had: the balance is the same as replaying every month (issue 6: the replay read
every earlier month's entries for every tariff client)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from reports.billing import _replay, replay_starts_after
from syncd.billing_config import Plan

HOURS = st.decimals(min_value=0, max_value=120, places=2, allow_nan=False, allow_infinity=False)


def _months(n: int) -> list[str]:
    return [f"{2024 + (i // 12):04d}-{i % 12 + 1:02d}" for i in range(n)]


@settings(max_examples=300, deadline=None)
@given(
    used=st.lists(HOURS, min_size=1, max_size=30),
    included=st.sampled_from([Decimal("0"), Decimal("5"), Decimal("10"), Decimal("40.5")]),
    rollover=st.integers(min_value=0, max_value=4),
)
def test_replay_from_the_last_month_that_used_everything_is_the_full_replay(
    used: list[Decimal], included: Decimal, rollover: int
) -> None:
    plan = Plan(
        name="t",
        kind="tariff",
        currency="RUB",
        fee=Decimal("1"),
        included_hours=included,
        overage_rate=Decimal("1"),
        rollover_months=rollover,
    )
    months = list(zip(_months(len(used)), used, strict=True))
    full = _replay(plan, months)
    # As Billing does: from the month before the reported one backwards, up to the cut.
    start = 0
    for i in range(len(months) - 2, -1, -1):
        if replay_starts_after(plan, months[i][1]):
            start = i + 1
            break
    # The same figures, written the same way (Decimal("0") is not Decimal("0.00") on paper).
    assert repr(_replay(plan, months[start:])) == repr(full)


def test_the_cut_is_where_nothing_can_be_left() -> None:
    plan = Plan(
        name="t",
        kind="tariff",
        currency="RUB",
        fee=Decimal("1"),
        included_hours=Decimal("10"),
        overage_rate=Decimal("1"),
        rollover_months=2,
    )
    assert replay_starts_after(plan, Decimal("30"))
    assert not replay_starts_after(plan, Decimal("29.99"))
    # 10 unused in each of two months, then 30 used: 20 carried + 10 own, nothing left over.
    months = [("2026-01", Decimal("0")), ("2026-02", Decimal("0")), ("2026-03", Decimal("30"))]
    after = _replay(plan, [*months, ("2026-04", Decimal("0"))])
    assert after == _replay(plan, [("2026-04", Decimal("0"))])
    assert after.carried == 0
