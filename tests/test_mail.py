"""syncd.mail: the [mail] section, and mailing the monthly reports through a real SMTP server
(aiosmtpd on 127.0.0.1): who gets what, exactly once, through the effect journal."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from smtp_server import Handler, Server, free_port
from structlog.testing import capture_logs

import syncd.logging as slog
from connectors.base import ConnectorError
from syncd.config import ConfigError, _Reader
from syncd.effects import Effects, NotSettled
from syncd.mail import MailConfig, MailError, parse_mail, send_reports
from syncd.state import Store, iso, utcnow

MONTH = "2026-10"
MANAGER = "boss@studio.example"
PASSWORD = "s3cret-SMTP-pass-4711"
PASSWORD_ENV = "SYNCD_TEST_SMTP_PASSWORD"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KEY_MANAGER = f"mail:billing:{MONTH}:manager"
KEY_ACME = f"mail:billing:{MONTH}:client:acme"
KEY_BETA = f"mail:billing:{MONTH}:client:beta"
ALL_KEYS = [KEY_MANAGER, KEY_ACME, KEY_BETA]
# aiosmtpd warns when AUTH goes over plain text: these tests do, on 127.0.0.1.
NO_TLS_WARNING = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def password_check(login: bytes = b"billing", password: str = PASSWORD, echo: bool = False):
    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == login
            and auth_data.password == password.encode()
        )
        if ok or not echo:
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535
        # A careless server that echoes the credentials back in its refusal.
        raw = auth_data.password.decode()
        blob = base64.b64encode(raw.encode()).decode()
        return AuthResult(
            success=False, handled=False, message=f"535 5.7.8 bad password {raw} ({blob})"
        )

    return authenticator


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), as (cert, key)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


# ====================================================================== reports and config
@dataclass
class Reports:
    clients: dict[str, tuple[str | None, list[Path]]]
    summary: list[Path]

    def files(self, client: str) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in self.clients[client][1]}

    def everything(self) -> dict[str, bytes]:
        out = {p.name: p.read_bytes() for p in self.summary}
        for cid in self.clients:
            out |= self.files(cid)
        return out


def client_report(where: Path, cid: str, suffixes: tuple[str, ...]) -> list[Path]:
    contents = {
        ".html": f"<!doctype html><html><body><h1>Счёт {cid}</h1><p>1 234,50 ₽</p></body></html>",
        ".csv": f"\ufeffclient;request;hours\r\n{cid};Главная страница;12,5\r\nИтого;;12,5\r\n",
        ".json": json.dumps({"client": cid, "total": "1234.50", "note": "ёж"}, ensure_ascii=False),
    }
    out = []
    for suffix in suffixes:
        path = where / f"{cid}{suffix}"
        if suffix == ".xlsx":  # binary: every byte value, and the client's name
            path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 3 + cid.encode())
        else:
            path.write_bytes(contents[suffix].encode())
        out.append(path)
    return out


@pytest.fixture
def reports(tmp_path: Path) -> Reports:
    where = tmp_path / "reports" / MONTH
    where.mkdir(parents=True)
    every = (".html", ".csv", ".xlsx", ".json")
    return Reports(
        clients={
            "acme": (
                '"Бухгалтерия ACME, Ltd" <ap@acme.example>',
                client_report(where, "acme", every),
            ),
            "beta": (
                "ap@beta.example, Beta CEO <ceo@beta.example>",
                client_report(where, "beta", every),
            ),
            "gamma": (None, client_report(where, "gamma", (".html", ".csv"))),
        },
        summary=client_report(where, "summary", (".html", ".csv", ".xlsx")),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slog, "_SECRETS", set())
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def config(port: int, **overrides: Any) -> MailConfig:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "sender": "Studio <billing@studio.example>",
        "manager": (f"Boss <{MANAGER}>",),
        "timeout": 5.0,
    }
    return MailConfig(**(values | overrides))


def send(mail: MailConfig, fx: Effects, reports: Reports, **kw: Any) -> list[str]:
    return send_reports(
        mail,
        fx,
        kind="billing",
        month=MONTH,
        studio="Studio",
        client_files=reports.clients,
        summary_files=reports.summary,
        **kw,
    )


def failed(call: Callable[[], Any]) -> MailError:
    with pytest.raises(MailError) as info:
        call()
    return info.value


def journal(store: Store) -> dict[str, str]:
    return {r["key"]: r["status"] for r in store._all("SELECT key, status FROM effects")}


def backdate(store: Store, key: str, seconds: float) -> None:
    then = iso(utcnow() - timedelta(seconds=seconds))
    store.db.execute("UPDATE effects SET created_at = ? WHERE key = ?", [then, key])


# ====================================================================== who gets what
def test_manager_gets_everything_and_each_client_only_its_own(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    server = serve()
    lines: list[str] = []
    fx = Effects(store, announce=lines.append)

    keys = send(config(server.port), fx, reports, client_names={"acme": "ACME Ltd"})

    assert keys == ALL_KEYS
    assert journal(store) == dict.fromkeys(ALL_KEYS, "done")
    assert len(server.received) == 3  # gamma has no e-mail: nothing for it

    (boss,) = server.handler.to(MANAGER)
    assert boss.rcpt_tos == [MANAGER]
    assert boss.mail_from == "billing@studio.example"
    assert boss.attachments() == reports.everything()  # gamma's report included
    assert boss.message["Subject"] == "Studio — billing report 2026-10: all clients"
    assert boss.message["Message-ID"] == "<syncd.billing.2026-10.manager@studio.example>"

    (acme,) = server.handler.to("ap@acme.example")
    assert acme.rcpt_tos == ["ap@acme.example"]
    assert acme.attachments() == reports.files("acme")
    assert acme.message["Subject"] == "Studio — billing report 2026-10: ACME Ltd"
    assert acme.message["Message-ID"] == "<syncd.billing.2026-10.client.acme@studio.example>"
    assert acme.message["To"] == '"Бухгалтерия ACME, Ltd" <ap@acme.example>'
    assert acme.message["From"] == "Studio <billing@studio.example>"
    assert acme.message["Auto-Submitted"] == "auto-generated"

    (beta,) = server.handler.to("ap@beta.example")  # two addresses, one message
    assert sorted(beta.rcpt_tos) == ["ap@beta.example", "ceo@beta.example"]
    assert beta.attachments() == reports.files("beta")

    for received, own in ((acme, "acme"), (beta, "beta")):
        others = {"acme", "beta", "gamma", "summary"} - {own}
        for part in received.message.walk():
            payload = part.get_payload(decode=True) or b""
            name = part.get_filename() or ""
            assert not any(o.encode() in payload or o in name for o in others), (own, name)

    body = acme.message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert all(name in text for name in reports.files("acme"))

    assert lines == [
        "mail billing report 2026-10 to the manager (boss@studio.example): "
        + ", ".join(reports.everything()),
        "mail billing report 2026-10 to client acme (ap@acme.example): "
        "acme.html, acme.csv, acme.xlsx, acme.json",
        "mail billing report 2026-10 to client beta (ap@beta.example, ceo@beta.example): "
        "beta.html, beta.csv, beta.xlsx, beta.json",
    ]


def test_attachments_have_their_mime_types(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    server = serve()
    send(config(server.port), Effects(store), reports)
    (acme,) = server.handler.to("ap@acme.example")
    types = {
        part.get_filename(): (part.get_content_type(), part.get_param("charset"))
        for part in acme.message.iter_attachments()
    }
    assert types == {
        "acme.html": ("text/html", "utf-8"),
        "acme.csv": ("text/csv", "utf-8"),
        "acme.xlsx": (XLSX, None),
        "acme.json": ("application/json", None),
    }
    for part in acme.message.iter_attachments():
        assert part.get_content_disposition() == "attachment"


def test_same_file_names_are_told_apart_in_the_managers_message(
    serve: Callable[..., Server], store: Store, tmp_path: Path
) -> None:
    files = {}
    for cid in ("acme", "beta"):
        (tmp_path / cid).mkdir()
        files[cid] = tmp_path / cid / "invoice.html"
        files[cid].write_text(f"<p>{cid}</p>", encoding="utf-8")
    (tmp_path / "summary.html").write_text("<p>all</p>", encoding="utf-8")
    server = serve()
    send_reports(
        config(server.port),
        Effects(store),
        kind="billing",
        month=MONTH,
        studio="Studio",
        client_files={
            "acme": ("ap@acme.example", [files["acme"]]),
            "beta": (None, [files["beta"]]),
        },
        summary_files=[tmp_path / "summary.html"],
    )
    (boss,) = server.handler.to(MANAGER)
    assert boss.attachments() == {
        "summary.html": b"<p>all</p>",
        "acme-invoice.html": b"<p>acme</p>",
        "beta-invoice.html": b"<p>beta</p>",
    }
    (acme,) = server.handler.to("ap@acme.example")
    assert acme.attachments() == {"invoice.html": b"<p>acme</p>"}


# ====================================================================== once
def test_second_run_sends_nothing(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    server = serve()
    mail = config(server.port)
    assert send(mail, Effects(store), reports) == ALL_KEYS
    lines: list[str] = []
    fx = Effects(store, announce=lines.append)
    assert send(mail, fx, reports) == []
    assert len(server.received) == 3
    assert lines == [] and fx.performed == []


def test_second_run_sends_nothing_even_without_a_server(
    store: Store, reports: Reports, serve: Callable[..., Server]
) -> None:
    server = serve()
    send(config(server.port), Effects(store), reports)
    assert send(config(free_port()), Effects(store), reports) == []  # no connection attempted


def test_dry_run_sends_nothing_and_announces_each_message(
    store: Store, reports: Reports, serve: Callable[..., Server]
) -> None:
    lines: list[str] = []
    fx = Effects(store, dry_run=True, announce=lines.append)
    # Nothing listens on that port: a dry run never connects.
    keys = send(config(free_port(), username="billing", password_env="UNSET_VAR"), fx, reports)
    assert keys == ALL_KEYS
    assert journal(store) == {}
    assert lines == [
        "would mail billing report 2026-10 to the manager (boss@studio.example): "
        + ", ".join(reports.everything()),
        "would mail billing report 2026-10 to client acme (ap@acme.example): "
        "acme.html, acme.csv, acme.xlsx, acme.json",
        "would mail billing report 2026-10 to client beta (ap@beta.example, ceo@beta.example): "
        "beta.html, beta.csv, beta.xlsx, beta.json",
    ]
    # After a real run, a dry run has nothing left to announce.
    server = serve()
    send(config(server.port), Effects(store), reports)
    lines.clear()
    assert (
        send(config(server.port), Effects(store, dry_run=True, announce=lines.append), reports)
        == []
    )
    assert lines == []


# ====================================================================== SMTP errors
def test_temporary_refusal_is_retryable_and_the_next_call_sends_it(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    handler = Handler(data_replies={"ap@acme.example": "451 4.3.0 Try again later"}, once=True)
    server = serve(handler)
    mail = config(server.port)

    error = failed(lambda: send(mail, Effects(store), reports))
    assert isinstance(error, ConnectorError) and error.retryable
    assert list(error.failures) == [KEY_ACME]
    assert error.failures[KEY_ACME].status == 451 and error.failures[KEY_ACME].retryable
    assert error.sent == [KEY_MANAGER, KEY_BETA]  # the others went out
    assert "127.0.0.1" in str(error) and "ap@acme.example" in str(error) and "451" in str(error)
    assert journal(store) == {KEY_MANAGER: "done", KEY_BETA: "done"}  # acme: certainly unsent

    assert send(mail, Effects(store), reports) == [KEY_ACME]
    assert len(server.handler.to("ap@acme.example")) == 1
    assert len(server.received) == 3
    assert journal(store) == dict.fromkeys(ALL_KEYS, "done")


def test_permanent_refusal_is_not_retryable(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    reply = "550 5.1.1 <ap@acme.example>: Recipient address rejected: no such user"
    server = serve(Handler(rcpt_replies={"ap@acme.example": reply}))
    error = failed(lambda: send(config(server.port), Effects(store), reports))
    assert not error.retryable
    assert error.failures[KEY_ACME].status == 550
    assert "550" in str(error) and "127.0.0.1" in str(error) and "ap@acme.example" in str(error)
    assert error.sent == [KEY_MANAGER, KEY_BETA]
    assert journal(store) == {KEY_MANAGER: "done", KEY_BETA: "done"}


def test_permanent_refusal_of_the_message_data(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    handler = Handler(data_replies={MANAGER: "554 5.7.1 Message rejected as spam"})
    server = serve(handler)
    error = failed(lambda: send(config(server.port), Effects(store), reports))
    assert not error.retryable and list(error.failures) == [KEY_MANAGER]
    assert "554" in str(error) and MANAGER in str(error)
    assert journal(store) == {KEY_ACME: "done", KEY_BETA: "done"}


def test_service_closing_reconnects_for_the_next_message(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    handler = Handler(data_replies={"ap@acme.example": "421 4.3.2 Service shutting down"})
    server = serve(handler)
    error = failed(lambda: send(config(server.port), Effects(store), reports))
    assert error.retryable and list(error.failures) == [KEY_ACME]
    assert error.sent == [KEY_MANAGER, KEY_BETA]  # beta went out over a new connection
    assert len(server.handler.to("ap@beta.example")) == 1


def test_one_refused_address_of_several_still_delivers_to_the_rest(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    server = serve(Handler(rcpt_replies={"ceo@beta.example": "550 5.1.1 no such user"}))
    with capture_logs() as logs:
        assert send(config(server.port), Effects(store), reports) == ALL_KEYS
    (beta,) = server.handler.to("ap@beta.example")
    assert beta.rcpt_tos == ["ap@beta.example"]
    (warning,) = [e for e in logs if e["event"] == "mail_recipients_refused"]
    assert warning["key"] == KEY_BETA and "ceo@beta.example" in warning["refused"]


def test_server_down_is_retryable_and_leaves_no_pending_rows(
    store: Store, reports: Reports
) -> None:
    port = free_port()
    error = failed(lambda: send(config(port, timeout=2.0), Effects(store), reports))
    assert error.retryable
    assert set(error.failures) == set(ALL_KEYS)
    assert f"127.0.0.1:{port}" in str(error)
    assert journal(store) == {}


def test_message_over_the_servers_size_limit_is_refused_before_sending(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    server = serve(data_size_limit=2000)
    error = failed(lambda: send(config(server.port), Effects(store), reports))
    assert not error.retryable and set(error.failures) == set(ALL_KEYS)
    assert "at most" in str(error)
    assert server.received == [] and journal(store) == {}


def test_malformed_client_address_fails_that_client_only(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    reports.clients["acme"] = ("accounts at acme", reports.clients["acme"][1])
    server = serve()
    error = failed(lambda: send(config(server.port), Effects(store), reports))
    assert not error.retryable and list(error.failures) == [KEY_ACME]
    assert "client acme: email" in str(error)
    assert journal(store) == {KEY_MANAGER: "done", KEY_BETA: "done"}


# ====================================================================== interrupted sends
def test_interrupted_send_is_resent_with_the_same_message_id(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    server = serve()
    # A daemon killed between the pending row and the journal commit, longer ago than the
    # SMTP timeout: the message may or may not have gone out. It is sent (again).
    store.begin_effect(KEY_ACME, "mail", ticket_id=None, issue_id=None, detail={})
    backdate(store, KEY_ACME, seconds=60)
    with capture_logs() as logs:
        assert send(config(server.port), Effects(store), reports) == ALL_KEYS
    (acme,) = server.handler.to("ap@acme.example")
    assert acme.message["Message-ID"] == "<syncd.billing.2026-10.client.acme@studio.example>"
    assert any(e["event"] == "mail_interrupted_resending" for e in logs)
    assert journal(store) == dict.fromkeys(ALL_KEYS, "done")


def test_recently_interrupted_send_waits_for_the_timeout(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    server = serve()
    store.begin_effect(KEY_ACME, "mail", ticket_id=None, issue_id=None, detail={})
    error = failed(lambda: send(config(server.port, timeout=30.0), Effects(store), reports))
    assert error.retryable and isinstance(error.failures[KEY_ACME], NotSettled)
    assert server.handler.to("ap@acme.example") == []
    assert journal(store)[KEY_ACME] == "pending"


def test_a_pending_row_survives_a_failed_connection(store: Store, reports: Reports) -> None:
    store.begin_effect(KEY_ACME, "mail", ticket_id=None, issue_id=None, detail={})
    backdate(store, KEY_ACME, seconds=60)
    failed(lambda: send(config(free_port(), timeout=2.0), Effects(store), reports))
    assert journal(store) == {KEY_ACME: "pending"}  # still "maybe sent", not forgotten


def test_connection_lost_during_data_stays_pending_then_resends(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    """The reply to DATA never comes (the server is slow): the server did take the message,
    the client can't know. It stays pending (the remaining messages wait for the next call);
    once the timeout has passed it is sent again with the same Message-ID: the recognisable
    duplicate the design accepts rather than risk an invoice never sent."""
    handler = Handler(data_delay=1.5)
    server = serve(handler)
    mail = config(server.port, timeout=0.5)

    error = failed(lambda: send(mail, Effects(store), reports))
    assert error.retryable
    assert journal(store) == {KEY_MANAGER: "pending"}  # the rest was not attempted
    assert "timed out" in str(error.failures[KEY_MANAGER])
    assert len(server.handler.to(MANAGER)) == 1  # it did land

    handler.data_delay = 0
    backdate(store, KEY_MANAGER, seconds=5)  # older than the timeout (0.5 s): settled
    assert send(mail, Effects(store), reports) == ALL_KEYS
    first, second = server.handler.to(MANAGER)
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert first.attachments() == second.attachments()


# ====================================================================== login and TLS
@NO_TLS_WARNING
def test_login_with_the_password_from_the_environment(
    serve: Callable[..., Server], store: Store, reports: Reports
) -> None:
    server = serve(auth_required=True, auth_require_tls=False, authenticator=password_check())
    mail = config(server.port, username="billing", password_env=PASSWORD_ENV)
    assert send(mail, Effects(store), reports) == ALL_KEYS
    assert PASSWORD in slog._SECRETS  # masked in every log line from now on


@NO_TLS_WARNING
@pytest.mark.parametrize("echo", [False, True], ids=["plain-535", "server-echoes-password"])
def test_refused_login_is_not_retryable_and_never_shows_the_password(
    serve: Callable[..., Server],
    store: Store,
    reports: Reports,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    echo: bool,
) -> None:
    wrong = "wrong-PASSWORD-9876"
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    server = serve(
        auth_required=True, auth_require_tls=False, authenticator=password_check(echo=echo)
    )
    mail = config(server.port, username="billing", password_env=PASSWORD_ENV)
    lines: list[str] = []
    with capture_logs() as logs:
        error = failed(lambda: send(mail, Effects(store, announce=lines.append), reports))
    assert not error.retryable and "535" in str(error)
    assert "login as 'billing' refused" in str(error) and f"127.0.0.1:{server.port}" in str(error)
    assert set(error.failures) == set(ALL_KEYS) and journal(store) == {}
    everything = "\n".join(
        [
            str(error),
            repr(error),
            *(str(e) + repr(e) for e in error.failures.values()),
            repr(error.__cause__),
            repr(logs),
            caplog.text,
            *lines,
            repr(store._all("SELECT * FROM effects")),
        ]
    )
    for secret in (wrong, base64.b64encode(wrong.encode()).decode()):
        assert secret not in everything


def test_missing_password_is_a_clear_not_retryable_error(
    store: Store, reports: Reports, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    mail = config(free_port(), username="billing", password_env=PASSWORD_ENV)
    error = failed(lambda: send(mail, Effects(store), reports))
    assert not error.retryable and f"environment variable {PASSWORD_ENV}" in str(error)
    assert f"[mail] password_env: environment variable {PASSWORD_ENV}" in str(error)
    assert journal(store) == {}


def test_starttls_with_login(
    serve: Callable[..., Server],
    store: Store,
    reports: Reports,
    certificate: tuple[Path, Path],
) -> None:
    server = serve(
        tls_context=server_tls(certificate),
        require_starttls=True,
        auth_required=True,  # and only over TLS: aiosmtpd's default
        authenticator=password_check(),
    )
    mail = config(
        server.port,
        starttls=True,
        ca_file=str(certificate[0]),
        username="billing",
        password_env=PASSWORD_ENV,
    )
    assert send(mail, Effects(store), reports) == ALL_KEYS
    assert len(server.received) == 3


def test_untrusted_certificate_is_not_retryable(
    serve: Callable[..., Server],
    store: Store,
    reports: Reports,
    certificate: tuple[Path, Path],
) -> None:
    server = serve(tls_context=server_tls(certificate), require_starttls=True)
    error = failed(lambda: send(config(server.port, starttls=True), Effects(store), reports))
    assert not error.retryable and "not trusted" in str(error)
    assert server.received == [] and journal(store) == {}


def test_implicit_tls(
    serve: Callable[..., Server],
    store: Store,
    reports: Reports,
    certificate: tuple[Path, Path],
) -> None:
    server = serve(ssl_context=server_tls(certificate))
    mail = config(server.port, ssl=True, ca_file=str(certificate[0]))
    assert send(mail, Effects(store), reports) == ALL_KEYS
    assert len(server.received) == 3


# ====================================================================== [mail] in the config
MAIL = """\
[mail]
host = "smtp.studio.example"
sender = "Studio <billing@studio.example>"
manager = ["Boss <boss@studio.example>", "accounting@studio.example"]
"""


def parse(tmp_path: Path, text: str) -> MailConfig | None:
    path = tmp_path / "conf" / "syncd.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return parse_mail(path, tomllib.loads(text).get("mail"), _Reader)


def parse_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(tmp_path, text)
    return str(info.value)


def test_no_mail_section_is_none(tmp_path: Path) -> None:
    assert parse(tmp_path, "[sync]\nlanguage = 'en'\n") is None


def test_defaults(tmp_path: Path) -> None:
    mail = parse(tmp_path, MAIL)
    assert mail == MailConfig(
        host="smtp.studio.example",
        port=587,
        starttls=True,
        ssl=False,
        username=None,
        password_env=None,
        password_file=None,
        sender="Studio <billing@studio.example>",
        manager=("Boss <boss@studio.example>", "accounting@studio.example"),
        subject_template="{studio} — {kind} report {month}: {client}",
        timeout=30.0,
    )
    assert mail.sender_domain == "studio.example"
    assert mail.password() is None


def test_ssl_login_and_password_file(tmp_path: Path) -> None:
    text = MAIL + 'ssl = true\nusername = "billing"\npassword_file = "smtp.secret"\n'
    mail = parse(tmp_path, text)
    assert mail is not None
    assert (mail.port, mail.ssl, mail.starttls) == (465, True, False)
    assert mail.password_file == str(tmp_path / "conf" / "smtp.secret")
    (tmp_path / "conf" / "smtp.secret").write_text(PASSWORD + "\n")
    assert mail.password() == PASSWORD
    assert PASSWORD in slog._SECRETS


def test_password_from_the_environment(tmp_path: Path) -> None:
    mail = parse(tmp_path, MAIL + f'username = "billing"\npassword_env = "{PASSWORD_ENV}"\n')
    assert mail is not None and mail.password() == PASSWORD


def test_manager_may_be_one_string(tmp_path: Path) -> None:
    text = MAIL.replace(
        'manager = ["Boss <boss@studio.example>", "accounting@studio.example"]',
        'manager = "boss@studio.example"',
    )
    mail = parse(tmp_path, text)
    assert mail is not None and mail.manager == ("boss@studio.example",)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ('password = "hunter22"', "[mail] password: secrets don't belong in the config file"),
        ('hots = "x"', "[mail] hots: is not a [mail] setting"),
        ("port = 0", "[mail] port: must be a port number"),
        ('port = "587"', "[mail] port: must be an integer, got str '587'"),
        ("timeout = 0", "[mail] timeout: must be greater than 0"),
        ("starttls = 1", "[mail] starttls: must be true or false"),
        ("ssl = true\nstarttls = true", "[mail] starttls: ssl = true already encrypts"),
        ('username = "billing"', "[mail] password_env: is required with username"),
        ('password_env = "X"', "[mail] username: is required when password_env"),
        (
            'username = "billing"\npassword_env = "X"\nstarttls = false',
            "[mail] starttls: is false: the password would cross the network",
        ),
        (
            'subject_template = "{studio} {invoice}"',
            "[mail] subject_template: unknown placeholder {invoice}",
        ),
        ('subject_template = "{files}"', "[mail] subject_template: unknown placeholder {files}"),
        ('body_template = "{client.name}"', "[mail] body_template: unknown placeholder"),
        ('subject_template = "{month"', "[mail] subject_template: is not a valid template"),
        ('ca_file = "nowhere.pem"', "[mail] ca_file: "),
    ],
)
def test_errors_name_the_key(tmp_path: Path, change: str, expected: str) -> None:
    message = parse_error(tmp_path, MAIL + change + "\n")
    assert message.startswith(f"{tmp_path / 'conf' / 'syncd.toml'}: ")
    assert expected in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("host", None, "[mail] host: is required"),
        ("host", '"  "', "[mail] host: must not be empty"),
        ("sender", None, "[mail] sender: is required"),
        ("sender", '"billing"', "[mail] sender: 'billing' is not an e-mail address"),
        (
            "sender",
            '"a@x.example, b@x.example"',
            "[mail] sender: 'a@x.example, b@x.example' must be one address",
        ),
        ("sender", '"Studio <billing@studio.example>\\nBcc: x@evil.example"', "[mail] sender: "),
        ("manager", None, "[mail] manager: is required"),
        ("manager", "[]", "[mail] manager: must be a non-empty list of addresses"),
        (
            "manager",
            '["boss at studio"]',
            "[mail] manager: 'boss at studio' is not an e-mail address",
        ),
        ("manager", "[1]", "[mail] manager: must be a non-empty list of addresses"),
    ],
)
def test_required_and_malformed_addresses(
    tmp_path: Path, key: str, value: str | None, expected: str
) -> None:
    lines = [line for line in MAIL.splitlines() if not line.startswith(f"{key} =")]
    if value is not None:
        lines.append(f"{key} = {value}")
    assert expected in parse_error(tmp_path, "\n".join(lines) + "\n")


def test_mail_must_be_a_table(tmp_path: Path) -> None:
    assert "must be a table" in parse_error(tmp_path, 'mail = "smtp.studio.example"\n')
