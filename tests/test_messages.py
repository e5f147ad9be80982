"""syncd.messages: the shipped templates render in both languages; problems name the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from syncd.messages import TEMPLATE_NAMES, Messages, TemplateError

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "config" / "templates"
LANGUAGES = ("ru", "en")

# Exactly the values syncd/engine.py passes to each template (no more: a template that needs a
# name the engine does not give fails at runtime).
STATUS_VALUES = {
    "issue_id": 4242,
    "issue_url": "http://redmine.test/issues/4242",
    "status": "Resolved",
    "old_status": "In Progress",
    "subject": "Сайт не открывается",
    "ticket_id": 17,
}
ENGINE_VALUES: dict[str, dict[str, object]] = {
    "status_note": STATUS_VALUES,
    "done": STATUS_VALUES,
    "linked_note": {
        "issue_id": 4242,
        "issue_url": "http://redmine.test/issues/4242",
        "project": "acme-site",
        "subject": "Сайт не открывается",
        "ticket_id": 17,
    },
    "in_work": {
        "issue_id": 4242,
        "issue_url": "http://redmine.test/issues/4242",
        "project": "acme-site",
        "subject": "Сайт не открывается",
        "ticket_id": 17,
        "estimate_line": " ESTIMATE-LINE",
    },
    "estimate": {"estimate": "2.5"},
    "reopen_note": {"ticket_id": 17, "ticket_url": "https://acme.zendesk.com/agent/tickets/17"},
}
# What each rendering must show: the values a reader needs.
MUST_SHOW = {
    "status_note": ["4242", "Resolved", "In Progress", "http://redmine.test/issues/4242"],
    "done": ["4242", "Сайт не открывается"],
    "linked_note": ["4242", "acme-site", "http://redmine.test/issues/4242"],
    "in_work": ["4242", "Сайт не открывается", "ESTIMATE-LINE"],
    "estimate": ["2.5"],
    "reopen_note": ["17", "https://acme.zendesk.com/agent/tickets/17"],
}


def test_engine_values_cover_every_template() -> None:
    assert set(ENGINE_VALUES) == set(TEMPLATE_NAMES) == set(MUST_SHOW)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_shipped_template_renders_with_engine_values(name: str, language: str) -> None:
    text = Messages(SHIPPED).render(name, language, **ENGINE_VALUES[name])
    assert text
    assert text == text.strip()
    assert "$" not in text
    for value in MUST_SHOW[name]:
        assert value in text, (name, language, value)


def test_languages_differ() -> None:
    m = Messages(SHIPPED)
    for name in TEMPLATE_NAMES:
        ru = m.render(name, "ru", **ENGINE_VALUES[name])
        en = m.render(name, "en", **ENGINE_VALUES[name])
        assert ru != en, name


def test_estimate_line_is_stripped_so_the_engine_controls_spacing() -> None:
    # the shipped estimate.txt starts with a space; render() strips, the engine adds " "
    text = Messages(SHIPPED).render("estimate", "en", estimate="1.5")
    assert not text.startswith(" ")
    assert "1.5" in text


def test_non_string_values_are_converted_to_text() -> None:
    values = {**ENGINE_VALUES["linked_note"], "issue_id": 4242, "project": None}
    text = Messages(SHIPPED).render("linked_note", "en", **values)
    assert "#4242" in text
    assert "(None)" in text


def test_check_passes_for_shipped_templates() -> None:
    assert Messages(SHIPPED).check({"ru", "en"}) == []


# ---------------------------------------------------------------------- broken templates
@pytest.fixture
def tdir(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(SHIPPED, target)
    return target


def test_unknown_placeholder_names_file_and_placeholder(tdir: Path) -> None:
    path = tdir / "en" / "done.txt"
    path.write_text("Done: $subject, see $nobody_knows\n", encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        Messages(tdir).render("done", "en", **ENGINE_VALUES["done"])
    assert str(path) in str(info.value)
    assert "$nobody_knows" in str(info.value)


def test_invalid_placeholder_names_file(tdir: Path) -> None:
    path = tdir / "ru" / "estimate.txt"
    path.write_text("Стоимость $5 за час\n", encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        Messages(tdir).render("estimate", "ru", estimate="1")
    assert str(path) in str(info.value)


def test_missing_template_names_file(tdir: Path) -> None:
    path = tdir / "en" / "reopen_note.txt"
    path.unlink()
    with pytest.raises(TemplateError) as info:
        Messages(tdir).render("reopen_note", "en", **ENGINE_VALUES["reopen_note"])
    assert str(path) in str(info.value)
    assert "cannot read template" in str(info.value)


def test_missing_language_names_file() -> None:
    with pytest.raises(TemplateError) as info:
        Messages(SHIPPED).render("done", "de", **ENGINE_VALUES["done"])
    assert str(SHIPPED / "de" / "done.txt") in str(info.value)


def test_dollar_escape_renders_a_dollar(tdir: Path) -> None:
    (tdir / "en" / "estimate.txt").write_text("Price $$10, $estimate h\n", encoding="utf-8")
    assert Messages(tdir).render("estimate", "en", estimate="2") == "Price $10, 2 h"


def test_check_reports_a_broken_template(tdir: Path) -> None:
    broken = tdir / "en" / "in_work.txt"
    broken.write_text("Hello $oops\n", encoding="utf-8")
    problems = Messages(tdir).check({"ru", "en"})
    assert len(problems) == 1
    assert str(broken) in problems[0]
    assert "$oops" in problems[0]


def test_check_reports_each_missing_template(tdir: Path) -> None:
    (tdir / "ru" / "done.txt").unlink()
    (tdir / "ru" / "estimate.txt").unlink()
    problems = Messages(tdir).check({"ru", "en"})
    assert len(problems) == 2
    assert any(str(tdir / "ru" / "done.txt") in p for p in problems)
    assert any(str(tdir / "ru" / "estimate.txt") in p for p in problems)


def test_check_missing_language_reports_every_template(tdir: Path) -> None:
    problems = Messages(tdir).check({"en", "de"})
    assert len(problems) == len(TEMPLATE_NAMES)
    assert all("/de/" in p for p in problems)


def test_check_is_empty_for_no_languages(tdir: Path) -> None:
    assert Messages(tdir).check(set()) == []


def test_check_catches_placeholder_the_engine_does_not_supply(tdir: Path) -> None:
    path = tdir / "en" / "reopen_note.txt"
    path.write_text("Reopened Zendesk #$ticket_id (issue #$issue_id): $ticket_url\n")
    with pytest.raises(TemplateError):  # what the engine will hit
        Messages(tdir).render("reopen_note", "en", **ENGINE_VALUES["reopen_note"])
    problems = Messages(tdir).check({"en"})
    assert any(str(path) in p for p in problems)
