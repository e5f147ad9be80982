"""The Zendesk Support API surface: authentication, rate limits, routing and handlers."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from .clock import parse_time
from .errors import ApiError, bad_request, invalid_endpoint, rate_limited, unauthorized
from .events import MAX_PER_PAGE as MAX_EVENTS_PER_PAGE
from .events import render_event, select_events
from .export import LAG_SECONDS, MAX_PER_PAGE, decode_cursor, encode_cursor, select_page
from .limits import RollingWindow
from .merge import mark_as_spam, merge_tickets
from .metrics import compute_metrics
from .pagination import Call, paginate
from .store import Store

Record = dict[str, Any]
Handler = Callable[[Call], tuple[int, Record | None]]

EXPORT_PATH = re.compile(r"^/api/v2/incremental/")
TICKET_PUT = re.compile(r"^/api/v2/tickets/(\d+)(?:\.json)?$")


@dataclass
class Response:
    status: int
    body: Record | None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()


@dataclass
class Limits:
    """Configured budgets; None disables one."""

    per_minute: int | None = 700
    export_per_minute: int | None = 10
    ticket_updates: int | None = 30  # per ticket and user within ten minutes
    auto_close_days: float | None = 28


class ZendeskApi:
    def __init__(self, store: Store, token: str, email: str | None, limits: Limits) -> None:
        self.store = store
        self.token = token
        self.email = email.lower() if email else None
        self.limits = limits
        self.account = RollingWindow(limits.per_minute or 10**9)
        self.export = RollingWindow(limits.export_per_minute or 10**9)
        self.ticket_windows: dict[tuple[int, int], RollingWindow] = {}
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._register_routes()

    # -- entry point ----------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, raw: bytes, headers: Any) -> Response:
        now = self.store.clock.now()
        try:
            user_id = self._authenticate(headers.get("Authorization"))
            self._check_budgets(method, path, user_id, now)
            response = self._dispatch(method, path, query, raw, headers.get("Host"), user_id)
        except ApiError as error:
            response = Response(error.status, error.body, dict(error.headers))
        if response.status != 401:
            remaining = self.account.remaining(self.store.clock.now())
            response.headers["X-Rate-Limit"] = str(self.limits.per_minute or 0)
            response.headers["X-Rate-Limit-Remaining"] = str(remaining)
        return response

    def _authenticate(self, header: str | None) -> int:
        """HTTP basic "{email}/token:{token}", which is what zenpy sends for token auth."""
        if not header or not header.startswith("Basic "):
            raise unauthorized()
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized() from None
        login, _, secret = decoded.partition(":")
        email, _, kind = login.rpartition("/")
        if kind != "token" or secret != self.token:
            raise unauthorized()
        if self.email and email.lower() != self.email:
            raise unauthorized()
        user = self.store.user_by_email(email) if email else None
        return int(user["id"]) if user else self.store.admin_id

    def _check_budgets(self, method: str, path: str, user_id: int, now: float) -> None:
        wait = self.account.take(now)
        if wait is not None:
            raise rate_limited(wait)
        if EXPORT_PATH.match(path):
            wait = self.export.take(now)
            if wait is not None:
                raise rate_limited(wait, "Rate limit for incremental exports exceeded")
        match = TICKET_PUT.match(path)
        if method == "PUT" and match and self.limits.ticket_updates:
            key = (int(match.group(1)), user_id)
            window = self.ticket_windows.setdefault(
                key, RollingWindow(self.limits.ticket_updates, period=600.0)
            )
            wait = window.take(now)
            if wait is not None:
                raise rate_limited(wait, "Too many updates to this ticket")

    def _dispatch(
        self, method: str, path: str, query: str, raw: bytes, host: str | None, user_id: int
    ) -> Response:
        multi = parse_qs(query, keep_blank_values=True)
        params = {k: v[-1] for k, v in multi.items()}
        body = self._parse_body(raw)
        for verb, pattern, handler in self.routes:
            match = pattern.match(path)
            if match and verb == method:
                call = Call(method, path, params, body, host or "localhost", user_id)
                call.args, call.multi = match.groups(), multi
                with self.store.lock:
                    self._housekeeping()
                    status, payload = handler(call)
                return Response(status, payload)
        raise invalid_endpoint()

    def _parse_body(self, raw: bytes) -> Any:
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request("InvalidJSON", "The request body is not valid JSON") from None

    def _housekeeping(self) -> None:
        if self.limits.auto_close_days:
            self.store.close_solved_older_than(self.limits.auto_close_days * 86400)

    # -- routing --------------------------------------------------------------------------

    def _register_routes(self) -> None:
        table: list[tuple[str, str, Handler]] = [
            ("GET", "users/me", self.me),
            ("GET", "users/show_many", self.users_show_many),
            ("GET", "users", self.list_users),
            ("POST", "users", self.create_user),
            ("GET", r"users/(\d+)", self.show_user),
            ("GET", "organizations", self.list_organizations),
            ("POST", "organizations", self.create_organization),
            ("GET", r"organizations/(\d+)", self.show_organization),
            ("GET", "ticket_fields", self.list_ticket_fields),
            ("POST", "ticket_fields", self.create_ticket_field),
            ("GET", r"ticket_fields/(\d+)", self.show_ticket_field),
            ("GET", "tickets", self.list_tickets),
            ("POST", "tickets", self.create_ticket),
            ("GET", "tickets/show_many", self.tickets_show_many),
            ("GET", r"tickets/(\d+)", self.show_ticket),
            ("PUT", r"tickets/(\d+)", self.update_ticket),
            ("DELETE", r"tickets/(\d+)", self.delete_ticket),
            ("POST", r"tickets/(\d+)/merge", self.merge_tickets),
            ("PUT", r"tickets/(\d+)/mark_as_spam", self.mark_as_spam),
            ("GET", r"tickets/(\d+)/comments", self.list_comments),
            ("GET", r"tickets/(\d+)/audits", self.list_audits),
            ("GET", r"tickets/(\d+)/metrics", self.ticket_metric),
            ("GET", r"tickets/(\d+)/tags", self.ticket_tags),
            ("POST", r"tickets/(\d+)/tags", self.set_tags),
            ("PUT", r"tickets/(\d+)/tags", self.add_tags),
            ("DELETE", r"tickets/(\d+)/tags", self.remove_tags),
            ("POST", r"tickets/(\d+)/satisfaction_rating", self.rate_ticket),
            ("GET", "incremental/tickets/cursor", self.incremental_tickets),
            ("GET", "incremental/ticket_events", self.incremental_ticket_events),
            ("GET", "ticket_metrics", self.list_ticket_metrics),
            ("GET", r"ticket_metrics/(\d+)", self.show_ticket_metric),
            ("GET", "satisfaction_ratings", self.list_satisfaction_ratings),
            ("GET", r"satisfaction_ratings/(\d+)", self.show_satisfaction_rating),
        ]
        for verb, pattern, handler in table:
            compiled = re.compile(rf"^/api/v2/{pattern}(?:\.json)?$")
            self.routes.append((verb, compiled, handler))

    @staticmethod
    def _payload(call: Call, key: str) -> Record:
        payload = call.body.get(key) if isinstance(call.body, dict) else None
        if not isinstance(payload, dict):
            raise bad_request("InvalidValue", f"The request body needs a '{key}' object")
        return payload

    @staticmethod
    def _ids(call: Call) -> list[int]:
        try:
            return [int(i) for i in call.params.get("ids", "").split(",") if i.strip()]
        except ValueError:
            raise bad_request("InvalidValue", "ids must be a comma separated list") from None

    # -- users and organizations ------------------------------------------------------------

    def me(self, call: Call) -> tuple[int, Record]:
        return 200, {"user": self.store.render_user(self.store.user(call.user_id), call.base)}

    def show_user(self, call: Call) -> tuple[int, Record]:
        user = self.store.user(int(call.args[0]))
        return 200, {"user": self.store.render_user(user, call.base)}

    def users_show_many(self, call: Call) -> tuple[int, Record]:
        users = [self.store.users[i] for i in self._ids(call) if i in self.store.users]
        return 200, {"users": [self.store.render_user(u, call.base) for u in users]}

    def list_users(self, call: Call) -> tuple[int, Record]:
        roles = set(call.multi.get("role", []) + call.multi.get("role[]", []))
        users = [u for u in self.store.users.values() if not roles or u["role"] in roles]
        return 200, paginate(call, "users", users, lambda u: self.store.render_user(u, call.base))

    def create_user(self, call: Call) -> tuple[int, Record]:
        user = self.store.create_user(self._payload(call, "user"))
        return 201, {"user": self.store.render_user(user, call.base)}

    def list_organizations(self, call: Call) -> tuple[int, Record]:
        orgs = list(self.store.organizations.values())
        render = lambda o: self.store.render_organization(o, call.base)  # noqa: E731
        return 200, paginate(call, "organizations", orgs, render)

    def create_organization(self, call: Call) -> tuple[int, Record]:
        org = self.store.create_organization(self._payload(call, "organization"))
        return 201, {"organization": self.store.render_organization(org, call.base)}

    def show_organization(self, call: Call) -> tuple[int, Record]:
        org = self.store.organization(int(call.args[0]))
        return 200, {"organization": self.store.render_organization(org, call.base)}

    # -- ticket fields ----------------------------------------------------------------------

    def list_ticket_fields(self, call: Call) -> tuple[int, Record]:
        fields = list(self.store.fields.values())
        render = lambda f: self.store.render_ticket_field(f, call.base)  # noqa: E731
        return 200, paginate(call, "ticket_fields", fields, render)

    def create_ticket_field(self, call: Call) -> tuple[int, Record]:
        field_record = self.store.create_ticket_field(self._payload(call, "ticket_field"))
        return 201, {"ticket_field": self.store.render_ticket_field(field_record, call.base)}

    def show_ticket_field(self, call: Call) -> tuple[int, Record]:
        field_record = self.store.ticket_field(int(call.args[0]))
        return 200, {"ticket_field": self.store.render_ticket_field(field_record, call.base)}

    # -- tickets ------------------------------------------------------------------------------

    def _ticket_answer(self, call: Call, ticket: Record, audit: Record) -> Record:
        return {
            "ticket": self.store.render_ticket(ticket, call.base),
            "audit": self.store.render_audit(audit),
        }

    def list_tickets(self, call: Call) -> tuple[int, Record]:
        tickets = [t for t in self.store.tickets.values() if t["status"] != "deleted"]
        render = lambda t: self.store.render_ticket(t, call.base)  # noqa: E731
        return 200, paginate(call, "tickets", tickets, render)

    def tickets_show_many(self, call: Call) -> tuple[int, Record]:
        found = [self.store.tickets.get(i) for i in self._ids(call)[:100]]
        live = [t for t in found if t is not None and t["status"] != "deleted"]
        return 200, {
            "tickets": [self.store.render_ticket(t, call.base) for t in live],
            "next_page": None,
            "previous_page": None,
            "count": len(live),
        }

    def show_ticket(self, call: Call) -> tuple[int, Record]:
        ticket = self.store.ticket(int(call.args[0]))
        return 200, {"ticket": self.store.render_ticket(ticket, call.base)}

    def create_ticket(self, call: Call) -> tuple[int, Record]:
        ticket, audit = self.store.create_ticket(self._payload(call, "ticket"), call.user_id)
        return 201, self._ticket_answer(call, ticket, audit)

    def update_ticket(self, call: Call) -> tuple[int, Record]:
        payload = self._payload(call, "ticket")
        ticket, audit = self.store.update_ticket(int(call.args[0]), payload, call.user_id)
        return 200, self._ticket_answer(call, ticket, audit)

    def delete_ticket(self, call: Call) -> tuple[int, None]:
        self.store.delete_ticket(int(call.args[0]))
        return 204, None

    def merge_tickets(self, call: Call) -> tuple[int, Record]:
        body = call.body if isinstance(call.body, dict) else {}
        job = merge_tickets(self.store, int(call.args[0]), body, call.user_id)
        job["url"] = f"{call.base}/api/v2/job_statuses/{job['id']}.json"
        return 200, {"job_status": job}

    def mark_as_spam(self, call: Call) -> tuple[int, None]:
        mark_as_spam(self.store, int(call.args[0]))
        return 200, None

    def list_comments(self, call: Call) -> tuple[int, Record]:
        comments = self.store.ticket_comments(int(call.args[0]))
        sign = -1 if call.params.get("sort_order") == "desc" else 1
        return 200, paginate(
            call,
            "comments",
            comments,
            self.store.render_comment,
            key=lambda c: (sign * c["created_at"], sign * c["id"]),
        )

    def list_audits(self, call: Call) -> tuple[int, Record]:
        audits = self.store.ticket_audits(int(call.args[0]))
        return 200, paginate(
            call,
            "audits",
            audits,
            self.store.render_audit,
            key=lambda a: (a["created_at"], a["id"]),
        )

    # -- tags ---------------------------------------------------------------------------------

    def ticket_tags(self, call: Call) -> tuple[int, Record]:
        return 200, {"tags": list(self.store.ticket(int(call.args[0]))["tags"])}

    def _tag_update(self, call: Call, key: str) -> tuple[int, Record]:
        tags = call.body.get("tags", []) if isinstance(call.body, dict) else []
        ticket, _ = self.store.update_ticket(int(call.args[0]), {key: tags}, call.user_id)
        return 200, {"tags": list(ticket["tags"])}

    def set_tags(self, call: Call) -> tuple[int, Record]:
        return self._tag_update(call, "tags")

    def add_tags(self, call: Call) -> tuple[int, Record]:
        return self._tag_update(call, "additional_tags")

    def remove_tags(self, call: Call) -> tuple[int, Record]:
        return self._tag_update(call, "remove_tags")

    # -- incremental export -------------------------------------------------------------------

    def incremental_tickets(self, call: Call) -> tuple[int, Record]:
        now = self.store.clock.now()
        per_page = call.int_param("per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
        position, before = self._export_position(call, now)
        exclude_deleted = call.params.get("exclude_deleted", "").lower() == "true"
        tickets = list(self.store.tickets.values())
        page = select_page(tickets, position, before, per_page, now, exclude_deleted)
        kept = {
            k: call.params[k]
            for k in ("per_page", "include", "exclude_deleted")
            if k in call.params
        }
        after_cursor = encode_cursor(page.after)
        before_cursor = encode_cursor(page.before, before=True) if page.before else None
        answer: Record = {
            "tickets": [self.store.render_ticket(t, call.base) for t in page.tickets],
            "after_cursor": after_cursor,
            "after_url": self._export_url(call, after_cursor, kept),
            "before_cursor": before_cursor,
            "before_url": self._export_url(call, before_cursor, kept) if before_cursor else None,
            "end_of_stream": page.end_of_stream,
        }
        if "metric_sets" in call.params.get("include", "").split(","):
            answer["metric_sets"] = [
                self._metrics(call, t) for t in page.tickets if t["status"] != "deleted"
            ]
        return 200, answer

    def _export_position(self, call: Call, now: float) -> tuple[tuple[int, int], bool]:
        if call.params.get("cursor"):
            return decode_cursor(call.params["cursor"])
        # Position (start, 0) sorts before every ticket stamped at `start` or later.
        return (self._start_time(call, now), 0), False

    @staticmethod
    def _start_time(call: Call, now: float) -> int:
        raw = call.params.get("start_time")
        if raw is None:
            raise bad_request("InvalidValue", "start_time or cursor is required")
        try:
            start = int(raw)
        except ValueError:
            raise bad_request("InvalidValue", "start_time must be a Unix timestamp") from None
        if start > now - LAG_SECONDS:
            raise bad_request(
                "InvalidValue", "Too recent start_time. Use a start_time older than 1 minute"
            )
        return start

    def incremental_ticket_events(self, call: Call) -> tuple[int, Record]:
        """Time-based ticket event export (see :mod:`emulator.events`)."""
        now = self.store.clock.now()
        start = self._start_time(call, now)
        per_page = call.int_param("per_page", MAX_EVENTS_PER_PAGE, 1, MAX_EVENTS_PER_PAGE)
        audits = [audit for group in self.store.audits.values() for audit in group]
        page = select_events(audits, start, per_page, now)
        comments = None
        if "comment_events" in call.params.get("include", "").split(","):
            tickets = {audit["ticket_id"] for audit in page.audits}
            comments = {c["id"]: c for t in tickets for c in self.store.comments.get(t, [])}
        kept = "".join(
            f"&{k}={call.params[k]}"
            for k in ("include", "per_page", "support_type_scope")
            if k in call.params
        )
        return 200, {
            "ticket_events": [render_event(audit, comments) for audit in page.audits],
            "next_page": (
                f"{call.base}/api/v2/incremental/ticket_events.json"
                f"?start_time={page.end_time}{kept}"
            ),
            "count": len(page.audits),
            "end_time": page.end_time,
            "end_of_stream": page.end_of_stream,
        }

    @staticmethod
    def _export_url(call: Call, cursor: str, kept: dict[str, str]) -> str:
        extra = "".join(f"&{k}={v}" for k, v in kept.items())
        return f"{call.base}/api/v2/incremental/tickets/cursor.json?cursor={cursor}{extra}"

    # -- metrics and ratings --------------------------------------------------------------------

    def _metrics(self, call: Call, ticket: Record) -> Record:
        ticket_id = ticket["id"]
        return compute_metrics(
            ticket,
            self.store.ticket_audits(ticket_id),
            self.store.ticket_comments(ticket_id),
            self.store.is_agent,
            self.store.clock.now(),
            call.base,
        )

    def ticket_metric(self, call: Call) -> tuple[int, Record]:
        ticket = self.store.ticket(int(call.args[0]))
        return 200, {"ticket_metric": self._metrics(call, ticket)}

    def show_ticket_metric(self, call: Call) -> tuple[int, Record]:
        return self.ticket_metric(call)

    def list_ticket_metrics(self, call: Call) -> tuple[int, Record]:
        tickets = [t for t in self.store.tickets.values() if t["status"] != "deleted"]
        return 200, paginate(call, "ticket_metrics", tickets, lambda t: self._metrics(call, t))

    def rate_ticket(self, call: Call) -> tuple[int, Record]:
        payload = self._payload(call, "satisfaction_rating")
        rating = self.store.rate_ticket(int(call.args[0]), payload, call.user_id)
        return 200, {"satisfaction_rating": self.store.render_rating(rating, call.base)}

    def show_satisfaction_rating(self, call: Call) -> tuple[int, Record]:
        rating = self.store.ratings.get(int(call.args[0]))
        if rating is None:
            raise ApiError(404, {"error": "RecordNotFound", "description": "Not found"})
        return 200, {"satisfaction_rating": self.store.render_rating(rating, call.base)}

    def list_satisfaction_ratings(self, call: Call) -> tuple[int, Record]:
        ratings = [r for r in self.store.ratings.values() if self._rating_matches(call, r)]
        render = lambda r: self.store.render_rating(r, call.base)  # noqa: E731
        return 200, paginate(call, "satisfaction_ratings", ratings, render)

    @staticmethod
    def _rating_matches(call: Call, rating: Record) -> bool:
        start, end = call.params.get("start_time"), call.params.get("end_time")
        if start and rating["created_at"] < parse_time(start):
            return False
        if end and rating["created_at"] > parse_time(end):
            return False
        return score_matches(call.params.get("score"), rating)


def score_matches(wanted: str | None, rating: Record) -> bool:
    """Zendesk's score filter: good, bad, received, and *_with_comment / *_without_comment."""
    if not wanted:
        return True
    base, _, comment_filter = wanted.partition("_with")
    if base in ("good", "bad") and rating["score"] != base:
        return False
    if base not in ("good", "bad", "received"):
        return False  # offered / unoffered: stored ratings are all received
    if comment_filter == "_comment":
        return bool(rating["comment"])
    if comment_filter == "out_comment":
        return not rating["comment"]
    return True
