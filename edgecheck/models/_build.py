"""Construction helpers shared by the built-in models."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded_construction(device: str | torch.device | None, seed: int | None) -> Iterator[None]:
    """Build parameters on `device` from a private RNG stream seeded with `seed`.

    Forking the RNG keeps model construction from disturbing the caller's random state, and
    the same seed always gives the same weights. On the ``meta`` device no memory is allocated,
    which makes shape-only work (MAC counting of VGG16) instant.
    """
    with contextlib.ExitStack() as stack:
        if seed is not None:
            stack.enter_context(torch.random.fork_rng(devices=[]))
            torch.manual_seed(seed)
        if device is not None:
            stack.enter_context(torch.device(device))
        yield
