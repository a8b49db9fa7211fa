"""tests/unit mirrors the package: a test module sits in ``tests/unit/<sub>/`` when it tests the
subpackage ``edgecheck/<sub>/`` (a command's tests go with the package the command drives;
``cli/`` keeps the command line's own: parser, help, errors, project models), at the root when
it tests a top-level module (``config.py``, ``identity.py``, ``ab.py``, ...), the whole package
(imports, layers, this layout) or the repository's examples and scripts.

Test modules are imported by basename (pytest's default ``prepend`` import mode, no
``__init__.py`` under tests/), so a basename appears once in tests/; the helpers
(``fake_machines``, ``sshd_server``) stay at tests/unit's root, on ``sys.path`` by its conftest.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

UNIT = Path(__file__).resolve().parent
TESTS = UNIT.parent
PACKAGE = TESTS.parent / "edgecheck"

# Subpackages without a folder of their own, and where their tests live instead.
EXEMPT = {
    # the shipped FQA weights and their loader: tested with the training that writes them
    "weights": "training/test_train_fqa.py",
}


def _subpackages() -> set[str]:
    return {p.parent.name for p in PACKAGE.glob("*/__init__.py")}


def _test_modules() -> list[Path]:
    return sorted(UNIT.rglob("test_*.py"))


def test_every_test_module_sits_in_a_subpackages_folder_or_the_root():
    misplaced = []
    for path in _test_modules():
        folder = path.parent.relative_to(UNIT)
        if folder != Path(".") and not (PACKAGE / folder / "__init__.py").is_file():
            misplaced.append(f"{path.relative_to(TESTS)}: edgecheck/{folder} is no package")
    assert not misplaced, "\n".join(misplaced)


def test_a_root_test_module_is_not_named_after_a_subpackage():
    """``tests/unit/test_history_x.py`` belongs in ``tests/unit/history/``."""
    subpackages = _subpackages()
    flat = [
        str(p.relative_to(TESTS))
        for p in _test_modules()
        if p.parent == UNIT and p.stem.split("_")[1] in subpackages
    ]
    assert not flat, f"move to the subpackage's folder: {flat}"


def test_every_subpackage_has_a_folder_with_tests_or_an_exemption():
    subpackages = _subpackages()
    missing = [
        name
        for name in sorted(subpackages - set(EXEMPT))
        if not any((UNIT / name).rglob("test_*.py"))
    ]
    assert not missing, f"no tests/unit/<name>/test_*.py for these subpackages: {missing}"
    for name, where in EXEMPT.items():
        assert name in subpackages, f"exempt {name!r} is no longer a subpackage: drop it"
        assert not (UNIT / name).exists(), f"tests/unit/{name}/ exists: drop the exemption"
        assert (UNIT / where).is_file(), f"{name}'s tests are not in tests/unit/{where}"


def test_test_basenames_are_unique_and_no_init_files():
    modules = [p for p in TESTS.rglob("*.py") if p.name != "conftest.py"]
    counts = Counter(p.name for p in modules)
    assert [n for n, c in counts.items() if c > 1] == []
    assert list(TESTS.rglob("__init__.py")) == []
