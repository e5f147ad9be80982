"""The Redmine fixtures work, and what the real Redmine 5.0 REST API does.

These tests run against Debian's redmine 5.0.4 (sqlite3, WEBrick) as set up by
scripts/test-env.sh. Besides proving the fixtures, they pin down the server behaviour syncd
relies on; each "Measured:" comment records what the real server answered.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time

import pytest

pytestmark = pytest.mark.redmine


def _ticket_value() -> str:
    # Zendesk ticket ids are numbers; a random 9-digit one keeps concurrent runs apart.
    return str(secrets.randbelow(900_000_000) + 100_000_000)


def _ids(items: list[dict]) -> list[int]:
    return [item["id"] for item in items]


def _need_ruby(env) -> None:
    if not env.can_run_ruby:
        pytest.skip(f"run_ruby needs root and {env.runner}")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------- provisioning
def test_env_is_admin_and_provisioned(redmine_env):
    me = redmine_env.get("/users/current.json")["user"]
    assert me["login"] == "admin" and me["admin"] is True

    fields = {f["id"]: f for f in redmine_env.get("/custom_fields.json")["custom_fields"]}
    ticket = fields[redmine_env.ticket_field_id]
    assert ticket["name"] == "Zendesk ticket"
    assert ticket["customized_type"] == "issue"
    assert ticket["field_format"] == "string"
    assert ticket["is_filter"] and ticket["searchable"] and ticket["visible"]
    assert not ticket["is_required"]
    # Measured: is_for_all is not part of /custom_fields.json; trackers are.
    assert {t["id"] for t in ticket["trackers"]} == set(redmine_env.trackers.values())

    billable = fields[redmine_env.billable_field_id]
    assert (billable["name"], billable["customized_type"]) == ("Billable", "time_entry")
    assert billable["field_format"] == "bool" and not billable["is_required"]
    assert {v["value"] for v in billable["possible_values"]} == {"1", "0"}

    activities = redmine_env.get("/enumerations/time_entry_activities.json")
    active = {a["name"] for a in activities["time_entry_activities"] if a["active"]}
    assert {"Design", "Development", "Support", "Internal"} <= active
    # Measured: no activity is the default, so every time entry needs an activity_id.
    assert not any(a["is_default"] for a in activities["time_entry_activities"])

    assert {"Bug", "Feature", "Support"} <= set(redmine_env.trackers)
    assert {"New", "In Progress", "Resolved", "Feedback", "Closed", "Rejected"} <= set(
        redmine_env.statuses
    )
    # Redmine's default data: only Closed and Rejected are closed; Resolved is still open.
    assert redmine_env.closed_statuses == {"Closed", "Rejected"}
    assert {"Low", "Normal", "High", "Urgent", "Immediate"} <= set(redmine_env.priorities)


def test_login_not_required_and_wrong_key_is_anonymous(redmine_env):
    # Measured: login_required is off, so anonymous reads of public data answer 200 ...
    assert redmine_env.rest("GET", "/projects.json", key="").status_code == 200
    # ... and a wrong API key is NOT rejected there: Redmine treats it as anonymous.
    assert redmine_env.rest("GET", "/projects.json", key="0" * 40).status_code == 200
    # Only an endpoint that needs a user tells: /users/current.json -> 401.
    assert redmine_env.rest("GET", "/users/current.json", key="0" * 40).status_code == 401


def test_run_ruby(redmine_env):
    _need_ruby(redmine_env)
    out = redmine_env.run_ruby(
        f"puts CustomField.find({redmine_env.ticket_field_id}).is_for_all?\n"
        "puts Setting.login_required?\n"
        "puts Setting.default_projects_modules.sort.join(',')\n"
    )
    is_for_all, login_required, modules = out.strip().splitlines()[-3:]
    assert (is_for_all, login_required) == ("true", "false")
    assert {"issue_tracking", "time_tracking"} <= set(modules.split(","))


# ---------------------------------------------------------------------- projects
def test_project_fixture(redmine_env, redmine_project):
    assert redmine_project.startswith("t-") and redmine_project.id > 0
    data = redmine_env.get(
        f"/projects/{redmine_project}.json",
        params={"include": "trackers,issue_custom_fields,enabled_modules"},
    )["project"]
    assert data["identifier"] == redmine_project and data["id"] == redmine_project.id
    assert data["is_public"] is False
    assert {m["name"] for m in data["enabled_modules"]} == {"issue_tracking", "time_tracking"}
    assert {t["id"] for t in data["trackers"]} == set(redmine_env.trackers.values())
    assert redmine_env.ticket_field_id in {f["id"] for f in data["issue_custom_fields"]}
    # Measured: anonymous access to a private project -> 401 (not 403/404).
    assert redmine_env.rest("GET", f"/projects/{redmine_project}.json", key="").status_code == 401


def test_projects_are_isolated(redmine_env, redmine_project):
    other = redmine_env.create_project()
    try:
        redmine_env.create_issue(other, "in the other project")
        assert redmine_env.issues(project_id=redmine_project, status_id="*") == []
    finally:
        redmine_env.delete_project(other)
    # Measured: DELETE /projects/ID.json -> 204 and takes ~40 ms; afterwards GET -> 404.
    assert redmine_env.rest("GET", f"/projects/{other}.json").status_code == 404


# ---------------------------------------------------------------------- issues
def test_issue_found_by_ticket_field(redmine_env, redmine_project):
    cf = f"cf_{redmine_env.ticket_field_id}"
    value = _ticket_value()
    issue = redmine_env.create_issue(redmine_project, "with ticket", ticket=value)
    longer = redmine_env.create_issue(redmine_project, "longer ticket", ticket=value + "7")
    assert {"id": redmine_env.ticket_field_id, "name": "Zendesk ticket", "value": value} in issue[
        "custom_fields"
    ]

    # Measured: cf_N=VALUE is an exact match (ticket 12345 does not find 123457) ...
    found = redmine_env.issues(**{cf: value, "status_id": "*"})
    assert _ids(found) == [issue["id"]]
    # ... and cf_N=~VALUE is "contains".
    assert set(_ids(redmine_env.issues(**{cf: "~" + value, "status_id": "*"}))) == {
        issue["id"],
        longer["id"],
    }

    # Measured: without status_id only open issues are listed; a closed one needs status_id=*.
    redmine_env.update_issue(issue["id"], status_id=redmine_env.statuses["Closed"])
    assert redmine_env.issues(**{cf: value}) == []
    found = redmine_env.issues(**{cf: value, "status_id": "*"})
    assert _ids(found) == [issue["id"]] and found[0]["status"]["is_closed"] is True
    assert found[0]["closed_on"] is not None


def test_admin_walks_the_default_workflow(redmine_env, redmine_project):
    issue = redmine_env.create_issue(redmine_project, "workflow", tracker="Support")
    assert issue["status"]["name"] == "New"
    # Measured: admin may do every transition (it uses the workflows of all roles).
    for name in ("In Progress", "Resolved", "Feedback", "Closed", "New", "Rejected"):
        redmine_env.update_issue(issue["id"], status_id=redmine_env.statuses[name], notes=name)
        now = redmine_env.issue(issue["id"])
        assert now["status"]["name"] == name
        assert now["status"]["is_closed"] is (name in redmine_env.closed_statuses)
    journals = redmine_env.issue(issue["id"], include="journals")["journals"]
    assert [j["notes"] for j in journals][-2:] == ["New", "Rejected"]


def test_status_change_outside_the_workflow_is_ignored(redmine_env, redmine_project, redmine_user):
    issue = redmine_env.create_issue(redmine_project, "workflow for a member")

    def put_status(name: str) -> int:
        body = {"issue": {"status_id": redmine_env.statuses[name]}}
        resp = redmine_env.rest(
            "PUT", f"/issues/{issue['id']}.json", json=body, key=redmine_user.api_key
        )
        return resp.status_code

    # Measured: the default Developer workflow has New -> In Progress/Resolved/Feedback/Closed
    # and nothing out of Closed or to Rejected. A forbidden status is dropped SILENTLY: the PUT
    # still answers 204 and the status stays. A sync must read the issue back to know.
    assert put_status("Rejected") == 204
    assert redmine_env.issue(issue["id"])["status"]["name"] == "New"
    assert put_status("Closed") == 204
    assert redmine_env.issue(issue["id"])["status"]["name"] == "Closed"
    assert put_status("New") == 204
    assert redmine_env.issue(issue["id"])["status"]["name"] == "Closed"


def test_issue_updated_on_filter(redmine_env, redmine_project):
    """updated_on=>=T works with a UTC timestamp, but starts one second early.

    Measured: issues' updated_on is stored with microseconds (local time = UTC here) but the API
    shows whole seconds ("2026-11-23T14:19:38Z"). Redmine's date_clause turns ">=T" into
    "updated_on > T-1s", so anything from the second before T on is included; "<=T" is
    "updated_on <= 'T'" compared as text, which drops updates in the fraction after T.
    A sync that re-reads from its last seen updated_on therefore always sees the boundary
    issues again (de-duplicate them) and never misses one.
    """
    _need_ruby(redmine_env)
    base = (int(time.time()) // 60 - 60) * 60  # a whole minute about an hour ago
    offsets = {"A": -1.5, "B": -0.5, "C": 0.0, "D": 0.25, "E": 1.0}
    issues = {name: redmine_env.create_issue(redmine_project, name) for name in offsets}
    redmine_env.run_ruby(
        "\n".join(
            f"Issue.where(id: {issues[n]['id']}).update_all(updated_on: Time.at({base}r + {o}r))"
            for n, o in offsets.items()
        )
    )
    by_id = {issue["id"]: name for name, issue in issues.items()}

    def names(op: str, value: str) -> set[str]:
        found = redmine_env.issues(
            project_id=redmine_project, status_id="*", updated_on=op + value, sort="updated_on"
        )
        return {by_id[i] for i in _ids(found)}

    assert names(">=", _iso(base)) == {"B", "C", "D", "E"}  # B is 0.5 s before T
    assert names(">=", _iso(base + 1)) == {"D", "E"}  # D (T+0.25 s) counts as "the second before"
    assert names("<=", _iso(base)) == {"A", "B", "C"}  # D (T+0.25 s) is not <= T
    assert names("><", f"{_iso(base)}|{_iso(base + 1)}") == {"B", "C", "D", "E"}
    # A date (no time) means whole days.
    day = dt.datetime.fromtimestamp(base, dt.UTC).date().isoformat()
    assert names(">=", day) == set(offsets)
    shown = redmine_env.issue(issues["D"]["id"])["updated_on"]
    assert shown == _iso(base)  # the fraction is cut off in JSON


def test_issue_sort_by_updated_on(redmine_env, redmine_project):
    first = redmine_env.create_issue(redmine_project, "first")
    second = redmine_env.create_issue(redmine_project, "second")
    redmine_env.update_issue(first["id"], notes="touch")  # now first is the newest
    found = redmine_env.issues(project_id=redmine_project, status_id="*", sort="updated_on")
    assert _ids(found) == [second["id"], first["id"]]
    found = redmine_env.issues(project_id=redmine_project, status_id="*", sort="updated_on:desc")
    assert _ids(found) == [first["id"], second["id"]]


# ---------------------------------------------------------------------- time entries
def test_time_entry_lifecycle(redmine_env, redmine_project, redmine_user):
    issue = redmine_env.create_issue(redmine_project, "time", ticket=_ticket_value())
    time.sleep(1.1)  # so that a changed updated_on would show in whole seconds
    entry = redmine_env.log_time(
        1.5, issue_id=issue["id"], user_id=redmine_user.id, activity="Support", billable=True
    )
    assert entry["user"]["id"] == redmine_user.id
    assert entry["issue"]["id"] == issue["id"]
    assert entry["project"]["id"] == redmine_project.id
    assert entry["activity"]["name"] == "Support" and entry["hours"] == 1.5
    assert entry["spent_on"] == dt.date.today().isoformat()
    assert {"id": redmine_env.billable_field_id, "name": "Billable", "value": "1"} in entry[
        "custom_fields"
    ]
    assert entry["created_on"] and entry["updated_on"]

    listed = redmine_env.time_entries(issue_id=issue["id"])
    assert _ids(listed) == [entry["id"]]
    assert redmine_env.time_entries(project_id=redmine_project, user_id=redmine_user.id) == listed

    after = redmine_env.issue(issue["id"])
    assert after["spent_hours"] == 1.5
    # Measured: logging time does not touch the issue's updated_on.
    assert after["updated_on"] == issue["updated_on"]

    # The user can log time with their own key as well (role Developer), and admin can act as
    # them with X-Redmine-Switch-User.
    own = redmine_env.log_time(0.25, issue_id=issue["id"], key=redmine_user.api_key)
    assert own["user"]["id"] == redmine_user.id
    resp = redmine_env.rest(
        "POST",
        "/time_entries.json",
        json={"time_entry": {"issue_id": issue["id"], "hours": 0.5, "activity_id": 9}},
        switch_user=redmine_user.login,
    )
    assert resp.status_code == 201 and resp.json()["time_entry"]["user"]["id"] == redmine_user.id

    redmine_env.delete_time_entry(entry["id"])
    # Measured: a deleted entry is just gone: 404, no tombstone in any list.
    assert redmine_env.rest("GET", f"/time_entries/{entry['id']}.json").status_code == 404
    assert entry["id"] not in _ids(redmine_env.time_entries(issue_id=issue["id"]))
    assert redmine_env.issue(issue["id"])["spent_hours"] == 0.75


def test_time_entry_rules(redmine_env, redmine_project, make_redmine_user):
    issue = redmine_env.create_issue(redmine_project, "rules")
    outsider = make_redmine_user()  # not a member of the project
    body = {"issue_id": issue["id"], "hours": 1, "activity_id": redmine_env.activities["Design"]}
    # Measured: logging for a non-member -> 422 {"errors":["User is invalid"]}.
    resp = redmine_env.rest(
        "POST", "/time_entries.json", json={"time_entry": {**body, "user_id": outsider.id}}
    )
    assert resp.status_code == 422 and "User is invalid" in resp.json()["errors"]
    # Measured: without activity_id -> 422 "Activity cannot be blank" (no default activity).
    no_activity = {"issue_id": issue["id"], "hours": 1}
    resp = redmine_env.rest("POST", "/time_entries.json", json={"time_entry": no_activity})
    assert resp.status_code == 422 and "Activity cannot be blank" in resp.json()["errors"]
    # Measured: admin itself may log time in a project it is not a member of.
    resp = redmine_env.rest("POST", "/time_entries.json", json={"time_entry": body})
    assert resp.status_code == 201 and resp.json()["time_entry"]["user"]["name"] == "Redmine Admin"


def test_time_entries_sort_created_on_desc(redmine_env, redmine_project, redmine_user):
    issue = redmine_env.create_issue(redmine_project, "order")
    today = dt.date.today()
    spent = [today - dt.timedelta(days=d) for d in (10, 12, 11, 12)]
    created = [
        redmine_env.log_time(1, issue_id=issue["id"], user_id=redmine_user.id, spent_on=day)
        for day in spent
    ]
    # Measured: all four are created within the same second (the API shows equal created_on),
    # yet sort=created_on:desc is exactly newest-first: the column keeps microseconds.
    listed = redmine_env.time_entries(project_id=redmine_project, sort="created_on:desc")
    assert _ids(listed) == _ids(created)[::-1]
    listed = redmine_env.time_entries(project_id=redmine_project, sort="created_on")
    assert _ids(listed) == _ids(created)
    # Default order (no sort): spent_on desc, then created_on desc.
    by_default = redmine_env.time_entries(project_id=redmine_project)
    assert _ids(by_default) == [created[i]["id"] for i in (0, 2, 3, 1)]


def test_time_entries_updated_on_filter_is_ignored(redmine_env, redmine_project, redmine_user):
    entry = redmine_env.log_time(2, project=redmine_project, user_id=redmine_user.id)
    far_future = "2030-01-01T00:00:00Z"
    # Measured: Redmine 5.0's TimeEntryQuery has no created_on/updated_on filter; unknown
    # filters are dropped silently, so each of these still returns the entry.
    for params in (
        {"updated_on": ">=" + far_future},
        {"created_on": ">=" + far_future},
        [("f[]", "updated_on"), ("op[updated_on]", ">="), ("v[updated_on][]", far_future)],
    ):
        if isinstance(params, dict):
            found = redmine_env.time_entries(project_id=redmine_project, **params)
        else:
            found = redmine_env.get(
                "/time_entries.json", params=[("project_id", redmine_project), *params]
            )["time_entries"]
        assert _ids(found) == [entry["id"]], params
    # Whereas spent_on filters (from/to) do work.
    today = dt.date.today()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert redmine_env.time_entries(project_id=redmine_project, **{"from": tomorrow}) == []
    assert _ids(redmine_env.time_entries(project_id=redmine_project, to=today.isoformat())) == [
        entry["id"]
    ]
