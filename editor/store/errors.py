"""The store's exceptions; each message says what is wrong and what to do."""

from __future__ import annotations


class StoreError(Exception):
    """A store operation that cannot be done; ``str()`` is a message for the user."""


class NotFound(StoreError, LookupError):  # noqa: N818 (reads as "store.NotFound")
    """A project, pipeline, version, user or review that does not exist."""


class Conflict(StoreError):  # noqa: N818 (reads as "store.Conflict")
    """The operation clashes with what is stored: a taken name, a stale draft, an unchanged document."""


class PermissionDenied(StoreError, PermissionError):  # noqa: N818 (the name the server maps to 403)
    """The user lacks the role the operation needs, or the four-eyes rule forbids it."""


class SchemaError(StoreError):
    """The database cannot be used by this dagsmith: newer schema, missing driver, unreachable server."""
