"""The paper's experiments, each measured live and returned as a report `Section`.

One package per experiment (Table VI's `table6` is one module): ``measure`` times the
tables, ``judge`` gives the claims' verdicts, ``render`` holds ``section``, which renders
what the other two return. The CLI's ``evaluate`` runs them in order, and the tests under
``tests/`` call the same measuring functions, so the report and the test verdicts come from
one implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry
    from edgecheck.device import DeviceInfo
    from edgecheck.report import Section

Experiment = Callable[["ClaimRegistry", "DeviceInfo"], "Section"]


def experiments() -> dict[str, Experiment]:
    """Experiment name -> function, in report order."""
    from edgecheck.evaluation import parallel, pipeline, pruning, quantization, table6

    return {
        "macs": table6.section,
        "parallel": parallel.section,
        "quantization": quantization.section,
        "pruning": pruning.section,
        "pipeline": pipeline.section,
    }
