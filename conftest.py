"""Top-level conftest: the edgecheck plugin itself comes from the package's pytest11 entry
point, so an installed edgecheck works the same in this repo and in a user's project.

Here only what this repository's own test suite needs: pytester for the plugin's tests, and
a hypothesis profile that keeps property tests deterministic in CI.
"""

from __future__ import annotations

import os

pytest_plugins = ["pytester"]

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is a test extra; the plugin works without it
    pass
else:
    settings.register_profile(
        "ci",
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )
    settings.register_profile("dev", deadline=None)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")
