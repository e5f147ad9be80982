"""The demo studio's data, and how it gets into Zendesk (the emulator) and Redmine: only
through their REST APIs, the way real people and clients would put it there."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from syncd.demo_env import DemoError, Redmine, Zendesk

AGENT_EMAIL = "agent@demo-studio.example"
WORK_TAG = "redmine"


@dataclass(frozen=True)
class Dev:
    login: str
    firstname: str
    lastname: str

    @property
    def name(self) -> str:
        return f"{self.firstname} {self.lastname}"


DEVS = (Dev("demo-anna", "Anna", "Kovacs"), Dev("demo-boris", "Boris", "Lind"))
# syncd's own account: a project member like the developers, not an admin.
BOT = Dev("demo-syncd", "syncd", "(demo)")


@dataclass(frozen=True)
class Spec:
    """One Zendesk ticket and what happens to it.

    fate: what its Redmine issue goes through in the simulated month: new (nobody started),
    progress, resolved, closed, or reopen (resolved, the client answers, fixed again).
    hand: a developer made its issue by hand before syncd ran ("field": the "Zendesk ticket"
    field, "subject": "Zendesk #N" in the subject, "url": the ticket's URL in the description).
    """

    subject: str
    type: str
    priority: str
    fate: str = "new"
    tagged: bool = True
    estimate: str | None = None
    hand: str | None = None
    hand_subject: str = ""


@dataclass(frozen=True)
class DemoClient:
    id: str
    org: str
    short: str  # for project identifiers
    language: str
    requester: tuple[str, str]  # name, email
    tickets: tuple[Spec, ...]
    is_client: bool = True


CLIENTS = (
    DemoClient(
        "acme",
        "ACME LLC",
        "acme",
        "en",
        ("John Smith", "john@acme.example"),
        (
            Spec("Checkout page shows error 500", "incident", "urgent", "closed"),
            Spec("Add Apple Pay to the checkout", "task", "normal", "progress", estimate="12"),
            Spec("Newsletter signup form does nothing", "incident", "high", "resolved"),
            Spec(
                "SSL certificate expires in 10 days",
                "task",
                "high",
                "closed",
                hand="field",
                hand_subject="Renew the SSL certificate for acme.example",
            ),
            Spec("Cookie banner covers the menu on mobile", "problem", "normal", "reopen"),
            Spec("Product search is slow", "problem", "normal", "progress", estimate="8"),
            Spec("Update the team page photos", "task", "low"),
            Spec("Export orders to CSV for accounting", "task", "normal", estimate="6"),
            Spec("Typo on the pricing page", "question", "low", tagged=False),
            Spec("How do I add another admin user?", "question", "low", tagged=False),
        ),
    ),
    DemoClient(
        "bakery",
        "Bakery Nord",
        "bakery",
        "ru",
        ("Ольга Петрова", "olga@bakery-nord.example"),
        (
            Spec("Не работает форма заказа торта", "incident", "urgent", "resolved"),
            Spec("Добавить зимнее меню на сайт", "task", "normal", "closed", estimate="4"),
            Spec("Обновить цены в каталоге", "task", "normal", "resolved", estimate="2"),
            Spec("Сайт медленно открывается с телефона", "problem", "high", "progress"),
            Spec(
                "Интеграция со службой доставки",
                "task",
                "normal",
                "progress",
                estimate="16",
                hand="subject",
                hand_subject="Zendesk #{ticket}: API службы доставки",
            ),
            Spec("Сломалась кнопка «Позвонить»", "incident", "high", "closed"),
            Spec("Подключить онлайн-оплату картой", "task", "normal", estimate="10"),
            Spec("Новогодний баннер на главной", "task", "low"),
            Spec("Вопрос по счёту за октябрь", "question", "normal", tagged=False),
            Spec("Как поменять фото на главной?", "question", "low", tagged=False),
        ),
    ),
    DemoClient(
        "clinic",
        "Clinic Plus",
        "clinic",
        "ru",
        ("Дмитрий Иванов", "d.ivanov@clinic-plus.example"),
        (
            Spec("Запись к врачу не отправляется", "incident", "urgent", "closed"),
            Spec("Добавить расписание нового врача", "task", "normal", "resolved", estimate="3"),
            Spec(
                "Online booking: SMS reminders",
                "task",
                "normal",
                "progress",
                estimate="20",
                hand="url",
                hand_subject="SMS reminders before appointments",
            ),
            Spec("Ошибка 404 на странице услуг", "incident", "high", "resolved"),
            Spec("Пациенты не могут войти в личный кабинет", "incident", "high", "progress"),
            Spec("Export of appointments for the accountant", "task", "normal", estimate="5"),
            Spec("Не приходят письма с сайта", "problem", "normal", "progress"),
            Spec("Accessibility: font size switcher", "task", "low"),
            Spec(
                "Можно ли добавить онлайн-чат?",
                "question",
                "normal",
                "progress",
                tagged=False,
                hand="field",
                hand_subject="Оценка: онлайн-чат на сайте",
            ),
            Spec("Кто продлевает домен?", "question", "low", tagged=False),
        ),
    ),
)
STRANGER = DemoClient(
    "northwind",
    "Northwind Traders",
    "northwind",
    "en",
    ("Mary Major", "mary@northwind.example"),
    (
        Spec("Quote for a website redesign", "question", "normal"),
        Spec("Partnership proposal", "question", "low", tagged=False),
    ),
    is_client=False,
)
FATE_ORDER = {"closed": 0, "resolved": 1, "reopen": 1, "progress": 2, "new": 3}
REOPEN_COMMENT = {
    "en": "Thanks, but on my iPhone the banner still hides the menu button.",
    "ru": "Спасибо, но на телефоне всё ещё не работает.",
}


# ====================================================================== what got seeded
@dataclass
class SeededTicket:
    id: int
    spec: Spec
    client: DemoClient
    created_at: datetime


@dataclass
class Seeded:
    """Ids on both sides, for the config, the simulated work and the final table."""

    suffix: str
    start: date
    today: date
    org_ids: dict[str, int] = field(default_factory=dict)  # client id -> organization id
    requester_ids: dict[str, int] = field(default_factory=dict)
    field_ids: dict[str, int] = field(default_factory=dict)  # issue, hours, estimate
    tickets: list[SeededTicket] = field(default_factory=list)
    projects: dict[str, str] = field(default_factory=dict)  # client id -> identifier
    project_ids: dict[str, int] = field(default_factory=dict)
    dev_ids: dict[str, int] = field(default_factory=dict)  # login -> user id (+ the bot)
    bot_key: str = ""  # syncd's Redmine API key
    devs_created: list[str] = field(default_factory=list)
    hand_issues: list[tuple[int, SeededTicket]] = field(default_factory=list)
    entry_ids: set[int] = field(default_factory=set)  # time entries the demo logged


def window_start(today: date) -> date:
    """The first day of the month two months back: two full months of history."""
    return _month_day(today, 2, 1)


# ====================================================================== Zendesk
def seed_zendesk(zd: Zendesk, seeded: Seeded) -> None:
    for client in (*CLIENTS, STRANGER):
        org = zd.post("/api/v2/organizations.json", {"organization": {"name": client.org}})
        seeded.org_ids[client.id] = org["organization"]["id"]
        name, email = client.requester
        user = zd.post(
            "/api/v2/users.json",
            {
                "user": {
                    "name": name,
                    "email": email,
                    "role": "end-user",
                    "organization_id": seeded.org_ids[client.id],
                }
            },
        )
        seeded.requester_ids[client.id] = user["user"]["id"]
    for key, title, kind in (
        ("issue", "Redmine issue", "integer"),
        ("hours", "Hours spent", "decimal"),
        ("estimate", "Estimate, h", "decimal"),
    ):
        made = zd.post(
            "/api/v2/ticket_fields.json", {"ticket_field": {"title": title, "type": kind}}
        )
        seeded.field_ids[key] = made["ticket_field"]["id"]

    # Oldest first, so ticket numbers grow with time; finished work is older than new work.
    rng = random.Random("syncd demo tickets")
    plan = [(c, s) for c in (*CLIENTS, STRANGER) for s in c.tickets]
    plan.sort(key=lambda cs: (FATE_ORDER[cs[1].fate] + rng.random() * 2.2, cs[1].subject))
    span = max((seeded.today - seeded.start).days - 2, 1)
    for n, (client, spec) in enumerate(plan):
        day = seeded.start + timedelta(days=int(span * n / len(plan)) + rng.randint(0, 1))
        created = datetime.combine(day, time(rng.randint(8, 18), rng.randint(0, 59)), UTC)
        custom = []
        if spec.estimate:
            custom.append({"id": seeded.field_ids["estimate"], "value": spec.estimate})
        requester = seeded.requester_ids[client.id]
        ticket = zd.post(
            "/api/v2/tickets.json",
            {
                "ticket": {
                    "subject": spec.subject,
                    "comment": {"body": _body(spec, client), "author_id": requester},
                    "requester_id": requester,
                    "submitter_id": requester,
                    "organization_id": seeded.org_ids[client.id],
                    "type": spec.type,
                    "priority": spec.priority,
                    "status": "new" if spec.fate == "new" else "open",
                    "tags": [WORK_TAG] if spec.tagged else ["question"],
                    "custom_fields": custom,
                    "created_at": created.isoformat().replace("+00:00", "Z"),
                }
            },
        )["ticket"]
        seeded.tickets.append(SeededTicket(int(ticket["id"]), spec, client, created))
        if spec.fate != "new":
            _first_reply(zd, int(ticket["id"]), client, created, rng)


FIRST_REPLY = {
    "ru": "Здравствуйте! Получили, разбираемся — скоро вернёмся с ответом.",
    "en": "Hello! We have your request and are looking into it.",
}


def _first_reply(
    zd: Zendesk, ticket_id: int, client: DemoClient, created: datetime, rng: random.Random
) -> None:
    """The agent's first answer, back when the request came in (the emulator's history
    endpoint backdates it): what the SLA report measures. Some are quick, some are late."""
    delay = timedelta(minutes=rng.choice((15, 25, 40, 55, 90, 150, 240, 420, 1500)))
    zd.post(
        f"/_emulator/tickets/{ticket_id}/history",
        {
            "at": (created + delay).isoformat().replace("+00:00", "Z"),
            "comment": {"body": FIRST_REPLY[client.language], "public": True},
        },
    )


def _body(spec: Spec, client: DemoClient) -> str:
    name = client.requester[0].split()[0]
    if client.language == "ru":
        return f"Здравствуйте! {spec.subject}. Посмотрите, пожалуйста.\n\n{name}, {client.org}"
    return f"Hello, {spec.subject.lower()}. Could you have a look, please?\n\n{name}, {client.org}"


def client_reopens(zd: Zendesk, seeded: Seeded, ticket: SeededTicket) -> str:
    """The client answers the 'done' reply: a public comment, and the ticket is open again."""
    text = REOPEN_COMMENT[ticket.client.language]
    zd.put(
        f"/api/v2/tickets/{ticket.id}.json",
        {
            "ticket": {
                "comment": {
                    "body": text,
                    "public": True,
                    "author_id": seeded.requester_ids[ticket.client.id],
                },
                "status": "open",
            }
        },
    )
    return text


# ====================================================================== Redmine
def seed_redmine(rm: Redmine, seeded: Seeded) -> None:
    """One project per client; two developers and syncd's own user, members of all of them."""
    for client in CLIENTS:
        identifier = f"demo-{client.short}-{seeded.suffix}"
        body = {
            "identifier": identifier,
            "name": f"{client.org} (demo {seeded.suffix})",
            "description": f"syncd demo: the work for {client.org}'s Zendesk tickets.",
            # Public, so a newcomer can click through it without an account.
            "is_public": True,
            "enabled_module_names": ["issue_tracking", "time_tracking"],
            "tracker_ids": sorted(rm.trackers.values()),
            "issue_custom_field_ids": [rm.ticket_field_id],
        }
        project = rm.call(
            "POST",
            "/projects.json",
            body={"project": body},
            expect=(201,),
            landed=lambda i=identifier: _project(rm, i),
        )
        seeded.projects[client.id] = identifier
        seeded.project_ids[client.id] = project["project"]["id"]
    for dev in (*DEVS, BOT):
        user_id = _find_user(rm, dev.login)
        if user_id is None:
            user_id = _create_user(rm, dev)
            seeded.devs_created.append(dev.login)
        seeded.dev_ids[dev.login] = user_id
        for identifier in seeded.projects.values():
            member = {"user_id": user_id, "role_ids": [rm.roles["Developer"]]}
            rm.call(
                "POST",
                f"/projects/{identifier}/memberships.json",
                body={"membership": member},
                expect=(201,),
                landed=lambda i=identifier, u=user_id: _membership(rm, i, u),
            )
    # An admin reading a user creates its API key if there was none.
    seeded.bot_key = rm.get(f"/users/{seeded.dev_ids[BOT.login]}.json")["user"]["api_key"]


