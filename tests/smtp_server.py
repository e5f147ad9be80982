"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 that keeps what it accepts.
The `serve` fixture (tests/conftest.py) starts one."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    def attachments(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for part in self.message.iter_attachments():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            name = part.get_filename()
            assert name is not None and name not in out
            out[name] = payload
        return out


@dataclass
class Handler:
    """Stores what it accepts. `rcpt_replies` / `data_replies`: address -> the SMTP reply to
    a RCPT of that address / to the DATA of a message to it (`once`: the first time only)."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: dict[str, str] = field(default_factory=dict)
    once: bool = False
    data_delay: float = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.rcpt_replies:
            return self._reply(self.rcpt_replies, address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            if address in self.data_replies:
                return self._reply(self.data_replies, address)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        )
        if self.data_delay:  # queued, but the reply is late: the client may give up first
            await asyncio.sleep(self.data_delay)
        return "250 Message accepted for delivery"

    def _reply(self, replies: dict[str, str], address: str) -> str:
        return replies.pop(address) if self.once else replies[address]

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


@dataclass
class Server:
    handler: Handler
    port: int

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving() -> Iterator[Callable[..., Server]]:
    """serve(handler=None, **SMTP options) starts an aiosmtpd server on 127.0.0.1."""
    controllers: list[Controller] = []

    def start(handler: Handler | None = None, **options: Any) -> Server:
        handler = handler or Handler()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return Server(handler, port)

    yield start
    for controller in controllers:
        controller.stop()
