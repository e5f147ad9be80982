"""The Zendesk side of a bench studio: the emulator, seeded in-process through its own methods
(the same code paths as its HTTP handlers), without rate limits.

The emulator's budgets (700 requests and 10 export pages a minute, 30 updates per ticket in
ten minutes) are Zendesk's; here they are off, so the figures are syncd's requests and time,
not the waits a Zendesk plan imposes. Its clock moves one second every `per_second` tickets
while seeding, so the time-paged event export sees a realistic spread rather than thousands of
events stamped in one second (a page never splits a second).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.common import AGENT_EMAIL, ZENDESK_TOKEN
from emulator import ZendeskEmulator


def start() -> ZendeskEmulator:
    return ZendeskEmulator(
        token=ZENDESK_TOKEN,
        email=AGENT_EMAIL,
        rate_limit_per_minute=None,
        export_budget_per_minute=None,
        ticket_update_budget=None,
        auto_close_days=None,
    ).start()


@dataclass
class Account:
    issue_field: int
    hours_field: int
    orgs: list[int] = field(default_factory=list)
    requesters: list[int] = field(default_factory=list)  # one per organization


def seed_account(emu: ZendeskEmulator, clients: int, *, prefix: str = "") -> Account:
    account = Account(
        issue_field=int(emu.create_ticket_field("Redmine issue", "integer")["id"]),
        hours_field=int(emu.create_ticket_field("Hours spent", "decimal")["id"]),
    )
    for n in range(clients):
        org = int(emu.create_organization(f"{prefix}Client {n:02d}")["id"])
        account.orgs.append(org)
        user = emu.create_user(
            f"Requester {n:02d}",
            f"{prefix.lower()}requester{n:02d}@client.example",
            organization_id=org,
        )
        account.requesters.append(int(user["id"]))
    return account


def seed_tickets(
    emu: ZendeskEmulator,
    account: Account,
    links: list[tuple[int, int]],
    *,
    solved: set[int] = frozenset(),  # type: ignore[assignment]
    per_second: int = 200,
) -> list[int]:
    """One tagged ticket per (client index, Redmine issue id), the issue number already in its
    field (a link people made by hand, adopted by syncd). Tickets at positions in `solved` are
    solved by the agent."""
    ids = []
    for k, (client, issue_id) in enumerate(links):
        if k and k % per_second == 0:
            emu.clock.advance(1)
        requester = account.requesters[client]
        ticket = emu.create_ticket(
            subject=f"Request {k} of client {client:02d}",
            comment={"body": "Please have a look.", "author_id": requester},
            requester_id=requester,
            organization_id=account.orgs[client],
            tags=["redmine"],
            custom_fields=[{"id": account.issue_field, "value": str(issue_id)}],
        )
        ticket_id = int(ticket["id"])
        if k in solved:
            emu.update_ticket(ticket_id, status="solved", assignee_id=emu.admin_user_id)
        ids.append(ticket_id)
    return ids
