"""The on-board agent as ONE file: ``board_agent.pyz``, a zipapp of `edgecheck.agent.board`.

A board runs it with its system Python (3.6+): ``python3 board_agent.pyz BUNDLE --out
results.json``. Python puts the archive's root on ``sys.path`` and runs its ``__main__.py``;
the archive holds::

    __main__.py                     the package's own __main__.py (runs edgecheck.agent.board.cli)
    edgecheck/__init__.py           a stub: the real one imports the host's dependencies
    edgecheck/agent/__init__.py     the real one (a docstring)
    edgecheck/agent/board/*.py      the agent's modules, unchanged

so the modules' absolute imports (``from edgecheck.agent.board.common import ...``) resolve
the same way inside the archive as in the source tree, and a traceback from a board names the
same modules.

The build is deterministic: the entries in sorted order, every timestamp 1980-01-01 00:00
(the earliest a zip can hold), regular files with mode 0644, deflated; `zipapp` adds the
``#!/usr/bin/env python3`` line. Two builds from the same sources are byte-identical, so the
sha256 the bundle's manifest lists for the agent stays the same between builds. Nothing is
written into the installed package: the archive is built in memory and written to `target`.
"""

from __future__ import annotations

import io
import os
import stat
import zipapp
import zipfile
from pathlib import Path

AGENT_ARCHIVE = "board_agent.pyz"
INTERPRETER = "/usr/bin/env python3"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
EDGECHECK_STUB = (
    b'"""A stub: board_agent.pyz holds only edgecheck.agent.board, the on-board agent."""\n'
)


def archive_entries() -> dict[str, bytes]:
    """The archive's files by their path inside it: the package's ``*.py`` (no caches)."""
    from edgecheck.agent import board

    package = Path(board.__file__).parent
    entries = {
        "__main__.py": (package / "__main__.py").read_bytes(),
        "edgecheck/__init__.py": EDGECHECK_STUB,
        "edgecheck/agent/__init__.py": (package.parent / "__init__.py").read_bytes(),
    }
    for path in sorted(package.glob("*.py")):
        entries[f"edgecheck/agent/board/{path.name}"] = path.read_bytes()
    return entries


def build_agent_archive(target: str | os.PathLike[str]) -> Path:
    """Write ``board_agent.pyz`` to `target` (its name is the caller's) and return its path."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in sorted(archive_entries().items()):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the host, so the mode below is read
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data)
    buffer.seek(0)
    path = Path(target)
    zipapp.create_archive(buffer, path, interpreter=INTERPRETER)
    return path
