"""edgecheck.baselines: the file format, its errors, the store, and the regression check.

The statistics are tested on literal, deterministic samples: a sine-wave jitter of 2 % around
1 ms, scaled by known factors, so each verdict and ratio is known in advance.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from edgecheck.baselines import (
    CALIBRATION_BAND,
    SCHEMA_VERSION,
    BaselineCheck,
    BaselineFile,
    DirectoryStore,
    Entry,
    ReadOnlyStore,
    compare,
    diff_files,
    parse_baseline,
)
from edgecheck.bench.calibration import Calibration
from edgecheck.errors import BaselineError, EdgecheckError

FP = "0123456789ab"
OTHER_FP = "ba9876543210"
# 40 timings around 1 ms, +-2 %, deterministic.
OLD = 1e-3 * (1.0 + 0.02 * np.sin(np.arange(40) * 1.7))
T = "tests/test_m.py::test_speed"


# The calibration a timing was recorded under, and what "this machine" measures in a test.
RECORDED_ON = Calibration(sgemm_gflops=101.0, read_gbps=22.0)


def timing(samples, fp=FP, calibration=RECORDED_ON, **kw):
    return Entry.measured(T, "latency", samples, kind="timing", unit="s", fingerprint_id=fp,
                          calibration=calibration, **kw)  # fmt: skip


def measures(calibration):
    """This machine's calibration as `compare` asks for it, counting the asks."""

    def calibrate():
        calibrate.calls += 1
        return calibration

    calibrate.calls = 0
    return calibrate


def macs(value, test_id="tests/test_m.py::test_macs", **kw):
    return Entry.measured(
        test_id, "conv_macs", value, unit="MACs", recorded="2026-01-01T00:00:00Z", **kw
    )


# ------------------------------------------------------------------------------- the verdicts


@pytest.mark.parametrize(
    ("factor", "status", "ratio"),
    [(1.10, "regression", 1.10), (1.02, "unchanged", 1.02), (1.0, "unchanged", 1.0),
     (0.90, "improvement", 0.90)],
)  # fmt: skip
def test_timing_verdicts_on_scaled_samples(factor, status, ratio):
    verdict = BaselineCheck().check(timing(OLD), timing(OLD * factor))
    assert verdict.status == status
    assert verdict.ratio == pytest.approx(ratio, rel=1e-6)
    assert verdict.ci_low <= verdict.ratio <= verdict.ci_high
    assert bool(verdict) is (status != "regression")
    if status in ("regression", "improvement"):
        assert verdict.p_value < 0.01


def test_regression_message_has_metric_old_new_tolerance_and_confidence():
    verdict = BaselineCheck().check(timing(OLD), timing(OLD * 1.10))
    msg = verdict.message
    assert msg.startswith(
        f"{T} :: latency: REGRESSION: 0.00100041 s -> 0.00110045 s (+10 %; lower is better)"
    )
    assert "1.1x as bad [99% CI" in msg
    assert "tolerance 5.00%, confidence 99% (Mann-Whitney p = " in msg
    assert "n = 40 vs 40" in msg


def test_slowdown_inside_the_tolerance_is_not_a_regression_even_when_certain():
    # 3 % slower: certain that it moved, and certain that it moved less than 5 %.
    verdict = BaselineCheck().check(timing(OLD), timing(OLD * 1.03))
    assert verdict.status == "unchanged"
    assert verdict.ci_high <= 1.05


def test_few_noisy_samples_are_undecided_not_a_verdict():
    old = [1.0, 2.0, 1.5]
    new = [1.3, 2.2, 1.6]
    verdict = BaselineCheck().check(timing(old), timing(new))
    assert verdict.status == "undecided"
    assert "too noisy" in verdict.message
    assert verdict  # undecided does not fail


def test_higher_is_better_throughput():
    fps = 30.0 * (1.0 + 0.02 * np.sin(np.arange(40) * 1.7))
    old = timing(fps, direction="higher")
    assert BaselineCheck().check(old, timing(fps * 0.85, direction="higher")).status == "regression"
    better = BaselineCheck().check(old, timing(fps * 1.2, direction="higher"))
    assert better.status == "improvement"
    assert better.ratio == pytest.approx(1 / 1.2)


