"""Broken configs through the command line (issue 5, bad input): every problem is ONE line on
stderr that names the config file, the key and what is wrong, exit code 78, never a traceback.

Systematic: every key of config/syncd.example.toml is removed in turn and given a value of the
wrong type in turn, and every table of it is removed in turn; then bad TOML, missing and
unreadable files, secrets, billing, SLA targets, mail and the state path, as real processes.
(tests/test_config.py checks the messages of load_config one by one; this is the sweep.)
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from reliability import figure

from syncd import cli
from syncd.config import ConfigError, load_config

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_TEXT = (ROOT / "config" / "syncd.example.toml").read_text(encoding="utf-8")
KEY_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.+)$")
HEADER = re.compile(r"^\[(\[?)([^\[\]]+)\]?\]")

# Keys of the example whose removal must stop the load (all others have a default or an
# alternative): the sweep below checks the set is exactly this.
REQUIRED = {
    "zendesk.url",
    "zendesk.email",
    "zendesk.token_env",
    "zendesk.issue_field_id",
    "zendesk.hours_field_id",
    "redmine.url",
    "redmine.key_env",
    "redmine.ticket_field_id",
    "plans.standard.kind",
    "plans.standard.rate",
    "plans.premium.kind",
    "plans.premium.fee",
    "plans.premium.overage_rate",
    "billing.rules[0].name",
    "billing.rules[0].activity",  # a rule without a condition
    "billing.rules[0].billable",
    "billing.rules[1].name",
    "billing.rules[1].billable",
    "billing.rules[2].name",
    "billing.rules[2].tag",
    "billing.rules[2].billable",
    "clients[0].id",
    "clients[0].redmine_projects",
}
# Wrong-typed values that some key legitimately accepts are not wrong for it.
WRONG_VALUE = {str: "[1]", int: '"x"', float: '"x"', bool: '"yes"', list: "5", dict: "5"}


@dataclass(frozen=True)
class KeyLine:
    index: int  # line number in the example, from 0
    table: str  # "zendesk", "billing.rules", "plans.standard.sla.urgent"
    position: int | None  # the element of an array of tables ([[clients]]): 0, 1, ...
    key: str
    value: object

    @property
    def name(self) -> str:
        where = self.table if self.position is None else f"{self.table}[{self.position}]"
        return f"{where}.{self.key}"

    @property
    def label(self) -> str:
        """How the message names the table: `[zendesk]`, `[clients[0]`, `[redmine] trackers`."""
        if self.position is not None:
            return f"[{self.table}[{self.position}]"
        head, _, tail = self.table.rpartition(".")
        if head == "redmine":  # [redmine.trackers] is the `trackers` key of [redmine]
            return f"[redmine] {tail}"
        return f"[{self.table}]"


def example_keys() -> list[KeyLine]:
    keys: list[KeyLine] = []
    table, position, arrays = "", None, {}
    for i, line in enumerate(EXAMPLE_TEXT.splitlines()):
        header = HEADER.match(line)
        if header:
            table = header.group(2).strip()
            if header.group(1):
                arrays[table] = arrays.get(table, -1) + 1
                position = arrays[table]
            else:
                position = None
            continue
        m = KEY_LINE.match(line)
        if m:
            value = tomllib.loads(f"v = {m.group(2)}")["v"]
            keys.append(KeyLine(i, table, position, m.group(1), value))
    return keys


def example_tables() -> list[tuple[str, int, int]]:
    """(header, first line, end line) of every table of the example."""
    lines = EXAMPLE_TEXT.splitlines()
    starts = [i for i, line in enumerate(lines) if HEADER.match(line)]
    return [(lines[s], s, [*starts, len(lines)][n + 1]) for n, s in enumerate(starts)]


def with_lines(replaced: dict[int, str | None]) -> str:
    lines = EXAMPLE_TEXT.splitlines()
    out = [replaced.get(i, line) for i, line in enumerate(lines)]
    return "\n".join(x for x in out if x is not None) + "\n"


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(args)
    return code, out.getvalue(), capsys.readouterr().err


def assert_one_clear_line(code: int, err: str, path: Path, *names: str) -> str:
    """Exit 78 and a single stderr line naming the file and each of `names`."""
    assert code == 78, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    line = lines[0]
    assert line.startswith(f"syncd: config error: {path}: "), line
    for name in names:
        assert name in line, (name, line)
    return line


@pytest.fixture(autouse=True)
def _restore_logging():
    """cli.main points structlog at this test's captured stderr, closed after the test."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZENDESK_TOKEN", "zd-sweep-token")
    monkeypatch.setenv("REDMINE_API_KEY", "rm-sweep-key")
    return tmp_path / "syncd.toml"


