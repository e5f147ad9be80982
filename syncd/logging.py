"""Structured logs: JSON lines for the daemon and for pipes, readable lines in a terminal.

Secrets are masked in every event, whatever the key they hide under: the values of the
configured token variables are replaced before rendering.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

import structlog

_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    if value and len(value) >= 4:
        _SECRETS.add(value)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _SECRETS:
            if secret in value:
                value = value.replace(secret, "***")
        return value
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
