"""The baseline file: `BaselineFile` (a profile's entries and the fingerprints they cite), its
text (`BaselineFile.to_json`, `parse_baseline`) and what changed between two files.

A baseline file, ``baselines/<profile>.json``, holds one `Entry` per (test id, metric) (per
fingerprint id for a timing). The file is meant for git: keys sorted, one entry field per line,
entries sorted by test id and metric, so that a changed metric is a diff of a few lines.
Entries from several machines of one profile live side by side in the file, keyed by
fingerprint id; `BaselineFile.mismatch` says, field by field, why the stored timings are not
this machine's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgecheck.baselines.entry import Entry
from edgecheck.errors import BaselineError
from edgecheck.identity import (
    describe_difference,
    identity_diff,
    identity_differences,
    is_old_identity,
)

# 2: the device identity of edgecheck.identity, and a calibration in every timing entry.
SCHEMA_VERSION = 2
# Schema 1 files are still read: their exact and ratio entries compare as before, their timing
# entries (recorded under the old identity, without a calibration) are never compared.
OLDEST_READABLE_SCHEMA = 1
UPDATE_COMMAND = "pytest --edgecheck-update-baselines"


@dataclass(frozen=True)
class Mismatch:
    """Why a stored timing could not be compared on this machine.

    Attributes:
        reason: for people and for grouping in the summary, the same text for every metric
            with the same cause: ``"onnxruntime version differs (1.31.0 stored, 1.32.0
            here)"``, ``"calibration differs (sgemm 48 vs 101 GFLOP/s, stored vs here)"``.
        detail: what the verdict's message says after "no baseline for this device: ".
        fields: the identity fields that differ, as ``(field, stored value, value here)``;
            empty when the cause is not an identity field (the calibration, an old file).
    """

    reason: str
    detail: str
    fields: tuple[tuple[str, str, str], ...] = ()


@dataclass
class BaselineFile:
    """The content of one baseline file: its profile, entries, and the fingerprints they cite.

    Attributes:
        profile: the device profile the file is for (``tx2``, ``orin``, ``gpu``, ``cpu``).
        entries: by `Entry.key`.
        fingerprints: fingerprint id -> the full fingerprint (what the id stands for).
        path: where it was read from (for messages), if anywhere.
        schema: the schema it was read in (`SCHEMA_VERSION` for a new or merged file).
    """

    profile: str
    entries: dict[tuple[str, str, str], Entry] = field(default_factory=dict)
    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = None
    schema: int = SCHEMA_VERSION

    @property
    def migration_note(self) -> str | None:
        """One line for a file read from an older schema whose timings will not be compared."""
        if self.schema >= SCHEMA_VERSION:
            return None
        stale = sum(e.kind == "timing" and e.calibration is None for e in self.entries.values())
        if not stale:
            return None
        return (
            f"{self.path or 'baselines'}: schema {self.schema} file: its {stale} timing "
            f"entr{'y was' if stale == 1 else 'ies were'} recorded under the old device identity "
            f"and will not be compared until re-recorded on each machine with "
            f"'{UPDATE_COMMAND}' (or 'edgecheck baselines update -- TESTS'); its exact and "
            f"ratio entries compare as before."
        )

    def why_not_this_machine(self, new: Entry, here: Mapping[str, str] | None) -> str:
        """Why the stored timings of `new`'s test and metric are not this machine's (text):
        `mismatch`'s detail."""
        return self.mismatch(new, here).detail

    def mismatch(self, new: Entry, here: Mapping[str, str] | None) -> Mismatch:
        """Why the stored timings of `new`'s test and metric are not this machine's.

        Diffs the stored identity of the closest stored fingerprint (the one with the fewest
        differing fields) with `here`, field by field: the `Mismatch` names the fields with
        both values (``"onnxruntime version differs (1.31.0 stored, 1.32.0 here)"``), or says
        the timings were recorded under the old identity (schema 1) and how to re-record them.
        """
        ids = sorted({
            e.fingerprint_id for e in self.entries.values()
            if (e.test_id, e.metric) == (new.test_id, new.metric) and e.kind == "timing"
        })  # fmt: skip
        tables = {i: self.fingerprints.get(i, {}) for i in ids}
        current = [i for i in ids if not is_old_identity(tables[i])]
        if not current:
            return Mismatch(
                "recorded under the old device identity (before schema 2)",
                "the stored timing was recorded under the old device identity (before schema "
                f"2); re-record it on this machine with '{UPDATE_COMMAND}'",
            )
        if here is None:
            return Mismatch(
                f"fingerprint differs ({', '.join(current)} stored, {new.fingerprint_id} here)",
                f"different machine: fingerprint {', '.join(current)} vs {new.fingerprint_id} "
                "(recorded vs here)",
            )
        diffs = {i: tuple(identity_diff(tables[i], here)) for i in current}
        closest = current[0]  # the first of those with the fewest differing fields
        for i in current[1:]:
            if len(diffs[i]) < len(diffs[closest]):
                closest = i
        fields = diffs[closest]
        if not fields:  # same identity fields, other id: the id's recipe changed
            return Mismatch(
                f"fingerprint differs ({closest} stored, {new.fingerprint_id} here)",
                f"different machine: fingerprint {closest} vs {new.fingerprint_id} "
                "(recorded vs here)",
            )
        return Mismatch(
            ", ".join(describe_difference(*f) for f in fields),
            "different machine: "
            f"{', '.join(identity_differences(tables[closest], here))} (recorded vs here)",
            fields,
        )

    def lookup(self, test_id: str, metric: str, fingerprint_id: str) -> tuple[Entry | None, bool]:
        """The entry to compare a new measurement with, and whether it is for another device.

        Returns ``(entry, False)`` when one applies, ``(None, True)`` when only timings from
        other fingerprints exist (so: no baseline for this device), ``(None, False)`` when the
        metric was never recorded.
        """
        for kind_key in (fingerprint_id, ""):
            entry = self.entries.get((test_id, metric, kind_key))
            if entry is not None and (entry.kind == "timing") == (kind_key != ""):
                return entry, False
        other = any(k[0] == test_id and k[1] == metric for k in self.entries)
        return None, other

    def merged(
        self, new: Iterable[Entry], fingerprints: Mapping[str, Mapping[str, str]]
    ) -> BaselineFile:
        """A copy with `new` entries added or replacing theirs; the rest kept as they are.

        An entry whose numbers did not change keeps its stored recording time, so re-recording
        an unchanged exact metric leaves the file byte-identical.
        """
        entries = dict(self.entries)
        for entry in new:
            old = entries.get(entry.key)
            entries[entry.key] = old if old is not None and old.same_measurement(entry) else entry
        prints = {k: dict(v) for k, v in self.fingerprints.items()}
        for key, value in fingerprints.items():
            prints[key] = dict(value)
        used = {e.fingerprint_id for e in entries.values()}
        prints = {k: v for k, v in prints.items() if k in used}
        return BaselineFile(self.profile, entries, prints, self.path, SCHEMA_VERSION)

    def without(self, keys: Iterable[tuple[str, str, str]]) -> BaselineFile:
        """A copy with the entries of `keys` removed."""
        drop = set(keys)
        entries = {k: e for k, e in self.entries.items() if k not in drop}
        used = {e.fingerprint_id for e in entries.values()}
        prints = {k: v for k, v in self.fingerprints.items() if k in used}
        return BaselineFile(self.profile, entries, prints, self.path, SCHEMA_VERSION)

    def to_json(self) -> str:
        """The file's text: sorted keys, one field per line, each sample list on one line."""
        lines = ["{", '  "entries": [']
        ordered = [self.entries[k] for k in sorted(self.entries)]
        for i, entry in enumerate(ordered):
            items = sorted(entry.as_dict().items())
            body = ",\n".join(
                f"      {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in items
            )
            lines.append("    {\n" + body + "\n    }" + ("," if i < len(ordered) - 1 else ""))
        lines.append("  ],")
        prints = json.dumps(self.fingerprints, indent=2, sort_keys=True).replace("\n", "\n  ")
        lines.append(f'  "fingerprints": {prints},')
        lines.append(f'  "profile": {json.dumps(self.profile)},')
        lines.append(f'  "schema": {SCHEMA_VERSION}')
        lines.append("}")
        return "\n".join(lines) + "\n"


