"""Access to the real Redmine the tests run against (see scripts/test-env.sh).

`connect()` reads the connection settings, checks the server and returns a `RedmineEnv`: plain
`requests` helpers over the REST API (as admin, or as another user) and `run_ruby()` to run code
inside the instance. The pytest fixtures in tests/conftest.py are thin wrappers around it.

Settings come from the environment when REDMINE_URL is set (REDMINE_API_KEY too, and optionally
REDMINE_TICKET_FIELD_ID, REDMINE_BILLABLE_FIELD_ID, REDMINE_DATADIR, REDMINE_RUNNER); otherwise
from the env file that scripts/test-env.sh writes (var/redmine.env, or $SYNCD_REDMINE_ENV).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENV_FILE = REPO_ROOT / "var" / "redmine.env"
DEFAULT_DATADIR = "/var/lib/syncd-redmine"
TICKET_FIELD_NAME = "Zendesk ticket"
BILLABLE_FIELD_NAME = "Billable"
TIMEOUT = 30.0  # seconds per HTTP request; WEBrick answers in ~10-100 ms
PROBE_TIMEOUT = 5.0
# A role of the default data that may log time (redmine-provision.rb makes sure of it).
MEMBER_ROLE = "Developer"


class RedmineUnavailable(Exception):
    """The real Redmine is not configured or does not answer as expected."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def require_redmine() -> bool:
    """True when SYNCD_REQUIRE_REDMINE=1: a missing Redmine is an error, not a skip (CI)."""
    return _truthy(os.environ.get("SYNCD_REQUIRE_REDMINE"))


def keep_data() -> bool:
    """SYNCD_KEEP_REDMINE_DATA=1 keeps the projects/users tests create (for debugging)."""
    return _truthy(os.environ.get("SYNCD_KEEP_REDMINE_DATA"))


def env_file_path() -> Path:
    return Path(os.environ.get("SYNCD_REDMINE_ENV") or DEFAULT_ENV_FILE)


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments ignored; optional quotes stripped."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def load_settings() -> tuple[dict[str, str], str]:
    """The REDMINE_* settings and where they came from."""
    if os.environ.get("REDMINE_URL"):
        keys = (
            "REDMINE_URL",
            "REDMINE_API_KEY",
            "REDMINE_TICKET_FIELD_ID",
            "REDMINE_BILLABLE_FIELD_ID",
            "REDMINE_DATADIR",
            "REDMINE_RUNNER",
        )
        return {k: os.environ[k] for k in keys if os.environ.get(k)}, "environment"
    path = env_file_path()
    try:
        return parse_env_file(path), str(path)
    except FileNotFoundError:
        raise RedmineUnavailable(
            f"{path} not found and REDMINE_URL not set (run `make redmine` as root)"
        ) from None
    except PermissionError:
        raise RedmineUnavailable(f"{path} is not readable by this user") from None


@dataclass(frozen=True)
class User:
    id: int
    login: str
    password: str
    api_key: str


class ProjectRef(str):
    """A project's identifier (a str: pass it wherever REST takes a project id) and its id."""

    id: int
    name: str

    def __new__(cls, identifier: str, project_id: int, name: str = "") -> ProjectRef:
        obj = super().__new__(cls, identifier)
        obj.id = project_id
        obj.name = name
        return obj

    @property
    def identifier(self) -> str:
        return str(self)


