"""`syncd demo` end to end, as `make demo` runs it: the real Redmine, the emulator as a
background process, syncd's CLI in a subprocess. Run twice in one directory: a re-run must
start over cleanly."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from reports.months import month_of, previous_month
from syncd.config import Config, load_config
from syncd.demo_env import (
    DemoFiles,
    Redmine,
    forget_previous_demo,
    load_redmine_settings,
    read_manifest,
)
from syncd.state import Store

ROOT = Path(__file__).resolve().parent.parent
DEMO_BUDGET_S = 45  # one demo run; the brief says "under ~2 minutes", it takes ~15 s


@dataclass
class DemoRun:
    files: DemoFiles
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    first_projects: list[str]
    took: float
    redmine: Any  # tests.redmine_fixtures.RedmineEnv

    @property
    def out(self) -> str:
        return self.second.stdout

    @property
    def month(self) -> str:
        """The demo's billing month: the last full month."""
        return previous_month(month_of(date.today()))

    @property
    def config(self) -> Config:
        return load_config(self.files.config)

    def zendesk(self, path: str) -> Any:
        cfg = self.config
        token = self.files.zendesk_token.read_text().strip()
        resp = requests.get(
            cfg.zendesk.url + path, auth=(f"{cfg.zendesk.email}/token", token), timeout=10
        )
        resp.raise_for_status()
        return resp.json()

    def tickets(self) -> list[dict[str, Any]]:
        return self.zendesk("/api/v2/tickets.json?per_page=100")["tickets"]

    def links(self) -> list[dict[str, Any]]:
        store = Store(self.files.state)
        try:
            return store.links()
        finally:
            store.close()

    def projects(self) -> list[str]:
        return read_manifest(self.files)["projects"]

    def issues(self) -> list[dict[str, Any]]:
        found = []
        for project in self.projects():
            found += self.redmine.issues(project_id=project, status_id="*", limit=100)
        return found

    def hours_by_issue(self) -> dict[int, Decimal]:
        hours: dict[int, Decimal] = defaultdict(Decimal)
        for project in self.projects():
            offset = 0
            while True:
                page = self.redmine.get(
                    "/time_entries.json", {"project_id": project, "limit": 100, "offset": offset}
                )
                for e in page["time_entries"]:
                    if e.get("issue"):
                        hours[e["issue"]["id"]] += Decimal(str(e["hours"]))
                offset += len(page["time_entries"])
                if not page["time_entries"] or offset >= page["total_count"]:
                    break
        return hours


def _env(redmine_env) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDMINE_")}
    env.update(
        REDMINE_URL=redmine_env.url,
        REDMINE_API_KEY=redmine_env.api_key,
        REDMINE_TICKET_FIELD_ID=str(redmine_env.ticket_field_id),
    )
    if redmine_env.billable_field_id:
        env["REDMINE_BILLABLE_FIELD_ID"] = str(redmine_env.billable_field_id)
    return env