# ---------------------------------------------------------------------- the sweep
def test_every_key_of_the_example_removed_in_turn(conf: Path, capsys) -> None:
    conf.write_text(EXAMPLE_TEXT, encoding="utf-8")
    load_config(conf)  # the example itself is valid
    keys = example_keys()
    required: set[str] = set()
    for k in keys:
        conf.write_text(with_lines({k.index: None}), encoding="utf-8")
        try:
            load_config(conf)
        except ConfigError:
            required.add(k.name)
            code, _out, err = run_main(["--config", str(conf), "status"], capsys)
            assert_one_clear_line(code, err, conf, k.label, k.key)
    assert required == REQUIRED
    figure(
        "input",
        f"config: {len(keys)} keys of the example removed in turn: {len(required)} required, "
        "each named with its file (exit 78, one line, no traceback)",
    )


def test_every_key_of_the_example_with_a_wrong_type(conf: Path, capsys) -> None:
    keys = example_keys()
    for k in keys:
        wrong = WRONG_VALUE[type(k.value)]
        conf.write_text(with_lines({k.index: f"{k.key} = {wrong}"}), encoding="utf-8")
        code, _out, err = run_main(["--config", str(conf), "status"], capsys)
        assert_one_clear_line(code, err, conf, k.label, k.key)
    figure("input", f"config: {len(keys)} keys given a wrong type in turn: all refused, named")


def test_every_table_of_the_example_removed_in_turn(conf: Path, capsys) -> None:
    refused = 0
    tables = example_tables()
    for _header, start, end in tables:
        conf.write_text(with_lines(dict.fromkeys(range(start, end))), encoding="utf-8")
        try:
            load_config(conf)
        except ConfigError:
            refused += 1
            code, _out, err = run_main(["--config", str(conf), "status"], capsys)
            line = assert_one_clear_line(code, err, conf)
            assert re.search(r": \[[^\]]+\]", line), line  # a [section] or [section] key
    # [zendesk], [redmine], the two plans the client names, and [[clients]] are not optional:
    # without the clients the plans are still fine, so that one loads.
    assert refused >= 4


def test_a_misspelt_key_is_named_not_ignored(conf: Path, capsys) -> None:
    k = next(k for k in example_keys() if k.key == "notify_client")
    conf.write_text(with_lines({k.index: "notify_clent = false"}), encoding="utf-8")
    code, _out, err = run_main(["--config", str(conf), "status"], capsys)
    line = assert_one_clear_line(code, err, conf, "[zendesk] notify_clent", "unknown key")
    assert "notify_client" in line  # the known keys are listed
    conf.write_text(EXAMPLE_TEXT + "\n[sycn]\ninterval_minutes = 1\n", encoding="utf-8")
    code, _out, err = run_main(["--config", str(conf), "status"], capsys)
    assert_one_clear_line(code, err, conf, "[sycn]", "unknown section")


# ---------------------------------------------------------------------- real processes
def syncd_process(config: Path, *args: str, env: dict[str, str] | None = None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "syncd.cli", "--config", str(config), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env
        if env is not None
        else {**os.environ, "ZENDESK_TOKEN": "t", "REDMINE_API_KEY": "k"},
        **kw,
    )


def test_bad_toml_names_the_line(conf: Path) -> None:
    lines = EXAMPLE_TEXT.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("email = "))
    lines[at] = 'email = "support@acme.example'  # the closing quote lost
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = syncd_process(conf, "sync")
    line = assert_one_clear_line(proc.returncode, proc.stderr, conf, "invalid TOML")
    assert f"line {at + 1}" in line
    assert proc.stdout == ""


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    proc = syncd_process(missing, "sync")
    assert_one_clear_line(proc.returncode, proc.stderr, missing, "not found")

    folder = tmp_path / "a-folder.toml"
    folder.mkdir()
    proc = syncd_process(folder, "status")
    assert_one_clear_line(proc.returncode, proc.stderr, folder, "cannot read")

    locked = tmp_path / "locked.toml"
    locked.write_text(EXAMPLE_TEXT, encoding="utf-8")
    locked.chmod(0)
    # root reads any file: drop to nobody in the child (it can't read /root's Python, so the
    # in-process CLI does the reading under a changed effective uid instead).
    if os.geteuid() == 0:
        tmp_path.chmod(0o755)
        err = io.StringIO()
        os.seteuid(65534)
        try:
            with contextlib.redirect_stderr(err):
                code = cli.main(["--config", str(locked), "status"])
        finally:
            os.seteuid(0)
        assert_one_clear_line(code, err.getvalue(), locked, "cannot read", "Permission denied")
    else:
        proc = syncd_process(locked, "status")
        assert_one_clear_line(proc.returncode, proc.stderr, locked, "Permission denied")

    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(EXAMPLE_TEXT.replace("ACME LLC", "ACM\xc9 LLC").encode("latin-1"))
    proc = syncd_process(latin1, "status")
    assert_one_clear_line(proc.returncode, proc.stderr, latin1, "not UTF-8", "at byte")


