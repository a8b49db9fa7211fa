"""Device identity: the fingerprint fields that decide speed, on five machines' /proc texts.

Each machine is a fake root from `fake_machines` (an AVX2-only EPYC, an AVX-512 VNNI EPYC, an
AMX Xeon, a Jetson TX2, a Jetson AGX Orin), read by the real detection code.
"""

from __future__ import annotations

import dataclasses

import pytest
from fake_machines import MACHINE_NAMES, TX2_MAXQ, fake_machine, fake_runner

from edgecheck import device
from edgecheck.device import DeviceInfo, clear_device_cache, describe_device, detect_device
from edgecheck.envvars import PROFILE
from edgecheck.identity import (
    IDENTITY_KEYS,
    POWER_KEYS,
    cpu_clock_state,
    cpu_identity,
    describe_difference,
    identity_diff,
    identity_differences,
    identity_of,
    is_old_identity,
    memory_gib,
    parse_cpu_list,
    parse_nvpmodel,
)


def no_cuda() -> device.CudaState:
    return (False, None, None)


def tegra_x2() -> device.CudaState:
    return (True, "NVIDIA Tegra X2", (6, 2))


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILE, raising=False)
    clear_device_cache()


def orin_gpu() -> device.CudaState:
    return (True, "Orin", (8, 7))


def machine(tmp_path, name: str, overrides=None, runner=fake_runner) -> DeviceInfo:
    probe = {"jetson-tx2": tegra_x2, "jetson-orin": orin_gpu}.get(name, no_cuda)
    root = fake_machine(tmp_path, name, overrides)
    return detect_device(root=root, cuda_probe=probe, command_runner=runner)


# (cpu_vendor, cpu_family, cpu_model_code, cpu_stepping, isa, memory_gib)
EXPECTED_IDENTITY = {
    "epyc-avx2": ("AuthenticAMD", "23", "1", "2", "avx2 fma", "24"),
    "epyc-avx512-vnni": (
        "AuthenticAMD", "25", "17", "1", "avx2 fma avx512f avx512_vnni avx512_bf16", "24",
    ),
    "xeon-amx": (
        "GenuineIntel", "6", "143", "8",
        "avx2 fma avx512f avx512_vnni avx_vnni avx512_bf16 avx512_fp16 amx_tile amx_int8 "
        "amx_bf16",
        "16",
    ),
    "jetson-tx2": ("0x41,0x4e", "8", "0x41:0xd07 x4, 0x4e:0x003 x2",
                   "0x41:0xd07 r1p3, 0x4e:0x003 r0p0", "none", "8"),
    "jetson-orin": ("0x41", "8", "0x41:0xd42 x8", "0x41:0xd42 r0p1", "asimddp fphp asimdhp",
                    "29"),
}  # fmt: skip

# (profile, INT8 dot product on the CPU, FP16 arithmetic on the CPU, BF16 on the CPU)
EXPECTED_PRECISIONS = {
    "epyc-avx2": ("cpu", False, False, False),
    "epyc-avx512-vnni": ("cpu", True, False, True),
    "xeon-amx": ("cpu", True, True, True),
    "jetson-tx2": ("tx2", False, False, False),  # ARMv8.0: no asimddp, no fphp/asimdhp
    "jetson-orin": ("orin", True, True, False),  # Cortex-A78AE: asimddp, fphp/asimdhp
}


@pytest.mark.parametrize("name", MACHINE_NAMES)
def test_identity_fields_of_each_machine(tmp_path, name):
    info = machine(tmp_path, name)
    keys = ("cpu_vendor", "cpu_family", "cpu_model_code", "cpu_stepping", "isa", "memory_gib")
    assert tuple(info.fingerprint[k] for k in keys) == EXPECTED_IDENTITY[name]
    assert set(IDENTITY_KEYS) <= info.fingerprint.keys()
    jetson = name.startswith("jetson")
    # The power state is part of the identity on a Jetson only.
    keys = IDENTITY_KEYS if jetson else tuple(k for k in IDENTITY_KEYS if k not in POWER_KEYS)
    assert info.identity == {k: info.fingerprint[k] for k in keys}
    assert all((info.fingerprint[k] == "none") is not jetson for k in POWER_KEYS)


