"""Redmine, through python-redmine: issues and time entries in, issue writes out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import requests
from redminelib import Redmine, exceptions
from redminelib.engines.sync import SyncEngine

from connectors.base import ConnectorError, Issue, NewIssue, NotFound, TimeEntry
from connectors.http import make_session, transport_fault

PAGE = 100  # Redmine's default maximum page size
# Redmine has no index on spent_on: every page of a time-entry list scans all the entries of
# the projects asked for, whatever the period or the offset (a one-day window of 588 entries
# took 0.41 s a page, its month 0.45 s, a page 16,000 deep as long as the first). Fewer
# projects scan less: a month of one of ten projects of 20,000 entries took 0.19 s a page, the
# ten together 0.48 s (bench/, issue 6). So a period's list that holds this many pages a
# project is read project by project.
PAGES_PER_PROJECT = 2
T = TypeVar("T")


class RedmineConnector:
    def __init__(
        self, url: str, key: str, *, timeout: float = 30.0, retry_after_cap: float = 60.0
    ) -> None:
        self.url = url.rstrip("/")
        session = make_session(timeout=timeout, retry_after_cap=retry_after_cap)

        class _Engine(SyncEngine):
            # python-redmine builds its own requests.Session; ours has timeouts and retries.
            @staticmethod
            def create_session(**params: Any) -> requests.Session:
                for name, value in params.items():
                    if name == "headers":
                        session.headers.update(value)
                    elif name != "params":
                        setattr(session, name, value)
                return session

        self.api = Redmine(self.url, key=key, engine=_Engine)
        self._ids: dict[str, dict[str, int]] = {}
        self._identifiers: dict[int, str] = {}

    # ---------------------------------------------------------------- reads
    def issue_pages(
        self, *, projects: dict[str, int], updated_since: datetime | None
    ) -> Iterator[list[Issue]]:
        """Issues of the given projects by (updated_on, id), keyset-paged on updated_on.

        Offset paging over a list sorted by updated_on loses items when an earlier one is
        updated between two pages (everything shifts left). So each page restarts from the
        last seen updated_on, skipping only the ids already read at exactly that second.
        """
        self._learn(projects)
        since = updated_since
        seen_at_since: set[int] = set()
        while True:
            params = [
                *_project_filter(projects),
                ("f[]", "status_id"),
                ("op[status_id]", "*"),
                ("sort", "updated_on,id"),
                ("limit", PAGE),
                ("offset", len(seen_at_since)),
            ]
            if since is not None:
                params += [
                    ("f[]", "updated_on"),
                    ("op[updated_on]", ">="),
                    ("v[updated_on][]", _redmine_time(since)),
                ]
            raw = self._call(lambda p=params: self._get("/issues.json", p))
            issues = [self._issue(x) for x in raw.get("issues", [])]
            fresh = [i for i in issues if i.id not in seen_at_since]
            if fresh:
                yield fresh
            if len(issues) < PAGE:
                return
            last = issues[-1].updated_on
            if since is not None and last == since:
                seen_at_since |= {i.id for i in issues}
            else:
                since = last
                seen_at_since = {i.id for i in issues if i.updated_on == last}

    def get_issue(self, issue_id: int) -> Issue:
        raw = self._call(lambda: self._get(f"/issues/{issue_id}.json", {}))
        return self._issue(raw["issue"])

    def find_issues_by_field(self, field_id: int, value: str) -> list[Issue]:
        raw = self._call(
            lambda: self._get(
                "/issues.json",
                {f"cf_{field_id}": value, "status_id": "*", "limit": PAGE, "sort": "id"},
            )
        )
        issues = [self._issue(x) for x in raw.get("issues", [])]
        # A field that isn't "used as a filter" is silently ignored by Redmine, which then
        # returns every issue: check the value ourselves.
        return [i for i in issues if i.custom_fields.get(field_id, "").strip() == value]

    def issues_by_ids(self, issue_ids: list[int]) -> list[Issue]:
        """The issues that still exist and are visible, wherever they are now (no project
        filter): a linked issue moved out of the client's projects is found here, and one
        missing from the answer was deleted or hidden."""
        found: list[Issue] = []
        for i in range(0, len(issue_ids), PAGE):
            chunk = ",".join(str(n) for n in issue_ids[i : i + PAGE])
            raw = self._call(
                lambda c=chunk: self._get(
                    "/issues.json", {"issue_id": c, "status_id": "*", "limit": PAGE}
                )
            )
            found += [self._issue(x) for x in raw.get("issues", [])]
        return found

    def issue_notes(self, issue_id: int) -> list[str]:
        """The notes in the issue's history (verifies a note after a crash)."""
        raw = self._call(lambda: self._get(f"/issues/{issue_id}.json", {"include": "journals"}))
        return [j.get("notes") or "" for j in raw["issue"].get("journals", [])]

    def created_status(self, issue_id: int) -> str:
        """The status the issue was created with: the old value of the first status change in
        its history (journals come oldest first), else the status it has now."""
        raw = self._call(lambda: self._get(f"/issues/{issue_id}.json", {"include": "journals"}))
        for journal in raw["issue"].get("journals", []):
            for d in journal.get("details", []):
                if d.get("property") == "attr" and d.get("name") == "status_id":
                    statuses = self._call(lambda: self._get("/issue_statuses.json", {}))
                    names = {s["id"]: s["name"] for s in statuses.get("issue_statuses", [])}
                    return names.get(int(d.get("old_value") or 0), raw["issue"]["status"]["name"])
        return raw["issue"]["status"]["name"]

    def ticket_field_available(self, field_id: int, project: str, tracker: str) -> bool | None:
        """Can a new issue in this project and tracker carry the ticket field? Redmine drops a
        custom field the issue can't have without a word, so this is asked before creating.
        True/False when known; None when it can't be told (no issue to look at, no admin)."""
        project_id = self._project_ids_by_identifier().get(project)
        if project_id is None:
            return None
        tracker_id = self._id("trackers", tracker)
        # An issue of that project and tracker lists exactly the fields such an issue has.
        raw = self._call(
            lambda: self._get(
                "/issues.json",
                {
                    "project_id": project_id,
                    "subproject_id": "!*",
                    "tracker_id": tracker_id,
                    "status_id": "*",
                    "sort": "id:desc",
                    "limit": 1,
                },
            )
        )
        for x in raw.get("issues", []):
            return any(int(c["id"]) == field_id for c in x.get("custom_fields", []))
        try:
            fields = self._call(lambda: self._get("/custom_fields.json", {}))["custom_fields"]
        except ConnectorError as e:
            if e.status == 403:  # not an admin: nothing more to learn
                return None
            raise
        field = next(
            (f for f in fields if f["id"] == field_id and f.get("customized_type") == "issue"),
            None,
        )
        if field is None:
            return False
        if not any(t["id"] == tracker_id for t in field.get("trackers") or []):
            return False
        return None  # exists for the tracker; whether for this project only an issue can tell

    def time_entry_pages(
        self, *, projects: dict[str, int], since: date | None = None, until: date | None = None
    ) -> Iterator[list[TimeEntry]]:
        """Time entries of the projects, newest first; stop iterating to stop fetching.

        A period (`since`/`until`) whose list holds PAGES_PER_PROJECT pages a project is read
        one project at a time instead (each newest first; its first page is read, and not
        used): Redmine scans every entry of the projects asked for on each page."""
        self._learn(projects)
        period: list[tuple[str, Any]] = []
        if since is not None or until is not None:
            period = [
                ("f[]", "spent_on"),
                ("op[spent_on]", "><"),
                ("v[spent_on][]", (since or date(1970, 1, 1)).isoformat()),
                ("v[spent_on][]", (until or date(2999, 12, 31)).isoformat()),
            ]
        pages = self._entry_pages([*_project_filter(projects), *period])
        first, total = next(pages, ([], 0))
        if period and len(projects) > 1 and total >= PAGES_PER_PROJECT * len(projects) * PAGE:
            pages.close()
            for ident, pid in sorted(projects.items(), key=lambda kv: kv[1]):  # a fixed order
                one = _project_filter({ident: pid})
                yield from (page for page, _ in self._entry_pages([*one, *period]))
            return
        if first:
            yield first
        yield from (page for page, _ in pages)

    def _entry_pages(self, filters: list[tuple[str, Any]]) -> Iterator[tuple[list[TimeEntry], int]]:
        """The pages of one time-entry list, newest first, each with the list's total."""
        base = [*filters, ("sort", "created_on:desc,id:desc"), ("limit", PAGE)]
        offset = 0
        while True:
            raw = self._call(
                lambda o=offset: self._get("/time_entries.json", [*base, ("offset", o)])
            )
            entries = [self._time_entry(x) for x in raw.get("time_entries", [])]
            total = int(raw.get("total_count", 0))
            if entries:
                yield entries, total
            offset += len(entries)
            if len(entries) < PAGE or offset >= total:
                return

    def project_ids(self) -> dict[str, int]:
        """Identifier -> id of every project this key can see."""
        return {ident: pid for pid, ident in self._project_ids().items()}

    def whoami(self) -> str:
        raw = self._call(lambda: self._get("/users/current.json", {}))
        user = raw["user"]
        return f"{user.get('login')} (id {user.get('id')}, admin={user.get('admin', False)})"

    def is_admin(self) -> bool:
        raw = self._call(lambda: self._get("/users/current.json", {}))
        return bool(raw["user"].get("admin"))

    def issue_field_exists(self, field_id: int) -> bool | None:
        """True/False when the field list can be read (admins only), None when it can't."""
        try:
            raw = self._call(lambda: self._get("/custom_fields.json", {}))
        except ConnectorError as e:
            if e.status == 403:
                return None
            raise
        return any(
            f["id"] == field_id and f.get("customized_type") == "issue"
            for f in raw.get("custom_fields", [])
        )

    def projects(self) -> set[str]:
        return set(self._project_ids().values())

    def _project_ids_by_identifier(self) -> dict[str, int]:
        known = {ident: pid for pid, ident in self._identifiers.items()}
        return known or self.project_ids()

    def _learn(self, projects: dict[str, int]) -> None:
        self._identifiers.update({pid: ident for ident, pid in projects.items()})

    def statuses(self) -> dict[str, bool]:
        """Status name -> is_closed."""
        raw = self._call(lambda: self._get("/issue_statuses.json", {}))
        return {s["name"]: bool(s.get("is_closed")) for s in raw.get("issue_statuses", [])}

    def issue_url(self, issue_id: int) -> str:
        return f"{self.url}/issues/{issue_id}"

    # ---------------------------------------------------------------- writes
    def create_issue(self, new: NewIssue) -> Issue:
        fields: dict[str, Any] = {
            "project_id": new.project,
            "subject": new.subject,
            "description": new.description,
            "custom_fields": [{"id": k, "value": v} for k, v in new.custom_fields.items()],
        }
        if new.tracker:
            fields["tracker_id"] = self._id("trackers", new.tracker)
        if new.priority:
            fields["priority_id"] = self._id("priorities", new.priority)
        if new.estimated_hours is not None:
            fields["estimated_hours"] = str(new.estimated_hours)
        raw = self._call(
            lambda: self.api.engine.request(
                "post", f"{self.url}/issues.json", data={"issue": fields}
            )
        )
        return self._issue(raw["issue"])

    def update_issue(
        self,
        issue_id: int,
        *,
        status: str | None = None,
        notes: str | None = None,
        custom_fields: dict[int, str] | None = None,
        private_notes: bool = False,
    ) -> None:
        fields: dict[str, Any] = {}
        if status:
            fields["status_id"] = self._id("statuses", status)
        if notes:
            fields["notes"] = notes
            if private_notes:
                fields["private_notes"] = True
        if custom_fields:
            fields["custom_fields"] = [{"id": k, "value": v} for k, v in custom_fields.items()]
        self._call(
            lambda: self.api.engine.request(
                "put", f"{self.url}/issues/{issue_id}.json", data={"issue": fields}
            )
        )

    # ---------------------------------------------------------------- plumbing
    def _get(self, path: str, params: Any) -> dict[str, Any]:
        return self.api.engine.request("get", f"{self.url}{path}", params=params)

    def _id(self, kind: str, name: str) -> int:
        if kind not in self._ids:
            path, key = {
                "trackers": ("/trackers.json", "trackers"),
                "priorities": ("/enumerations/issue_priorities.json", "issue_priorities"),
                "statuses": ("/issue_statuses.json", "issue_statuses"),
            }[kind]
            raw = self._call(lambda: self._get(path, {}))
            self._ids[kind] = {x["name"].casefold(): x["id"] for x in raw.get(key, [])}
        try:
            return self._ids[kind][name.casefold()]
        except KeyError:
            known = ", ".join(sorted(self._ids[kind])) or "none"
            raise ConnectorError(
                f"Redmine has no {kind[:-1] if kind != 'priorities' else 'priority'}"
                f" named {name!r} (known: {known})",
                retryable=False,
            ) from None

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except exceptions.ResourceNotFoundError:
            raise NotFound("Redmine: not found") from None
        except exceptions.AuthError:
            raise ConnectorError(
                "Redmine: the API key was refused (401)", retryable=False, status=401
            ) from None
        except exceptions.ForbiddenError:
            raise ConnectorError(
                "Redmine: forbidden (403): the API user lacks a permission",
                retryable=False,
                status=403,
            ) from None
        except exceptions.ValidationError as e:
            raise ConnectorError(
                f"Redmine rejected the data (422): {e}", retryable=False, status=422
            ) from None
        except exceptions.ServerError:
            raise ConnectorError(
                "Redmine: server error (500)", retryable=True, status=500
            ) from None
        except exceptions.UnknownError as e:
            status = int(e.status_code) if str(e.status_code).isdigit() else None
            retryable = status is not None and (status == 429 or status >= 500)
            raise ConnectorError(
                f"Redmine answered HTTP {status}", retryable=retryable, status=status
            ) from None
        except exceptions.JSONDecodeError:
            raise ConnectorError(
                "Redmine answered with something that is not JSON (a proxy error page?)",
                retryable=True,
            ) from None
        except exceptions.BaseRedmineError as e:  # 409, 412, 413, a redirect to https, …
            raise ConnectorError(f"Redmine: {type(e).__name__}: {e}", retryable=False) from None
        except requests.RequestException as e:
            raise ConnectorError(f"Redmine: {transport_fault(e)}", retryable=True) from None

    def _issue(self, x: dict[str, Any]) -> Issue:
        return Issue(
            id=int(x["id"]),
            project=self._project_identifier(x["project"]),
            tracker=x["tracker"]["name"],
            status=x["status"]["name"],
            priority=x["priority"]["name"],
            subject=x.get("subject") or "",
            description=x.get("description") or "",
            created_on=_time(x["created_on"]),
            updated_on=_time(x["updated_on"]),
            parent_id=(x.get("parent") or {}).get("id"),
            estimated_hours=_hours(x.get("estimated_hours")),
            due_date=date.fromisoformat(x["due_date"]) if x.get("due_date") else None,
            closed_on=_time(x["closed_on"]) if x.get("closed_on") else None,
            custom_fields={
                int(c["id"]): _field_text(c.get("value")) for c in x.get("custom_fields", [])
            },
            url=self.issue_url(int(x["id"])),
        )

    def _time_entry(self, x: dict[str, Any]) -> TimeEntry:
        return TimeEntry(
            id=int(x["id"]),
            project=self._project_identifier(x["project"]),
            issue_id=(x.get("issue") or {}).get("id"),
            user=(x.get("user") or {}).get("name", ""),
            user_id=(x.get("user") or {}).get("id"),
            activity=(x.get("activity") or {}).get("name", ""),
            hours=_hours(x["hours"]) or Decimal("0"),
            spent_on=date.fromisoformat(x["spent_on"]),
            comments=x.get("comments") or "",
            created_on=_time(x["created_on"]),
            updated_on=_time(x["updated_on"]),
            custom_fields={
                int(c["id"]): _field_text(c.get("value")) for c in x.get("custom_fields", [])
            },
        )

    def _project_identifier(self, project: dict[str, Any]) -> str:
        # Lists name the project by id and name only; identifiers are what the config uses.
        pid = int(project["id"])
        if pid not in self._identifiers:
            self._identifiers = self._project_ids()
        return self._identifiers.get(pid, str(pid))

    def _project_ids(self) -> dict[int, str]:
        found: dict[int, str] = {}
        offset = 0
        while True:
            raw = self._call(
                lambda o=offset: self._get("/projects.json", {"limit": PAGE, "offset": o})
            )
            page = raw.get("projects", [])
            found |= {int(p["id"]): p["identifier"] for p in page}
            offset += len(page)
            if len(page) < PAGE:
                return found


def _project_filter(projects: dict[str, int]) -> list[tuple[str, Any]]:
    # Redmine's generic filter syntax takes several projects in one request (the plain
    # `project_id=` takes one): one request per feed however many clients there are.
    if not projects:
        raise ConnectorError(
            "no Redmine project to read: none of the configured projects "
            "exists or is visible to the API key",
            retryable=False,
        )
    return [("set_filter", "1"), ("f[]", "project_id"), ("op[project_id]", "=")] + [
        ("v[project_id][]", str(pid)) for pid in sorted(projects.values())
    ]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _redmine_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hours(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    # Redmine serialises hours as JSON floats (2.5, 0.33333): through str, never float math.
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
