"""Mailing the monthly reports: the [mail] section of the config, and one message per recipient.

On the 1st the manager gets the summary and every client's report in one message; each client
with an `email` gets its own report only. Every message is one effect (syncd.effects), keyed
`mail:{kind}:{month}:manager` or `mail:{kind}:{month}:client:{id}`: a message that is journaled
done is never sent again, whatever restarts, retries and partial failures come between.

    [mail]
    host = "smtp.studio.example"
    port = 587                       # default 587; 465 with ssl = true
    starttls = true                  # default true (false when ssl = true)
    ssl = false                      # implicit TLS (port 465)
    username = "billing@studio.example"
    password_env = "SYNCD_SMTP_PASSWORD"   # or password_file; never the password itself
    sender = "Studio <billing@studio.example>"
    manager = ["Boss <boss@studio.example>", "accounting@studio.example"]
    subject_template = "{studio} — {kind} report {month}: {client}"
    body_template = "..."            # {studio} {kind} {month} {client} {files}
    timeout = 30                     # seconds, per SMTP command
    ca_file = "certs/relay-ca.pem"   # optional: trust this CA (an in-house relay)

A client's `email` may hold several addresses ("ap@acme.example, ceo@acme.example"): they get
one message together.

Whether a message landed cannot be asked of an SMTP server afterwards, so an interrupted send
is re-sent; see `_verify` for why, and the deterministic Message-ID that makes such a rare
duplicate recognisable.
"""

from __future__ import annotations

import base64
import contextlib
import mimetypes
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from connectors.base import ConnectorError
from syncd.logging import register_secret

if TYPE_CHECKING:
    from syncd.config import _Reader
    from syncd.effects import Effects

log = structlog.get_logger("syncd.mail")

DEFAULT_SUBJECT = "{studio} — {kind} report {month}: {client}"
DEFAULT_BODY = "{studio} — {kind} report {month}: {client}.\n\nAttached:\n{files}\n"
MANAGER_LABEL = "all clients"  # {client} in the manager's subject and body
EFFECT_KIND = "mail"

MIME_TYPES = {
    ".html": ("text", "html", "utf-8"),
    ".htm": ("text", "html", "utf-8"),
    ".csv": ("text", "csv", "utf-8"),
    ".txt": ("text", "plain", "utf-8"),
    ".json": ("application", "json", None),
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet", None),
    ".pdf": ("application", "pdf", None),
}
KEYS = (
    "host",
    "port",
    "starttls",
    "ssl",
    "username",
    "password_env",
    "password_file",
    "sender",
    "manager",
    "subject_template",
    "body_template",
    "timeout",
    "ca_file",
)
_PLACEHOLDERS = {"studio": "Studio", "kind": "billing", "month": "2026-10", "client": "acme"}
_ADDR_SPEC = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class MailConfig:
    host: str
    sender: str  # "Studio <billing@studio.example>"
    manager: tuple[str, ...]  # addresses, each may carry a display name
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    subject_template: str = DEFAULT_SUBJECT
    body_template: str = DEFAULT_BODY
    timeout: float = 30.0
    ca_file: str | None = None
    source: str = field(default="", compare=False)  # the config file, for error messages

    @property
    def sender_address(self) -> str:
        return parse_addresses(self.sender)[0][1]

    @property
    def sender_domain(self) -> str:
        return self.sender_address.rpartition("@")[2]

    def password(self) -> str | None:
        """The SMTP password (None without a username), registered to be masked in logs.
        Raises ConfigError when the variable or file is empty or missing."""
        if not self.username:
            return None
        from syncd.config import _secret  # not at the top: syncd.config imports this module

        value = _secret(
            "mail", self.password_env, self.password_file, source=self.source, key="password"
        )
        register_secret(value)
        return value