def test_tighter_tolerance_catches_a_smaller_slowdown():
    assert BaselineCheck().check(timing(OLD), timing(OLD * 1.03)).status == "unchanged"
    # 4 %: the interval reaches past 5 %, so it is neither cleared nor convicted.
    assert BaselineCheck().check(timing(OLD), timing(OLD * 1.04)).status == "undecided"
    check = BaselineCheck.parse("1%@0.99")
    assert (check.tolerance, check.confidence) == (0.01, 0.99)
    verdict = check.check(timing(OLD), timing(OLD * 1.03))
    assert verdict.status == "regression"
    assert verdict.p_value == pytest.approx(4.96e-07, rel=0.01)


@pytest.mark.parametrize("text", ["5", "-1%", "abc", "5%@2"])
def test_bad_tolerance_text_is_an_error(text):
    with pytest.raises(BaselineError, match="tolerance"):
        BaselineCheck.parse(text)


def test_exact_metric_compares_with_a_tiny_tolerance():
    base = macs(15_346_630_656)
    assert BaselineCheck().check(base, macs(15_346_630_656)).status == "unchanged"
    # One more 3x3 conv of 64 -> 64 channels at 224x224: 1.85 G MACs more.
    bigger = BaselineCheck().check(base, macs(15_346_630_656 + 1_849_688_064))
    assert bigger.status == "regression" and not bigger
    assert "15,346,630,656 MACs -> 17,196,318,720 MACs (+12.1 %; lower is better)" in bigger.message
    assert "tolerance 1e-09 (exact comparison)" in bigger.message
    assert BaselineCheck().check(base, macs(3_391_649_856)).status == "improvement"


def test_ratio_value_without_samples_compares_by_tolerance():
    base = Entry.measured("t::r", "speedup", 2.40, kind="ratio", direction="higher")
    assert BaselineCheck().check(base, Entry.measured("t::r", "speedup", 2.35, kind="ratio",
                                                      direction="higher")).status == "unchanged"  # fmt: skip
    assert BaselineCheck().check(base, Entry.measured("t::r", "speedup", 2.0, kind="ratio",
                                                      direction="higher")).status == "regression"  # fmt: skip


def test_timing_compares_only_on_its_fingerprint():
    here = measures(RECORDED_ON)
    stored = BaselineFile("cpu").merged([timing(OLD, fp=OTHER_FP)], {})
    verdict = compare(stored, timing(OLD * 2.0), calibration=here)
    assert verdict.status == "other device" and verdict
    assert "no baseline for this device" in verdict.message
    assert here.calls == 0  # nothing to compare with: the calibration is not measured
    stored = stored.merged([timing(OLD)], {})
    assert compare(stored, timing(OLD * 2.0), calibration=here).status == "regression"
    assert here.calls == 1
    assert compare(BaselineFile("cpu"), macs(1)).status == "no baseline"


# Two fingerprint tables as edgecheck.device writes them: the same masked name "AMD EPYC",
# Zen 2 (family 23) against Zen 4 (family 25).
ZEN2 = {"cpu_model": "AMD EPYC", "cpu_vendor": "AuthenticAMD", "cpu_family": "23",
        "cpu_model_code": "49", "cpu_stepping": "0", "isa": "avx2 fma", "cores": "2",
        "os": "Linux-6.18.44-fc-v1098-x86_64-with-glibc2.36"}  # fmt: skip
ZEN4 = {**ZEN2, "cpu_family": "25", "cpu_model_code": "17", "cpu_stepping": "1",
        "isa": "avx2 fma avx512f avx512_vnni avx512_bf16", "os": "Linux-6.18.44-fc-v857"}  # fmt: skip


