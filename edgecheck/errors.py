"""One exception root for everything edgecheck raises on purpose.

Every message states the offending value, the limit or expectation, and the fix,
so that a CI log alone tells a user what to do.
"""

from __future__ import annotations


class EdgecheckError(Exception):
    """Root of all errors that edgecheck raises deliberately."""


class MissingDependencyError(EdgecheckError, ImportError):
    """An optional package (tensorrt, polygraphy, cv2, onnx, ...) is not installed."""


class ConfigError(EdgecheckError, ValueError):
    """A bad value in `[tool.edgecheck]`, an environment variable or a command-line option."""


class ModelError(EdgecheckError, ValueError):
    """A model that cannot be built, loaded or run as asked (unknown name, wrong input shape, ...)."""


class PlanError(ModelError):
    """A channel plan that does not fit the model it is applied to."""


class BaselineError(EdgecheckError, ValueError):
    """A baseline file that cannot be used as it is (corrupt, from a newer edgecheck, for another
    profile, a duplicated or malformed entry), or a measurement that cannot be recorded."""