# ====================================================================== config
def parse_mail(path: Any, raw_table: Any, reader_cls: type[_Reader]) -> MailConfig | None:
    """The [mail] section (`raw_table`, None when the file has none) as a MailConfig."""
    if raw_table is None:
        return None
    m = reader_cls(path, "mail", raw_table)
    if "password" in m.table:
        m.fail(
            "password",
            "secrets don't belong in the config file; use password_env or password_file",
        )
    for key in m.table:
        if key not in KEYS:
            m.fail(key, f"is not a [mail] setting (known: {', '.join(KEYS)})")
    base = Path(path).resolve().parent

    host = m.get("host", str, check=_nonempty).strip()
    use_ssl = m.get("ssl", bool, False)
    starttls = m.get("starttls", bool, not use_ssl)
    if use_ssl and starttls:
        m.fail("starttls", "ssl = true already encrypts the connection; leave starttls out")
    port = m.get(
        "port",
        int,
        465 if use_ssl else 587,
        check=lambda v: None if 0 < v < 65536 else "must be a port number, 1 to 65535",
    )
    username = m.get("username", str, None, check=_nonempty)
    password_env = m.get("password_env", str, None, check=_nonempty)
    password_file = m.get("password_file", str, None, check=_nonempty)
    if username and not (password_env or password_file):
        m.fail(
            "password_env",
            "is required with username (or password_file): the variable holding the password",
        )
    if (password_env or password_file) and not username:
        m.fail("username", "is required when password_env or password_file is set")
    if username and not (use_ssl or starttls) and host not in _LOOPBACK:
        m.fail(
            "starttls",
            f"is false: the password would cross the network to {host} unencrypted; "
            "set starttls = true or ssl = true",
        )

    sender = m.get("sender", str, check=_one_address)
    manager = m.get("manager", (list, str))
    entries = [manager] if isinstance(manager, str) else manager
    if not entries or any(not isinstance(e, str) for e in entries):
        m.fail("manager", "must be a non-empty list of addresses")
    addresses: list[str] = []
    for entry in entries:
        problem = address_problem(entry)
        if problem:
            m.fail("manager", problem)
        addresses.extend(format_address(pair) for pair in parse_addresses(entry))

    return MailConfig(
        host=host,
        port=port,
        starttls=starttls,
        ssl=use_ssl,
        username=username,
        password_env=password_env,
        password_file=None if password_file is None else str(_resolve(base, password_file)),
        sender=sender,
        manager=tuple(addresses),
        subject_template=m.get("subject_template", str, DEFAULT_SUBJECT, check=_template),
        body_template=m.get(
            "body_template", str, DEFAULT_BODY, check=lambda v: _template(v, files="x")
        ),
        timeout=float(
            m.get(
                "timeout",
                (int, float),
                30,
                check=lambda v: None if v > 0 else "must be greater than 0",
            )
        ),
        ca_file=_ca_file(m, base),
        source=str(path),
    )


def _ca_file(m: _Reader, base: Path) -> str | None:
    value = m.get("ca_file", str, None, check=_nonempty)
    if value is None:
        return None
    resolved = _resolve(base, value)
    if not resolved.is_file():
        m.fail("ca_file", f"{str(resolved)!r} is not a file")
    return str(resolved)


def _nonempty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _template(value: str, **extra: str) -> str | None:
    try:
        value.format(**_PLACEHOLDERS, **extra)
    except (KeyError, IndexError, AttributeError) as e:
        names = ", ".join("{" + k + "}" for k in [*_PLACEHOLDERS, *extra])
        what = f"{{{e.args[0]}}}" if isinstance(e, KeyError) else f"in {value!r}"
        return f"unknown placeholder {what}; the placeholders are {names}"
    except ValueError as e:
        return f"is not a valid template ({e}); write a literal brace as {{{{ or }}}}"
    return None


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def parse_addresses(text: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of a header-like list: "A <a@x.example>, b@y.example"."""
    return [(name, addr) for name, addr in getaddresses([text]) if name or addr]


def format_address(pair: tuple[str, str]) -> str:
    """ "Name <addr>", quoted where needed, the name left readable (non-ASCII included)."""
    name, addr = pair
    return str(Address(display_name=name, addr_spec=addr)) if name else addr


def address_problem(text: str) -> str | None:
    """Why `text` is not a list of e-mail addresses ("A <a@x.example>, b@y.example"), or None.
    Usable for [[clients]] email at config time."""
    if "\r" in text or "\n" in text:
        return f"{text!r} must not contain a line break"
    pairs = parse_addresses(text)
    bad = [addr for _name, addr in pairs if not _ADDR_SPEC.fullmatch(addr)]
    if not pairs or bad:
        return f"{text!r} is not an e-mail address like 'Name <name@example.com>'"
    return None


def _one_address(text: str) -> str | None:
    problem = address_problem(text)
    if problem is None and len(parse_addresses(text)) != 1:
        return f"{text!r} must be one address"
    return problem


# ====================================================================== errors
class MailError(ConnectorError):
    """Some messages of a send_reports call were not sent (the others were, and are journaled
    done). `failures`: effect key -> its ConnectorError; `sent`: the keys done in this call.
    Retryable when any failure is: calling send_reports again sends only what is missing."""

    def __init__(
        self,
        failures: dict[str, ConnectorError],
        sent: list[str],
        who: dict[str, str] | None = None,
    ) -> None:
        reasons: dict[str, list[str]] = {}
        for key, error in failures.items():
            reasons.setdefault(str(error), []).append((who or {}).get(key, key))
        text = "; ".join(f"{reason} [to {', '.join(keys)}]" for reason, keys in reasons.items())
        super().__init__(
            f"{len(failures)} report mail(s) not sent: {text}",
            retryable=any(e.retryable for e in failures.values()),
        )
        self.failures = failures
        self.sent = sent


class SmtpError(ConnectorError):
    """One SMTP failure. `status` is the SMTP reply code when the server gave one.
    `maybe_sent`: the connection broke after the message's data went out, so it may have been
    accepted; otherwise it certainly was not. `fatal`: the connection is unusable."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        maybe_sent: bool = False,
        fatal: bool = False,
    ) -> None:
        super().__init__(message, retryable=retryable, status=status)
        self.maybe_sent = maybe_sent
        self.fatal = fatal
        self.attempted = False  # raised inside the effect (its pending row is this call's)