def test_timing_from_a_machine_with_another_identity_names_the_fields_that_differ():
    fast = Calibration(sgemm_gflops=101.0, read_gbps=22.0)
    stored = BaselineFile("cpu").merged([timing(OLD, fp=OTHER_FP, calibration=fast)],
                                        {OTHER_FP: ZEN4})  # fmt: skip
    here = measures(fast)
    verdict = compare(stored, timing(OLD * 2.0), here=ZEN2, calibration=here)
    assert (verdict.status, bool(verdict), verdict.old) == ("other device", True, None)
    assert "no baseline for this device: different machine: cpu_family 25 vs 23, " in (
        verdict.message
    )
    assert "cpu_model_code 17 vs 49" in verdict.message and "Linux" not in verdict.message
    assert "vs 'avx2 fma' (recorded vs here); measured 0.002" in verdict.message
    assert here.calls == 0


def test_not_compared_timing_keeps_the_differing_fields_structured_for_the_summary():
    # The stored table is ZEN2 with an older onnxruntime; here is ZEN2 with the new one.
    stored = BaselineFile("cpu").merged(
        [timing(OLD, fp=OTHER_FP)], {OTHER_FP: {**ZEN2, "onnxruntime": "1.31.0", "torch": "2.13.0"}}
    )
    here = {**ZEN2, "onnxruntime": "1.32.0", "torch": "2.13.0"}
    verdict = compare(stored, timing(OLD), here=here, calibration=measures(RECORDED_ON))
    assert verdict.status == "other device"
    assert verdict.differs == (("onnxruntime", "1.31.0", "1.32.0"),)
    assert verdict.not_compared == "onnxruntime version differs (1.31.0 stored, 1.32.0 here)"
    assert "different machine: onnxruntime 1.31.0 vs 1.32.0 (recorded vs here)" in verdict.message
    assert json.loads(json.dumps(verdict.as_dict()))["differs"] == [
        ["onnxruntime", "1.31.0", "1.32.0"]
    ]
    # Several fields: all of them, in the identity's order.
    verdict = compare(stored, timing(OLD), here={**ZEN4, "onnxruntime": "1.32.0"})
    assert verdict.not_compared.startswith("cpu_family differs (23 stored, 25 here), ")
    assert verdict.not_compared.endswith("onnxruntime version differs (1.31.0 stored, 1.32.0 here)")
    # Compared and never-stored verdicts say so too.
    same = BaselineFile("cpu").merged([timing(OLD)], {FP: ZEN2})
    compared = compare(same, timing(OLD), here=ZEN2, calibration=measures(RECORDED_ON))
    assert (compared.status, compared.not_compared, compared.differs) == ("unchanged", "", ())
    assert compare(BaselineFile("cpu"), timing(OLD)).not_compared == "no baseline stored"


def test_a_calibration_that_differs_is_a_reason_of_its_own():
    stored = BaselineFile("cpu").merged([timing(OLD, calibration=RECORDED_ON)], {FP: ZEN4})
    half_as_fast = measures(Calibration(sgemm_gflops=48.0, read_gbps=21.0))
    verdict = compare(stored, timing(OLD), here=ZEN4, calibration=half_as_fast)
    assert verdict.differs == ()
    assert verdict.not_compared == (
        f"calibration differs (sgemm 101 vs 48 GFLOP/s, stored vs here; band {CALIBRATION_BAND:.0%})"
    )


def test_same_identity_but_another_calibration_is_a_different_machine_not_a_regression():
    stored = BaselineFile("cpu").merged([timing(OLD, calibration=RECORDED_ON)], {FP: ZEN4})
    half_as_fast = measures(Calibration(sgemm_gflops=48.0, read_gbps=21.0))
    verdict = compare(stored, timing(OLD * 2.0), here=ZEN4, calibration=half_as_fast)
    assert (verdict.status, bool(verdict), verdict.ratio) == ("other device", True, None)
    assert (
        f"different machine: sgemm 101 vs 48 GFLOP/s (recorded vs here, beyond the "
        f"{CALIBRATION_BAND:.0%} calibration band)" in verdict.message
    )
    assert "read" not in verdict.message.split("band")[0]  # 22 vs 21 GB/s agrees