@dataclass
class RedmineEnv:
    url: str
    api_key: str
    ticket_field_id: int
    billable_field_id: int | None
    datadir: Path
    runner: Path
    source: str = ""
    activities: dict[str, int] = field(default_factory=dict)
    trackers: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    closed_statuses: set[str] = field(default_factory=set)
    priorities: dict[str, int] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    # ------------------------------------------------------------------ raw access
    def rest(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        *,
        key: str | None = None,
        switch_user: str | None = None,
        expect: int | tuple[int, ...] | None = None,
        timeout: float = TIMEOUT,
    ) -> requests.Response:
        """One REST call, as admin unless `key` is given ("" = anonymous).

        `switch_user` impersonates a user by login (admin key only, header
        X-Redmine-Switch-User). With `expect`, any other status raises AssertionError showing
        the body (Redmine's 422 explains what it refused).
        """
        if not path.startswith("/"):
            path = "/" + path
        headers = {}
        api_key = self.api_key if key is None else key
        if api_key:
            headers["X-Redmine-API-Key"] = api_key
        if switch_user:
            headers["X-Redmine-Switch-User"] = switch_user
        resp = self.session.request(
            method.upper(),
            self.url + path,
            json=json,
            params=params,
            headers=headers,
            timeout=timeout,
        )
        if expect is not None:
            wanted = (expect,) if isinstance(expect, int) else expect
            if resp.status_code not in wanted:
                raise AssertionError(
                    f"{method.upper()} {path} params={params!r} -> {resp.status_code}, "
                    f"expected {expect}: {resp.text[:1000]}"
                )
        return resp

    def get(self, path: str, params: Any = None, **kwargs: Any) -> Any:
        """GET expecting 200; returns the parsed JSON."""
        return self.rest("GET", path, params=params, expect=200, **kwargs).json()

    @property
    def can_run_ruby(self) -> bool:
        return os.geteuid() == 0 and self.runner.exists()

    def run_ruby(self, code: str, timeout: float = 180) -> str:
        """Run Ruby inside the Redmine instance (rails runner, ~3 s); returns its stdout.

        Needs root (the runner switches to www-data).
        """
        if not self.runner.exists():
            raise RuntimeError(f"{self.runner} does not exist (is REDMINE_DATADIR right?)")
        if os.geteuid() != 0:
            raise RuntimeError(f"{self.runner} must be run as root")
        proc = subprocess.run(
            [str(self.runner), "-"],
            input=code,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"redmine-runner exited {proc.returncode}: {proc.stderr[-2000:]}\n{proc.stdout}"
            )
        return proc.stdout

    # ------------------------------------------------------------------ projects
    def create_project(
        self,
        identifier: str | None = None,
        *,
        name: str | None = None,
        is_public: bool = False,
        **extra: Any,
    ) -> ProjectRef:
        """A fresh project: issue and time tracking, all trackers, the ticket field enabled."""
        identifier = identifier or f"t-{secrets.token_hex(6)}"
        name = (name or f"syncd test {identifier}")[:255]
        body = {
            "identifier": identifier,
            "name": name,
            "is_public": is_public,
            "enabled_module_names": ["issue_tracking", "time_tracking"],
            "tracker_ids": sorted(self.trackers.values()),
            "issue_custom_field_ids": [self.ticket_field_id],
            **extra,
        }
        data = self.rest("POST", "/projects.json", json={"project": body}, expect=201).json()
        return ProjectRef(identifier, data["project"]["id"], name)

    def delete_project(self, project: str | int) -> None:
        self.rest("DELETE", f"/projects/{project}.json", expect=(204, 200, 404))

    # ------------------------------------------------------------------ users
    def create_user(
        self,
        login: str | None = None,
        *,
        project: str | int | None = None,
        role: str = MEMBER_ROLE,
        admin: bool = False,
    ) -> User:
        """A new active user (non-admin by default) with an API key.

        With `project`, the user becomes a member with `role` (Developer: can log time).
        """
        login = login or f"u-{secrets.token_hex(5)}"
        password = secrets.token_urlsafe(12)
        body = {
            "login": login,
            "firstname": "Test",
            "lastname": login,
            "mail": f"{login}@example.test",
            "password": password,
            "must_change_passwd": False,
            "admin": admin,
        }
        data = self.rest("POST", "/users.json", json={"user": body}, expect=201).json()
        user_id = data["user"]["id"]
        # The API key is created lazily; an admin sees (and thereby creates) it here.
        api_key = self.get(f"/users/{user_id}.json")["user"]["api_key"]
        if project is not None:
            self.add_member(project, user_id, role)
        return User(user_id, login, password, api_key)

    def add_member(self, project: str | int, user_id: int, role: str = MEMBER_ROLE) -> int:
        body = {"membership": {"user_id": user_id, "role_ids": [self.roles[role]]}}
        resp = self.rest("POST", f"/projects/{project}/memberships.json", json=body, expect=201)
        return resp.json()["membership"]["id"]

    def delete_user(self, user_id: int) -> None:
        self.rest("DELETE", f"/users/{user_id}.json", expect=(204, 200, 404))

    # ------------------------------------------------------------------ issues
    def create_issue(
        self,
        project: str | int,
        subject: str | None = None,
        *,
        ticket: str | int | None = None,
        tracker: str = "Bug",
        **fields: Any,
    ) -> dict[str, Any]:
        """POST /issues.json; `ticket` fills the "Zendesk ticket" field. Returns the issue."""
        body: dict[str, Any] = {
            "project_id": project.id if isinstance(project, ProjectRef) else project,
            "subject": subject or f"test issue {secrets.token_hex(4)}",
            "tracker_id": self.trackers[tracker],
            **fields,
        }
        if ticket is not None:
            body.setdefault("custom_fields", []).append(
                {"id": self.ticket_field_id, "value": str(ticket)}
            )
        return self.rest("POST", "/issues.json", json={"issue": body}, expect=201).json()["issue"]

    def update_issue(self, issue_id: int, **fields: Any) -> None:
        self.rest("PUT", f"/issues/{issue_id}.json", json={"issue": fields}, expect=(204, 200))

    def issue(self, issue_id: int, **params: Any) -> dict[str, Any]:
        return self.get(f"/issues/{issue_id}.json", params=params or None)["issue"]

    def issues(self, **params: Any) -> list[dict[str, Any]]:
        return self.get("/issues.json", params=params)["issues"]

    # ------------------------------------------------------------------ time entries
    def log_time(
        self,
        hours: float,
        *,
        issue_id: int | None = None,
        project: str | int | None = None,
        user_id: int | None = None,
        activity: str = "Development",
        spent_on: dt.date | str | None = None,
        comments: str = "",
        billable: bool | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """POST /time_entries.json, by default as admin on behalf of `user_id`.

        The user must be a member of the project with a role that may log time, else 422.
        Returns the created entry.
        """
        body: dict[str, Any] = {
            "hours": hours,
            "activity_id": self.activities[activity],
            "comments": comments,
        }
        if issue_id is not None:
            body["issue_id"] = issue_id
        if project is not None:
            body["project_id"] = project.id if isinstance(project, ProjectRef) else project
        if user_id is not None:
            body["user_id"] = user_id
        if spent_on is not None:
            body["spent_on"] = str(spent_on)
        if billable is not None and self.billable_field_id:
            body["custom_fields"] = [
                {"id": self.billable_field_id, "value": "1" if billable else "0"}
            ]
        resp = self.rest("POST", "/time_entries.json", json={"time_entry": body}, key=key)
        if resp.status_code != 201:
            raise AssertionError(f"POST /time_entries.json -> {resp.status_code}: {resp.text}")
        return resp.json()["time_entry"]

    def delete_time_entry(self, entry_id: int) -> None:
        self.rest("DELETE", f"/time_entries/{entry_id}.json", expect=(204, 200))

    def time_entries(self, **params: Any) -> list[dict[str, Any]]:
        params.setdefault("limit", 100)
        return self.get("/time_entries.json", params=params)["time_entries"]


def _field_id(fields: list[dict[str, Any]], name: str, customized_type: str) -> int | None:
    for f in fields:
        if f.get("name") == name and f.get("customized_type") == customized_type:
            return int(f["id"])
    return None


def connect() -> RedmineEnv:
    """Settings -> a checked RedmineEnv; RedmineUnavailable with the reason otherwise."""
    settings, source = load_settings()
    url = settings.get("REDMINE_URL", "").rstrip("/")
    key = settings.get("REDMINE_API_KEY", "")
    if not url or not key:
        raise RedmineUnavailable(f"REDMINE_URL / REDMINE_API_KEY missing in {source}")
    datadir = Path(settings.get("REDMINE_DATADIR") or DEFAULT_DATADIR)
    env = RedmineEnv(
        url=url,
        api_key=key,
        ticket_field_id=0,
        billable_field_id=None,
        datadir=datadir,
        runner=Path(settings.get("REDMINE_RUNNER") or datadir / "redmine-runner"),
        source=source,
    )
    # A wrong key is not rejected on public data (Redmine answers as anonymous), so check it.
    try:
        resp = env.rest("GET", "/users/current.json", timeout=PROBE_TIMEOUT)
    except requests.ConnectionError:
        raise RedmineUnavailable(f"{url} does not answer (from {source})") from None
    except requests.RequestException as exc:
        raise RedmineUnavailable(f"{url} (from {source}): {exc}") from None
    if resp.status_code != 200 or not resp.json().get("user", {}).get("admin"):
        raise RedmineUnavailable(
            f"GET {url}/users/current.json with the key from {source} -> {resp.status_code}; "
            "not an admin key (is the env file stale? run `make redmine`)"
        )

    fields = env.get("/custom_fields.json")["custom_fields"]
    ticket_id = settings.get("REDMINE_TICKET_FIELD_ID") or _field_id(
        fields, TICKET_FIELD_NAME, "issue"
    )
    if not ticket_id:
        raise RedmineUnavailable(
            f'no issue custom field "{TICKET_FIELD_NAME}" on {url}: run scripts/test-env.sh'
        )
    env.ticket_field_id = int(ticket_id)
    billable_id = settings.get("REDMINE_BILLABLE_FIELD_ID") or _field_id(
        fields, BILLABLE_FIELD_NAME, "time_entry"
    )
    env.billable_field_id = int(billable_id) if billable_id else None

    env.activities = {
        a["name"]: a["id"]
        for a in env.get("/enumerations/time_entry_activities.json")["time_entry_activities"]
    }
    env.trackers = {t["name"]: t["id"] for t in env.get("/trackers.json")["trackers"]}
    statuses = env.get("/issue_statuses.json")["issue_statuses"]
    env.statuses = {s["name"]: s["id"] for s in statuses}
    env.closed_statuses = {s["name"] for s in statuses if s.get("is_closed")}
    env.priorities = {
        p["name"]: p["id"]
        for p in env.get("/enumerations/issue_priorities.json")["issue_priorities"]
    }
    env.roles = {r["name"]: r["id"] for r in env.get("/roles.json")["roles"]}
    missing = [
        what
        for what, ok in (
            ("activity Development", "Development" in env.activities),
            (f"role {MEMBER_ROLE}", MEMBER_ROLE in env.roles),
            ("tracker Bug", "Bug" in env.trackers),
        )
        if not ok
    ]
    if missing:
        raise RedmineUnavailable(f"{url} is not provisioned ({', '.join(missing)} missing)")
    return env


def describe_settings() -> str:
    """One line for the pytest header; no network."""
    try:
        settings, source = load_settings()
    except RedmineUnavailable as exc:
        return f"redmine: not configured ({exc})"
    return f"redmine: {settings.get('REDMINE_URL', '?')} (from {source})"
