"""The one error type of the warehouse."""

from __future__ import annotations


class WarehouseError(Exception):
    """A warehouse problem the user can act on; the message says what to do."""