def test_same_identity_and_calibration_within_the_band_is_compared():
    stored = BaselineFile("cpu").merged([timing(OLD, calibration=RECORDED_ON)], {FP: ZEN4})
    inside = 1.0 + CALIBRATION_BAND * 0.9  # noise of the calibration itself, within the band
    here = measures(Calibration(101.0 / inside, 22.0 * inside))
    assert compare(stored, timing(OLD * 1.10), here=ZEN4, calibration=here).status == "regression"
    assert compare(stored, timing(OLD), here=ZEN4, calibration=here).status == "unchanged"
    outside = measures(Calibration(101.0 / (1.0 + CALIBRATION_BAND * 1.1), 22.0))
    verdict = compare(stored, timing(OLD * 1.10), here=ZEN4, calibration=outside)
    assert verdict.status == "other device"


def test_a_timing_is_never_compared_without_both_calibrations():
    stored = BaselineFile("cpu").merged([timing(OLD, calibration=None)], {FP: ZEN4})
    verdict = compare(stored, timing(OLD * 2.0), here=ZEN4, calibration=measures(RECORDED_ON))
    assert verdict.status == "other device"
    assert "recorded without a calibration" in verdict.message
    assert "'pytest --edgecheck-update-baselines'" in verdict.message
    stored = BaselineFile("cpu").merged([timing(OLD)], {FP: ZEN4})
    assert compare(stored, timing(OLD * 2.0), here=ZEN4).status == "other device"


def test_calibration_is_for_timings_only():
    with pytest.raises(BaselineError, match="t::x :: m: calibration belongs to timings only"):
        Entry.measured("t::x", "m", 1.0, calibration=RECORDED_ON)


def test_changing_the_kind_of_a_metric_is_an_error():
    base = Entry.measured(T, "latency", 1.0, kind="ratio")
    with pytest.raises(BaselineError, match="re-record it"):
        BaselineCheck().check(base, timing(OLD))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"kind": "fast"}, "kind"), ({"direction": "up"}, "direction"),
     ({"tolerance": 1.5}, "tolerance"), ({"kind": "timing"}, "fingerprint_id")],
)  # fmt: skip
def test_bad_measurement_names_the_field(kwargs, field):
    with pytest.raises(BaselineError, match=f"t::x :: m: {field}"):
        Entry.measured("t::x", "m", 1.0, **kwargs)


def test_nan_measurement_is_refused():
    with pytest.raises(BaselineError, match="NaN"):
        Entry.measured("t::x", "m", [1.0, float("nan")])


def test_many_samples_are_stored_as_quantiles():
    entry = timing(np.linspace(1.0, 2.0, 1001))
    assert entry.n == 1001 and len(entry.samples) == 201
    assert entry.samples[0] == 1.0 and entry.samples[-1] == 2.0 and entry.value == 1.5


# --------------------------------------------------------------------------------- the format


def test_file_round_trips_sorted_with_one_field_per_line():
    f = BaselineFile("cpu").merged(
        [macs(5, test_id="b::t"), macs(7, test_id="a::t"), timing([1.0, 2.0])], {FP: {"cores": "2"}}
    )
    text = f.to_json()
    assert parse_baseline(text, path="cpu.json", profile="cpu").to_json() == text
    raw = json.loads(text)
    assert raw["schema"] == SCHEMA_VERSION and raw["profile"] == "cpu"
    assert [e["test_id"] for e in raw["entries"]] == ["a::t", "b::t", T]
    assert list(raw) == sorted(raw) and all(list(e) == sorted(e) for e in raw["entries"])
    assert '      "samples": [1.0, 2.0],\n' in text  # one line: a new timing is a one-line diff
    assert raw["fingerprints"] == {FP: {"cores": "2"}}


def _file(entries, **top):
    return json.dumps({"schema": SCHEMA_VERSION, "profile": "cpu", "entries": entries, **top})


