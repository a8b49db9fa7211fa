"""The exit statuses of every ``edgecheck`` command, defined once (README.md: "Exit codes").

A CI job reads them without parsing any text: 1 means the model (or a claim) got worse, never
that an input could not be read; 3 means the measurement could not decide, never a failure.
The table is appended to every command's ``--help`` by `edgecheck.cli.args.Parser`.
"""

from __future__ import annotations

OK = 0
"""The command did what was asked: no regression, the claims hold, the file was written."""
REGRESSION = 1
"""A regression (``ab``, ``baselines diff``), a failed claim (``evaluate --strict``), a failed
test (``baselines update``, ``baselines rebase``: nothing written). A pytest run exits 1 too
when ``--edgecheck-require-timing`` finds a stored timing it could not compare."""
USAGE = 2
"""A usage or input error: a bad option, a missing, unreadable, truncated or non-ONNX file,
models whose inputs differ, a missing optional package, a board ``remote`` cannot reach or
whose agent failed. Nothing was judged."""
UNDECIDED = 3
"""Measured, but too noisy to decide either way (``ab``); measure longer."""
INTERNAL = 4
"""An unexpected failure inside edgecheck or a tool it runs: a bug, not a verdict."""

BROKEN_PIPE = 141
"""The reader of the output stopped early (``| head``): the status a shell gives a tool that
SIGPIPE ended (128 + 13), without a message. Not in the table: not a verdict either way."""

TRACEBACK_VARIABLE = "EDGECHECK_TRACEBACK"
"""Set to 1 to see the traceback of an internal error instead of its one line."""

TABLE: tuple[tuple[int, str], ...] = (
    (OK, "ok: no regression, the claims hold, done"),
    (REGRESSION, "regression or FAIL (ab, baselines diff/update/rebase, evaluate --strict)"),
    (USAGE, "usage or input error: a bad option; a missing, unreadable, truncated\n"
     "     or not-ONNX file; models with different inputs; a missing package;\n"
     "     a board that remote cannot reach, or whose agent failed"),
    (UNDECIDED, "not decidable: too noisy to tell (ab); measure longer (--time)"),
    (INTERNAL, f"internal error, a bug (set {TRACEBACK_VARIABLE}=1 for the traceback)"),
)  # fmt: skip


def help_text() -> str:
    """The table as the pre-formatted paragraph that ends every ``--help``."""
    return "exit status:\n" + "\n".join(f"  {code}  {text}" for code, text in TABLE)
