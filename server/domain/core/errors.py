"""Domain errors: a stable dotted code and a message; the API maps the class to a status.
Every code has its words in Chinese and English in data/problem_messages.json (a test
reads the source for codes and fails on one without)."""

from __future__ import annotations


class DomainError(Exception):
    status_hint = 400

    def __init__(self, code: str, detail: str, *, errors: dict | None = None,
                 extra: dict | None = None, params: dict | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = errors
        self.extra = extra or {}
        # Values for the {placeholders} of the code's words in both languages
        # (data/problem_messages.json); not sent as members of the problem.
        self.params = params or {}


class Unauthenticated(DomainError):
    status_hint = 401


class Forbidden(DomainError):
    status_hint = 403


class NotFound(DomainError):
    status_hint = 404


class Conflict(DomainError):
    status_hint = 409


class TooLarge(DomainError):
    status_hint = 413


class Invalid(DomainError):
    status_hint = 422


class TooMany(DomainError):
    """Slow down: a limit per account or per user (the API adds Retry-After from
    `extra["retry_after_s"]`)."""

    status_hint = 429
