"""A bench studio: clients with a Zendesk organization and a Redmine project each, linked
ticket/issue pairs seeded on both sides, a syncd config and state in a temporary folder."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import redmine_seed, zendesk_seed
from bench.common import AGENT_EMAIL, ZENDESK_TOKEN, Redmine, Run, run_syncd
from emulator import ZendeskEmulator

ENV = {"BENCH_ZENDESK_TOKEN": ZENDESK_TOKEN}


@dataclass
class Client:
    id: str
    org: int
    project: str  # identifier
    project_id: int


@dataclass
class Studio:
    rm: Redmine
    emu: ZendeskEmulator
    account: zendesk_seed.Account
    clients: list[Client]
    user_id: int
    tmp: Path
    tickets: list[int] = field(default_factory=list)  # pair k: tickets[k] <-> issues[k]
    issues: list[int] = field(default_factory=list)
    client_of: list[int] = field(default_factory=list)  # pair k -> index into clients

    @property
    def config(self) -> Path:
        return self.tmp / "syncd.toml"

    @property
    def state(self) -> Path:
        return self.tmp / "var" / "syncd.db"

    @property
    def project_ids(self) -> list[int]:
        return [c.project_id for c in self.clients]

    def syncd(self, *args: str) -> Run:
        return run_syncd(self.config, *args, env={**ENV, "BENCH_REDMINE_KEY": self.rm.key})

    def close(self) -> None:
        self.emu.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_config(self) -> None:
        clients = "\n".join(
            f"""
[[clients]]
id = "{c.id}"
name = "{c.id.upper()}"
zendesk_organization_id = {c.org}
redmine_projects = ["{c.project}"]
plan = "hourly"
"""
            for c in self.clients
        )
        self.config.write_text(
            f"""
[state]
path = "var/syncd.db"

[zendesk]
url = "{self.emu.url}"
email = "{AGENT_EMAIL}"
token_env = "BENCH_ZENDESK_TOKEN"
work_tag = "redmine"
issue_field_id = {self.account.issue_field}
hours_field_id = {self.account.hours_field}
notify_client = true
timeout = 60
ratelimit_budget = 60

[redmine]
url = "{self.rm.url}"
key_env = "BENCH_REDMINE_KEY"
ticket_field_id = {self.rm.ticket_field_id}
done_statuses = ["Resolved", "Closed"]
reopen_status = "In Progress"
timeout = 300

[sync]
language = "en"
since = "{(datetime.now(UTC) - timedelta(days=400)).date().isoformat()}"
reread_every_minutes = 60

[plans.hourly]
kind = "hourly"
rate = "2000.00"
currency = "RUB"
rounding_increment = "0.01"
rounding = "nearest"

[billing]
output_dir = "reports"
{clients}
""",
            encoding="utf-8",
        )


def build(
    rm: Redmine,
    *,
    clients: int,
    pairs: int,
    solved: set[int] = frozenset(),  # type: ignore[assignment]
    issue_status: dict[int, str] | None = None,
    history_days: tuple[int, int] = (30, 2),
    prefix: str = "b",
) -> Studio:
    """`pairs` linked tickets/issues spread round-robin over `clients` clients. Issues were
    created and last updated between history_days[0] and history_days[1] days ago, evenly, so
    no burst of updates sits inside syncd's 10-minute re-read overlap; pairs in `solved` have
    a solved ticket and a Resolved issue."""
    emu = zendesk_seed.start()
    tmp = Path(tempfile.mkdtemp(prefix=f"syncd-bench-{prefix}-"))
    try:
        account = zendesk_seed.seed_account(emu, clients)
        made = []
        for n in range(clients):
            identifier, pid = rm.create_project(f"{prefix}{n:02d}")
            made.append(Client(f"c{n:02d}", account.orgs[n], identifier, pid))
        user_id = rm.create_user(f"dev-{made[0].project}", [c.project_id for c in made])
        studio = Studio(rm, emu, account, made, user_id, tmp)
        studio.client_of = [k % clients for k in range(pairs)]
        first = redmine_seed.next_issue_id(rm)
        links = [(studio.client_of[k], first + k) for k in range(pairs)]
        studio.tickets = zendesk_seed.seed_tickets(emu, account, links, solved=solved)
        now = datetime.now(UTC)
        oldest, newest = (
            now - timedelta(days=history_days[0]),
            now - timedelta(days=history_days[1]),
        )
        step = (newest - oldest) / max(1, pairs)
        status = issue_status or {}
        new_issues = [
            redmine_seed.NewIssue(
                project_id=made[studio.client_of[k]].project_id,
                subject=f"Request {k}",
                ticket=studio.tickets[k],
                status="Resolved" if k in solved else status.get(k, "New"),
                created_on=oldest + step * k,
                updated_on=oldest + step * k,
            )
            for k in range(pairs)
        ]
        studio.issues = redmine_seed.insert_issues(rm, new_issues, first_id=first)
        studio.write_config()
        emu.advance(61)  # past the export's one-minute lag
        return studio
    except BaseException:
        emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