def _project(rm: Redmine, identifier: str) -> Any:
    resp = rm.session.get(f"{rm.url}/projects/{identifier}.json", timeout=30)
    return resp.json() if resp.status_code == 200 else None


def _membership(rm: Redmine, identifier: str, user_id: int) -> Any:
    members = rm.get(f"/projects/{identifier}/memberships.json", limit=100)["memberships"]
    return next((m for m in members if (m.get("user") or {}).get("id") == user_id), None)


# No mail for the demo's users, and every write is made by one of them, never by the admin
# (who gets mail): besides being noise, Redmine on SQLite renders a notification in a thread
# beside the request that sent it, and the two can lock each other out of the database for
# 30 s, then answer 500.
USER_SETTINGS = {"status": 1, "mail_notification": "none"}


def _find_user(rm: Redmine, login: str) -> int | None:
    # status= (empty) lists locked users too: a locked demo user is unlocked, not duplicated.
    for user in rm.get("/users.json", name=login, status="", limit=100)["users"]:
        if user["login"] == login:
            rm.call(
                "PUT",
                f"/users/{user['id']}.json",
                body={"user": USER_SETTINGS},
                landed=lambda: {},  # setting the same values again does no harm
            )
            return int(user["id"])
    return None


def _create_user(rm: Redmine, dev: Dev) -> int:
    body = {
        "login": dev.login,
        "firstname": dev.firstname,
        "lastname": dev.lastname,
        "mail": f"{dev.login}@demo-studio.example",
        "password": random.SystemRandom().randbytes(12).hex(),
        "must_change_passwd": False,
        **USER_SETTINGS,
    }
    resp = rm.session.post(f"{rm.url}/users.json", json={"user": body}, timeout=30)
    if resp.status_code == 201:
        return int(resp.json()["user"]["id"])
    found = _find_user(rm, dev.login)  # made by a demo running at the same time
    if found is None:
        raise DemoError(f"could not create Redmine user {dev.login}: {resp.text[:300]}", 1)
    return found