@pytest.mark.parametrize("name", MACHINE_NAMES)
def test_precisions_and_profile_of_each_machine(tmp_path, name):
    info = machine(tmp_path, name)
    cap = info.capabilities
    assert (info.profile, cap.cpu_int8_dot, cap.cpu_fp16, cap.cpu_bf16) == (
        EXPECTED_PRECISIONS[name]
    )
    expected_reason = [] if cap.cpu_int8_dot else ["needs INT8 dot-product instructions"]
    assert [r.split(",")[0] for r in info.unmet(int8_dot=True)] == expected_reason


def test_the_two_amd_epycs_are_different_machines_though_both_say_amd_epyc(tmp_path):
    zen, zen4 = machine(tmp_path, "epyc-avx2"), machine(tmp_path, "epyc-avx512-vnni")
    assert zen.capabilities.cpu_model == zen4.capabilities.cpu_model == "AMD EPYC"
    assert zen.fingerprint_id != zen4.fingerprint_id
    assert identity_differences(zen.fingerprint, zen4.fingerprint) == [
        "cpu_family 23 vs 25",
        "cpu_model_code 1 vs 17",
        "cpu_stepping 2 vs 1",
        "isa 'avx2 fma' vs 'avx2 fma avx512f avx512_vnni avx512_bf16'",
    ]


def test_every_machine_has_its_own_id(tmp_path):
    ids = {machine(tmp_path, name).fingerprint_id for name in MACHINE_NAMES}
    assert len(ids) == len(MACHINE_NAMES)


def test_kernel_python_and_cpu_name_do_not_change_the_id(tmp_path):
    info = machine(tmp_path, "epyc-avx512-vnni")
    updated = {
        **info.fingerprint,
        "os": "Linux-6.19.2-fc-v2001-x86_64-with-glibc2.36",
        "python": "CPython 3.11.99",
        "cpu_model": "AMD EPYC 9R14 96-Core Processor",
    }
    assert dataclasses.replace(info, fingerprint=updated).fingerprint_id == info.fingerprint_id
    assert info.fingerprint["os"] != updated["os"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("isa", "avx2 fma"), ("cpu_stepping", "2"), ("memory_gib", "48"), ("cores", "64"),
     ("onnxruntime", "1.99.0"), ("l4t", "R35 (release), REVISION: 4.1")],
)  # fmt: skip
def test_each_identity_field_changes_the_id(tmp_path, key, value):
    info = machine(tmp_path, "epyc-avx512-vnni")
    assert info.fingerprint[key] != value
    changed = dataclasses.replace(info, fingerprint={**info.fingerprint, key: value})
    assert changed.fingerprint_id != info.fingerprint_id


def test_the_tx2_is_a_jetson_with_its_release(tmp_path):
    info = machine(tmp_path, "jetson-tx2")
    assert info.capabilities.jetson_model == "quill"
    assert info.fingerprint["l4t"].startswith("R32 (release), REVISION: 7.1")
    assert info.capabilities.cpu_model == "Cortex-A57 x4 + NVIDIA Denver 2 x2"
    assert (info.fingerprint["cuda_device"], info.fingerprint["cuda_capability"]) == (
        "NVIDIA Tegra X2", "6.2",
    )  # fmt: skip


# The identity before the Jetson power state entered it: ids computed from these must stay the
# ids of every machine that is not a Jetson (their stored baselines stay theirs).
IDENTITY_KEYS_BEFORE_POWER = (
    "cpu_vendor", "cpu_family", "cpu_model_code", "cpu_stepping", "isa", "cores", "memory_gib",
    "machine", "torch", "onnxruntime", "tensorrt", "cuda_device", "cuda_capability",
    "jetson_model", "l4t",
)  # fmt: skip


def _id_before_power(fingerprint):
    import hashlib
    import json

    parts = sorted({k: fingerprint.get(k, "absent") for k in IDENTITY_KEYS_BEFORE_POWER}.items())
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


