"""Structured logs: JSON lines for the daemon and for pipes, readable lines in a terminal.

Secrets are masked in every event, whatever the key they hide under: the values of the
configured token variables are replaced before rendering, and so are their base64 forms (a
server's error page may echo the Authorization header: Zendesk's is base64("email/token:T")).
`scrub` does the same for text that is not a log event (error messages kept or printed).
"""

from __future__ import annotations

import base64
import logging
import sys
from typing import IO, Any

import structlog

_SECRETS: set[str] = set()


def secret_forms(value: str) -> set[str]:
    """The secret, its base64, and what any base64 text holding it contains: at each of the
    three byte alignments, the base64 of the secret's whole 3-byte groups (basic auth, SMTP
    AUTH PLAIN). Cores shorter than 8 characters are left out: too likely by chance."""
    forms = {value, base64.b64encode(value.encode()).decode()}
    for pad in range(3):
        data = b"\0" * pad + value.encode()
        encoded = base64.b64encode(data).decode()
        start, end = -(-pad // 3) * 4, len(data) // 3 * 4
        if end - start >= 8:
            forms.add(encoded[start:end])
    return forms


def register_secret(value: str) -> None:
    if value and len(value) >= 4:
        _SECRETS.update(secret_forms(value))


def scrub(text: str) -> str:
    """`text` with every registered secret, in any of its forms, replaced by ***."""
    for secret in sorted(_SECRETS, key=len, reverse=True):  # a whole form before its pieces
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(v) for v in value)
    return value


def mask_secrets(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: _mask(v) for k, v in event.items()}


def configure(
    *, json: bool | None = None, level: str = "info", stream: IO[str] | None = None
) -> None:
    """Structured events to `stream` (stderr by default), secrets masked in every one."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # zenpy and urllib3 log through stdlib logging (URLs, retries): keep them quiet and masked.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