def make_issues_by_hand(rm: Redmine, zd_url: str, seeded: Seeded) -> None:
    """Issues developers made before syncd was installed, pointing at tickets three ways."""
    for n, ticket in enumerate(t for t in seeded.tickets if t.spec.hand):
        spec = ticket.spec
        subject = spec.hand_subject.format(ticket=ticket.id)
        description = "Made by hand from the client's mail."
        custom: list[dict[str, Any]] = []
        if spec.hand == "field":
            custom.append({"id": rm.ticket_field_id, "value": str(ticket.id)})
        elif spec.hand == "url":
            description = f"The client asked for it here: {zd_url}/agent/tickets/{ticket.id}"
        dev = DEVS[n % len(DEVS)]
        issue = rm.call(
            "POST",
            "/issues.json",
            body={
                "issue": {
                    "project_id": seeded.project_ids[ticket.client.id],
                    "tracker_id": rm.trackers["Feature" if spec.type == "task" else "Support"],
                    "subject": subject,
                    "description": description,
                    "assigned_to_id": seeded.dev_ids[dev.login],
                    "custom_fields": custom,
                }
            },
            expect=(201,),
            as_user=dev.login,
            landed=lambda t=ticket, subject=subject: _issue_named(rm, seeded, t, subject),
        )["issue"]
        seeded.hand_issues.append((int(issue["id"]), ticket))


