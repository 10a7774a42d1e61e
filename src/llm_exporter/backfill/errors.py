"""The one error a backfill stops with."""


class BackfillError(Exception):
    """What stops a backfill, said for the user."""
