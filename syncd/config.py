"""The TOML configuration: parsed once, validated with messages that name file, key and problem.

Secrets never live in the file: it names the environment variable (`*_env`) or the file
(`*_file`) that holds them, so a config can be committed and shown in a support ticket.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from syncd.billing_config import BillingSettings, Plan, parse_billing, parse_plans
from syncd.mail import MailConfig, address_problem, parse_mail

DEFAULT_TICKET_PATTERNS = (
    r"(?i)\bzendesk\s*#\s*(\d+)",
    r"(?i)\bticket\s*#\s*(\d+)",
    r"(?i)\bzd-(\d+)\b",
    r"(?i)https?://[^\s/]+/agent/tickets/(\d+)",
    r"(?i)https?://[^\s/]+/api/v2/tickets/(\d+)",
)


class ConfigError(Exception):
    """A configuration problem; the message names the file, the key and what is wrong."""


@dataclass(frozen=True)
class ZendeskConfig:
    url: str
    email: str
    token_env: str | None
    token_file: str | None
    work_tag: str
    issue_field_id: int
    hours_field_id: int
    estimate_field_id: int | None
    notify_client: bool
    timeout: float
    ratelimit_budget: float
    source: str = field(default="", compare=False)  # the config file, for error messages

    def token(self) -> str:
        return _secret("zendesk", self.token_env, self.token_file, source=self.source)


@dataclass(frozen=True)
class RedmineConfig:
    url: str
    key_env: str | None
    key_file: str | None
    ticket_field_id: int
    done_statuses: tuple[str, ...]
    reopen_status: str
    default_tracker: str
    trackers: dict[str, str]  # Zendesk ticket type -> Redmine tracker
    priorities: dict[str, str]  # Zendesk priority -> Redmine priority
    timeout: float
    source: str = field(default="", compare=False)  # the config file, for error messages

    def key(self) -> str:
        return _secret("redmine", self.key_env, self.key_file, source=self.source, key="key")


@dataclass(frozen=True)
class SyncConfig:
    interval_minutes: int
    since: date | None  # where the first ticket export starts; None: 30 days back
    issue_overlap_minutes: int
    reread_days: int  # time entries spent in this many recent days are re-read for edits
    reread_every_minutes: int
    max_attempts: int  # per failing item, before it waits for a person
    ticket_patterns: tuple[str, ...]
    language: str


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    zendesk_organization_id: int | None
    redmine_projects: tuple[str, ...]
    language: str | None = None
    plan: str | None = None
    plan_changes: tuple[tuple[str, str], ...] = ()  # (first month "YYYY-MM", plan), by month
    launched_on: date | None = None  # the site's launch: the warranty starts here
    warranty_days: int = 0
    email: str | None = None  # where the client's copy of the reports is mailed

    @property
    def issue_project(self) -> str:
        return self.redmine_projects[0]

    def plan_for(self, month: str) -> str | None:
        """The plan in force in a month (YYYY-MM): the last change at or before it."""
        current = self.plan
        for first_month, plan in self.plan_changes:
            if first_month <= month:
                current = plan
        return current


@dataclass(frozen=True)
class Config:
    path: Path
    state_path: Path
    templates_dir: Path
    zendesk: ZendeskConfig
    redmine: RedmineConfig
    sync: SyncConfig
    clients: tuple[Client, ...]
    plans: dict[str, Plan] = field(default_factory=dict)
    billing: BillingSettings = field(default_factory=BillingSettings)
    mail: MailConfig | None = None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)  # for the report sections

    def client_by_id(self, client_id: str) -> Client | None:
        return next((c for c in self.clients if c.id == client_id), None)

    def all_projects(self) -> list[str]:
        return sorted({p for c in self.clients for p in c.redmine_projects})


def _secret(
    section: str, env: str | None, file: str | None, *, source: str = "", key: str = "token"
) -> str:
    """The secret from the variable `env`, else the file `file`. Read when a command needs it,
    not at load; the error still names the config file and the key that points to it."""
    where = f"{source}: [{section}]" if source else f"[{section}]"
    if env:
        value = os.environ.get(env, "").strip()
        if value:
            return value
    if file:
        try:
            value = Path(file).read_text().strip()
        except OSError as e:
            raise ConfigError(f"{where} {key}_file: secret file {file!r}: {e.strerror}") from None
        if value:
            return value
    tried = [
        *([f"{key}_env: environment variable {env} is not set or empty"] if env else []),
        *([f"{key}_file: file {file} is empty"] if file else []),
    ]
    raise ConfigError(f"{where} {'; '.join(tried) or f'{key}_env: not set'}")


class _Reader:
    """Typed access to one TOML table that reports `file: [section] key: problem`."""

    def __init__(self, path: Path, section: str, table: Any) -> None:
        self.path, self.section = path, section
        if not isinstance(table, dict):
            self.fail(None, f"must be a table, got {type(table).__name__}")
        self.table: dict[str, Any] = table
        self.seen: set[str] = set()  # keys asked for: the rest are unknown (typos)

    def fail(self, key: str | None, problem: str) -> None:
        # A top-level key is a section of its own: [zendesk], [[clients]].
        where = f"[{self.section}]" + (f" {key}" if key else "") if self.section else f"[{key}]"
        raise ConfigError(f"{self.path}: {where}: {problem}")

    def get(
        self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, check: Any = None
    ) -> Any:
        self.seen.add(key)
        if key not in self.table:
            if default is ...:
                self.fail(key, "is required")
            return default
        value = self.table[key]
        # TOML booleans are ints to isinstance; keep them apart.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.fail(key, f"must be {_kind_name(kind)}, got a boolean")
        if not isinstance(value, kind):
            self.fail(key, f"must be {_kind_name(kind)}, got {type(value).__name__} {value!r}")
        if check is not None:
            problem = check(value)
            if problem:
                self.fail(key, problem)
        return value

    def reject_unknown(self) -> None:
        """A key nobody reads is a typo (`notify_clent = false`) that would silently keep
        the default: name it, with the keys that are known here."""
        unknown = [k for k in self.table if k not in self.seen]
        if unknown:
            known = ", ".join(sorted(self.seen))
            self.fail(unknown[0], f"unknown key (a typo?); the keys here are {known}")

    def strings(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if any(not isinstance(v, str) or not v for v in value):
            self.fail(key, "must be a list of non-empty strings")
        return tuple(value)

    def mapping(self, key: str, default: dict[str, str]) -> dict[str, str]:
        value = self.get(key, dict, default)
        for name, v in value.items():
            if not isinstance(v, str):
                self.fail(key, f"values must be strings; {name} = {v!r} is {type(v).__name__}")
        return dict(value)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        list: "a list",
        dict: "a table",
        float: "a number",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _url(value: str) -> str | None:
    return (
        None if value.startswith(("http://", "https://")) else "must start with http:// or https://"
    )


def _positive(value: int | float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (copy config/syncd.example.toml)"
        ) from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text: {e.reason} at byte {e.start}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    base = path.resolve().parent
    top = _Reader(path, "", raw)

    for section in ("zendesk", "redmine"):
        for secret in ("token", "key", "password", "api_key"):
            if isinstance(raw.get(section), dict) and secret in raw[section]:
                _Reader(path, section, raw[section]).fail(
                    secret,
                    f"secrets don't belong in the config file; use {secret}_env or {secret}_file",
                )

    st = _Reader(path, "state", top.get("state", dict, {}))
    state_path = _resolve(base, st.get("path", str, "var/syncd.db"))
    problem = _state_path_problem(state_path)
    if problem:
        st.fail("path", problem)
    st.reject_unknown()

    z = _Reader(path, "zendesk", top.get("zendesk", dict))
    zendesk = ZendeskConfig(
        url=z.get("url", str, check=_url).rstrip("/"),
        email=z.get("email", str),
        token_env=z.get("token_env", str, None),
        token_file=_opt_path(base, z.get("token_file", str, None)),
        work_tag=z.get("work_tag", str, "redmine"),
        issue_field_id=z.get("issue_field_id", int, check=_positive),
        hours_field_id=z.get("hours_field_id", int, check=_positive),
        estimate_field_id=z.get("estimate_field_id", int, None),
        notify_client=z.get("notify_client", bool, True),
        timeout=float(z.get("timeout", (int, float), 30, check=_positive)),
        ratelimit_budget=float(z.get("ratelimit_budget", (int, float), 120, check=_positive)),
        source=str(path),
    )
    if not zendesk.token_env and not zendesk.token_file:
        z.fail(
            "token_env",
            "is required (or token_file): the name of the variable holding the API token",
        )
    z.reject_unknown()

    r = _Reader(path, "redmine", top.get("redmine", dict))
    redmine = RedmineConfig(
        url=r.get("url", str, check=_url).rstrip("/"),
        key_env=r.get("key_env", str, None),
        key_file=_opt_path(base, r.get("key_file", str, None)),
        ticket_field_id=r.get("ticket_field_id", int, check=_positive),
        done_statuses=r.strings("done_statuses", ("Resolved", "Closed")),
        reopen_status=r.get("reopen_status", str, "In Progress"),
        default_tracker=r.get("default_tracker", str, "Support"),
        trackers=r.mapping(
            "trackers",
            {"incident": "Bug", "problem": "Bug", "task": "Feature", "question": "Support"},
        ),
        priorities=r.mapping(
            "priorities", {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"}
        ),
        timeout=float(r.get("timeout", (int, float), 30, check=_positive)),
        source=str(path),
    )
    if not redmine.key_env and not redmine.key_file:
        r.fail("key_env", "is required (or key_file): the name of the variable holding the API key")
    r.reject_unknown()

    s = _Reader(path, "sync", top.get("sync", dict, {}))
    since = s.get("since", (str, date), None)
    if isinstance(since, str):
        try:
            since = date.fromisoformat(since)
        except ValueError:
            s.fail("since", f"must be a date like 2026-01-31, got {since!r}")
    sync = SyncConfig(
        interval_minutes=s.get("interval_minutes", int, 5, check=_positive),
        since=since,
        issue_overlap_minutes=s.get("issue_overlap_minutes", int, 10, check=_positive),
        reread_days=s.get("reread_days", int, 62, check=_positive),
        reread_every_minutes=s.get("reread_every_minutes", int, 60, check=_positive),
        max_attempts=s.get("max_attempts", int, 8, check=_positive),
        ticket_patterns=_patterns(s),
        language=s.get("language", str, "ru", check=_language),
    )
    templates_dir = _resolve(base, s.get("templates_dir", str, str(_default_templates())))
    s.reject_unknown()

    plans = parse_plans(path, top.get("plans", dict, {}), _Reader)
    billing = parse_billing(path, top.get("billing", dict, {}), _Reader)
    clients = _clients(path, top.get("clients", list, []), plans)
    mail = parse_mail(path, top.get("mail", dict, None), _Reader)
    # Checked now, not at the first SLA report: a typo in [calendar] fails at load (exit 78).
    from reports.calendar import Calendar

    Calendar.from_config(top.get("calendar", dict, None), source=str(path))
    unknown = [k for k in raw if k not in top.seen]
    if unknown:
        raise ConfigError(
            f"{path}: [{unknown[0]}]: unknown section (a typo?); the sections are "
            + ", ".join(sorted(top.seen))
        )
    return Config(
        path=path,
        state_path=state_path,
        templates_dir=templates_dir,
        zendesk=zendesk,
        redmine=redmine,
        sync=sync,
        clients=clients,
        plans=plans,
        billing=billing,
        mail=mail,
        raw=raw,
    )


def _language(value: str) -> str | None:
    return None if value in ("ru", "en") else "must be 'ru' or 'en'"


def _patterns(s: _Reader) -> tuple[str, ...]:
    import re

    patterns = s.strings("ticket_patterns", DEFAULT_TICKET_PATTERNS)
    for p in patterns:
        try:
            compiled = re.compile(p)
        except re.error as e:
            s.fail("ticket_patterns", f"{p!r} is not a valid regular expression: {e}")
        if compiled.groups != 1:
            s.fail("ticket_patterns", f"{p!r} must have exactly one group: the ticket number")
    return patterns


def _clients(path: Path, items: list[Any], plans: dict[str, Plan]) -> tuple[Client, ...]:
    clients: list[Client] = []
    seen_ids: set[str] = set()
    seen_orgs: dict[int, str] = {}
    seen_projects: dict[str, str] = {}
    for i, item in enumerate(items):
        c = _Reader(path, f"clients[{i}]", item)
        cid = c.get("id", str, check=lambda v: None if v.strip() else "must not be empty")
        c.section = f"clients[{i}] (id {cid!r})"
        if cid in seen_ids:
            c.fail("id", "is used by another client too")
        seen_ids.add(cid)
        org = c.get("zendesk_organization_id", int, None)
        if org is not None:
            if org in seen_orgs:
                c.fail("zendesk_organization_id", f"{org} is also client {seen_orgs[org]!r}'s")
            seen_orgs[org] = cid
        projects = c.strings("redmine_projects")
        if not projects:
            c.fail(
                "redmine_projects", "needs at least one project (issues are created in the first)"
            )
        for p in projects:
            if p in seen_projects:
                c.fail("redmine_projects", f"{p!r} also belongs to client {seen_projects[p]!r}")
            seen_projects[p] = cid
        known_plan = _known(plans)
        changes = []
        for j, change in enumerate(c.get("plan_changes", list, [])):
            ch = _Reader(path, f"{c.section} plan_changes[{j}]", change)
            changes.append(
                (ch.get("from", str, check=_month), ch.get("plan", str, check=known_plan))
            )
            ch.reject_unknown()
        launched = c.get("launched_on", (str, date), None)
        if isinstance(launched, str):
            try:
                launched = date.fromisoformat(launched)
            except ValueError:
                c.fail("launched_on", f"must be a date like 2026-09-15, got {launched!r}")
        clients.append(
            Client(
                id=cid,
                name=c.get("name", str, cid),
                zendesk_organization_id=org,
                redmine_projects=projects,
                language=c.get("language", str, None, check=_language),
                plan=c.get("plan", str, None, check=known_plan),
                plan_changes=tuple(sorted(changes)),
                launched_on=launched,
                warranty_days=c.get(
                    "warranty_days", int, 0, check=lambda v: None if v >= 0 else "must be 0 or more"
                ),
                email=c.get("email", str, None, check=address_problem),
            )
        )
        c.reject_unknown()
    return tuple(clients)


def _known(plans: dict[str, Plan]) -> Any:
    def check(name: str) -> str | None:
        if name in plans:
            return None
        return f"no plan named {name!r} (defined: {', '.join(sorted(plans)) or 'none'})"

    return check


def _month(value: str) -> str | None:
    try:
        date.fromisoformat(value + "-01")
    except ValueError:
        return f"must be a month like 2026-10, got {value!r}"
    return None if len(value) == 7 else f"must be a month like 2026-10, got {value!r}"


def _state_path_problem(path: Path) -> str | None:
    """Why the state file can't be created or opened at `path`, found at load: otherwise the
    first command dies in SQLite or mkdir with a traceback that names no key."""
    if path.is_dir():
        return f"{path} is a directory; name a file, e.g. {path / 'syncd.db'}"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:  # missing folders are created
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory, so {path} can't be created"
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            return f"{path}: no permission to read and write it"
    elif not os.access(parent, os.W_OK | os.X_OK):
        return f"no permission to create files in {parent}"
    return None


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _opt_path(base: Path, value: str | None) -> str | None:
    return None if value is None else str(_resolve(base, value))


def _default_templates() -> Path:
    return Path(str(resources.files("syncd.default_templates")))