def _issue_named(rm: Redmine, seeded: Seeded, ticket: SeededTicket, subject: str) -> Any:
    project = seeded.project_ids[ticket.client.id]
    issues = rm.get("/issues.json", project_id=project, status_id="*", limit=100)["issues"]
    found = next((i for i in issues if i["subject"] == subject), None)
    return {"issue": found} if found else None


# ====================================================================== a month of work
HOURS = (0.25, 0.5, 0.75, 1, 1, 1.5, 1.5, 2, 2, 2.5, 3, 3, 4, 5, 6)
STATUS_FOR_FATE = {
    "new": "New",
    "progress": "In Progress",
    "resolved": "Resolved",
    "reopen": "Resolved",
    "closed": "Closed",
}
NOTES = {
    "progress": "Working on it.",
    "resolved": "Fixed and deployed, please check.",
    "closed": "Done and deployed; the client confirmed.",
}


@dataclass
class WorkDone:
    entries: int = 0
    hours: Decimal = Decimal(0)
    first_day: date | None = None
    last_day: date | None = None
    by_status: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    subtasks: list[int] = field(default_factory=list)
    users: set[str] = field(default_factory=set)
    activities: set[str] = field(default_factory=set)

    def add(self, spent_on: date, hours: float, user: str, activity: str) -> None:
        self.entries += 1
        self.hours += Decimal(str(hours))
        self.first_day = min(self.first_day or spent_on, spent_on)
        self.last_day = max(self.last_day or spent_on, spent_on)
        self.users.add(user)
        self.activities.add(activity)