# ====================================================================== sending
@dataclass(frozen=True)
class _Outgoing:
    key: str
    role: str  # "manager" or "client:acme"
    label: str  # {client} in the templates
    to: tuple[tuple[str, str], ...]  # (display name, address)
    files: tuple[tuple[str, Path], ...]  # (attachment name, file)
    problem: str | None = None  # why it can't be sent (a malformed client address)

    @property
    def who(self) -> str:
        whom = "the manager" if self.role == "manager" else f"client {self.role[7:]}"
        return f"{whom} ({', '.join(addr for _name, addr in self.to)})"


def send_reports(
    mail: MailConfig,
    effects: Effects,
    *,
    kind: str,
    month: str,
    studio: str,
    client_files: dict[str, tuple[str | None, list[Path]]],
    summary_files: list[Path],
    client_names: dict[str, str] | None = None,
) -> list[str]:
    """Mail a month's reports: the manager gets the summary and every client's files in one
    message; each client with an e-mail gets its own files only. A client without an e-mail,
    or without files, gets nothing.

    Returns the effect keys sent in this call (in a dry run: that would be sent); a message
    journaled done earlier is skipped silently. When some messages fail, the others are still
    sent and MailError (a ConnectorError) lists the failed keys; the next call sends only those.
    `client_names` (id -> name) puts names instead of ids into subjects and bodies."""
    names = client_names or {}
    outgoing = _plan(mail, kind, month, client_files, summary_files, names)
    todo = [o for o in outgoing if (effects.store.effect(o.key) or {}).get("status") != "done"]
    sent: list[str] = []
    failures: dict[str, ConnectorError] = {}
    smtp = _Smtp(mail)
    try:
        for o in todo:
            if o.problem:
                failures[o.key] = ConnectorError(o.problem, retryable=False)
                continue
            if smtp.broken is not None:  # the connection failed: the rest waits for next time
                failures[o.key] = smtp.broken
                continue
            try:
                _send_one(mail, effects, smtp, o, kind=kind, month=month, studio=studio)
            except SmtpError as e:
                if e.attempted and not e.maybe_sent:
                    # The server said no, or nothing reached it: certainly not sent. (A
                    # pending row left by an earlier, interrupted call is not ours to drop.)
                    effects.store.drop_effect(o.key)
                failures[o.key] = e
            except ConnectorError as e:  # NotSettled: an interrupted send, not old enough
                failures[o.key] = e
            else:
                sent.append(o.key)
    finally:
        smtp.close()
    if failures:
        for key, error in failures.items():
            log.error("mail_failed", key=key, reason=str(error), retryable=error.retryable)
        who = {o.key: o.who for o in outgoing}
        raise MailError(failures, sent, who) from next(iter(failures.values()))
    return sent


