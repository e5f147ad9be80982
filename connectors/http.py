"""One HTTP session policy for both products: explicit timeouts and bounded, safe retries.

- Every request has a timeout (requests has none by default, and python-redmine's `timeout`
  option sets an attribute that requests ignores).
- 429 is retried for any method: the server did not act on the request. Retry-After is
  honoured but capped, so a hostile or broken header can't park the daemon for a day.
  Zendesk's session leaves 429 to zenpy, which waits Retry-After out within its
  `ratelimit_budget`: retried here as well, every one of zenpy's waits would hide three more
  of ours, and a 429 storm would cost four times the requests and the budget.
- 5xx and read timeouts are retried for GET only: a POST or PUT that timed out may have been
  applied, and repeating it could create a second issue or a second client reply. Those
  failures go back to the engine, whose effect journal checks what happened before retrying.
- Connection errors (nothing was sent) are retried for any method.
- Other 4xx are never retried.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class CappedRetry(Retry):
    """urllib3 Retry that caps Retry-After and retries 429 whatever the method."""

    retry_after_cap: float = 60.0
    retry_429: bool = True

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.retry_after_cap)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if self.total is not None and self.total <= 0:  # pragma: no cover - urllib3 guards it
            return False
        if status_code == 429:
            return self.retry_429
        return super().is_retry(method, status_code, has_retry_after)

    def new(self, **kw: Any) -> CappedRetry:
        new = super().new(**kw)
        new.retry_after_cap = self.retry_after_cap
        new.retry_429 = self.retry_429
        return new


class TimeoutSession(requests.Session):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        # (connect, read): a dead host fails fast, a slow report may take the read budget.
        self.timeout = (min(10.0, timeout), timeout)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


def transport_fault(exc: BaseException) -> str:
    """What went wrong on the wire, in words an operator can act on. requests and urllib3 wrap
    the cause (a refused connection, a reset, a timeout, a body cut short) in layers whose type
    alone says "ConnectionError" for most of them."""
    text = repr(exc)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or "IncompleteRead" in text:
        return "answer cut short (the connection dropped mid-body)"
    if isinstance(exc, requests.exceptions.ConnectTimeout) or "ConnectTimeoutError" in text:
        return "timed out connecting"
    if isinstance(exc, requests.exceptions.ReadTimeout) or "Read timed out" in text:
        return "timed out waiting for the answer"
    for needle, words in (
        ("Connection refused", "connection refused"),
        ("Connection reset", "connection reset"),
        ("RemoteDisconnected", "connection closed without an answer"),
        ("NameResolutionError", "host name not found"),
        ("SSLError", "TLS error"),
    ):
        if needle in text:
            return words
    return type(exc).__name__


def make_session(
    *,
    timeout: float,
    retries: int = 3,
    backoff: float = 0.5,
    retry_after_cap: float = 60.0,
    retry_429: bool = True,
) -> TimeoutSession:
    retry = CappedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        status_forcelist=RETRY_STATUSES if retry_429 else RETRY_STATUSES - {429},
        allowed_methods=frozenset({"GET", "HEAD"}),
        backoff_factor=backoff,
        backoff_max=30,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.retry_after_cap = retry_after_cap
    retry.retry_429 = retry_429
    session = TimeoutSession(timeout)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