@pytest.mark.parametrize("name", [n for n in MACHINE_NAMES if not n.startswith("jetson")])
def test_ids_off_a_jetson_are_what_they_were_before_the_power_state(tmp_path, name):
    info = machine(tmp_path, name)
    assert info.fingerprint_id == _id_before_power(info.fingerprint)
    assert {k: info.fingerprint[k] for k in POWER_KEYS} == dict.fromkeys(POWER_KEYS, "none")
    # A table stored before the power keys existed differs from this one in nothing.
    old = {k: v for k, v in info.fingerprint.items() if k not in POWER_KEYS}
    assert identity_differences(old, info.fingerprint) == []


def test_the_real_machine_keeps_its_id_unless_it_is_a_jetson():
    info = detect_device()
    if info.capabilities.jetson_model is None:
        assert info.fingerprint_id == _id_before_power(info.fingerprint)


def test_a_tx2_in_maxn_and_in_maxq_are_different_machines(tmp_path):
    maxn = machine(tmp_path / "n", "jetson-tx2")
    clear_device_cache()
    maxq = machine(tmp_path / "q", "jetson-tx2", TX2_MAXQ)
    power = [tuple(i.fingerprint[k] for k in POWER_KEYS) for i in (maxn, maxq)]
    assert power == [
        ("MAXN (mode 0)", "2035200", "0-5", "no"),
        ("MAXQ (mode 1)", "1267200", "0,3-5", "no"),
    ]
    assert maxn.fingerprint_id != maxq.fingerprint_id
    assert identity_differences(maxn.fingerprint, maxq.fingerprint) == [
        "power_mode 'MAXN (mode 0)' vs 'MAXQ (mode 1)'",
        "cpu_max_khz 2035200 vs 1267200",
        "cpus_online 0-5 vs 0,3-5",
    ]
    # The same fields, structured and as the summary groups them.
    assert identity_diff(maxn.fingerprint, maxq.fingerprint)[0] == (
        "power_mode", "MAXN (mode 0)", "MAXQ (mode 1)"
    )  # fmt: skip
    assert describe_difference(*identity_diff(maxn.fingerprint, maxq.fingerprint)[1]) == (
        "cpu_max_khz differs (2035200 stored, 1267200 here)"
    )
    assert describe_difference("l4t", "R32.7.4", "R32.7.5") == (
        "l4t release differs (R32.7.4 stored, R32.7.5 here)"
    )
    # The same mode with jetson_clocks applied is another state again.
    clear_device_cache()
    pinned = {
        f"sys/devices/system/cpu/cpu{n}/cpufreq/scaling_min_freq": "2035200\n" for n in range(6)
    }
    clocks = machine(tmp_path / "c", "jetson-tx2", pinned)
    assert clocks.fingerprint["jetson_clocks"] == "yes"
    assert clocks.fingerprint_id not in (maxn.fingerprint_id, maxq.fingerprint_id)
    text = describe_device(maxq)
    assert "  power mode: MAXQ (mode 1), CPU clock cap 1267200 kHz, CPUs online 0,3-5" in text
    assert "  power_mode: MAXQ (mode 1)\n" in text.partition("also recorded")[0]


def test_the_orin_runs_with_jetson_clocks(tmp_path):
    info = machine(tmp_path, "jetson-orin")
    assert info.profile == "orin"
    assert info.identity["power_mode"] == "MAXN (mode 0)"
    assert (info.identity["cpu_max_khz"], info.identity["jetson_clocks"]) == ("2201600", "yes")


def test_nvpmodel_runs_only_on_a_jetson_where_it_is_installed(tmp_path):
    calls = []

    def runner(argv):
        calls.append(argv)
        return fake_runner(argv)

    machine(tmp_path, "xeon-amx", runner=runner)
    assert calls == []
    clear_device_cache()
    root = fake_machine(tmp_path, "jetson-tx2")
    (root / "usr/sbin/nvpmodel").unlink()
    info = detect_device(root=root, cuda_probe=tegra_x2, command_runner=runner)
    assert calls == [] and info.fingerprint["power_mode"] == "unknown"
    assert info.identity["power_mode"] == "unknown"  # a Jetson's unknown mode is still hashed
    clear_device_cache()
    machine(tmp_path / "again", "jetson-tx2", runner=runner)
    assert calls == [[str(tmp_path / "again/jetson-tx2/usr/sbin/nvpmodel"), "-q"]]
    clear_device_cache()
    failed = machine(tmp_path / "fails", "jetson-tx2", runner=lambda argv: None)
    assert failed.fingerprint["power_mode"] == "unknown"