def _send_one(
    mail: MailConfig,
    effects: Effects,
    smtp: _Smtp,
    o: _Outgoing,
    *,
    kind: str,
    month: str,
    studio: str,
) -> None:
    message_id = _message_id(mail, kind, month, o.role)
    describe = f"mail {kind} report {month} to {o.who}: {', '.join(name for name, _ in o.files)}"
    message: EmailMessage | None = None
    if not effects.dry_run:
        message = _message(mail, o, kind=kind, month=month, studio=studio, message_id=message_id)
        smtp.open()  # outside the effect: a refused connection or login leaves no pending row

    def do() -> str:
        assert message is not None
        try:
            smtp.send(message, o)
        except SmtpError as e:
            e.attempted = True
            raise
        return message_id

    effects.run(
        o.key,
        EFFECT_KIND,
        describe=describe,
        do=do,
        verify=lambda: _verify(o.key, message_id),
        detail={
            "describe": describe,
            "message_id": message_id,
            "to": [addr for _name, addr in o.to],
            "files": [name for name, _ in o.files],
        },
        settle=mail.timeout,
    )


def _verify(key: str, message_id: str) -> None:
    """A send that was interrupted (kill -9 or a lost connection while the message's data
    was going out or its reply awaited) left the effect pending. An SMTP server cannot be
    asked afterwards whether it accepted a message, so there is nothing to look up: this
    decides, and it decides "not sent" (None), so the message goes out again.

    Why re-send rather than assume delivered: an invoice that silently never reached the
    client costs the studio its money and is noticed weeks later, if at all; a duplicate is
    noticed at once and costs nothing, and it is the same message (subject, body, the very
    same attached files) with the same deterministic Message-ID
    (`<syncd.{kind}.{month}.{role}@{sender domain}>`), which many mail clients and archives
    fold into one and which any person or filter can recognise.
    The window is narrow: the pending row is committed just before MAIL FROM; a failure in
    MAIL or RCPT, or any reply code the server gives, is certain and drops the row (no
    re-send question), so only a crash or a broken connection between the end of DATA and the
    journal commit can duplicate. Effects waits `settle` (the SMTP timeout) before asking,
    like every other effect; and the warning below leaves a trace of each such re-send."""
    log.warning("mail_interrupted_resending", key=key, message_id=message_id)
    return None


def _plan(
    mail: MailConfig,
    kind: str,
    month: str,
    client_files: dict[str, tuple[str | None, list[Path]]],
    summary_files: list[Path],
    names: dict[str, str],
) -> list[_Outgoing]:
    prefix = f"mail:{kind}:{month}"
    manager_files: list[tuple[str, Path, str | None]] = [(p.name, p, None) for p in summary_files]
    for cid, (_email, files) in sorted(client_files.items()):
        manager_files.extend((p.name, p, cid) for p in files)
    out = []
    if manager_files:
        manager = tuple(pair for entry in mail.manager for pair in parse_addresses(entry))
        out.append(
            _Outgoing(
                key=f"{prefix}:manager",
                role="manager",
                label=MANAGER_LABEL,
                to=manager,
                files=_unique_names(manager_files),
            )
        )
    for cid, (email, files) in sorted(client_files.items()):
        if not email or not files:
            continue
        problem = address_problem(email)
        out.append(
            _Outgoing(
                key=f"{prefix}:client:{cid}",
                role=f"client:{cid}",
                label=names.get(cid, cid),
                to=() if problem else tuple(parse_addresses(email)),
                files=_unique_names([(p.name, p, None) for p in files]),
                problem=f"client {cid}: email {problem}" if problem else None,
            )
        )
    return out


def _unique_names(files: list[tuple[str, Path, str | None]]) -> tuple[tuple[str, Path], ...]:
    """Attachment names, unique within a message: a client's file whose name is taken (every
    client's report named invoice.html) becomes "acme-invoice.html"."""
    seen = [name for name, _path, _cid in files]
    out: list[tuple[str, Path]] = []
    used: set[str] = set()
    for name, path, cid in files:
        if cid is not None and (seen.count(name) > 1 or name in used):
            name = f"{cid}-{name}"
        if name in used:
            raise ValueError(f"two attachments named {name!r} in one message ({path})")
        used.add(name)
        out.append((name, path))
    return tuple(out)


def _message_id(mail: MailConfig, kind: str, month: str, role: str) -> str:
    parts = [_atom(kind), _atom(month), *(_atom(p) for p in role.split(":", 1))]
    return f"<syncd.{'.'.join(parts)}@{mail.sender_domain}>"


