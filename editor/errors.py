"""The error the editor's services raise for a problem the user can fix (its message says how).

Its own module so that the services of the store (``services``) and of local runs (``run_services``)
both raise it without importing each other.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message says how."""