def parse_baseline(
    text: str, *, path: str | os.PathLike[str], profile: str | None = None
) -> BaselineFile:
    """Parse and validate a baseline file's text. Pure: no I/O.

    Args:
        text: the file's content.
        path: its path, named in every error.
        profile: the profile the caller expects; a file for another profile is an error.

    Raises:
        BaselineError: not JSON, a schema newer (or older) than this edgecheck reads, another
            profile, a malformed or duplicated entry. The message names the file, the entry
            (test id :: metric) and the field, and says what to do.
    """
    where = str(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"restore it from git ('git checkout -- {where}') or delete it and re-record with "
            f"'pytest --edgecheck-update-baselines'."
        ) from None
    if not isinstance(raw, dict):
        raise BaselineError(f"{where}: the top level must be a JSON object with 'schema', "
                            f"'profile' and 'entries'.")  # fmt: skip
    schema = raw.get("schema")
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise BaselineError(
            f"{where}: field 'schema' is {schema!r}; expected the integer {SCHEMA_VERSION}. "
            f"Is this an edgecheck baseline file?"
        )
    if schema > SCHEMA_VERSION:
        raise BaselineError(
            f"{where}: schema {schema} is newer than this edgecheck reads ({SCHEMA_VERSION}); "
            f"upgrade edgecheck ('pip install -U pytest-edgecheck') to read it. The file is left as is."
        )
    if schema < OLDEST_READABLE_SCHEMA:
        raise BaselineError(
            f"{where}: schema {schema} is older than this edgecheck reads "
            f"({OLDEST_READABLE_SCHEMA} to {SCHEMA_VERSION}); re-record it with "
            f"'{UPDATE_COMMAND}'."
        )
    unknown = sorted(set(raw) - {"schema", "profile", "entries", "fingerprints"})
    if unknown:
        raise BaselineError(f"{where}: unknown top-level field(s) {', '.join(unknown)}.")
    file_profile = raw.get("profile")
    if not isinstance(file_profile, str) or not file_profile:
        raise BaselineError(f"{where}: field 'profile' must name the device profile, e.g. \"cpu\".")
    if profile is not None and file_profile != profile:
        raise BaselineError(
            f"{where}: this baseline is for profile '{file_profile}', but this run is on "
            f"profile '{profile}'; point --edgecheck-baselines at the right folder or rename "
            f"the file to {file_profile}.json."
        )
    entries_raw = raw.get("entries")
    if not isinstance(entries_raw, list):
        raise BaselineError(f"{where}: field 'entries' must be a list of entries.")
    prints_raw = raw.get("fingerprints", {})
    if not isinstance(prints_raw, dict) or not all(
        isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
        for v in prints_raw.values()
    ):
        raise BaselineError(f"{where}: field 'fingerprints' must map ids to string tables.")
    entries: dict[tuple[str, str, str], Entry] = {}
    for i, item in enumerate(entries_raw):
        entry = Entry.from_dict(item, where=f"{where}, entry {i}")
        if entry.key in entries:
            extra = f" on fingerprint {entry.fingerprint_id}" if entry.kind == "timing" else ""
            raise BaselineError(
                f"{where}, entry {i} ({entry.label}): duplicated test id and metric{extra}; "
                f"the first is entry {list(entries).index(entry.key)}. Keep one of them."
            )
        entries[entry.key] = entry
    return BaselineFile(
        file_profile, entries, {k: dict(v) for k, v in prints_raw.items()}, Path(path), schema
    )


def diff_files(
    old: BaselineFile, new: BaselineFile
) -> list[tuple[str, Entry | None, Entry | None]]:
    """What changed from `old` to `new`: ``(change, old_entry, new_entry)`` sorted by key, with
    change one of ``"added"``, ``"removed"``, ``"changed"`` (numbers or rules differ)."""
    out: list[tuple[str, Entry | None, Entry | None]] = []
    for key in sorted(set(old.entries) | set(new.entries)):
        a, b = old.entries.get(key), new.entries.get(key)
        if a is None:
            out.append(("added", None, b))
        elif b is None:
            out.append(("removed", a, None))
        elif not a.same_measurement(b):
            out.append(("changed", a, b))
    return out