def _atom(text: str) -> str:
    """An injective spelling of any text with the characters a Message-ID may hold."""
    return "".join(
        chr(b) if b < 128 and (chr(b).isalnum() or chr(b) in "-_") else f"={b:02X}"
        for b in text.encode()
    )


def _message(
    mail: MailConfig, o: _Outgoing, *, kind: str, month: str, studio: str, message_id: str
) -> EmailMessage:
    values = {"studio": studio, "kind": kind, "month": month, "client": o.label}
    attachments: list[tuple[str, bytes, tuple[str, str, str | None]]] = []
    for name, path in o.files:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise SmtpError(
                f"mail to {o.who}: cannot read {path}: {e.strerror}", retryable=False
            ) from None
        attachments.append((name, data, _mime_type(name)))
    listing = "\n".join(f"  - {name} ({_size(len(data))})" for name, data, _ in attachments)

    msg = EmailMessage()
    msg["From"] = mail.sender
    msg["To"] = ", ".join(format_address(pair) for pair in o.to)
    msg["Subject"] = mail.subject_template.format(**values)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies back
    msg["X-Syncd-Key"] = o.key
    # A plain-text body listing the files; the reports themselves are attachments, byte for
    # byte what was archived. The HTML report is deliberately not the body: webmail strips
    # its <style>, and an invoice that looks different in the mail than in the attached file
    # invites questions.
    msg.set_content(mail.body_template.format(**values, files=listing), charset="utf-8")
    for name, data, (maintype, subtype, charset) in attachments:
        msg.add_attachment(
            data,
            maintype=maintype,
            subtype=subtype,
            filename=name,
            params={"charset": charset} if charset else {},
        )
    return msg


def _mime_type(name: str) -> tuple[str, str, str | None]:
    suffix = Path(name).suffix.lower()
    if suffix in MIME_TYPES:
        return MIME_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name)
    maintype, _, subtype = (guessed or "application/octet-stream").partition("/")
    return maintype, subtype, None


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024**2:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024**2:.1f} MB"