def test_missing_secrets_name_the_file_and_the_key(conf: Path) -> None:
    conf.write_text(EXAMPLE_TEXT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("ZENDESK_TOKEN", "REDMINE_API_KEY")}
    for command in (
        ["sync"],
        ["sync", "--dry-run"],
        ["adopt", "--dry-run"],
        ["report", "sla", "--month", "2026-10", "--rebuild"],
    ):
        proc = syncd_process(conf, *command, env=env)
        assert_one_clear_line(
            proc.returncode,
            proc.stderr,
            conf,
            "[zendesk] token_env",
            "environment variable ZENDESK_TOKEN is not set or empty",
        )
    # `check` goes on after a problem and lists them all (exit 69), this one named the same way.
    proc = syncd_process(conf, "check", env=env)
    assert proc.returncode == 69, proc.stderr
    assert f"FAIL  {conf}: [zendesk] token_env: environment variable ZENDESK_TOKEN" in proc.stdout
    assert "Traceback" not in proc.stderr
    proc = syncd_process(conf, "sync", env={**env, "ZENDESK_TOKEN": "t", "REDMINE_API_KEY": " "})
    assert_one_clear_line(
        proc.returncode, proc.stderr, conf, "[redmine] key_env", "REDMINE_API_KEY"
    )

    conf.write_text(
        EXAMPLE_TEXT.replace('token_env = "ZENDESK_TOKEN"', 'token_file = "secrets/zd"'),
        encoding="utf-8",
    )
    proc = syncd_process(conf, "sync", env=env | {"REDMINE_API_KEY": "k"})
    assert_one_clear_line(
        proc.returncode, proc.stderr, conf, "[zendesk] token_file", "secrets/zd", "No such file"
    )


# (TOML appended to the example, or a replacement of one of its lines; where; problem)
BILLING_AND_MAIL = [
    ("rate-float", ('rate = "2500.00"', "rate = 2500.5"), "[plans.standard] rate", "must be"),
    ("rate-junk", ('rate = "2500.00"', 'rate = "25OO"'), "[plans.standard] rate", "'25OO'"),
    ("rate-negative", ('rate = "2500.00"', 'rate = "-1"'), "[plans.standard] rate", "zero or"),
    (
        "rate-by-activity",
        ('# rates_by_activity = { Design = "3000.00" }', "rates_by_activity = { Design = 3e3 }"),
        "[plans.standard] rates_by_activity",
        "'Design'",
    ),
    ("plan-kind", ('kind = "tariff"', 'kind = "monthly"'), "[plans.premium] kind", "one of"),
    ("currency", ('currency = "RUB"', 'currency = "rub"'), "[plans.standard] currency", "ISO"),
    ("rounding", ('rounding = "up"', 'rounding = "down"'), "[plans.standard] rounding", "'up'"),
    (
        "increment-zero",
        ('rounding_increment = "0.25"', 'rounding_increment = "0"'),
        "[plans.standard] rounding_increment",
        "greater than 0",
    ),
    (
        "rollover-negative",
        ("rollover_months = 1", "rollover_months = -1"),
        "[plans.premium] rollover_months",
        "0 or more",
    ),
    (
        "per-request-unpriced",
        ('\n[plans.fixed]\nkind = "per_request"\n',),
        "[plans.fixed] price",
        "needs price, price_field_id or rate",
    ),
    ("client-plan", ('plan = "standard"', 'plan = "gold"'), "plan", "no plan named 'gold'"),
    (
        "plan-change-month",
        ('from = "2027-01"', 'from = "2027-1"'),
        "plan_changes[0]] from",
        "a month like",
    ),
    (
        "rule-entry-field",
        ('name = "internal"', 'name = "internal"\nentry_field_id = 2'),
        "[billing.rules[0]] entry_field_id",
        "go together",
    ),
    ("report-at", ('report_at = "06:00"', 'report_at = "6am"'), "[billing] report_at", "06:00"),
    (
        "sla-target-string",
        ("first_reply_minutes = 180", 'first_reply_minutes = "180"'),
        "[plans.standard.sla] first_reply_minutes",
        "must be an integer",
    ),
    (
        "sla-cutoff",
        ('ack_cutoff = "12:00"', 'ack_cutoff = "noon"'),
        "[plans.standard.sla] ack_cutoff",
        "a time like",
    ),
    (
        "sla-priority-typo",
        ("[plans.standard.sla.urgent]", "[plans.standard.sla.urgnet]"),
        "[plans.standard.sla] urgnet",
        "unknown key",
    ),
    (
        "sla-priority-target",
        ("resolution_minutes = 240", "resolution_minutes = 0"),
        "[plans.standard.sla.urgent] resolution_minutes",
        "greater than 0",
    ),
    ("calendar-hours", ('hours = "10:00-19:00"', 'hours = "10-19"'), "[calendar] hours", "10:00"),
    ("calendar-zone", ('timezone = "Europe/Moscow"', 'timezone = "Moscow"'), "timezone", "zone"),
    (
        "mail-host",
        ('\n[mail]\nsender = "a@b.example"\nmanager = ["m@b.example"]\n',),
        "host",
        "required",
    ),
    (
        "mail-password-literal",
        ('\n[mail]\nhost = "smtp.example.com"\npassword = "hunter2"\n',),
        "[mail] password",
        "secrets don't belong",
    ),
    (
        "mail-manager",
        ('\n[mail]\nhost = "smtp.example.com"\nsender = "a@b.example"\nmanager = []\n',),
        "[mail] manager",
        "non-empty list",
    ),
    (
        "mail-address",
        ('\n[mail]\nhost = "h.example"\nsender = "not an address"\nmanager = ["m@b.example"]\n',),
        "[mail] sender",
        "not an address",
    ),
    (
        "mail-username-without-password",
        (
            '\n[mail]\nhost = "h.example"\nusername = "u"\nsender = "a@b.example"\n'
            'manager = ["m@b.example"]\n',
        ),
        "[mail] password_env",
        "is required with username",
    ),
    (
        "mail-plaintext-password",
        (
            '\n[mail]\nhost = "smtp.example.com"\nstarttls = false\nusername = "u"\n'
            'password_env = "P"\nsender = "a@b.example"\nmanager = ["m@b.example"]\n',
        ),
        "[mail] starttls",
        "unencrypted",
    ),
    (
        "mail-typo",
        ('\n[mail]\nhots = "smtp.example.com"\n',),
        "[mail] hots",
        "not a [mail] setting",
    ),
    ("client-email", ('id = "acme"', 'id = "acme"\nemail = "accounts"'), "email", "address"),
    ("state-dir", ('path = "var/syncd.db"', 'path = "."'), "[state] path", "is a directory"),
    (
        "state-under-file",
        ('path = "var/syncd.db"', 'path = "/etc/hostname/x.db"'),
        "[state] path",
        "not a directory",
    ),
    (
        "output-dir",
        ('output_dir = "var/reports"', 'output_dir = "/etc/hostname/reports"'),
        "[billing] output_dir",
        "cannot create /etc/hostname/reports/2026-10: Not a directory",
    ),
    ("tracker-value", ('incident = "Bug"', "incident = 1"), "[redmine] trackers", "incident = 1"),
]


