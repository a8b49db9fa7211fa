"""Stored baselines and the regression check against them (the "judge" layer).

A baseline file, ``baselines/<profile>.json``, holds one `Entry` per (test id, metric): what a
test measured when the baseline was recorded, how it is compared (its `kind`, direction and
tolerance) and what it was measured on (the environment fingerprint). The package, one module
per part:

* `entry`: `Entry`, one metric of one test, and the three kinds of metric (``exact``,
  ``ratio``, ``timing``) with their default tolerances;
* `fileformat`: `BaselineFile`, a profile's entries and the fingerprints they cite, its
  git-friendly text (`parse_baseline`, `BaselineFile.to_json`), `Mismatch` (why a stored
  timing is not this machine's) and `diff_files`;
* `store`: `BaselineStore`, the storage interface (``fetch / save / delete``);
  `DirectoryStore` keeps one file per profile in a folder, writes atomically under an
  inter-process lock and merges with what is on disk, so two concurrent updaters lose
  nothing; `ReadOnlyStore` wraps a store shared from CI;
* `verdict`: `BaselineCheck`, the rule (style: checks are objects): given a stored entry and
  a new measurement it returns a `Verdict`, truthy unless it is a regression, statistical
  when both sides have samples; `compare` judges a measurement against a file, comparing a
  timing only on the machine that recorded it (fingerprint and calibration within
  `CALIBRATION_BAND`).

Everything public is importable from here (``from edgecheck.baselines import Entry``).
Nothing here imports scipy until a statistical comparison needs it.
"""

from edgecheck.baselines.entry import (
    DEFAULT_CONFIDENCE,
    DEFAULT_TOLERANCE,
    DIRECTIONS,
    KINDS,
    MAX_STORED_SAMPLES,
    Entry,
)
from edgecheck.baselines.fileformat import (
    OLDEST_READABLE_SCHEMA,
    SCHEMA_VERSION,
    UPDATE_COMMAND,
    BaselineFile,
    Mismatch,
    diff_files,
    parse_baseline,
)
from edgecheck.baselines.store import BaselineStore, DirectoryStore, ReadOnlyStore
from edgecheck.baselines.verdict import (
    CALIBRATION_BAND,
    NO_BASELINE_STORED,
    VERDICTS,
    BaselineCheck,
    Verdict,
    compare,
)

__all__ = [
    "CALIBRATION_BAND",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_TOLERANCE",
    "DIRECTIONS",
    "KINDS",
    "MAX_STORED_SAMPLES",
    "NO_BASELINE_STORED",
    "OLDEST_READABLE_SCHEMA",
    "SCHEMA_VERSION",
    "UPDATE_COMMAND",
    "VERDICTS",
    "BaselineCheck",
    "BaselineFile",
    "BaselineStore",
    "DirectoryStore",
    "Entry",
    "Mismatch",
    "ReadOnlyStore",
    "Verdict",
    "compare",
    "diff_files",
    "parse_baseline",
]
