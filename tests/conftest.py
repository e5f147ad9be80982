"""Shared pytest fixtures.

Real Redmine (started and provisioned by `make redmine`, i.e. scripts/test-env.sh):

- ``redmine_env`` (session): a checked ``RedmineEnv`` (tests/redmine_fixtures.py) with ``url``,
  ``api_key``, ``ticket_field_id``, ``billable_field_id``, ``datadir``, ``runner``, the id maps
  ``activities``/``trackers``/``statuses``/``priorities``/``roles`` and helpers ``rest()``,
  ``get()``, ``run_ruby()``, ``create_project()``, ``create_user()``, ``create_issue()``,
  ``log_time()``, ``delete_time_entry()``, ``time_entries()``. Skips when Redmine is not there,
  fails instead when SYNCD_REQUIRE_REDMINE=1.
- ``redmine_project`` (function): a fresh private project ``t-<hex>`` (a ``ProjectRef``: the
  identifier as a str, plus ``.id``), deleted at teardown.
- ``redmine_user`` (function): a non-admin member (role Developer, may log time) of
  ``redmine_project``; ``make_redmine_user(project=None, role="Developer")`` makes more.

Every test that uses these is marked ``redmine`` automatically; with SYNCD_REQUIRE_REDMINE=1 a
skipped ``redmine`` test is reported as a failure (CI must not pass by skipping).
SYNCD_KEEP_REDMINE_DATA=1 keeps the projects and users for inspection.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import pytest

try:  # tests/ is on sys.path with pytest's default rootdir-conftest import mode ...
    import redmine_fixtures as rf
    import reliability
except ImportError:  # ... or a package, if someone adds tests/__init__.py
    from tests import redmine_fixtures as rf
    from tests import reliability

REDMINE_FIXTURES = {
    "redmine_env",
    "redmine_project",
    "redmine_user",
    "make_redmine_user",
    "studio",
}


@pytest.fixture(scope="session")
def redmine_env() -> rf.RedmineEnv:
    try:
        return rf.connect()
    except rf.RedmineUnavailable as exc:
        reason = str(exc)
    if rf.require_redmine():
        message = f"SYNCD_REQUIRE_REDMINE=1 but the real Redmine is unusable: {reason}"
        pytest.fail(message, pytrace=False)
    pytest.skip(f"real Redmine not available: {reason}")


def _cleanup(what: str, action: Callable[[], None]) -> None:
    if rf.keep_data():
        return
    try:
        action()
    except Exception as exc:  # teardown is best effort; the data is harmless
        warnings.warn(f"could not delete {what}: {exc}", stacklevel=1)


@pytest.fixture
def redmine_project(redmine_env: rf.RedmineEnv, request: pytest.FixtureRequest):
    project = redmine_env.create_project(name=f"syncd test {request.node.name}")
    yield project
    _cleanup(f"project {project}", lambda: redmine_env.delete_project(project))


@pytest.fixture
def make_redmine_user(redmine_env: rf.RedmineEnv) -> Iterator[Callable[..., rf.User]]:
    created: list[rf.User] = []

    def make(project: str | int | None = None, role: str = rf.MEMBER_ROLE, **kw) -> rf.User:
        user = redmine_env.create_user(project=project, role=role, **kw)
        created.append(user)
        return user

    yield make
    for user in created:
        _cleanup(f"user {user.login}", lambda u=user: redmine_env.delete_user(u.id))


@pytest.fixture
def redmine_user(make_redmine_user, redmine_project) -> rf.User:
    return make_redmine_user(project=redmine_project)


@pytest.fixture
def studio(redmine_env, redmine_project, tmp_path):
    """A studio for flow tests (tests/studio.py): the Zendesk emulator on a free port, a fresh
    Redmine project, a config file in tmp_path."""
    from studio import AGENT_EMAIL, ZENDESK_TOKEN, Studio

    from emulator import ZendeskEmulator

    emu = ZendeskEmulator(token=ZENDESK_TOKEN, email=AGENT_EMAIL).start()
    try:
        yield Studio(emu=emu, redmine=redmine_env, project=redmine_project, tmp=tmp_path).setup()
    finally:
        emu.stop()


@pytest.fixture
def serve():
    """serve(handler=None, **options): a real SMTP server on 127.0.0.1 (tests/smtp_server.py)."""
    from smtp_server import serving

    yield from serving()


# ---------------------------------------------------------------------- hooks
def pytest_report_header(config: pytest.Config) -> list[str]:
    mode = "required" if rf.require_redmine() else "optional (tests skip without it)"
    return [f"{rf.describe_settings()}; {mode}"]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    figures = reliability.figures()
    if not figures:
        return
    size = "full" if reliability.FULL else "reduced (make test-reliability runs the full size)"
    lines = [f"size: {size}"]
    for section, rows in figures.items():
        lines += [f"{section}:", *(f"  {row}" for row in rows)]
    terminalreporter.write_sep("=", "reliability figures")
    for line in lines:
        terminalreporter.write_line(line)
    out = config.rootpath / "var" / "reliability-figures.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & REDMINE_FIXTURES and item.get_closest_marker("redmine") is None:
            item.add_marker(pytest.mark.redmine)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and rf.require_redmine()
        and item.get_closest_marker("redmine") is not None
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"SYNCD_REQUIRE_REDMINE=1: a test marked 'redmine' was skipped: {reason}"
    return report
