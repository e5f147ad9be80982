"""`syncd check`: each thing the daemon relies on, checked once, saying what to fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.base import ConnectorError
from syncd import app
from syncd.config import Config, ConfigError
from syncd.messages import Messages


def run_checks(config: Config, *, out: Callable[[str], None]) -> list[str]:
    problems: list[str] = []

    def ok(text: str) -> None:
        out(f"  ok    {text}")

    def bad(text: str) -> None:
        problems.append(text)
        out(f"  FAIL  {text}")

    out(f"config {config.path}: {len(config.clients)} client(s)")
    languages = {config.sync.language} | {c.language for c in config.clients if c.language}
    for problem in Messages(config.templates_dir).check(languages):
        bad(problem)
    if not problems:
        ok(f"templates in {config.templates_dir} ({', '.join(sorted(languages))})")
    try:
        zendesk, redmine = app.connectors(config)
    except ConfigError as e:
        bad(str(e))
        return problems

    out(f"zendesk {config.zendesk.url}")
    try:
        ok(f"signed in as {zendesk.whoami()}")
        fields = zendesk.field_ids()
        for key in ("issue_field_id", "hours_field_id", "estimate_field_id"):
            value = getattr(config.zendesk, key)
            if value is None:
                continue
            if value in fields:
                ok(f"[zendesk] {key} = {value} exists")
            else:
                bad(f"[zendesk] {key} = {value}: no such ticket field (GET /api/v2/ticket_fields)")
    except ConnectorError as e:
        bad(f"zendesk: {e}")

    out(f"redmine {config.redmine.url}")
    try:
        ok(f"signed in as {redmine.whoami()}")
        exists = redmine.issue_field_exists(config.redmine.ticket_field_id)
        fid = config.redmine.ticket_field_id
        if exists is None:
            ok(f"[redmine] ticket_field_id = {fid}: not checkable without admin rights")
        elif exists:
            ok(f"[redmine] ticket_field_id = {fid} is an issue custom field")
        else:
            bad(
                f"[redmine] ticket_field_id = {fid}: no such issue custom field "
                "(Administration → Custom fields; mark it 'Used as a filter')"
            )
        projects = redmine.projects()
        for client in config.clients:
            for project in client.redmine_projects:
                if project in projects:
                    ok(f"client {client.id}: project {project} visible")
                else:
                    bad(
                        f"client {client.id}: project {project!r} not found or not visible "
                        "to this API key"
                    )
            if client.issue_project in projects:
                _check_ticket_field(config, redmine, client.issue_project, ok, bad)
        statuses = redmine.statuses()
        wanted = [*config.redmine.done_statuses, config.redmine.reopen_status]
        missing = [s for s in wanted if s.casefold() not in {n.casefold() for n in statuses}]
        if missing:
            bad(
                f"[redmine] statuses not in Redmine: {', '.join(missing)} "
                f"(known: {', '.join(statuses)})"
            )
        else:
            ok(f"[redmine] statuses {', '.join(wanted)} exist")
    except ConnectorError as e:
        bad(f"redmine: {e}")
    _check_billing(config, ok, bad, out)
    out("all checks passed" if not problems else f"{len(problems)} problem(s)")
    return problems


def _check_ticket_field(
    config: Config,
    redmine: Any,
    project: str,
    ok: Callable[[str], None],
    bad: Callable[[str], None],
) -> None:
    """New issues go to the client's first project, with any tracker the config may pick:
    each must be able to carry the ticket field, or syncd refuses to create issues there."""
    fid = config.redmine.ticket_field_id
    trackers = sorted({config.redmine.default_tracker, *config.redmine.trackers.values()})
    for tracker in trackers:
        available = redmine.ticket_field_available(fid, project, tracker)
        where = f"project {project}, tracker {tracker}"
        if available is False:
            bad(
                f"[redmine] ticket_field_id = {fid} is not available for new issues in {where}: "
                "deleted, or not enabled for that project or tracker (Administration → Custom "
                "fields); syncd creates no issues there until it is"
            )
        elif available:
            ok(f"[redmine] ticket_field_id = {fid} available in {where}")
        else:
            ok(f"[redmine] ticket_field_id = {fid} in {where}: checked at the first issue")


def _check_billing(
    config: Config,
    ok: Callable[[str], None],
    bad: Callable[[str], None],
    out: Callable[[str], None],
) -> None:
    if not config.plans:
        return
    out("billing")
    unbilled = [c.id for c in config.clients if c.plan is None and not c.plan_changes]
    if unbilled:
        ok(f"clients without a plan are left out of billing: {', '.join(unbilled)}")
    ok(f"{len(config.plans)} plan(s), {len(config.billing.rules)} rule(s)")
    if config.mail is not None:
        try:
            config.mail.password()
            ok(
                f"[mail] {config.mail.host}:{config.mail.port}, manager "
                f"{', '.join(config.mail.manager)}"
            )
        except ConfigError as e:
            bad(str(e))
