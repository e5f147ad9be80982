"""mappings.references: ticket ids people wrote by hand into Redmine issues."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.references import MAX_TICKET_ID, ticket_id_from_field, ticket_refs
from syncd.config import DEFAULT_TICKET_PATTERNS

P = DEFAULT_TICKET_PATTERNS


def refs(*texts: str | None) -> list[int]:
    return ticket_refs(texts, P)


# ---------------------------------------------------------------------- each default pattern
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Zendesk #123", [123]),
        ("see zendesk#123 please", [123]),
        ("ZENDESK  #  123", [123]),
        ("Ticket#123", [123]),
        ("ticket #123", [123]),
        ("TICKET # 123.", [123]),
        ("zd-123", [123]),
        ("(ZD-123)", [123]),
        ("fixes zd-123, see log", [123]),
        ("https://x.zendesk.com/agent/tickets/123", [123]),
        ("http://127.0.0.1:8765/agent/tickets/123", [123]),
        ("link: <https://x.zendesk.com/agent/tickets/123>", [123]),
        ("https://x.zendesk.com/api/v2/tickets/123.json", [123]),
        ("Zendesk #1", [1]),
        (f"zd-{MAX_TICKET_ID}", [MAX_TICKET_ID]),
    ],
)
def test_default_patterns_find_the_ticket(text: str, expected: list[int]) -> None:
    assert refs(text) == expected


# ---------------------------------------------------------------------- no false positives
@pytest.mark.parametrize(
    "text",
    [
        "Redmine #5",
        "issue #5 and #6",
        "bug 123, see commit 4567",
        "zd-12abc",
        "xzd-123",
        "zd-",
        "Ticket #",
        "Zendesk #abc",
        "Zendesk #0",
        "zd-0",
        "https://x.zendesk.com/agent/tickets/0",
        "https://x.zendesk.com/agent/users/123",
        "Zendesk #" + "9" * 30,  # phone numbers, OTRS numbers glued to text
        f"zd-{MAX_TICKET_ID + 1}",
        f"Ticket#{2**64}",
        "Zendesk #١٢٣",  # Arabic-Indic digits match \d but are no Zendesk id
        "zd-١٢٣",
        "Ticket#１２３",  # fullwidth digits
        "https://x.zendesk.com/agent/tickets/١٢٣",
        "",
        "   \n\t ",
        "Zendesk",
    ],
)
def test_ordinary_text_is_no_reference(text: str) -> None:
    assert refs(text) == []


def test_none_and_empty_texts_are_skipped() -> None:
    assert refs(None, "", "zd-7", None) == [7]
    assert ticket_refs([], P) == []


# ---------------------------------------------------------------------- order and de-duplication
def test_order_is_position_in_text_not_pattern_order() -> None:
    text = "https://x.zendesk.com/agent/tickets/30 then zd-10 and later Zendesk #20, Ticket#40"
    assert refs(text) == [30, 10, 20, 40]


def test_order_across_texts_is_first_appearance() -> None:
    assert refs("zd-5 Ticket#3", "Zendesk #9 zd-5", "zd-3 zd-1") == [5, 3, 9, 1]


def test_duplicates_are_reported_once() -> None:
    text = "Zendesk #42, again zd-42, Ticket#42 and https://x.zendesk.com/agent/tickets/42"
    assert refs(text, "Zendesk #42") == [42]


def test_subject_and_description_together() -> None:
    # what adoption passes: the subject, then the description created by new_issue()
    assert refs("Fix login (zd-77)", "Zendesk #77: https://a.zendesk.com/agent/tickets/77") == [77]


def test_custom_patterns_are_used_instead_of_defaults() -> None:
    patterns = (r"(?i)\botrs-(\d+)\b",)
    assert ticket_refs(["OTRS-31 and zd-5"], patterns) == [31]


def test_a_huge_run_does_not_hide_a_valid_reference_next_to_it() -> None:
    assert refs(f"zd-{'9' * 25} but Zendesk #12") == [12]


# ---------------------------------------------------------------------- properties
FORMATS = (
    "Zendesk #{}",
    "zendesk#{}",
    "Ticket#{}",
    "ticket # {}",
    "zd-{}",
    "ZD-{}",
    "https://acme.zendesk.com/agent/tickets/{}",
    "http://127.0.0.1:8765/api/v2/tickets/{}.json",
)


@given(
    ticket_id=st.integers(min_value=1, max_value=MAX_TICKET_ID),
    fmt=st.sampled_from(FORMATS),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
)
def test_any_positive_id_in_any_format_is_found(
    ticket_id: int, fmt: str, before: str, after: str
) -> None:
    text = f"{before} {fmt.format(ticket_id)} {after}"
    assert ticket_id in refs(text)


@given(ticket_id=st.integers(min_value=1, max_value=MAX_TICKET_ID), fmt=st.sampled_from(FORMATS))
def test_a_lone_reference_yields_exactly_that_id(ticket_id: int, fmt: str) -> None:
    assert refs(fmt.format(ticket_id)) == [ticket_id]


@given(texts=st.lists(st.one_of(st.none(), st.text()), max_size=5))
def test_arbitrary_text_never_raises_and_yields_valid_unique_ids(texts: list[str | None]) -> None:
    found = ticket_refs(texts, P)
    assert len(found) == len(set(found))
    assert all(isinstance(n, int) and 0 < n <= MAX_TICKET_ID for n in found)


# ---------------------------------------------------------------------- ticket_id_from_field
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("123", 123),
        (" #123 ", 123),
        ("#123", 123),
        ("# 123", 123),
        (123, 123),
        (str(MAX_TICKET_ID), MAX_TICKET_ID),
        ("", None),
        (None, None),
        ("abc", None),
        ("0", None),
        ("-5", None),
        ("12a", None),
        ("1 2", None),
        ("1.5", None),
        ("١٢٣", None),
        (str(MAX_TICKET_ID + 1), None),
        ("   ", None),
        ("#", None),
    ],
)
def test_ticket_id_from_field(value: object, expected: int | None) -> None:
    assert ticket_id_from_field(value) == expected
