"""ZendeskEmulator: a stateful local Zendesk Support API for tests and demos.

Usage::

    emu = ZendeskEmulator(token="secret", email="agent@example.com").start()
    os.environ["ZENPY_FORCE_SCHEME"] = "http"
    os.environ["ZENPY_FORCE_NETLOC"] = emu.netloc
    client = Zenpy(subdomain="x", email="agent@example.com", token="secret")
    ...
    emu.advance(61)   # get past the incremental exports' one-minute lag without sleeping
    emu.stop()
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from .api import Limits, Response, ZendeskApi
from .clock import Clock, iso, parse_time
from .errors import ApiError
from .faults import Fault, FaultQueue
from .limits import RollingWindow
from .server import EmulatorServer, Handler, admin_body, admin_params
from .store import Store

Record = dict[str, Any]


class ZendeskEmulator:
    """Serves the Zendesk API on ``127.0.0.1:port`` (0 picks a free port).

    ``clock`` is an optional time source (a callable returning Unix seconds, or a ``Clock``);
    the emulator's "now" is that plus whatever :meth:`advance` added.
    """

    def __init__(
        self,
        port: int = 0,
        token: str = "emulator-token",
        email: str | None = None,
        clock: Callable[[], float] | Clock | None = None,
        *,
        host: str = "127.0.0.1",
        state_file: str | None = None,
        rate_limit_per_minute: int | None = 700,
        export_budget_per_minute: int | None = 10,
        ticket_update_budget: int | None = 30,
        auto_close_days: float | None = 28,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.email = email
        self.clock = clock if isinstance(clock, Clock) else Clock(clock)
        self.store = Store(self.clock, email)
        self.state_file = state_file
        if state_file and os.path.exists(state_file):
            with open(state_file, encoding="utf-8") as handle:
                self.store.load(json.load(handle))
        if state_file:
            self.store.on_change = lambda: self.store.save_file(state_file)
            self.store.save_file(state_file)
        limits = Limits(
            per_minute=rate_limit_per_minute,
            export_per_minute=export_budget_per_minute,
            ticket_updates=ticket_update_budget,
            auto_close_days=auto_close_days,
        )
        self.api = ZendeskApi(self.store, token, email, limits)
        self.faults = FaultQueue()
        self._log: list[Record] = []
        self._log_lock = threading.Lock()
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> ZendeskEmulator:
        server = EmulatorServer((self.host, self.port), Handler)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        # A short poll interval keeps stop() fast (tests start one emulator each).
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="zendesk-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ZendeskEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    @property
    def netloc(self) -> str:
        """What ZENPY_FORCE_NETLOC should be set to."""
        return f"{self.host}:{self.port}"

    # -- test controls ------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        """Move the emulator clock forward (e.g. past the export's one-minute lag)."""
        now = self.clock.advance(seconds)
        with self.store.lock:
            self.api._housekeeping()
            if self.state_file:
                # The offset is state too: after a restart, timestamps must not go back.
                self.store.save_file(self.state_file)
        return now

    def requests(self) -> list[Record]:
        """Every API request so far: method, path, query, params, body, status, time, fault."""
        with self._log_lock:
            return [dict(entry) for entry in self._log]

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def inject_fault(self, match: str = ".*", **options: Any) -> Record:
        """Queue a fault: status, retry_after, times, body, content_type, delay, truncate,
        reset, process (see :class:`emulator.faults.Fault`)."""
        return self.faults.add(Fault.from_dict({"match": match, **options})).to_dict()

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_export_budget(self, per_minute: int | None) -> None:
        """Change the incremental-export budget (None lifts it), forgetting past exports."""
        self.api.limits.export_per_minute = per_minute
        self.api.export = RollingWindow(per_minute or 10**9)

    def reset_limits(self) -> None:
        """Forget past requests for all rate-limit windows."""
        self.api.account.reset()
        self.api.export.reset()
        self.api.ticket_windows.clear()

    def log_request(
        self, method: str, path: str, query: str, raw: bytes, status: int | None, fault: Any
    ) -> None:
        entry = {
            "method": method,
            "path": path,
            "query": query,
            "params": {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()},
            "body": _decode_body(raw),
            "status": status,
            "time": self.clock.now(),
            "fault": fault.to_dict() if fault is not None else None,
        }
        with self._log_lock:
            self._log.append(entry)

    # -- seeding (same code paths as the HTTP handlers) -----------------------------------------

    def create_organization(self, name: str, **extra: Any) -> Record:
        org = self.store.create_organization({"name": name, **extra})
        return self.store.render_organization(org, self.url)

    def create_user(
        self,
        name: str,
        email: str | None = None,
        role: str = "end-user",
        organization_id: int | None = None,
        **extra: Any,
    ) -> Record:
        payload = {"name": name, "email": email, "role": role, "organization_id": organization_id}
        return self.store.render_user(self.store.create_user({**payload, **extra}), self.url)

    def create_ticket_field(self, title: str, type: str = "text", **extra: Any) -> Record:
        field = self.store.create_ticket_field({"title": title, "type": type, **extra})
        return self.store.render_ticket_field(field, self.url)

    def create_ticket(self, **fields: Any) -> Record:
        """Like POST /tickets. Seeding defaults: the requester submits it (so the first comment
        is the customer's) and the subject doubles as the description if none is given."""
        if fields.get("comment") is None and not fields.get("description"):
            fields["description"] = fields.get("subject") or "(no description)"
        if fields.get("requester_id") and not fields.get("submitter_id"):
            fields["submitter_id"] = fields["requester_id"]
        ticket, _ = self.store.create_ticket(fields, self.store.admin_id)
        return self.store.render_ticket(ticket, self.url)

    def update_ticket(
        self, ticket_id: int, author_id: int | None = None, at: Any = None, **fields: Any
    ) -> Record:
        """Like PUT /tickets/{id}; ``at`` backdates the change (seeding history only)."""
        when = parse_time(at) if at is not None else None
        actor = author_id or self.store.admin_id
        ticket, _ = self.store.update_ticket(ticket_id, fields, actor, at=when)
        return self.store.render_ticket(ticket, self.url)

    def add_comment(
        self,
        ticket_id: int,
        body: str,
        public: bool = True,
        author_id: int | None = None,
        at: Any = None,
    ) -> Record:
        comment = {"body": body, "public": public, "author_id": author_id}
        return self.update_ticket(ticket_id, author_id=author_id, at=at, comment=comment)

    def set_status(
        self, ticket_id: int, status: str, author_id: int | None = None, at: Any = None
    ) -> Record:
        return self.update_ticket(ticket_id, author_id=author_id, at=at, status=status)

    def delete_ticket(self, ticket_id: int) -> None:
        self.store.delete_ticket(ticket_id)

    def merge_tickets(self, target_id: int, source_ids: list[int], **comments: Any) -> Record:
        """Like POST /tickets/{target}/merge (see :mod:`emulator.merge`); returns the job."""
        from .merge import merge_tickets

        payload = {"ids": source_ids, **comments}
        return merge_tickets(self.store, target_id, payload, self.store.admin_id)

    def mark_as_spam(self, ticket_id: int) -> None:
        """Like PUT /tickets/{id}/mark_as_spam: deleted, and the requester suspended."""
        from .merge import mark_as_spam

        mark_as_spam(self.store, ticket_id)

    def rate_ticket(self, ticket_id: int, score: str, comment: str = "") -> Record:
        with self.store.lock:
            requester = self.store.ticket(ticket_id)["requester_id"]
            rating = self.store.rate_ticket(
                ticket_id, {"score": score, "comment": comment}, requester
            )
            return self.store.render_rating(rating, self.url)

    # -- inspection ---------------------------------------------------------------------------

    def ticket(self, ticket_id: int) -> Record:
        """The ticket as the API renders it (deleted tickets too, with status "deleted")."""
        with self.store.lock:
            ticket = self.store.ticket(ticket_id, include_deleted=True)
            return self.store.render_ticket(ticket, self.url)

    def comments(self, ticket_id: int) -> list[Record]:
        with self.store.lock:
            return [self.store.render_comment(c) for c in self.store.ticket_comments(ticket_id)]

    def audits(self, ticket_id: int) -> list[Record]:
        with self.store.lock:
            return [self.store.render_audit(a) for a in self.store.ticket_audits(ticket_id)]

    def metrics(self, ticket_id: int) -> Record:
        from .metrics import compute_metrics

        with self.store.lock:
            ticket = self.store.ticket(ticket_id)
            return compute_metrics(
                ticket,
                self.store.ticket_audits(ticket_id),
                self.store.ticket_comments(ticket_id),
                self.store.is_agent,
                self.clock.now(),
                self.url,
            )

    def state(self) -> Record:
        return self.store.dump()

    @property
    def admin_user_id(self) -> int:
        return self.store.admin_id

    # -- admin endpoints ------------------------------------------------------------------------

    def admin(self, method: str, path: str, query: str, raw: bytes) -> Response:
        """/_emulator/* (no auth): requests, clock, faults, limits, state."""
        try:
            body = admin_body(raw)
            answer = self._admin_route(method, path.rstrip("/"), admin_params(query), body)
        except (ValueError, TypeError, ApiError) as error:
            return Response(400, {"error": "BadRequest", "description": str(error)})
        if answer is None:
            return Response(404, {"error": "InvalidEndpoint", "description": "Not found"})
        return Response(200, answer)

    def _admin_route(
        self, method: str, path: str, params: dict[str, str], body: Record
    ) -> Record | None:
        name = path.removeprefix("/_emulator/")
        if name == "requests" and method == "GET":
            return {"requests": self.requests()}
        if name == "requests" and method == "DELETE":
            self.clear_requests()
            return {"requests": []}
        if name == "clock":
            return self._admin_clock(method, body)
        if name == "faults" and method == "POST":
            return {"fault": self.inject_fault(**body)}
        if name == "faults" and method == "DELETE":
            self.clear_faults()
            return {"faults": []}
        if name == "faults" and method == "GET":
            return {"faults": self.faults.pending()}
        if name == "limits" and method == "DELETE":
            self.reset_limits()
            return {"limits": "reset"}
        if name == "state" and method == "GET":
            return self.state()
        history = re.fullmatch(r"tickets/(\d+)/history", name)
        if history and method == "POST":
            # Seeding a past conversation (demos): a comment and/or field changes, backdated
            # with `at`, by `author_id`, exactly as the Python `update_ticket(at=...)` does.
            fields = dict(body)
            at = fields.pop("at", None)
            author = fields.pop("author_id", None)
            return {
                "ticket": self.update_ticket(int(history[1]), author_id=author, at=at, **fields)
            }
        return None

    def _admin_clock(self, method: str, body: Record) -> Record:
        if method == "POST" and "advance" in body:
            self.advance(float(body["advance"]))
        elif method == "POST" and "set" in body:
            self.clock.jump_to(parse_time(body["set"]))
            self.advance(0)
        now = self.clock.now()
        return {"now": now, "iso": iso(now), "offset": self.clock.offset}


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