@pytest.mark.parametrize(
    ("change", "where", "problem"),
    [c[1:] for c in BILLING_AND_MAIL],
    ids=[c[0] for c in BILLING_AND_MAIL],
)
def test_billing_sla_mail_and_state_errors(
    conf: Path, change: tuple[str, ...], where: str, problem: str, capsys
) -> None:
    if len(change) == 1:
        text = EXAMPLE_TEXT + change[0]
    else:
        assert change[0] in EXAMPLE_TEXT, change[0]
        text = EXAMPLE_TEXT.replace(change[0], change[1], 1)
    conf.write_text(text, encoding="utf-8")
    code, out, err = run_main(
        ["--config", str(conf), "report", "billing", "--month", "2026-10"], capsys
    )
    assert_one_clear_line(code, err, conf, where, problem)
    assert out == ""


def test_a_missing_smtp_password_names_the_file_and_the_key(conf: Path, monkeypatch) -> None:
    monkeypatch.delenv("SYNCD_SWEEP_SMTP_PASSWORD", raising=False)
    conf.write_text(
        EXAMPLE_TEXT + '\n[mail]\nhost = "smtp.example.com"\nusername = "billing"\n'
        'password_env = "SYNCD_SWEEP_SMTP_PASSWORD"\nsender = "a@b.example"\n'
        'manager = ["m@b.example"]\n',
        encoding="utf-8",
    )
    mail = load_config(conf).mail
    assert mail is not None
    with pytest.raises(ConfigError) as info:
        mail.password()
    assert str(info.value) == (
        f"{conf}: [mail] password_env: environment variable SYNCD_SWEEP_SMTP_PASSWORD is not "
        "set or empty"
    )


def test_an_unusable_out_folder_is_a_usage_error(conf: Path, capsys) -> None:
    conf.write_text(EXAMPLE_TEXT, encoding="utf-8")
    args = ["report", "sla", "--month", "2026-10", "--out", "/etc/hostname/out"]
    code, out, err = run_main(["--config", str(conf), *args], capsys)
    assert code == 2 and out == ""
    assert err == "syncd: --out /etc/hostname/out: cannot create it: Not a directory\n"
