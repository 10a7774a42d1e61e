"""The errors a backfill stops with."""


class BackfillError(Exception):
    """What stops a backfill, said for the user."""


class Stopped(BaseException):
    """A signal stopped the backfill (raised from its handler, so that clean-ups run)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
