"""Imports go one way: every edgecheck module imports only from its own layer or below.

The layers, lowest first (ARCHITECTURE.md, "Layers"): a module of a lower layer never imports
one of a higher layer, not even inside a function (lazy imports count: they are the same
dependency, paid later). A new top-level module or package must be placed in the table, so
the test fails until it is. Command-line code lives in one package, `edgecheck.cli`, which
nothing else in edgecheck imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "edgecheck"

LAYERS: list[tuple[str, frozenset[str]]] = [
    # what every layer may use: errors, file writing, import guards, the identity fields
    ("foundation", frozenset({"edgecheck", "errors", "_imports", "_atomic", "envvars",
                              "exitcodes", "identity", "onnx_file", "progress", "plots", "_lazy",
                              "formatting"})),
    # this machine, the data, the models and their static analysis, the claims and settings
    ("platform", frozenset({"device", "data", "models", "weights", "export", "macs",
                            "claims", "paper", "config", "options"})),
    # runners; below the transforms because quantization runs its calibration through them
    ("backends", frozenset({"backends"})),
    ("transforms", frozenset({"prune", "quantize", "training"})),
    ("measure", frozenset({"bench", "testing"})),
    ("judge", frozenset({"baselines", "ab", "history"})),
    ("features", frozenset({"pipeline", "evaluation", "report"})),
    ("interfaces", frozenset({"cli", "plugin", "devicerun", "agent"})),
]  # fmt: skip


def layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "edgecheck"
    for index, (_, members) in enumerate(LAYERS):
        if top in members:
            return index
    raise KeyError(f"{module}: not in any layer of {__file__}; place '{top}' in LAYERS")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def _imports(path: Path) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        out += [(n, node.lineno) for n in names if n == "edgecheck" or n.startswith("edgecheck.")]
    return out


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_imports_go_only_downward(module: str, path: Path) -> None:
    own = layer(module)
    upward = [
        f"{path.name}:{line} imports {target} ({LAYERS[layer(target)][0]}), above "
        f"{module}'s layer ({LAYERS[own][0]})"
        for target, line in _imports(path)
        if layer(target) > own
    ]
    assert not upward, "\n".join(upward)


# Outside edgecheck.cli, argparse only where another front end needs it too.
ARGPARSE_OUTSIDE_CLI = {
    "edgecheck.options": "the options the pytest plugin and the CLI both spell",
    "edgecheck.agent.board.cli": "the stand-alone agent's command line, stdlib only",
}


def test_command_line_code_is_only_in_the_cli_package() -> None:
    """Feature packages hold no command-line code: no module outside `edgecheck.cli` imports
    it or argparse (but `ARGPARSE_OUTSIDE_CLI`), so a command is found in one place."""
    found = []
    for module, path in _modules():
        if module == "edgecheck.cli" or module.startswith("edgecheck.cli."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                cli = name == "edgecheck.cli" or name.startswith("edgecheck.cli.")
                if cli or (name == "argparse" and module not in ARGPARSE_OUTSIDE_CLI):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}")
    assert not found, "\n".join(found)


def test_no_relative_imports() -> None:
    """Relative imports would hide a module's dependencies from the check above."""
    relative = [
        f"{path}:{node.lineno}"
        for _, path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert not relative, relative


def test_no_private_name_is_imported_from_another_module() -> None:
    """A leading underscore means "this module's own": importing it elsewhere couples two
    modules through what one of them may change freely. Make the name public instead. A
    private module (``_atomic``, ``_imports``) is the package's own and may be imported
    within the package, which is all of edgecheck for top-level ones."""
    found = []
    for module, path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            if not node.module.startswith("edgecheck"):
                continue
            private = [a.name for a in node.names if a.name.startswith("_")
                       and not a.name.startswith("__")]  # fmt: skip
            parts = node.module.split(".")
            for depth, part in enumerate(parts[2:], start=2):  # edgecheck.pkg._private
                owner = ".".join(parts[:depth])
                if part.startswith("_") and not module.startswith(owner):
                    private.append(node.module)
            found += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {module} imports "
                      f"{name} from {node.module}" for name in private]  # fmt: skip
    assert not found, "\n".join(found)


MAX_MODULE_LINES = 450  # issue 14: a module to be read whole, as one topic


def test_no_module_is_over_450_lines() -> None:
    """Every module of edgecheck, the on-board agent's package included, holds at most
    `MAX_MODULE_LINES` lines; a longer one is split by topic (as `edgecheck.agent.board`)."""
    long = [
        f"{path.relative_to(PACKAGE.parent)}: {count} lines"
        for _, path in _modules()
        if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, "\n".join(long)