GOOD = macs(5).as_dict()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"schema": 1, "profile": "cpu", "entries": [', "bl.json: not valid JSON"),
        (_file([], schema=SCHEMA_VERSION + 1),
         f"bl.json: schema {SCHEMA_VERSION + 1} is newer than this edgecheck"),
        (_file([], schema=0), "bl.json: schema 0 is older than this edgecheck reads (1 to 2)"),
        (_file([{**timing(OLD).as_dict(), "calibration": {"sgemm_gflops": -1, "read_gbps": 2}}]),
         "bl.json, entry 0 (tests/test_m.py::test_speed :: latency): calibration 'sgemm_gflops' "
         "must be > 0"),
        (_file([], profile="tx2"), "bl.json: this baseline is for profile 'tx2'"),
        (_file([GOOD, GOOD]), "bl.json, entry 1 (tests/test_m.py::test_macs :: conv_macs): "
                              "duplicated test id and metric"),
        (_file([{**GOOD, "value": "big"}]), "bl.json, entry 0 (tests/test_m.py::test_macs :: "
                                           "conv_macs): field 'value' must be a number"),
        (_file([{**GOOD, "kind": "fast"}]), "field 'kind' 'fast' is not one of exact"),
        (_file([{k: v for k, v in GOOD.items() if k != "n"}]), "missing field(s) n"),
        (_file([{**GOOD, "colour": 1}]), "unknown field(s) colour"),
        (json.dumps({"profile": "cpu", "entries": []}), "field 'schema' is None"),
    ],
)  # fmt: skip
def test_bad_files_are_errors_naming_file_entry_and_field(text, expected):
    with pytest.raises(BaselineError) as info:
        parse_baseline(text, path="bl.json", profile="cpu")
    assert expected in str(info.value)
    assert isinstance(info.value, EdgecheckError)


# A schema 1 file as edgecheck wrote it before the device identity: the fingerprint table has
# the CPU's name and the kernel string, the timing has no calibration.
OLD_PRINT = {"cores": "2", "cpu_model": "AMD EPYC", "machine": "x86_64",
             "os": "Linux-6.18.44-fc-v1098-x86_64-with-glibc2.36", "torch": "2.13.0+cpu"}  # fmt: skip
FPS = "tests/perf/test_pipeline_fps.py::test_cpu_pipeline_fps[1080p-fp32]"
SCHEMA_1 = json.dumps({
    "schema": 1, "profile": "cpu", "fingerprints": {"f43f5c074bda": OLD_PRINT},
    "entries": [
        {**macs(5).as_dict(), "fingerprint_id": "f43f5c074bda"},
        {**Entry.measured("t::q", "int8_error", 0.94, kind="ratio", tolerance=0.1,
                          recorded="2026-12-01T22:39:14Z").as_dict(),
         "fingerprint_id": "f43f5c074bda"},
        {"test_id": FPS, "metric": "fps", "unit": "fps", "direction": "higher", "kind": "timing",
         "value": 132.0694, "spread": 5.1, "n": 3, "samples": [127.0, 132.0694, 133.2],
         "tolerance": 0.5, "confidence": 0.99, "fingerprint_id": "f43f5c074bda",
         "recorded": "2026-12-01T22:40:00Z"},
    ],
})  # fmt: skip


def test_schema_1_file_migrates_its_timings_stop_comparing_the_rest_work_unchanged(tmp_path):
    path = tmp_path / "cpu.json"
    path.write_text(SCHEMA_1)
    stored = DirectoryStore(tmp_path).fetch("cpu")
    assert stored.schema == 1
    assert stored.migration_note == (
        f"{path}: schema 1 file: its 1 timing entry was recorded under the old device identity "
        "and will not be compared until re-recorded on each machine with "
        "'pytest --edgecheck-update-baselines' (or 'edgecheck baselines update -- TESTS'); its "
        "exact and ratio entries compare as before."
    )
    assert compare(stored, macs(5)).status == "unchanged"
    assert compare(stored, macs(6)).status == "regression"
    error = Entry.measured("t::q", "int8_error", 2.0, kind="ratio")
    assert compare(stored, error).status == "regression"
    here = measures(RECORDED_ON)
    new_fps = Entry.measured(FPS, "fps", [60.0, 62.0, 66.0], kind="timing", direction="higher",
                             unit="fps", fingerprint_id=FP)  # fmt: skip
    verdict = compare(stored, new_fps, here=ZEN2, calibration=here)
    assert (verdict.status, bool(verdict)) == ("other device", True)
    assert "recorded under the old device identity (before schema 2); re-record it on this " in (
        verdict.message
    )
    assert here.calls == 0
    # The next update writes schema 2 and keeps every entry (the old timing, not comparable).
    DirectoryStore(tmp_path).save("cpu", [macs(7, test_id="b::t")])
    again = DirectoryStore(tmp_path).fetch("cpu")
    assert (again.schema, len(again.entries), again.migration_note) == (SCHEMA_VERSION, 4, None)
    assert json.loads(path.read_text())["schema"] == SCHEMA_VERSION
    assert compare(again, new_fps, here=ZEN2, calibration=here).status == "other device"


