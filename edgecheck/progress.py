"""Progress of long work, for whoever shows it (the CLI's bar); a no-op when nobody listens.

Cross-cutting, like `errors`: the timing harness and the pruning code call `note` at each
step, and the command line binds a listener around a run with `listening`, so no measuring
layer needs to know about tqdm or the terminal. The listener is a context variable: nested
or concurrent runs in threads each see their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Listener = Callable[[str], None]

_listener: ContextVar[Listener | None] = ContextVar("edgecheck_progress", default=None)


def note(text: str) -> None:
    """Tell the listener, if any, what is being done now (e.g. ``"timing 6 configs, round 12"``)."""
    listener = _listener.get()
    if listener is not None:
        listener(text)


def active() -> bool:
    """Whether anybody listens: callers in a hot loop skip formatting their note otherwise."""
    return _listener.get() is not None


@contextmanager
def listening(listener: Listener, *, min_interval: float = 0.2) -> Iterator[None]:
    """Send `note` texts to `listener` inside the block, at most one per `min_interval` s.

    The timing harness notes every round (thousands for a light model); a terminal needs a
    few updates a second, so the rest are dropped. The first note always goes through.
    """
    last = -float("inf")

    def throttled(text: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= min_interval:
            last = now
            listener(text)

    token = _listener.set(throttled)
    try:
        yield
    finally:
        _listener.reset(token)