def _demo(directory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncd.cli", "demo", "--dir", str(directory)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def demo(redmine_env, tmp_path_factory) -> Any:
    files = DemoFiles(tmp_path_factory.mktemp("demo") / "demo")
    env = _env(redmine_env)
    first = _demo(files.root, env)
    first_projects = read_manifest(files).get("projects", [])
    t0 = time.monotonic()
    second = _demo(files.root, env)
    took = time.monotonic() - t0
    try:
        yield DemoRun(files, first, second, first_projects, took, redmine_env)
    finally:
        if os.environ.get("SYNCD_KEEP_REDMINE_DATA") != "1":
            os.environ.update({k: v for k, v in env.items() if k.startswith("REDMINE_")})
            redmine = Redmine(load_redmine_settings())
            forget_previous_demo(files, redmine)


def test_demo_runs_twice_in_one_dir_and_tells_the_story(demo: DemoRun):
    for run in (demo.first, demo.second):
        assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    out = demo.out
    assert "re-run: stopped the previous demo's emulator" in out
    assert "re-run: deleted the previous demo's Redmine projects" in out
    for project in demo.first_projects:  # the first run's projects are gone
        resp = demo.redmine.rest("GET", f"/projects/{project}.json")
        assert resp.status_code == 404, project
    assert not set(demo.first_projects) & set(demo.projects())
    for heading in ("== Seeding the studio", "== Sync cycle 1", "== Where every ticket ended up"):
        assert heading in out
    assert "all checks passed" in out
    assert "nothing: everything is in sync" in out  # it ran until quiet
    assert "reopened 1 Redmine issue" in out
    assert "== Billing reports for" in out and "1 adjustment(s)" in out
    for fmt in ("html", "csv", "xlsx", "json"):
        assert f"reports/billing-{demo.month}-acme.{fmt}" in out
        assert f"reports/billing-{demo.month}-summary.{fmt}" in out
    assert "syncd.toml status" in out and "sync --dry-run" in out
    assert demo.took < DEMO_BUDGET_S, f"the demo took {demo.took:.0f} s"


def test_the_table_lists_every_link_with_its_issue(demo: DemoRun):
    rows = {
        int(m["ticket"]): (int(m["issue"]), m["origin"])
        for m in re.finditer(
            r"^  #(?P<ticket>\d+) .*#(?P<issue>\d+) (?P<origin>made|adopted)", demo.out, re.M
        )
    }
    links = demo.links()
    assert len(rows) == len(links) >= 20
    for link in links:
        origin = "made" if link["origin"] == "created" else "adopted"
        assert rows[link["ticket_id"]] == (link["issue_id"], origin)


def test_every_tagged_client_ticket_is_linked_and_no_ticket_has_two_issues(demo: DemoRun):
    cfg = demo.config
    client_orgs = {c.zendesk_organization_id for c in cfg.clients}
    tagged = {
        t["id"]
        for t in demo.tickets()
        if "redmine" in t["tags"]
        and t["organization_id"] in client_orgs
        and t["status"] not in ("closed", "deleted")
    }
    links = demo.links()
    linked = {x["ticket_id"] for x in links}
    assert tagged and tagged <= linked
    origins = {x["origin"] for x in links}
    assert {"created", "adopted:field", "adopted:text"} <= origins

    # Every issue in the demo's projects is one ticket's (or a subtask of one): no duplicates.
    issues = demo.issues()
    by_issue = {x["issue_id"]: x["ticket_id"] for x in links}
    assert len(by_issue) == len(links)  # one issue per ticket, one ticket per issue
    for issue in issues:
        root = issue
        while root["id"] not in by_issue and root.get("parent"):
            root = next(i for i in issues if i["id"] == root["parent"]["id"])
        assert root["id"] in by_issue, f"issue #{issue['id']} {issue['subject']!r} is nobody's"
    field = demo.redmine.ticket_field_id
    claimed: dict[str, list[int]] = defaultdict(list)
    for issue in issues:
        for cf in issue.get("custom_fields", []):
            if cf["id"] == field and cf.get("value"):
                claimed[str(cf["value"])].append(issue["id"])
    assert {t: ids for t, ids in claimed.items() if len(ids) > 1} == {}


def test_hours_on_tickets_are_the_sum_of_their_issues_time_entries(demo: DemoRun):
    hours_field = demo.config.zendesk.hours_field_id
    tickets = {t["id"]: t for t in demo.tickets()}
    issues = demo.issues()
    spent = demo.hours_by_issue()

    def tree(issue_id: int) -> Decimal:
        kids = [i["id"] for i in issues if (i.get("parent") or {}).get("id") == issue_id]
        return spent.get(issue_id, Decimal(0)) + sum((tree(k) for k in kids), Decimal(0))

    checked = 0
    for link in demo.links():
        total = tree(link["issue_id"])
        if total == 0:
            continue
        fields = {f["id"]: f["value"] for f in tickets[link["ticket_id"]]["custom_fields"]}
        assert Decimal(str(fields[hours_field])) == total, link
        checked += 1
    assert checked >= 10
    assert "≠" not in demo.out  # the demo's own comparison column agrees


def test_the_unassigned_ticket_is_reported(demo: DemoRun):
    m = re.search(
        r"^  #(\d+) .*tagged, but Northwind Traders is no client: unassigned", demo.out, re.M
    )
    assert m, demo.out
    stray = int(m.group(1))
    store = Store(demo.files.state)
    try:
        assert [t["id"] for t in store.unassigned_tickets()] == [stray]
    finally:
        store.close()
    status = subprocess.run(
        [sys.executable, "-m", "syncd.cli", "--config", str(demo.files.config), "status"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert f"ticket #{stray} org" in status.stdout and "unassigned" in status.stdout


def test_afterwards_a_dry_run_finds_nothing_to_do(demo: DemoRun):
    # The emulator keeps running, and the secrets are in files: no environment needed.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDMINE_")}
    dry = subprocess.run(
        [
            sys.executable,
            "-m",
            "syncd.cli",
            "--config",
            str(demo.files.config),
            "sync",
            "--dry-run",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dry.returncode == 0, dry.stderr
    assert "nothing to do" in dry.stdout


def test_secrets_stay_out_of_the_config_and_the_output(demo: DemoRun):
    token = demo.files.zendesk_token.read_text().strip()
    key = demo.files.redmine_key.read_text().strip()
    for path in (demo.files.zendesk_token, demo.files.redmine_key, demo.files.state):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    text = demo.files.config.read_text()
    assert token not in text and key not in text
    admin_key = demo.redmine.api_key
    assert key != admin_key  # syncd runs as a project member, not as the admin
    for path in demo.files.root.rglob("*"):
        if path.is_file():
            assert admin_key not in path.read_text(errors="replace"), path
            assert token not in path.read_text(errors="replace") or path == (
                demo.files.zendesk_token
            ), path
    assert "token_file" in text and "key_file" in text
    for run in (demo.first, demo.second):
        assert token not in run.stdout + run.stderr and key not in run.stdout + run.stderr
    assert key not in demo.files.syncd_log.read_text()


def test_without_redmine_settings_it_says_what_to_run(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDMINE_")}
    env["SYNCD_REDMINE_ENV"] = str(tmp_path / "missing.env")
    run = _demo(tmp_path / "demo", env)
    assert run.returncode == 69
    assert "make demo" in run.stderr and "make redmine" in run.stderr
    assert not (tmp_path / "demo" / "emulator.pid").exists()


def test_a_write_redmine_failed_is_looked_for_before_it_is_tried_again(monkeypatch):
    """Redmine on SQLite may commit a write and still answer 500 ("database is locked"):
    the demo looks for the result before it writes a second time."""
    import responses

    from syncd import demo_env
    from syncd.demo_env import RedmineSettings

    monkeypatch.setattr(demo_env.time, "sleep", lambda _s: None)
    rm = Redmine(RedmineSettings("http://redmine.test", "key", 1, None, "test"))
    with responses.RequestsMock() as mock:
        post = mock.post("http://redmine.test/time_entries.json", status=500, body="locked")
        found = rm.call("POST", "/time_entries.json", body={}, landed=lambda: {"id": 7})
        assert found == {"id": 7} and post.call_count == 1

        looked: list[int] = []
        with pytest.raises(demo_env.DemoError, match="busy"):
            rm.call("POST", "/time_entries.json", body={}, landed=lambda: looked.append(1))
        assert post.call_count == 1 + demo_env.WRITE_ATTEMPTS
        assert len(looked) == demo_env.WRITE_ATTEMPTS - 1

        # A write nobody can look for is not repeated.
        put = mock.put("http://redmine.test/issues/1.json", status=500)
        with pytest.raises(demo_env.DemoError):
            rm.call("PUT", "/issues/1.json", body={})
        assert put.call_count == 1
