"""API errors with the status codes and JSON bodies the real Zendesk API uses."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP status, JSON body and optional extra headers.

    Raised by the store for both HTTP calls and the Python seeding methods, so a test that seeds
    through Python sees the same validation as a client talking HTTP.
    """

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found() -> ApiError:
    return ApiError(404, {"error": "RecordNotFound", "description": "Not found"})


def invalid_endpoint() -> ApiError:
    return ApiError(404, {"error": "InvalidEndpoint", "description": "Not found"})


def unauthorized() -> ApiError:
    return ApiError(
        401, {"error": "Couldn't authenticate you"}, {"WWW-Authenticate": 'Basic realm="Web"'}
    )


def record_invalid(field: str, description: str, error: str | None = None) -> ApiError:
    """422 RecordInvalid with one entry under details[field], as Zendesk formats it."""
    detail: dict[str, str] = {"description": description}
    if error:
        detail["error"] = error
    return ApiError(
        422,
        {
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {field: [detail]},
        },
    )


def bad_request(error: str, description: str) -> ApiError:
    return ApiError(400, {"error": error, "description": description})


def rate_limited(retry_after: int, description: str | None = None) -> ApiError:
    body: dict[str, Any] = {"error": "APIRateLimitExceeded"}
    if description:
        body["description"] = description
    return ApiError(429, body, {"Retry-After": str(max(1, int(retry_after)))})
