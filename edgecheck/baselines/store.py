"""Where baseline files live: the `BaselineStore` interface (``fetch / save / delete``),
`DirectoryStore` (one file per profile in a folder) and `ReadOnlyStore` (baselines shared from
CI, or a dry run).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from edgecheck._atomic import write_atomic
from edgecheck.baselines.entry import Entry
from edgecheck.baselines.fileformat import BaselineFile, parse_baseline
from edgecheck.errors import BaselineError


class BaselineStore(Protocol):
    """Where baseline files live. `fetch` never writes; `save` merges into what is stored."""

    def fetch(self, profile: str) -> BaselineFile:
        """The stored file for `profile` (empty when there is none)."""
        ...

    def save(
        self,
        profile: str,
        entries: Iterable[Entry],
        fingerprints: Mapping[str, Mapping[str, str]] = ...,
    ) -> Path:
        """Add or replace `entries`, keep every other stored entry; returns the file written."""
        ...

    def delete(self, profile: str, keys: Iterable[tuple[str, str, str]]) -> Path:
        """Remove the entries with these keys; returns the file written."""
        ...


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (a sidecar, because the rename in
    `write_atomic` replaces the file itself, and a lock on a replaced inode locks nothing)."""
    import fcntl  # POSIX; imported here so that the module imports everywhere

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


class DirectoryStore:
    """One file per profile, ``<root>/<profile>.json``.

    Writes read the file again under an exclusive lock, merge, and replace it atomically, so
    concurrent updaters (two CI jobs, xdist workers) lose no entry, and a reader never sees half
    a file. A file that does not parse is never rewritten: `save` raises instead.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, profile: str) -> Path:
        """The file that holds `profile`'s baselines."""
        return self.root / f"{profile}.json"

    def fetch(self, profile: str) -> BaselineFile:
        path = self.path(profile)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return BaselineFile(profile, path=path)
        except UnicodeDecodeError:
            raise BaselineError(
                f"{path}: not UTF-8 text; restore it from git or delete it and re-record."
            ) from None
        return parse_baseline(text, path=path, profile=profile)

    def _rewrite(self, profile: str, change: Any) -> Path:
        path = self.path(profile)
        with _locked(path):
            current = self.fetch(profile)  # raises on a corrupt file, which stays untouched
            updated = change(current)
            text = updated.to_json()
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                write_atomic(path, text)
        return path

    def save(
        self,
        profile: str,
        entries: Iterable[Entry],
        fingerprints: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Path:
        new = list(entries)
        return self._rewrite(profile, lambda current: current.merged(new, fingerprints or {}))

    def delete(self, profile: str, keys: Iterable[tuple[str, str, str]]) -> Path:
        drop = list(keys)
        return self._rewrite(profile, lambda current: current.without(drop))


class ReadOnlyStore:
    """A store that can be read but not written: baselines shared from CI, or a dry run."""

    def __init__(self, inner: BaselineStore) -> None:
        self.inner = inner

    def fetch(self, profile: str) -> BaselineFile:
        return self.inner.fetch(profile)

    def save(self, profile: str, entries: Iterable[Entry], fingerprints: Any = None) -> Path:
        raise BaselineError(f"baselines for '{profile}' are read-only here; nothing was written.")

    def delete(self, profile: str, keys: Iterable[tuple[str, str, str]]) -> Path:
        raise BaselineError(f"baselines for '{profile}' are read-only here; nothing was deleted.")