def simulate_month(rm: Redmine, seeded: Seeded, links: dict[int, int]) -> WorkDone:
    """Developers log time (spread from each ticket's date to today) and move issues along.
    `links`: ticket id -> issue id, as syncd recorded them."""
    work = WorkDone()
    for ticket in seeded.tickets:
        issue_id = links.get(ticket.id)
        if issue_id is None:
            continue
        rng = random.Random(f"work {ticket.spec.subject}")
        fate = ticket.spec.fate
        owner = DEVS[rng.randrange(len(DEVS))]
        if fate == "new" and rng.random() < 0.5:
            entries = 0
        else:
            entries = {"new": 1, "progress": rng.randint(2, 4)}.get(fate, rng.randint(2, 6))
        first = ticket.created_at.date()
        last = seeded.today if fate in ("new", "progress") else seeded.today - timedelta(days=1)
        days = sorted(
            first + timedelta(days=rng.randint(0, max((last - first).days, 0)))
            for _ in range(entries)
        )
        for k, day in enumerate(days):
            helper = k and rng.random() < 0.25  # a review or a hand from the other developer
            dev = DEVS[(DEVS.index(owner) + 1) % len(DEVS)] if helper else owner
            activity = _activity(rng, ticket.spec.type, bool(helper))
            hours = rng.choice(HOURS[:4] if fate == "new" else HOURS)
            log_time(rm, seeded, work, issue_id, dev, day, hours, activity)
        if fate == "progress" and ticket.spec.type == "task" and not work.subtasks:
            work.subtasks.append(_subtask(rm, seeded, work, ticket, issue_id, owner, rng))
        status = STATUS_FOR_FATE[fate]
        if status != "New":
            set_status(rm, issue_id, status, NOTES.get(fate, NOTES["resolved"]), seeded, owner)
            work.by_status[status].append(issue_id)
        else:
            rm.call(
                "PUT",
                f"/issues/{issue_id}.json",
                body={"issue": {"assigned_to_id": seeded.dev_ids[owner.login]}},
                landed=lambda: {},  # the same assignment again changes nothing
                as_user=owner.login,
            )
    # Time that belongs to no ticket (calls, project management) shows up in the reports only.
    for client in CLIENTS:
        for month_back in (2, 1):
            day = _month_day(seeded.today, month_back, 15)
            dev = DEVS[month_back % len(DEVS)]
            log_time(rm, seeded, work, None, dev, day, 1, "Support", client=client.id)
    return work


def _activity(rng: random.Random, ticket_type: str, helper: bool) -> str:
    if helper:
        return "Internal"  # reviews are not billed
    if ticket_type == "question":
        return "Support"
    if ticket_type == "task" and rng.random() < 0.3:
        return "Design"
    return "Development"


def _month_day(today: date, months_back: int, day: int) -> date:
    month = today.month - months_back
    year = today.year + (month - 1) // 12
    return date(year, (month - 1) % 12 + 1, day)


