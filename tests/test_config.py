"""syncd.config: loading, validation messages (file, [section] key, problem), secrets."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest

from syncd.config import DEFAULT_TICKET_PATTERNS, ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config" / "syncd.example.toml"

BASE = """\
[zendesk]
url = "https://acme.zendesk.com"
email = "support@acme.example"
token_env = "SYNCD_TEST_ZD_TOKEN"
issue_field_id = 1
hours_field_id = 2

[redmine]
url = "http://127.0.0.1:3000"
key_env = "SYNCD_TEST_RM_KEY"
ticket_field_id = 3

[sync]
language = "en"

[[clients]]
id = "acme"
zendesk_organization_id = 361
redmine_projects = ["acme-site"]
"""


def write(tmp_path: Path, text: str, name: str = "syncd.toml") -> Path:
    path = tmp_path / "conf" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# ---------------------------------------------------------------------- the example config
def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENDESK_TOKEN", "zd-token-value")
    monkeypatch.setenv("REDMINE_API_KEY", "rm-key-value")
    cfg = load_config(EXAMPLE)

    assert cfg.path == EXAMPLE
    assert cfg.state_path == EXAMPLE.parent / "var" / "syncd.db"
    assert cfg.templates_dir == REPO / "config" / "templates"
    assert (cfg.templates_dir / "ru" / "in_work.txt").is_file()

    z = cfg.zendesk
    assert (z.url, z.email, z.work_tag) == (
        "https://acme.zendesk.com",
        "support@acme.example",
        "redmine",
    )
    assert (z.issue_field_id, z.hours_field_id, z.estimate_field_id) == (360001, 360002, None)
    assert z.notify_client is True
    assert z.timeout == 30.0 and isinstance(z.timeout, float)
    assert z.ratelimit_budget == 120.0
    assert z.token() == "zd-token-value"

    r = cfg.redmine
    assert r.url == "http://127.0.0.1:3000"
    assert r.ticket_field_id == 1
    assert r.done_statuses == ("Resolved", "Closed")
    assert r.reopen_status == "In Progress"
    assert r.trackers == {
        "incident": "Bug",
        "problem": "Bug",
        "task": "Feature",
        "question": "Support",
    }
    assert r.priorities["urgent"] == "Urgent"
    assert r.key() == "rm-key-value"

    s = cfg.sync
    assert (s.interval_minutes, s.issue_overlap_minutes, s.reread_days) == (5, 10, 62)
    assert (s.reread_every_minutes, s.max_attempts, s.language) == (60, 8, "ru")
    assert s.since is None
    assert s.ticket_patterns == DEFAULT_TICKET_PATTERNS

    assert len(cfg.clients) == 1
    acme = cfg.clients[0]
    assert (acme.id, acme.name, acme.zendesk_organization_id) == ("acme", "ACME LLC", 361)
    assert acme.redmine_projects == ("acme-site",)
    assert acme.language is None
    assert cfg.client_by_id("acme") is acme
    assert cfg.client_by_id("nope") is None
    assert cfg.all_projects() == ["acme-site"]


def test_example_commented_ticket_patterns_are_valid_defaults() -> None:
    line = next(ln for ln in EXAMPLE.read_text().splitlines() if ln.startswith("# ticket_patterns"))
    patterns = tomllib.loads(line.removeprefix("# "))["ticket_patterns"]
    assert patterns and all(p in DEFAULT_TICKET_PATTERNS for p in patterns)


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.zendesk.work_tag == "redmine"
    assert cfg.redmine.default_tracker == "Support"
    assert cfg.sync.max_attempts == 8
    assert cfg.clients[0].name == "acme"  # name defaults to the id
    assert cfg.state_path == tmp_path / "conf" / "var" / "syncd.db"


def test_urls_lose_trailing_slash(tmp_path: Path) -> None:
    text = edit('url = "https://acme.zendesk.com"', 'url = "https://acme.zendesk.com/"')
    assert load_config(write(tmp_path, text)).zendesk.url == "https://acme.zendesk.com"


# ---------------------------------------------------------------------- file-level errors
def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    msg = error(path)
    assert msg.startswith(f"{path}: ")
    assert "not found" in msg


def test_directory_instead_of_file(tmp_path: Path) -> None:
    msg = error(tmp_path)
    assert msg.startswith(f"{tmp_path}: ")
    assert "cannot read" in msg


def test_invalid_toml(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "\n[zendesk\nurl = \n")
    msg = error(path)
    assert msg.startswith(f"{path}: ")
    assert "invalid TOML" in msg


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(BASE.replace("acme.example", "acm\xe9.example").encode("latin-1"))
    msg = error(path)
    assert msg.startswith(f"{path}: ")
    assert "not UTF-8" in msg


# ---------------------------------------------------------------------- key-level errors
ZD_SECTION_END = "hours_field_id = 2\n"
CLIENT_2 = (
    '\n[[clients]]\nid = "{id}"\nzendesk_organization_id = {org}\nredmine_projects = {proj}\n'
)

CASES = [
    # (id, text, "[section] key", problem fragment)
    (
        "zendesk-url-missing",
        edit('url = "https://acme.zendesk.com"\n', ""),
        "[zendesk] url",
        "is required",
    ),
    (
        "zendesk-url-no-scheme",
        edit('"https://acme.zendesk.com"', '"acme.zendesk.com"'),
        "[zendesk] url",
        "must start with http:// or https://",
    ),
    (
        "redmine-url-no-scheme",
        edit('"http://127.0.0.1:3000"', '"127.0.0.1:3000"'),
        "[redmine] url",
        "must start with http:// or https://",
    ),
    (
        "url-not-string",
        edit('url = "https://acme.zendesk.com"', "url = 5"),
        "[zendesk] url",
        "must be a string, got int 5",
    ),
    (
        "int-as-string",
        edit("issue_field_id = 1", 'issue_field_id = "1"'),
        "[zendesk] issue_field_id",
        "must be an integer, got str '1'",
    ),
    (
        "bool-for-int",
        edit("issue_field_id = 1", "issue_field_id = true"),
        "[zendesk] issue_field_id",
        "must be an integer, got a boolean",
    ),
    (
        "zero-field-id",
        edit("ticket_field_id = 3", "ticket_field_id = 0"),
        "[redmine] ticket_field_id",
        "must be greater than 0",
    ),
    (
        "timeout-string",
        edit(ZD_SECTION_END, ZD_SECTION_END + 'timeout = "30"\n'),
        "[zendesk] timeout",
        "must be an integer or a number",
    ),
    (
        "timeout-bool",
        edit(ZD_SECTION_END, ZD_SECTION_END + "timeout = false\n"),
        "[zendesk] timeout",
        "got a boolean",
    ),
    (
        "interval-float",
        edit("[sync]\n", "[sync]\ninterval_minutes = 1.5\n"),
        "[sync] interval_minutes",
        "must be an integer",
    ),
    (
        "interval-negative",
        edit("[sync]\n", "[sync]\ninterval_minutes = -5\n"),
        "[sync] interval_minutes",
        "must be greater than 0",
    ),
    (
        "notify-string",
        edit(ZD_SECTION_END, ZD_SECTION_END + 'notify_client = "yes"\n'),
        "[zendesk] notify_client",
        "must be true or false",
    ),
    (
        "done-statuses-string",
        edit("ticket_field_id = 3\n", 'ticket_field_id = 3\ndone_statuses = "Resolved"\n'),
        "[redmine] done_statuses",
        "must be a list",
    ),
    (
        "done-statuses-empty-item",
        edit("ticket_field_id = 3\n", 'ticket_field_id = 3\ndone_statuses = ["Closed", ""]\n'),
        "[redmine] done_statuses",
        "must be a list of non-empty strings",
    ),
    (
        "tracker-not-string",
        edit("ticket_field_id = 3\n", "ticket_field_id = 3\ntrackers = { incident = 5 }\n"),
        "[redmine] trackers",
        "values must be strings",
    ),
    (
        "zendesk-token-literal",
        edit(ZD_SECTION_END, ZD_SECTION_END + 'token = "s3cr3t-value"\n'),
        "[zendesk] token",
        "secrets don't belong in the config file",
    ),
    (
        "redmine-key-literal",
        edit("ticket_field_id = 3\n", 'ticket_field_id = 3\nkey = "s3cr3t-value"\n'),
        "[redmine] key",
        "secrets don't belong in the config file",
    ),
    (
        "zendesk-password-literal",
        edit(ZD_SECTION_END, ZD_SECTION_END + 'password = "s3cr3t-value"\n'),
        "[zendesk] password",
        "use password_env or password_file",
    ),
    (
        "no-token-env-or-file",
        edit('token_env = "SYNCD_TEST_ZD_TOKEN"\n', ""),
        "[zendesk] token_env",
        "is required (or token_file)",
    ),
    (
        "empty-token-env",
        edit('token_env = "SYNCD_TEST_ZD_TOKEN"', 'token_env = ""'),
        "[zendesk] token_env",
        "is required (or token_file)",
    ),
    (
        "no-key-env-or-file",
        edit('key_env = "SYNCD_TEST_RM_KEY"\n', ""),
        "[redmine] key_env",
        "is required (or key_file)",
    ),
    (
        "duplicate-client-id",
        BASE + CLIENT_2.format(id="acme", org=362, proj='["other"]'),
        "[clients[1] (id 'acme')] id",
        "is used by another client too",
    ),
    (
        "duplicate-org-id",
        BASE + CLIENT_2.format(id="beta", org=361, proj='["beta-site"]'),
        "[clients[1] (id 'beta')] zendesk_organization_id",
        "361 is also client 'acme'",
    ),
    (
        "shared-project",
        BASE + CLIENT_2.format(id="beta", org=362, proj='["b", "acme-site"]'),
        "[clients[1] (id 'beta')] redmine_projects",
        "'acme-site' also belongs to client 'acme'",
    ),
    (
        "empty-projects",
        edit('redmine_projects = ["acme-site"]', "redmine_projects = []"),
        "[clients[0] (id 'acme')] redmine_projects",
        "needs at least one project",
    ),
    (
        "missing-projects",
        edit('redmine_projects = ["acme-site"]\n', ""),
        "[clients[0] (id 'acme')] redmine_projects",
        "is required",
    ),
    ("client-id-blank", edit('id = "acme"', 'id = "  "'), "[clients[0]] id", "must not be empty"),
    (
        "client-language",
        edit('id = "acme"', 'id = "acme"\nlanguage = "fr"'),
        "[clients[0] (id 'acme')] language",
        "must be 'ru' or 'en'",
    ),
    (
        "bad-regex",
        edit("[sync]\n", "[sync]\nticket_patterns = ['zd-(\\d+']\n"),
        "[sync] ticket_patterns",
        "is not a valid regular expression",
    ),
    (
        "pattern-no-group",
        edit("[sync]\n", "[sync]\nticket_patterns = ['zd-\\d+']\n"),
        "[sync] ticket_patterns",
        "must have exactly one group",
    ),
    (
        "pattern-two-groups",
        edit("[sync]\n", "[sync]\nticket_patterns = ['(zd)-(\\d+)']\n"),
        "[sync] ticket_patterns",
        "must have exactly one group",
    ),
    (
        "pattern-empty-list-item",
        edit("[sync]\n", "[sync]\nticket_patterns = ['']\n"),
        "[sync] ticket_patterns",
        "must be a list of non-empty strings",
    ),
    (
        "bad-since",
        edit("[sync]\n", '[sync]\nsince = "2026-13-01"\n'),
        "[sync] since",
        "must be a date like 2026-01-31, got '2026-13-01'",
    ),
    (
        "since-int",
        edit("[sync]\n", "[sync]\nsince = 20260101\n"),
        "[sync] since",
        "must be a string or date",
    ),
    (
        "language-de",
        edit('language = "en"', 'language = "de"'),
        "[sync] language",
        "must be 'ru' or 'en'",
    ),
    ("state-path-int", "[state]\npath = 5\n" + BASE, "[state] path", "must be a string"),
]


@pytest.mark.parametrize(
    ("text", "where", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_error_names_file_section_key_and_problem(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    path = write(tmp_path, text)
    msg = error(path)
    assert msg.startswith(f"{path}: "), msg
    assert f"{where}: " in msg, msg
    assert problem in msg, msg


@pytest.mark.parametrize("secret_key", ["token", "api_key"])
def test_refused_secret_is_not_echoed(tmp_path: Path, secret_key: str) -> None:
    path = write(tmp_path, edit(ZD_SECTION_END, ZD_SECTION_END + f'{secret_key} = "TOPSECRET"\n'))
    msg = error(path)
    assert "TOPSECRET" not in msg
    assert f"[zendesk] {secret_key}: " in msg


def test_missing_zendesk_section_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("[zendesk]", "[other]"))
    msg = error(path)
    assert msg.startswith(f"{path}: ")
    assert "zendesk" in msg
    assert "is required" in msg


def test_missing_zendesk_section_names_the_section(tmp_path: Path) -> None:
    text = BASE.replace("[zendesk]", "[other]")
    msg = error(write(tmp_path, text))
    assert "[zendesk]" in msg
    assert "[]" not in msg


def test_section_of_wrong_type(tmp_path: Path) -> None:
    text = 'zendesk = "https://acme.zendesk.com"\n' + BASE.replace("[zendesk]", "[other]")
    msg = error(write(tmp_path, text))
    assert "zendesk" in msg and "must be a table, got str" in msg


def test_client_that_is_not_a_table(tmp_path: Path) -> None:
    head = BASE.split("[[clients]]")[0]
    msg = error(write(tmp_path, "clients = [1]\n" + head))
    assert "[clients[0]]: must be a table, got int" in msg


# ---------------------------------------------------------------------- valid variants
def test_since_as_string_and_as_toml_date(tmp_path: Path) -> None:
    a = load_config(write(tmp_path, edit("[sync]\n", '[sync]\nsince = "2026-01-31"\n')))
    b = load_config(write(tmp_path, edit("[sync]\n", "[sync]\nsince = 2026-01-31\n"), "b.toml"))
    assert a.sync.since == b.sync.since == date(2026, 1, 31)


def test_custom_ticket_patterns(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, edit("[sync]\n", "[sync]\nticket_patterns = ['#(\\d+)']\n")))
    assert cfg.sync.ticket_patterns == ("#(\\d+)",)


def test_timeout_accepts_int_and_float(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, edit(ZD_SECTION_END, ZD_SECTION_END + "timeout = 2.5\n")))
    assert cfg.zendesk.timeout == 2.5
    assert cfg.redmine.timeout == 30.0


def test_clients_and_projects(tmp_path: Path) -> None:
    text = BASE + CLIENT_2.format(id="beta", org=362, proj='["b2", "b1"]') + 'language = "ru"\n'
    cfg = load_config(write(tmp_path, text))
    assert [c.id for c in cfg.clients] == ["acme", "beta"]
    assert cfg.clients[1].issue_project == "b2"
    assert cfg.clients[1].language == "ru"
    assert cfg.all_projects() == ["acme-site", "b1", "b2"]


def test_client_without_organization(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, edit("zendesk_organization_id = 361\n", "")))
    assert cfg.clients[0].zendesk_organization_id is None


# ---------------------------------------------------------------------- paths
def test_relative_state_path_resolves_against_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[state]\npath = "data/state.db"\n' + BASE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("..") / "conf" / "syncd.toml")
    assert cfg.state_path == (tmp_path / "conf" / "data" / "state.db").resolve()
    assert cfg.state_path.is_absolute()
    assert path.parent == tmp_path / "conf"


def test_absolute_state_path_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "s.db"
    cfg = load_config(write(tmp_path, f'[state]\npath = "{target}"\n' + BASE))
    assert cfg.state_path == target


def test_templates_dir_relative_to_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, edit("[sync]\n", '[sync]\ntemplates_dir = "tpl"\n')))
    assert cfg.templates_dir == tmp_path / "conf" / "tpl"


# ---------------------------------------------------------------------- secrets
def _token_config(tmp_path: Path, *, env: bool = True, file: str | None = None) -> Path:
    text = BASE
    if not env:
        text = edit('token_env = "SYNCD_TEST_ZD_TOKEN"\n', "", text)
    if file is not None:
        text = edit(ZD_SECTION_END, ZD_SECTION_END + f'token_file = "{file}"\n', text)
    return write(tmp_path, text)


def test_token_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_TEST_ZD_TOKEN", "  tok-from-env\n")
    monkeypatch.setenv("SYNCD_TEST_RM_KEY", "key-from-env")
    cfg = load_config(_token_config(tmp_path))
    assert cfg.zendesk.token() == "tok-from-env"
    assert cfg.redmine.key() == "key-from-env"


def test_token_file_relative_to_config_when_env_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNCD_TEST_ZD_TOKEN", raising=False)
    path = _token_config(tmp_path, file="secrets/zd")
    (path.parent / "secrets").mkdir()
    (path.parent / "secrets" / "zd").write_text("tok-from-file\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(path)
    assert cfg.zendesk.token_file == str(path.parent / "secrets" / "zd")
    assert cfg.zendesk.token() == "tok-from-file"


def test_env_wins_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_TEST_ZD_TOKEN", "env-value")
    path = _token_config(tmp_path, file="zd")
    (path.parent / "zd").write_text("file-value")
    assert load_config(path).zendesk.token() == "env-value"


def test_empty_env_falls_back_to_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_TEST_ZD_TOKEN", "")
    path = _token_config(tmp_path, file="zd")
    (path.parent / "zd").write_text("file-value")
    assert load_config(path).zendesk.token() == "file-value"


def test_file_only_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCD_TEST_ZD_TOKEN", raising=False)
    path = _token_config(tmp_path, env=False, file="zd")
    (path.parent / "zd").write_text("only-file")
    cfg = load_config(path)
    assert cfg.zendesk.token_env is None
    assert cfg.zendesk.token() == "only-file"


def test_missing_env_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCD_TEST_ZD_TOKEN", raising=False)
    monkeypatch.setenv("SYNCD_TEST_RM_KEY", "")
    cfg = load_config(_token_config(tmp_path))
    with pytest.raises(ConfigError) as info:
        cfg.zendesk.token()
    assert "[zendesk]" in str(info.value)
    assert "environment variable SYNCD_TEST_ZD_TOKEN" in str(info.value)
    with pytest.raises(ConfigError, match=r"\[redmine\].*SYNCD_TEST_RM_KEY"):
        cfg.redmine.key()


def test_empty_env_and_empty_file_name_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCD_TEST_ZD_TOKEN", "")
    path = _token_config(tmp_path, file="zd")
    (path.parent / "zd").write_text("\n")
    with pytest.raises(ConfigError) as info:
        load_config(path).zendesk.token()
    msg = str(info.value)
    assert "SYNCD_TEST_ZD_TOKEN" in msg
    assert str(path.parent / "zd") in msg


def test_unreadable_token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCD_TEST_ZD_TOKEN", raising=False)
    path = _token_config(tmp_path, file="missing-token")
    with pytest.raises(ConfigError) as info:
        load_config(path).zendesk.token()
    assert str(info.value).startswith(f"{path}: [zendesk] token_file: secret file ")
    assert "missing-token" in str(info.value)


def test_whitespace_only_env_is_treated_as_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCD_TEST_ZD_TOKEN", "  \n")
    path = _token_config(tmp_path, file="zd")
    (path.parent / "zd").write_text("file-value")
    assert load_config(path).zendesk.token() == "file-value"
