"""The demo's surroundings: the Redmine settings `make redmine` wrote, small REST clients for
seeding (Redmine as admin, the Zendesk emulator as its agent), the emulator process, and the
files the demo keeps in its directory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
HINT = "run `make demo` (it starts Redmine) or `make redmine` first"
TIMEOUT = 30.0  # seconds, every seeding request
WRITE_TIMEOUT = 60.0  # Redmine's SQLite waits up to 30 s for a lock before it answers 500
WRITE_ATTEMPTS = 3
EMULATOR_PORT = 8765
EMULATOR_WAIT = 20.0  # seconds for the emulator's "listening" line

EXIT_UNAVAILABLE = 69  # like `syncd check`: a service is missing


class DemoError(Exception):
    """Something the demo needs is missing or broken; the message says what to do."""

    def __init__(self, message: str, exit_code: int = EXIT_UNAVAILABLE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ====================================================================== files in the demo dir
class DemoFiles:
    """Every file the demo writes; a re-run removes exactly these (never the whole dir)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "syncd.toml"
        self.state = root / "syncd.db"
        self.zendesk_token = root / "zendesk.token"
        self.redmine_key = root / "redmine.key"
        self.emulator_state = root / "emulator-state.json"
        self.emulator_pid = root / "emulator.pid"
        self.emulator_log = root / "emulator.log"
        self.syncd_log = root / "syncd.log"
        self.actions_log = root / "actions.log"
        self.manifest = root / "demo.json"

    def state_files(self) -> list[Path]:
        db = self.state
        return [db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal", ".lock"))]

    def wipe(self) -> None:
        for path in [
            *self.state_files(),
            self.config,
            self.zendesk_token,
            self.redmine_key,
            self.emulator_state,
            self.emulator_pid,
            self.emulator_log,
            self.syncd_log,
            self.actions_log,
            self.manifest,
        ]:
            path.unlink(missing_ok=True)


def write_secret(path: Path, value: str) -> None:
    """Mode 0600 from the first byte on."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value + "\n")


def open_private(path: Path) -> TextIO:
    """Append, mode 0600: logs name clients and tickets, like the state DB (also 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def shown(path: Path) -> str:
    """A path as a newcomer would type it: relative to the current directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


# ====================================================================== Redmine settings
@dataclass(frozen=True)
class RedmineSettings:
    url: str
    api_key: str
    ticket_field_id: int | None
    billable_field_id: int | None
    source: str


def _env_file() -> Path:
    if os.environ.get("SYNCD_REDMINE_ENV"):
        return Path(os.environ["SYNCD_REDMINE_ENV"])
    for candidate in (Path("var/redmine.env"), REPO_ROOT / "var" / "redmine.env"):
        if candidate.exists():
            return candidate
    return REPO_ROOT / "var" / "redmine.env"


def _parse_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip().removeprefix("export ").strip()] = value
    return values


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def load_redmine_settings() -> RedmineSettings:
    """From REDMINE_URL/REDMINE_API_KEY/REDMINE_TICKET_FIELD_ID, else var/redmine.env."""
    if os.environ.get("REDMINE_URL"):
        values, source = dict(os.environ), "$REDMINE_URL and $REDMINE_API_KEY"
    else:
        path = _env_file()
        try:
            values, source = _parse_env(path), shown(path)
        except FileNotFoundError:
            raise DemoError(
                f"no Redmine to talk to: {shown(path)} not found and REDMINE_URL not set; {HINT}"
            ) from None
        except PermissionError:
            raise DemoError(
                f"{shown(path)} is not readable by this user; {HINT} (as the same user)"
            ) from None
    url, key = values.get("REDMINE_URL", "").rstrip("/"), values.get("REDMINE_API_KEY", "")
    if not url or not key:
        raise DemoError(f"REDMINE_URL or REDMINE_API_KEY missing in {source}; {HINT}")
    return RedmineSettings(
        url=url,
        api_key=key,
        ticket_field_id=_int(values.get("REDMINE_TICKET_FIELD_ID")),
        billable_field_id=_int(values.get("REDMINE_BILLABLE_FIELD_ID")),
        source=source,
    )


# ====================================================================== REST clients
class Redmine:
    """The real Redmine's REST API as admin (what `make redmine` provisions)."""

    def __init__(self, settings: RedmineSettings) -> None:
        self.url = settings.url
        self.settings = settings
        self.session = requests.Session()
        self.session.headers["X-Redmine-API-Key"] = settings.api_key
        self.ticket_field_id = settings.ticket_field_id or 0
        self.billable_field_id = settings.billable_field_id
        self.trackers: dict[str, int] = {}
        self.statuses: dict[str, int] = {}
        self.activities: dict[str, int] = {}
        self.roles: dict[str, int] = {}

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Any = None,
        expect: tuple[int, ...] = (200, 201, 204),
        landed: Callable[[], Any] | None = None,
        as_user: str | None = None,
    ) -> Any:
        """One REST call, as admin or, with `as_user`, as that user (by login).

        Redmine on SQLite answers 500 ("database is locked") or not at all while another
        writer holds the database (a test run beside the demo): a read is retried; a write
        only after `landed` (which looks for its result) found nothing, because Redmine may
        have committed it before failing."""
        retry = method in ("GET", "DELETE") or landed is not None
        headers = {"X-Redmine-Switch-User": as_user} if as_user else None
        for attempt in range(WRITE_ATTEMPTS):
            problem = ""
            try:
                resp = self.session.request(
                    method,
                    self.url + path,
                    json=body,
                    params=params,
                    headers=headers,
                    timeout=TIMEOUT if method == "GET" else WRITE_TIMEOUT,
                )
            except requests.ConnectionError:
                raise DemoError(f"Redmine at {self.url} does not answer; {HINT}") from None
            except requests.Timeout:
                problem = "no answer in time"
            else:
                if resp.status_code in expect:
                    return resp.json() if resp.content and resp.content.strip() else {}
                problem = f"{resp.status_code}: {resp.text[:500]}"
                if resp.status_code < 500:
                    break
            if not retry or attempt == WRITE_ATTEMPTS - 1:
                break
            time.sleep(1 + 2 * attempt)
            if landed is not None:
                found = landed()
                if found is not None:
                    return found
        busy = " (its SQLite database is busy while others write to it: try again)"
        raise DemoError(
            f"Redmine {method} {path} -> {problem}" + (busy if "500" in problem[:3] else ""),
            exit_code=1,
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params or None)

    def connect(self) -> None:
        """Is it there, is the key an admin's, is it provisioned? Learn the ids by name."""
        try:
            resp = self.session.get(self.url + "/users/current.json", timeout=5)
        except requests.RequestException:
            raise DemoError(
                f"Redmine at {self.url} (from {self.settings.source}) does not answer; {HINT}"
            ) from None
        if resp.status_code != 200 or not resp.json().get("user", {}).get("admin"):
            raise DemoError(
                f"the API key from {self.settings.source} is not an admin's on {self.url} "
                f"(HTTP {resp.status_code}); {HINT}"
            )
        if not self.ticket_field_id:
            fields = self.get("/custom_fields.json")["custom_fields"]
            by_name = {(f["name"], f["customized_type"]): f["id"] for f in fields}
            self.ticket_field_id = by_name.get(("Zendesk ticket", "issue"), 0)
            self.billable_field_id = self.billable_field_id or by_name.get(
                ("Billable", "time_entry")
            )
        if not self.ticket_field_id:
            raise DemoError(f'Redmine at {self.url} has no "Zendesk ticket" issue field; {HINT}')
        self.trackers = _names(self.get("/trackers.json")["trackers"])
        self.statuses = _names(self.get("/issue_statuses.json")["issue_statuses"])
        self.activities = _names(
            self.get("/enumerations/time_entry_activities.json")["time_entry_activities"]
        )
        self.roles = _names(self.get("/roles.json")["roles"])
        missing = [
            f"{kind} {name!r}"
            for kind, names, have in (
                ("tracker", ("Bug", "Feature", "Support"), self.trackers),
                ("status", ("New", "In Progress", "Resolved", "Closed"), self.statuses),
                ("activity", ("Development",), self.activities),
                ("role", ("Developer",), self.roles),
            )
            for name in names
            if name not in have
        ]
        if missing:
            raise DemoError(
                f"Redmine at {self.url} is not provisioned ({', '.join(missing)}); {HINT}"
            )

    def delete_project(self, identifier: str) -> bool:
        """True when it was there. Redmine 5.0 deletes issues and time entries with it."""
        try:
            resp = self.session.delete(f"{self.url}/projects/{identifier}.json", timeout=120)
        except requests.RequestException:
            return False
        return resp.status_code in (200, 204)


def _names(items: list[dict[str, Any]]) -> dict[str, int]:
    return {x["name"]: int(x["id"]) for x in items}


class Zendesk:
    """The emulator's Zendesk API as its agent, plus its /_emulator controls."""

    def __init__(self, url: str, email: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (f"{email}/token", token)

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        try:
            resp = self.session.request(
                method, self.url + path, json=body, params=params or None, timeout=TIMEOUT
            )
        except requests.RequestException as e:
            raise DemoError(f"Zendesk emulator at {self.url}: {e}", exit_code=1) from None
        if resp.status_code >= 300:
            raise DemoError(
                f"Zendesk emulator {method} {path} -> {resp.status_code}: {resp.text[:500]}",
                exit_code=1,
            )
        return resp.json() if resp.content else {}

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.call("PUT", path, body)

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock: its export hides the last minute's changes."""
        self.call("POST", "/_emulator/clock", {"advance": seconds})

    def tickets(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        for i in range(0, len(ids), 100):
            chunk = ",".join(str(x) for x in ids[i : i + 100])
            for t in self.call("GET", "/api/v2/tickets/show_many.json", ids=chunk)["tickets"]:
                found[int(t["id"])] = t
        return found


# ====================================================================== the emulator process
@dataclass(frozen=True)
class Emulator:
    pid: int
    url: str


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            out = subprocess.run(
                ["ps", "-o", "args=", "-p", str(pid)],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
        except OSError:
            return None
        return out.split() or None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_our_emulator(pid: int, files: DemoFiles) -> bool:
    """Only a process that is `python -m emulator ... --state-file <this demo's file>`."""
    args = _cmdline(pid)
    if not args:
        return False
    return "emulator" in args and str(files.emulator_state.resolve()) in args


def stop_emulator(files: DemoFiles, wait: float = 5.0) -> int | None:
    """Stop the emulator an earlier demo left running (from its pid file). Returns its pid."""
    try:
        pid = int(files.emulator_pid.read_text().strip())
    except (OSError, ValueError):
        return None
    stopped = None
    if _is_our_emulator(pid, files):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _is_our_emulator(pid, files):
                time.sleep(0.05)
            if _is_our_emulator(pid, files):
                os.kill(pid, signal.SIGKILL)
        stopped = pid
    files.emulator_pid.unlink(missing_ok=True)
    return stopped


def start_emulator(files: DemoFiles, *, token: str, email: str) -> Emulator:
    """`python -m emulator` in the background, on port 8765 when free, else any free port.
    Its output goes to emulator.log; it keeps running after the demo (pid in emulator.pid)."""
    for port in (EMULATOR_PORT, 0):
        with open(files.emulator_log, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "emulator",
                    "--port",
                    str(port),
                    "--token-file",
                    str(files.zendesk_token.resolve()),
                    "--email",
                    email,
                    "--state-file",
                    str(files.emulator_state.resolve()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                start_new_session=True,  # a Ctrl-C in the demo's terminal doesn't reach it
            )
        url = _wait_for_listening(proc, files.emulator_log)
        if url:
            files.emulator_pid.write_text(f"{proc.pid}\n")
            return Emulator(pid=proc.pid, url=url)
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    tail = files.emulator_log.read_text(encoding="utf-8", errors="replace")[-800:]
    raise DemoError(
        f"the Zendesk emulator did not start (see {shown(files.emulator_log)}):\n{tail}"
    )


def _wait_for_listening(proc: subprocess.Popen[bytes], log: Path) -> str | None:
    deadline = time.monotonic() + EMULATOR_WAIT
    while time.monotonic() < deadline:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("emulator listening on "):
                return line.removeprefix("emulator listening on ").strip()
        if proc.poll() is not None:
            return None  # e.g. the port is taken: the caller tries another
        time.sleep(0.05)
    return None


# ====================================================================== the manifest
def read_manifest(files: DemoFiles) -> dict[str, Any]:
    try:
        return json.loads(files.manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_manifest(files: DemoFiles, data: dict[str, Any]) -> None:
    tmp = files.manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(files.manifest)


def forget_previous_demo(files: DemoFiles, redmine: Redmine | None) -> list[str]:
    """Stop the old emulator, delete the old demo's Redmine projects, remove its files.
    Returns what was done, for the output."""
    done: list[str] = []
    pid = stop_emulator(files)
    if pid:
        done.append(f"stopped the previous demo's emulator (pid {pid})")
    manifest = read_manifest(files)
    projects = manifest.get("projects", [])
    # Only on the Redmine that demo used: identifiers mean nothing on another one.
    if projects and redmine is not None and manifest.get("redmine") == redmine.url:
        gone = [p for p in projects if redmine.delete_project(p)]
        if gone:
            done.append(f"deleted the previous demo's Redmine projects {', '.join(gone)}")
    files.wipe()
    return done
