"""Secrets never leave syncd (issue 5, secrets and access): every command, run as cron runs it
(a real process, JSON logs at debug level), on good days and bad ones (wrong credentials,
connection refused, 401 and 500 answers whose body echoes the token and the Authorization
header back), and then every stream and file it produced is searched for the Zendesk token,
the Redmine key, the SMTP password and their base64 forms (Zendesk's basic auth is
base64("email/token:TOKEN"), SMTP's AUTH PLAIN base64("\\0user\\0password")).

Also: the state file, its lock and its WAL/SHM files are 0600 whatever the umask, and syncd
listens on no socket (it has no webhook input).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from reliability import FULL, figure
from studio import AGENT_EMAIL, ROOT, ZENDESK_TOKEN, Studio

from reports.months import month_of, previous_month
from syncd.lock import CycleLock
from syncd.state import Store

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.redmine,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

SMTP_USER = "billing"
SMTP_PASSWORD = "smtp-Pw-b7e41c99-secret"
SMTP_ENV = "SYNCD_SWEEP_SMTP_PASSWORD"
WRONG_TOKEN = "zd-WRONG-token-31d7aa"
WRONG_KEY = "f00dfeed" * 5


def base64_cores(secret: str) -> set[str]:
    """What any base64 text holding `secret` contains, at each of the three byte alignments:
    the base64 of the secret's whole 3-byte groups."""
    cores = set()
    for pad in range(3):
        data = b"\0" * pad + secret.encode()
        encoded = base64.b64encode(data).decode()
        start, end = -(-pad // 3) * 4, (len(data) // 3) * 4
        if end - start >= 8:
            cores.add(encoded[start:end])
    return cores


def forms(secret: str, *, user: str | None = None) -> set[str]:
    found = {secret, base64.b64encode(secret.encode()).decode(), *base64_cores(secret)}
    if user is not None:
        found.add(base64.b64encode(f"{user}/token:{secret}".encode()).decode())
        found.add(base64.b64encode(f"\0{user}\0{secret}".encode()).decode())
    return found


@dataclass
class Sweep:
    """Everything syncd wrote anywhere, by name, searched for every form of every secret."""

    secrets: dict[str, set[str]]
    searched: list[str] = field(default_factory=list)
    hits: list[tuple[str, str]] = field(default_factory=list)

    def search(self, name: str, content: str | bytes) -> None:
        data = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
        self.searched.append(name)
        for secret, variants in self.secrets.items():
            for v in variants:
                if v.encode() in data:
                    self.hits.append((name, f"{secret} as {v[:12]}…"))

    def process(self, name: str, proc: subprocess.CompletedProcess[str]) -> None:
        self.search(f"{name}: stdout", proc.stdout)
        self.search(f"{name}: stderr (log)", proc.stderr)

    def tree(self, root: Path) -> None:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            self.search(str(path.relative_to(root)), path.read_bytes())


def run(studio: Studio, *args: str, config: Path | None = None, **env: str):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "syncd.cli",
            "--config",
            str(config or studio.config_path),
            "--log-format",
            "json",
            "--log-level",
            "debug",
            *args,
        ],
        cwd=ROOT,
        env={**studio.env(), SMTP_ENV: SMTP_PASSWORD, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def echo_body(studio: Studio) -> str:
    """A careless server's error page: the request's credentials and URL, echoed."""
    header = base64.b64encode(f"{AGENT_EMAIL}/token:{ZENDESK_TOKEN}".encode()).decode()
    return json.dumps(
        {
            "error": "InternalError",
            "description": f"request {studio.emu.url}/api/v2/tickets?token={ZENDESK_TOKEN} "
            f"with Authorization: Basic {header}; X-Redmine-API-Key: {studio.redmine.api_key}",
        }
    )


def listening_sockets(pid: int) -> list[str]:
    """The sockets of process `pid` that accept connections or datagrams (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            listening = cols[3] == "0A" if table.startswith("tcp") else cols[3] == "07"
            if cols[9] in inodes and listening:
                found.append(f"{table} {cols[1]}")
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[6] in inodes and int(cols[3], 16) & 0x10000:  # __SO_ACCEPTCON: listen()
            found.append(f"unix {cols[-1] if len(cols) > 7 else ''}")
    return found


def smtp_auth(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def secret_studio(studio: Studio, serve) -> tuple[Studio, object]:
    server = serve(auth_required=True, auth_require_tls=False, authenticator=smtp_auth)
    studio.write_config(
        client_toml='plan = "standard"\nemail = "ap@acme.example"',
        extra_toml=f"""
[plans.standard]
kind = "hourly"
rate = "1000.00"

[billing]
output_dir = "reports"
report_at = "00:00"

[mail]
host = "127.0.0.1"
port = {server.port}
starttls = false
username = "{SMTP_USER}"
password_env = "{SMTP_ENV}"
sender = "Studio <billing@studio.example>"
manager = ["boss@studio.example"]
""",
    )
    return studio, server


def test_no_secret_in_any_output_of_any_command(secret_studio) -> None:
    s, server = secret_studio
    sweep = Sweep(
        {
            "zendesk token": forms(ZENDESK_TOKEN, user=AGENT_EMAIL),
            "redmine key": forms(s.redmine.api_key),
            "smtp password": forms(SMTP_PASSWORD, user=SMTP_USER),
            "wrong zendesk token": forms(WRONG_TOKEN, user=AGENT_EMAIL),
            "wrong redmine key": forms(WRONG_KEY),
        }
    )
    s.ticket("Keep my secrets")
    s.emu.advance(61)
    month = month_of(date.today())
    out = s.tmp / "out"

    # ------------------------------------------------------------ good days
    good = [
        ["sync"],
        ["sync", "--dry-run"],
        ["check"],
        ["status"],
        ["status", "--json"],
        ["adopt", "--dry-run"],
        ["backfill", "--since", str(date.today() - timedelta(days=30)), "--dry-run"],
        ["report", "billing", "--month", month, "--out", str(out)],
        ["report", "sla", "--month", month, "--out", str(out)],
        ["invoice", "close", "--month", previous_month(month), "--dry-run"],
    ]
    for args in good:
        proc = run(s, *args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr[-2000:])
        sweep.process(" ".join(args), proc)

    # The daemon: one cycle, then last month's reports written and mailed (the SMTP login
    # uses the password); it listens on nothing while it works.
    log = s.tmp / "daemon.log"
    samples, listening = 0, []
    with log.open("w") as stderr:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "syncd.cli", "--config", str(s.config_path), "run"],
            cwd=ROOT,
            env={**s.env(), SMTP_ENV: SMTP_PASSWORD},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and '"monthly_reports_done"' not in log.read_text():
                listening += listening_sockets(daemon.pid)
                samples += 1
                time.sleep(0.1)
            assert '"monthly_reports_done"' in log.read_text(), log.read_text()[-3000:]
        finally:
            daemon.send_signal(signal.SIGTERM)
            stdout, _ = daemon.communicate(timeout=30)
    assert daemon.returncode == 0
    assert listening == [] and samples > 0
    assert server.received, "the monthly mail went out (after an authenticated login)"
    sweep.search("run: stdout", stdout)
    sweep.search("run: stderr (log)", log.read_text())
    for message in server.received:
        sweep.search(f"mail to {','.join(message.rcpt_tos)}", message.data)

    # ------------------------------------------------------------ bad days
    wrong = {"SYNCD_TEST_ZENDESK_TOKEN": WRONG_TOKEN, "SYNCD_TEST_REDMINE_KEY": WRONG_KEY}
    for args in (["check"], ["sync"], ["report", "sla", "--month", month, "--rebuild"]):
        proc = run(s, *args, **wrong)
        assert proc.returncode != 0, args
        sweep.process("wrong credentials: " + " ".join(args), proc)

    text = s.config_path.read_text()
    closed = "http://127.0.0.1:9"  # discard port: nothing listens, connection refused
    for side, url in (("zendesk", s.emu.url), ("redmine", s.redmine.url)):
        refused = s.tmp / f"refused-{side}.toml"
        refused.write_text(text.replace(f'url = "{url}"', f'url = "{closed}"'), encoding="utf-8")
        # Each refused side retries with backoff (seconds): the reduced size runs one command.
        for args in (
            (["check"], ["sync"]) if FULL else ((["sync"],) if side == "zendesk" else (["check"],))
        ):
            proc = run(s, *args, config=refused)
            assert proc.returncode in (1, 69), (side, args, proc.stderr[-1000:])
            sweep.process(f"{side} refused: {' '.join(args)}", proc)

    echo = echo_body(s)
    answers = [(401, "application/json"), (500, "application/json"), (500, "text/html")]
    for status, kind in answers:
        s.emu.inject_fault(match=".*", status=status, body=echo, content_type=kind, times=None)
        s.emu.advance(61)
        # A 5xx is retried with backoff (seconds): the reduced size runs fewer commands.
        commands = [["sync"], ["check"], ["adopt", "--dry-run"]]
        for args in commands if FULL else commands[: 1 if kind == "text/html" else 2]:
            proc = run(s, *args)
            # adopt reads only Redmine: it has nothing to fail on here.
            expected = (0,) if args[0] == "adopt" else (1, 69)
            assert proc.returncode in expected, (status, args, proc.stdout, proc.stderr[-1000:])
            sweep.process(f"{status} {kind} echo: {' '.join(args)}", proc)
        s.emu.clear_faults()
    # A write refused with the echo: the reason is kept in the store and shown by status.
    s.ticket("A write that fails")
    s.emu.advance(61)
    s.emu.inject_fault(match="^PUT /api/v2/tickets/", status=422, body=echo, times=None)
    proc = run(s, "sync")
    sweep.process("422 echo on a write: sync", proc)
    s.emu.clear_faults()
    assert proc.returncode == 1, proc.stdout
    for args in (["status"], ["status", "--json"]):
        proc = run(s, *args)
        assert proc.returncode == 0
        sweep.process("after the failures: " + " ".join(args), proc)
    assert "failures" in proc.stdout

    # ------------------------------------------------------------ files
    db = sqlite3.connect(f"file:{s.state_path}?mode=ro", uri=True)
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert "A write that fails" in dump  # the dump is the store's content
    sweep.search("state DB dump", dump)
    sweep.tree(s.tmp)  # the config, state DB, lock, reports (both runs), daemon log

    assert not sweep.hits, "secrets found:\n" + "\n".join(f"{n}: {w}" for n, w in sweep.hits)
    figure(
        "secrets",
        f"outputs grepped: {len(sweep.searched)} streams/files ({len(good) + 1} commands on a "
        "good day incl. `run` with SMTP login, wrong credentials, connection refused, 401/500/422 "
        f"answers echoing the credentials), {sum(len(v) for v in sweep.secrets.values())} "
        "secret forms (raw, base64, basic-auth, AUTH PLAIN), token hits: 0",
    )
    figure("secrets", f"listening sockets of `syncd run`: 0 in {samples} samples")


def test_state_lock_wal_and_shm_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    state = tmp_path / "var" / "syncd.db"
    state.parent.mkdir()  # the folder exists already, made with the usual 0755
    old = os.umask(0o022)
    try:
        with CycleLock(state):
            store = Store(state)
            try:
                store.set_meta("probe", "x")  # a write: the WAL and SHM files exist now
                files = {p.name: p.stat().st_mode & 0o777 for p in state.parent.iterdir()}
            finally:
                store.close()
    finally:
        os.umask(old)
    assert files == {
        "syncd.db": 0o600,
        "syncd.db-wal": 0o600,
        "syncd.db-shm": 0o600,
        "syncd.db.lock": 0o600,
    }
    figure("secrets", "state file, lock, WAL, SHM created 0600 under umask 022: 4/4")
