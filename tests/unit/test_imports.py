"""Import hygiene: `import edgecheck` is cheap and every submodule imports without the heavy
optional packages (tensorrt, polygraphy, cv2, onnx, onnxruntime)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import edgecheck

OPTIONAL = ["tensorrt", "polygraphy", "cv2", "onnx", "onnxruntime"]

BLOCKER = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {OPTIONAL!r}:
            raise ImportError(f"blocked for the test: {{name}}")
sys.meta_path.insert(0, Block())
"""


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_edgecheck_loads_no_heavy_optional_package_and_is_fast():
    out = _python(
        "import sys, time, json, torch\n"
        "t = time.perf_counter(); import edgecheck, edgecheck.plugin; dt = time.perf_counter() - t\n"
        f"print(json.dumps({{'dt': dt, 'loaded': [m for m in {OPTIONAL!r} if m in sys.modules]}}))"
    )
    result = json.loads(out)
    assert result["loaded"] == []
    assert result["dt"] < 1.0, f"import edgecheck took {result['dt']:.2f} s"


def test_every_submodule_imports_without_optional_packages():
    names = [m.name for m in pkgutil.walk_packages(edgecheck.__path__, "edgecheck.")]
    assert "edgecheck.plugin" in names and "edgecheck.macs" in names
    code = (
        BLOCKER
        + "import importlib\n"
        + "".join(f"importlib.import_module({name!r})\n" for name in names)
    )
    _python(code + "print('ok')")


def test_missing_optional_package_is_one_clear_line(tmp_path):
    out = _python(
        BLOCKER
        + "from edgecheck.macs import count_onnx_macs\n"
        + "from edgecheck.errors import MissingDependencyError\n"
        + "try:\n"
        + f"    count_onnx_macs({str(tmp_path / 'm.onnx')!r})\n"
        + "except MissingDependencyError as e:\n"
        + "    print(e)\n"
    )
    assert "needs the 'onnx' package" in out and "pip install pytest-edgecheck[cpu]" in out
