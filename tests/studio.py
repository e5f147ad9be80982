"""A small studio for flow tests: the Zendesk emulator, a fresh real-Redmine project, a config
file, and helpers to run syncd the way cron does (in-process or as a real subprocess)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator import ZendeskEmulator
from syncd import cli
from syncd.state import Store

ZENDESK_TOKEN = "zd-test-token-5f1c9a"
AGENT_EMAIL = "agent@studio.example"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Studio:
    emu: ZendeskEmulator
    redmine: Any  # tests.redmine_fixtures.RedmineEnv
    project: Any  # ProjectRef (a str identifier with .id)
    tmp: Path
    org_id: int = 0
    other_org_id: int = 0
    requester_id: int = 0
    issue_field: int = 0
    hours_field: int = 0
    estimate_field: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.tmp / "syncd.toml"

    @property
    def state_path(self) -> Path:
        return self.tmp / "var" / "syncd.db"

    def setup(self) -> Studio:
        self.org_id = _id(self.emu.create_organization("ACME LLC"))
        self.other_org_id = _id(self.emu.create_organization("Stranger Inc"))
        self.requester_id = _id(
            self.emu.create_user(
                name="Ivan Client",
                email="ivan@acme.example",
                role="end-user",
                organization_id=self.org_id,
            )
        )
        self.issue_field = _id(self.emu.create_ticket_field("Redmine issue", "integer"))
        self.hours_field = _id(self.emu.create_ticket_field("Hours spent", "decimal"))
        self.estimate_field = _id(self.emu.create_ticket_field("Estimate, h", "decimal"))
        self.write_config()
        return self

    def write_config(self, **overrides: Any) -> None:
        self.overrides.update(overrides)
        o = self.overrides
        self.config_path.write_text(
            f"""
[state]
path = "var/syncd.db"

[zendesk]
url = "{o.get("zendesk_url", self.emu.url)}"
email = "{AGENT_EMAIL}"
token_env = "SYNCD_TEST_ZENDESK_TOKEN"
work_tag = "redmine"
issue_field_id = {o.get("issue_field_id", self.issue_field)}
hours_field_id = {self.hours_field}
estimate_field_id = {self.estimate_field}
notify_client = {str(o.get("notify_client", True)).lower()}
timeout = {o.get("zendesk_timeout", 5)}
ratelimit_budget = {o.get("zendesk_ratelimit_budget", 5)}

[redmine]
url = "{o.get("redmine_url", self.redmine.url)}"
key_env = "SYNCD_TEST_REDMINE_KEY"
ticket_field_id = {o.get("ticket_field_id", self.redmine.ticket_field_id)}
done_statuses = ["Resolved", "Closed"]
reopen_status = "In Progress"
timeout = {o.get("redmine_timeout", 20)}

[sync]
interval_minutes = 1
language = "{o.get("language", "en")}"
reread_every_minutes = 60

[[clients]]
id = "acme"
name = "ACME LLC"
zendesk_organization_id = {self.org_id}
redmine_projects = ["{self.project}"]
{o.get("client_toml", "")}
{o.get("extra_toml", "")}
""",
            encoding="utf-8",
        )

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SYNCD_TEST_ZENDESK_TOKEN": ZENDESK_TOKEN,
            "SYNCD_TEST_REDMINE_KEY": self.redmine.api_key,
        }

    # ------------------------------------------------------------------ running syncd
    def syncd(self, *args: str) -> tuple[int, str]:
        """Run the CLI in this process; returns (exit code, stdout)."""
        os.environ.update(
            {
                "SYNCD_TEST_ZENDESK_TOKEN": ZENDESK_TOKEN,
                "SYNCD_TEST_REDMINE_KEY": self.redmine.api_key,
            }
        )
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["--config", str(self.config_path), "--log-format", "json", *args])
        return code, out.getvalue()

    def sync(self, *args: str) -> str:
        """One cycle after the export's one-minute lag has passed; it must succeed."""
        self.emu.advance(61)
        code, out = self.syncd("sync", *args)
        assert code == 0, f"syncd sync exited {code}: {out}"
        return out

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "syncd.cli",
                "--config",
                str(self.config_path),
                "--log-format",
                "json",
                *args,
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def store(self) -> Store:
        return Store(self.state_path)

    # ------------------------------------------------------------------ Zendesk side
    def ticket(
        self,
        subject: str = "The contact form is broken",
        *,
        tags: tuple[str, ...] = ("redmine",),
        org: int | None = None,
        body: str = "Nothing happens on submit.",
        **fields: Any,
    ) -> int:
        custom = fields.pop("custom_fields", [])
        ticket = self.emu.create_ticket(
            subject=subject,
            comment={"body": body, "author_id": self.requester_id},
            requester_id=self.requester_id,
            organization_id=org or self.org_id,
            tags=list(tags),
            custom_fields=custom,
            **fields,
        )
        return _id(ticket)

    def zd(self, ticket_id: int) -> dict[str, Any]:
        return self.emu.ticket(ticket_id)

    def field(self, ticket_id: int, field_id: int) -> Any:
        fields = self.zd(ticket_id).get("custom_fields") or []
        return next((f.get("value") for f in fields if f["id"] == field_id), None)

    def comments(self, ticket_id: int, *, public: bool | None = None) -> list[dict[str, Any]]:
        return [
            c
            for c in self.emu.comments(ticket_id)
            if public is None or bool(c.get("public")) == public
        ]

    # ------------------------------------------------------------------ Redmine side
    def issues(self) -> list[dict[str, Any]]:
        return self.redmine.issues(project_id=self.project.id, status_id="*", limit=100, sort="id")

    def issue_for(self, ticket_id: int) -> list[dict[str, Any]]:
        cf = self.redmine.ticket_field_id
        return [
            i
            for i in self.issues()
            if any(
                c["id"] == cf and str(c.get("value") or "") == str(ticket_id)
                for c in i.get("custom_fields", [])
            )
        ]


def _id(thing: Any) -> int:
    return int(thing["id"] if isinstance(thing, dict) else thing)