def test_calibration_round_trips_on_one_line():
    f = BaselineFile("cpu").merged([timing([1.0, 2.0])], {FP: ZEN4})
    text = f.to_json()
    assert '      "calibration": {"read_gbps": 22.0, "sgemm_gflops": 101.0},\n' in text
    (entry,) = parse_baseline(text, path="x", profile="cpu").entries.values()
    assert entry.calibration == RECORDED_ON


def test_same_test_and_metric_timed_on_two_devices_is_not_a_duplicate():
    f = BaselineFile("cpu").merged([timing(OLD), timing(OLD, fp=OTHER_FP)], {})
    assert len(parse_baseline(f.to_json(), path="x", profile="cpu").entries) == 2


# ---------------------------------------------------------------------------------- the store


def test_save_merges_and_keeps_unchanged_entries_byte_identical(tmp_path):
    store = DirectoryStore(tmp_path)
    path = store.save("cpu", [macs(5, test_id="a::t"), macs(7, test_id="b::t")])
    first = path.read_text()
    # Re-recording an unchanged value at a later time leaves the file as it was.
    store.save("cpu", [Entry.measured("a::t", "conv_macs", 5, unit="MACs")])
    assert path.read_text() == first
    store.save("cpu", [macs(6, test_id="a::t")])
    stored = store.fetch("cpu")
    assert {k[0]: e.value for k, e in stored.entries.items()} == {"a::t": 6.0, "b::t": 7.0}
    store.delete("cpu", [("b::t", "conv_macs", "")])
    assert list(store.fetch("cpu").entries) == [("a::t", "conv_macs", "")]
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_corrupt_file_is_never_rewritten(tmp_path):
    path = tmp_path / "cpu.json"
    path.write_text('{"schema": 1, "entr')
    store = DirectoryStore(tmp_path)
    with pytest.raises(BaselineError, match="cpu.json: not valid JSON"):
        store.save("cpu", [macs(5)])
    assert path.read_text() == '{"schema": 1, "entr'


def test_read_only_store_refuses_to_write(tmp_path):
    store = ReadOnlyStore(DirectoryStore(tmp_path))
    assert store.fetch("cpu").entries == {}
    with pytest.raises(BaselineError, match="read-only"):
        store.save("cpu", [macs(5)])
    assert not (tmp_path / "cpu.json").exists()


WRITER = textwrap.dedent(
    """
    import sys, time
    from edgecheck.baselines import DirectoryStore, Entry
    root, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    while time.time() < start:
        pass
    store = DirectoryStore(root)
    for i in range(40):
        store.save("cpu", [Entry.measured(f"{name}::t{i}", "m", i)])
    """
)


def test_two_processes_updating_one_file_lose_no_entry(tmp_path):
    import time

    start = str(time.time() + 1.5)  # both start writing at the same moment
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name, start])
        for name in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    entries = DirectoryStore(tmp_path).fetch("cpu").entries
    assert len(entries) == 80
    assert {k[0].split("::")[0] for k in entries} == {"a", "b"}


def test_diff_lists_added_removed_and_changed():
    old = BaselineFile("cpu").merged([macs(5, test_id="a::t"), macs(7, test_id="b::t")], {})
    new = BaselineFile("cpu").merged([macs(6, test_id="a::t"), macs(1, test_id="c::t")], {})
    changes = [(c, (a or b).test_id) for c, a, b in diff_files(old, new)]
    assert changes == [("changed", "a::t"), ("removed", "b::t"), ("added", "c::t")]
