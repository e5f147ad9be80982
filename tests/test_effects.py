"""syncd.effects.Effects: journaled writes, crash recovery through verify(), dry run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Issue
from syncd.effects import Effects
from syncd.state import Store

T0 = datetime(2026, 10, 5, 9, 12, tzinfo=UTC)


def an_issue(issue_id: int = 77) -> Issue:
    return Issue(
        id=issue_id,
        project="acme-site",
        tracker="Bug",
        status="New",
        priority="Normal",
        subject="s",
        description="d",
        created_on=T0,
        updated_on=T0,
    )


class Calls:
    """A do() or verify() stand-in that counts its calls and returns a fixed value."""

    def __init__(self, result: Any = None, exc: BaseException | None = None) -> None:
        self.result, self.exc, self.n = result, exc, 0

    def __call__(self) -> Any:
        self.n += 1
        if self.exc is not None:
            raise self.exc
        return self.result


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "syncd.db")
    yield s
    s.close()


def run(fx: Effects, do: Calls, verify: Calls, key: str = "create_issue:1", **kw: Any) -> Any:
    return fx.run(
        key,
        "create_issue",
        describe="create issue for ticket #1",
        do=do,
        verify=verify,
        ticket_id=1,
        **kw,
    )


# ---------------------------------------------------------------------- once
def test_run_performs_once(store: Store) -> None:
    lines: list[str] = []
    fx = Effects(store, announce=lines.append)
    do, verify = Calls(an_issue(77)), Calls(None)

    assert run(fx, do, verify) == an_issue(77)
    assert (do.n, verify.n) == (1, 0)
    row = store.effect("create_issue:1")
    assert (row["status"], row["kind"], row["ticket_id"], row["issue_id"]) == (
        "done",
        "create_issue",
        1,
        77,
    )
    assert fx.performed == ["create_issue:1"]
    assert lines == ["create issue for ticket #1"]

    # the same key again: nothing happens, None says "done in an earlier cycle"
    assert run(fx, do, verify) is None
    assert (do.n, verify.n) == (1, 0)
    assert fx.performed == ["create_issue:1"]
    assert lines == ["create issue for ticket #1"]


def test_done_survives_a_new_process(tmp_path: Path) -> None:
    s = Store(tmp_path / "syncd.db")
    run(Effects(s), Calls("ok"), Calls(None))
    s.close()
    s = Store(tmp_path / "syncd.db")
    try:
        do, verify = Calls("again"), Calls("found")
        assert run(Effects(s), do, verify) is None
        assert (do.n, verify.n) == (0, 0)
    finally:
        s.close()


def test_different_keys_each_run(store: Store) -> None:
    fx = Effects(store)
    do = Calls("ok")
    run(fx, do, Calls(None), key="reply_done:1:1")
    run(fx, do, Calls(None), key="reply_done:1:2")
    assert do.n == 2
    assert fx.performed == ["reply_done:1:1", "reply_done:1:2"]


def test_detail_is_journaled(store: Store) -> None:
    run(Effects(store), Calls("ok"), Calls(None), detail={"project": "acme-site"})
    assert '"project": "acme-site"' in store.effect("create_issue:1")["detail"]


# ---------------------------------------------------------------------- crash recovery
def crash_left_pending(store: Store, key: str = "create_issue:1") -> None:
    """What a kill -9 between the write and finish_effect leaves behind."""
    store.begin_effect(key, "create_issue", ticket_id=1, issue_id=None, detail={})


def test_pending_row_is_verified_and_not_redone(store: Store) -> None:
    crash_left_pending(store)
    do, verify = Calls(an_issue(99)), Calls(an_issue(55))
    assert run(Effects(store), do, verify) == an_issue(55)
    assert (do.n, verify.n) == (0, 1)
    row = store.effect("create_issue:1")
    assert (row["status"], row["issue_id"]) == ("done", 55)
    assert store.pending_effects() == []
    # and it is done for good
    assert run(Effects(store), do, verify) is None
    assert (do.n, verify.n) == (0, 1)


def test_pending_verified_true_counts_as_found(store: Store) -> None:
    crash_left_pending(store)
    do, verify = Calls("did"), Calls(True)
    assert run(Effects(store), do, verify) is True
    assert (do.n, verify.n) == (0, 1)
    assert store.effect("create_issue:1")["status"] == "done"


@pytest.mark.parametrize("not_found", [None, False])
def test_pending_row_not_found_by_verify_is_redone(store: Store, not_found: Any) -> None:
    crash_left_pending(store)
    do, verify = Calls(an_issue(99)), Calls(not_found)
    assert run(Effects(store), do, verify) == an_issue(99)
    assert (do.n, verify.n) == (1, 1)
    row = store.effect("create_issue:1")
    assert (row["status"], row["issue_id"]) == ("done", 99)


def test_do_failure_leaves_pending_then_next_cycle_verifies(store: Store) -> None:
    fx = Effects(store)
    boom = Calls(exc=TimeoutError("read timed out"))
    with pytest.raises(TimeoutError):
        run(fx, boom, Calls(None))
    assert store.effect("create_issue:1")["status"] == "pending"
    assert fx.performed == []

    do, verify = Calls(an_issue(1)), Calls(an_issue(42))
    assert run(Effects(store), do, verify) == an_issue(42)
    assert (do.n, verify.n) == (0, 1)


def test_verify_is_not_called_without_a_pending_row(store: Store) -> None:
    verify = Calls(an_issue(1))
    run(Effects(store), Calls("ok"), verify)
    assert verify.n == 0


# ---------------------------------------------------------------------- dry run
def test_dry_run_announces_and_touches_nothing(store: Store) -> None:
    lines: list[str] = []
    fx = Effects(store, dry_run=True, announce=lines.append)
    do, verify = Calls("did"), Calls("found")
    result = run(fx, do, verify, placeholder="PLACEHOLDER")
    assert result == "PLACEHOLDER"
    assert lines == ["would create issue for ticket #1"]
    assert (do.n, verify.n) == (0, 0)
    assert store.effect("create_issue:1") is None
    assert store.count("effects") == 0
    assert fx.performed == ["create_issue:1"]


def test_dry_run_placeholder_defaults_to_none(store: Store) -> None:
    assert run(Effects(store, dry_run=True), Calls("x"), Calls("y")) is None


def test_dry_run_with_pending_row_does_not_verify(store: Store) -> None:
    crash_left_pending(store)
    lines: list[str] = []
    do, verify = Calls("did"), Calls("found")
    run(Effects(store, dry_run=True, announce=lines.append), do, verify)
    assert (do.n, verify.n) == (0, 0)
    assert lines == ["would create issue for ticket #1"]
    assert store.effect("create_issue:1")["status"] == "pending"


def test_dry_run_skips_what_is_already_done(store: Store) -> None:
    run(Effects(store), Calls("ok"), Calls(None))
    lines: list[str] = []
    fx = Effects(store, dry_run=True, announce=lines.append)
    assert run(fx, Calls("x"), Calls("y")) is None
    assert lines == []
    assert fx.performed == []


# ---------------------------------------------------------------------- plain writes
def test_plain_performs_and_announces(store: Store) -> None:
    lines: list[str] = []
    do = Calls("result")
    fx = Effects(store, announce=lines.append)
    assert fx.plain("set hours on ticket #1", do, ticket=1) == "result"
    assert fx.plain("set hours on ticket #1", do, ticket=1) == "result"  # not journaled
    assert do.n == 2
    assert lines == ["set hours on ticket #1"] * 2
    assert store.count("effects") == 0


def test_plain_in_dry_run_does_not_call_do(store: Store) -> None:
    lines: list[str] = []
    do = Calls("result")
    fx = Effects(store, dry_run=True, announce=lines.append)
    assert fx.plain("set hours on ticket #1", do) is None
    assert do.n == 0
    assert lines == ["would set hours on ticket #1"]


def test_default_announce_is_silent(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    fx = Effects(store, dry_run=True)
    run(fx, Calls("x"), Calls("y"))
    fx.plain("set", Calls("z"))
    out = capsys.readouterr()
    assert "would" not in out.out + out.err