@pytest.mark.parametrize(
    ("text", "mode"),
    [("NV Power Mode: MAXN\n0\n", "MAXN (mode 0)"),
     ("NVPM WARN: fan mode is not set!\nNV Power Mode: MODE_15W_2CORE\n3\n",
      "MODE_15W_2CORE (mode 3)"),
     ("NV Power Mode: MAXQ\n", "MAXQ"), ("", "unknown"), (None, "unknown"),
     ("nvpmodel: command failed\n", "unknown")],
)  # fmt: skip
def test_nvpmodel_output_is_parsed(text, mode):
    assert parse_nvpmodel(text) == mode


def test_cpu_lists_and_the_clock_state():
    assert parse_cpu_list("0,3-5\n") == [0, 3, 4, 5]
    assert parse_cpu_list("0-1") == [0, 1] and parse_cpu_list("") is None
    assert parse_cpu_list("x") is None
    # An offline core's higher cap does not count, nor its unpinned clocks.
    state = cpu_clock_state("0", {0: "1200000", 1: "2000000"}, {0: "1200000", 1: "300000"})
    assert state == {"cpu_max_khz": "1200000", "cpus_online": "0", "jetson_clocks": "yes"}
    assert cpu_clock_state(None, {}, {}) == dict.fromkeys(
        ("cpu_max_khz", "cpus_online", "jetson_clocks"), "unknown"
    )
    assert cpu_clock_state("0-1", {0: "5", 1: "5"}, {0: "5", 1: None})["jetson_clocks"] == (
        "unknown"
    )


def test_identity_of_hashes_the_power_state_only_where_there_is_one():
    table = {k: "x" for k in IDENTITY_KEYS}
    assert identity_of(table) == table
    off = {**table, **dict.fromkeys(POWER_KEYS, "none")}
    assert set(identity_of(off)) == set(IDENTITY_KEYS) - set(POWER_KEYS)
    assert set(identity_of({})) == set(IDENTITY_KEYS) - set(POWER_KEYS)


def test_describe_separates_the_identity_from_what_is_only_recorded(tmp_path):
    info = machine(tmp_path, "xeon-amx")
    text = describe_device(info)
    identity, _, rest = text.partition("also recorded (not part of the id):")
    assert "  cpu_family: 6\n" in identity and "  cpu_model_code: 143\n" in identity
    assert "  os: " in rest and "  cpu_model: Intel(R) Xeon(R) Platinum 8481C" in rest
    assert "  os: " not in identity
    assert text.endswith(f"fingerprint id: {info.fingerprint_id}")
    assert info.as_dict()["identity"] == info.identity


def test_cpu_identity_of_an_unknown_architecture_says_unknown():
    ident = cpu_identity([{"processor": "0", "cpu": "POWER9"}], frozenset({"altivec"}), "ppc64le")
    assert ident == {"cpu_vendor": "unknown", "cpu_family": "unknown",
                     "cpu_model_code": "unknown", "cpu_stepping": "unknown", "isa": "none"}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "gib"),
    [("MemTotal:       24683568 kB\n", "24"), ("MemTotal: 8039920 kB", "8"),
     ("MemFree: 5 kB\n", "unknown"), (None, "unknown")],
)  # fmt: skip
def test_memory_is_rounded_to_whole_gib(text, gib):
    assert memory_gib(text) == gib


def test_old_fingerprint_tables_are_recognised():
    old = {"cores": "2", "cpu_model": "AMD EPYC", "os": "Linux-6.18.44", "torch": "2.13.0+cpu"}
    assert is_old_identity(old)
    assert not is_old_identity({**old, "cpu_family": "25", "isa": "avx2"})
