"""Typed domain errors. Services raise these; each API face maps them to its
own error body in one place (``api/lago/errors.py``, ``api/lotus/errors.py``)."""

from __future__ import annotations


class ApplicationError(Exception):
    code = "application_error"

    def __init__(self, message: str = "", *, code: str | None = None):
        super().__init__(message or self.code)
        if code:
            self.code = code


class NotFound(ApplicationError):
    """The object does not exist for this organization (or at all: the two are
    never told apart, so one tenant cannot probe another's ids)."""

    def __init__(self, resource: str):
        super().__init__(f"{resource} not found", code=f"{resource}_not_found")
        self.resource = resource


class AlreadyExists(ApplicationError):
    """Creating something whose identifier is taken (where the face does not
    upsert, as Lotus's customer create does not)."""

    def __init__(self, resource: str, message: str = ""):
        super().__init__(message or f"{resource} already exists", code="value_already_exist")
        self.resource = resource


class ValidationFailed(ApplicationError):
    code = "validation_errors"

    def __init__(self, details: dict[str, list[str]]):
        super().__init__(f"validation failed: {details}")
        self.details = details


class NotAllowed(ApplicationError):
    """The object exists but is not in a state that allows this action."""