class _Smtp:
    """One SMTP connection for all the messages of a send_reports call, opened when the first
    message is due. A failure of the connection itself (refused, TLS, login, timeout, drop)
    is kept in `broken`: the remaining messages wait for the next call instead of each
    waiting out the timeout again."""

    def __init__(self, mail: MailConfig) -> None:
        self.mail = mail
        self.conn: smtplib.SMTP | None = None
        self.broken: SmtpError | None = None
        self._password: str | None = None

    def open(self) -> None:
        if self.conn is not None:
            return
        m = self.mail
        where = f"SMTP {m.host}:{m.port}"
        try:
            self._password = m.password()
        except Exception as e:  # ConfigError: the variable or file is missing
            self.broken = SmtpError(f"{where}: {e}", retryable=False, fatal=True)
            raise self.broken from None
        conn: smtplib.SMTP | None = None
        try:
            context = ssl.create_default_context(cafile=m.ca_file)
            if m.ssl:
                conn = smtplib.SMTP_SSL(m.host, m.port, timeout=m.timeout, context=context)
            else:
                conn = smtplib.SMTP(m.host, m.port, timeout=m.timeout)
            conn.ehlo()
            if m.starttls:
                conn.starttls(context=context)
                conn.ehlo()
            if m.username:
                conn.login(m.username, self._password or "")
        except Exception as e:
            _close(conn)
            self.broken = self._error(e, f"{where}", stage="connect")
            raise self.broken from None
        self.conn = conn

    def send(self, message: EmailMessage, o: _Outgoing) -> None:
        """MAIL, RCPT, DATA by hand: only a failure inside DATA leaves "maybe sent"."""
        conn = self.conn
        assert conn is not None
        where = f"mail to {o.who} via {self.mail.host}:{self.mail.port}"
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        stage = "mail"
        try:
            options: list[str] = []
            if conn.has_extn("size"):
                limit = int(conn.esmtp_features["size"] or 0)
                if 0 < limit < len(data):
                    raise SmtpError(
                        f"{where}: the message is {_size(len(data))}, the server takes at "
                        f"most {_size(limit)}",
                        retryable=False,
                    )
                options.append(f"SIZE={len(data)}")
            code, reply = conn.mail(self.mail.sender_address, options)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, self.mail.sender_address)
            refused: dict[str, tuple[int, bytes]] = {}
            for _name, addr in o.to:
                code, reply = conn.rcpt(addr)
                if code not in (250, 251):
                    refused[addr] = (code, reply)
            if len(refused) == len(o.to):
                raise smtplib.SMTPRecipientsRefused(refused)
            stage = "data"
            code, reply = conn.data(data)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except SmtpError:
            self._reset()
            raise
        except Exception as e:
            error = self._error(e, where, stage=stage)
            if error.fatal:
                _close(self.conn)
                self.conn = None
                if error.maybe_sent or error.status is None:
                    self.broken = error
            else:
                self._reset()
            raise error from None
        if refused:
            log.warning(
                "mail_recipients_refused",
                key=o.key,
                refused={a: f"{c} {_text(r)}" for a, (c, r) in refused.items()},
            )
        log.info("mail_sent", key=o.key, to=[a for _n, a in o.to], files=len(o.files))

    def _reset(self) -> None:
        """After a refused message, RSET for the next one; a connection that can't is closed
        (the next message opens a new one)."""
        if self.conn is None:
            return
        try:
            self.conn.rset()
        except Exception:
            _close(self.conn)
            self.conn = None

    def _error(self, e: BaseException, where: str, *, stage: str) -> SmtpError:
        code: int | None = None
        if isinstance(e, smtplib.SMTPRecipientsRefused):
            codes = [c for c, _r in e.recipients.values()]
            code = max(codes) if codes else None
            replies = "; ".join(f"{a}: {c} {_text(r)}" for a, (c, r) in e.recipients.items())
            text = f"recipient refused: {replies}"
        elif isinstance(e, smtplib.SMTPAuthenticationError):
            code = e.smtp_code
            text = f"login as {self.mail.username!r} refused: {code} {_text(e.smtp_error)}"
        elif isinstance(e, smtplib.SMTPResponseException):
            code = e.smtp_code
            what = {"connect": "refused the connection", "mail": "refused the sender"}.get(
                stage, "refused the message"
            )
            text = f"server {what}: {code} {_text(e.smtp_error)}"
        elif isinstance(e, smtplib.SMTPNotSupportedError):
            text = f"server does not support it: {e} (check starttls, ssl, username)"
            return SmtpError(self._scrub(f"{where}: {text}"), retryable=False, fatal=True)
        elif isinstance(e, ssl.SSLCertVerificationError):
            text = f"TLS certificate not trusted: {e.verify_message} (see ca_file)"
            return SmtpError(self._scrub(f"{where}: {text}"), retryable=False, fatal=True)
        elif isinstance(e, smtplib.SMTPServerDisconnected) or (
            isinstance(e, OSError) and not isinstance(e, smtplib.SMTPException)
        ):
            # Refused, reset, timed out, name not resolved: trying later can help. Inside DATA
            # the server may have taken the message before the line dropped.
            detail = "timed out" if isinstance(e, socket.timeout) else str(e) or type(e).__name__
            if isinstance(e, ssl.SSLError):
                detail += f" (is port {self.mail.port} right for ssl = {self.mail.ssl}?)"
            return SmtpError(
                self._scrub(f"{where}: connection failed during {stage.upper()}: {detail}"),
                retryable=True,
                maybe_sent=stage == "data",
                fatal=True,
            )
        elif isinstance(e, smtplib.SMTPException):  # "no suitable authentication method"
            return SmtpError(self._scrub(f"{where}: {e}"), retryable=False, fatal=True)
        else:
            return SmtpError(self._scrub(f"{where}: {e!r}"), retryable=True, fatal=True)
        # A reply code: the server decided, nothing was sent. 4xx is temporary, 5xx is not;
        # 421 also closes the connection.
        return SmtpError(
            self._scrub(f"{where}: {text}"),
            retryable=code is not None and 400 <= code < 500,
            status=code,
            fatal=code == 421 or stage == "connect",
        )

    def _scrub(self, text: str) -> str:
        """Server replies end up in messages: never let them carry the password (some servers
        echo the AUTH argument back, base64 and all)."""
        password = self._password
        if not password:
            return text
        user = self.mail.username or ""
        forms = {
            password,
            base64.b64encode(password.encode()).decode(),
            base64.b64encode(f"\0{user}\0{password}".encode()).decode(),
        }
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, "***")
        return text

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except Exception:
            _close(conn)


def _close(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(Exception):
        conn.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
