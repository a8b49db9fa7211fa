"""Writing to SQLite while other processes do: every write is one ``BEGIN IMMEDIATE``
transaction (`immediate_transaction`), and a step that SQLite refuses with "database is
locked" without waiting in its busy handler (the switch to WAL, a first read while another
writer switches) is retried for up to the busy timeout (`when_unlocked`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def when_unlocked(step: Callable[[], object], timeout: float) -> None:
    """Run `step`, again after a short wait while SQLite says the database is locked, for
    at most `timeout` seconds (then the last error is raised)."""
    import random
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005 + 0.02 * random.random())


class immediate_transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error (a context manager)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