def _subtask(
    rm: Redmine,
    seeded: Seeded,
    work: WorkDone,
    ticket: SeededTicket,
    parent_id: int,
    owner: Dev,
    rng: random.Random,
) -> int:
    """A subtask without any ticket reference: its hours count for the parent's ticket."""
    other = DEVS[(DEVS.index(owner) + 1) % len(DEVS)]
    sub = rm.call(
        "POST",
        "/issues.json",
        body={
            "issue": {
                "project_id": seeded.project_ids[ticket.client.id],
                "tracker_id": rm.trackers["Feature"],
                "subject": "Design mockups",
                "parent_issue_id": parent_id,
                "assigned_to_id": seeded.dev_ids[other.login],
            }
        },
        expect=(201,),
        as_user=other.login,
        landed=lambda: _issue_named(rm, seeded, ticket, "Design mockups"),
    )["issue"]
    for _ in range(2):
        day = ticket.created_at.date() + timedelta(days=rng.randint(1, 5))
        log_time(rm, seeded, work, int(sub["id"]), other, min(day, seeded.today), 2, "Design")
    return int(sub["id"])


def log_time(
    rm: Redmine,
    seeded: Seeded,
    work: WorkDone,
    issue_id: int | None,
    dev: Dev,
    day: date,
    hours: float,
    activity: str,
    *,
    client: str | None = None,
    comments: str = "",
) -> None:
    if activity not in rm.activities:
        activity = "Development"
    entry: dict[str, Any] = {
        "hours": hours,
        "spent_on": day.isoformat(),
        "activity_id": rm.activities[activity],
        "comments": comments or ("Call with the client" if issue_id is None else ""),
    }
    if issue_id is not None:
        entry["issue_id"] = issue_id
    else:
        entry["project_id"] = seeded.project_ids[client or ""]
    if rm.billable_field_id:
        billable = "0" if activity == "Internal" else "1"
        entry["custom_fields"] = [{"id": rm.billable_field_id, "value": billable}]
    made = rm.call(
        "POST",
        "/time_entries.json",
        body={"time_entry": entry},
        expect=(201,),
        landed=lambda: _entry_like(rm, seeded, entry, seeded.dev_ids[dev.login]),
        as_user=dev.login,
    )["time_entry"]
    seeded.entry_ids.add(int(made["id"]))
    work.add(day, hours, dev.name, activity)


def _entry_like(rm: Redmine, seeded: Seeded, entry: dict[str, Any], user_id: int) -> Any:
    """An entry like this one that the demo has not counted yet: the write did land."""
    where = {"issue_id": entry["issue_id"]} if "issue_id" in entry else {}
    if not where:
        where = {"project_id": entry["project_id"]}
    found = rm.get(
        "/time_entries.json",
        user_id=user_id,
        spent_on=entry["spent_on"],
        limit=100,
        **where,
    )["time_entries"]
    for e in found:
        same = (
            Decimal(str(e["hours"])) == Decimal(str(entry["hours"]))
            and e["activity"]["id"] == entry["activity_id"]
        )
        if same and e["id"] not in seeded.entry_ids:
            return {"time_entry": e}
    return None


def set_status(
    rm: Redmine, issue_id: int, status: str, notes: str, seeded: Seeded, dev: Dev
) -> None:
    def landed() -> Any:
        # Looked at before trying again: a second try would add the note twice.
        issue = rm.get(f"/issues/{issue_id}.json")["issue"]
        return {} if issue["status"]["name"] == status else None

    rm.call(
        "PUT",
        f"/issues/{issue_id}.json",
        body={
            "issue": {
                "status_id": rm.statuses[status],
                "assigned_to_id": seeded.dev_ids[dev.login],
                "notes": notes,
            }
        },
        landed=landed,
        as_user=dev.login,
    )
    now = rm.get(f"/issues/{issue_id}.json")["issue"]["status"]["name"]
    if now != status:  # Redmine drops a transition its workflow forbids, silently
        raise DemoError(f"Redmine kept issue #{issue_id} at {now!r}, not {status!r}", 1)


def issue_owner(rm: Redmine, seeded: Seeded, issue_id: int) -> Dev:
    assigned = rm.get(f"/issues/{issue_id}.json")["issue"].get("assigned_to", {}).get("id")
    return next((d for d in DEVS if seeded.dev_ids[d.login] == assigned), DEVS[0])
