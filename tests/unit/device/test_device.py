"""Device profile detection, capabilities, unmet-need reasons and the environment fingerprint.

Fake machines are filesystem trees under tmp_path (passed as ``root``) plus a stub CUDA probe,
so these tests give the same answers on a laptop, a GPU runner and a Jetson.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from edgecheck import device
from edgecheck.device import (
    PROFILES,
    Capabilities,
    DeviceInfo,
    clear_device_cache,
    describe_device,
    detect_device,
    gpu_has_bf16,
    gpu_has_fast_fp16,
    gpu_has_fast_int8,
    native_precisions,
)
from edgecheck.envvars import PROFILE
from edgecheck.errors import ConfigError

TX2_MODEL = "NVIDIA Jetson TX2 Developer Kit"
L4T_LINE = (
    "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t186ref, EABI: aarch64, "
    "DATE: Sat Feb 19 17:05:08 UTC 2022"
)
TX2_FEATURES = "fp asimd evtstrm aes pmull sha1 sha2 crc32"
TX2_COMPATIBLE = b"nvidia,quill\x00nvidia,tegra186\x00"
TX2_SOURCE = (
    f"detected: Jetson TX2 (/proc/device-tree/compatible: nvidia,tegra186; model: {TX2_MODEL})"
)
ORIN_MODEL = "NVIDIA Jetson AGX Orin Developer Kit"
ORIN_COMPATIBLE = b"nvidia,p3737-0000+p3701-0000\x00nvidia,tegra234\x00"
ORIN_L4T = (
    "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, "
    "DATE: Fri Sep 13 04:36:44 UTC 2024"
)
XAVIER_MODEL = "Jetson-AGX"
XAVIER_COMPATIBLE = b"nvidia,p2972-0000\x00nvidia,galen\x00nvidia,tegra194\x00"
XAVIER_L4T = (
    "# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref, EABI: aarch64, "
    "DATE: Tue Feb 20 04:46:31 UTC 2024"
)
ZEN4_FLAGS = (
    "fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx f16c avx2 fma avx512f avx512dq avx512cd "
    "avx512bw avx512vl avx512_bf16 avx512_vnni avx_vnni avx512vbmi gfni vaes"
)
SPR_FLAGS = ZEN4_FLAGS + " avx512_fp16 amx_bf16 amx_int8 amx_tile"
N1_FEATURES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
    "dcpop asimddp"
)


def no_cuda() -> device.CudaState:
    return (False, None, None)


def cuda_of(name: str, capability: tuple[int, int]) -> device.CudaProbe:
    def probe() -> device.CudaState:
        return (True, name, capability)

    return probe


def x86_block(n: int, model: str, flags: str) -> str:
    return (
        f"processor\t: {n}\nvendor_id\t: AuthenticAMD\nmodel name\t: {model}\nflags\t\t: {flags}\n"
    )


def arm_block(n: int, features: str, implementer: str, part: str) -> str:
    return (
        f"processor\t: {n}\nmodel name\t: ARMv8 Processor rev 3 (v8l)\nBogoMIPS\t: 62.50\n"
        f"Features\t: {features}\nCPU implementer\t: {implementer}\nCPU architecture: 8\n"
        f"CPU variant\t: 0x1\nCPU part\t: {part}\nCPU revision\t: 0\n"
    )


def make_root(
    tmp_path: Path,
    *,
    cpuinfo: str = "",
    dt_model: str | None = None,
    compatible: bytes | None = None,
    tegra_release: str | None = None,
    cpu_max: str | None = None,
) -> Path:
    """A fake filesystem root with only the files a test names."""
    root = tmp_path / "root"
    root.mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "proc/cpuinfo").write_text(cpuinfo)
    if dt_model is not None or compatible is not None:
        (root / "proc/device-tree").mkdir()
    if dt_model is not None:
        # Real device-tree strings carry a trailing NUL byte.
        (root / "proc/device-tree/model").write_bytes(dt_model.encode() + b"\x00")
    if compatible is not None:
        (root / "proc/device-tree/compatible").write_bytes(compatible)
    if tegra_release is not None:
        (root / "etc").mkdir()
        (root / "etc/nv_tegra_release").write_text(tegra_release)
    if cpu_max is not None:
        (root / "sys/fs/cgroup").mkdir(parents=True)
        (root / "sys/fs/cgroup/cpu.max").write_text(cpu_max + "\n")
    return root


def tx2_root(tmp_path: Path) -> Path:
    blocks = [arm_block(0, TX2_FEATURES, "0x41", "0xd07")]
    blocks += [arm_block(n, TX2_FEATURES, "0x4e", "0x003") for n in (1, 2)]
    blocks += [arm_block(n, TX2_FEATURES, "0x41", "0xd07") for n in (3, 4, 5)]
    return make_root(
        tmp_path,
        cpuinfo="\n".join(blocks) + "\nHardware\t: quill\n",
        dt_model=TX2_MODEL,
        compatible=TX2_COMPATIBLE,
        tegra_release=L4T_LINE + "\n# KERNEL_VARIANT: oot\n",
    )


def zen4_root(tmp_path: Path) -> Path:
    model = "AMD Ryzen 9 7950X 16-Core Processor"
    return make_root(tmp_path, cpuinfo="\n".join(x86_block(n, model, ZEN4_FLAGS) for n in (0, 1)))


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    """No profile forced from the outside, and no probe cached from another test."""
    monkeypatch.delenv(PROFILE, raising=False)
    clear_device_cache()


# --------------------------------------------------------------------------- detection


def test_fake_jetson_is_tx2_with_model_and_l4t(tmp_path: Path) -> None:
    info = detect_device(root=tx2_root(tmp_path), cuda_probe=cuda_of("NVIDIA Tegra X2", (6, 2)))
    cap = info.capabilities
    assert info.profile == "tx2"
    assert info.profile_source == TX2_SOURCE
    assert cap.jetson_model == TX2_MODEL  # the trailing NUL is gone
    assert cap.jetson_soc == "nvidia,tegra186"
    assert info.fingerprint["jetson_soc"] == "nvidia,tegra186"
    assert cap.cpu_model == "Cortex-A57 x4 + NVIDIA Denver 2 x2"
    assert cap.cpu_arch == "arm"
    assert info.fingerprint["jetson_model"] == TX2_MODEL
    assert info.fingerprint["l4t"].startswith("R32 (release), REVISION: 7.1")
    assert not any("\x00" in v for v in info.fingerprint.values())
    # The TX2's GPU: full-rate FP16, but no dp4a; its A57/Denver cores have neither.
    assert native_precisions(cap) == {
        "cpu": {"fp16": False, "bf16": False, "int8": False},
        "gpu": {"fp16": True, "bf16": False, "int8": False},
    }


def test_a_jetson_found_by_l4t_release_alone_has_no_soc_and_no_profile(tmp_path: Path) -> None:
    # R32 runs on TX1, Nano, TX2 and Xavier alike: without the device tree (a container that
    # masks /sys/firmware) and without a GPU the SoC is unknown, so no Jetson profile.
    root = make_root(tmp_path, tegra_release=L4T_LINE + "\n")
    info = detect_device(root=root, cuda_probe=no_cuda)
    assert info.profile == "cpu"
    assert info.capabilities.jetson_model == "unknown Jetson"
    assert info.capabilities.jetson_soc is None
    assert info.profile_source.startswith(
        "detected: Jetson with an unknown SoC (/etc/nv_tegra_release: R32"
    )
    assert info.profile_source.endswith("no profile of its own, using cpu rules")
    assert info.fingerprint["jetson_soc"] == "unknown"


def test_without_the_device_tree_the_gpu_or_an_r36_release_names_the_soc(tmp_path: Path) -> None:
    root = make_root(tmp_path, tegra_release=L4T_LINE + "\n")
    info = detect_device(root=root, cuda_probe=cuda_of("NVIDIA Tegra X2", (6, 2)))
    assert (info.profile, info.capabilities.jetson_soc) == ("tx2", "nvidia,tegra186")
    assert "GPU compute capability 6.2" in info.profile_source
    clear_device_cache()
    root = make_root(tmp_path / "orin", tegra_release=ORIN_L4T + "\n")
    info = detect_device(root=root, cuda_probe=no_cuda)
    assert (info.profile, info.capabilities.jetson_soc) == ("orin", "nvidia,tegra234")
    assert "/etc/nv_tegra_release: R36 (release) (Orin only)" in info.profile_source


def test_orin_is_its_own_profile(tmp_path: Path) -> None:
    root = make_root(
        tmp_path, dt_model=ORIN_MODEL, compatible=ORIN_COMPATIBLE, tegra_release=ORIN_L4T + "\n"
    )
    info = detect_device(root=root, cuda_probe=cuda_of("Orin", (8, 7)))
    assert info.profile == "orin"
    assert info.profile_source == (
        f"detected: Jetson Orin (/proc/device-tree/compatible: nvidia,tegra234; model: {ORIN_MODEL})"
    )
    assert info.fingerprint["l4t"].startswith("R36 (release), REVISION: 4.0")
    # A test written for the paper's board (the tx2 marker) runs on an Orin, judged by the
    # orin rules; one that needs the orin profile does not run on a TX2.
    assert info.unmet(profile="tx2") == [] and info.unmet(profile="orin") == []
    assert info.unmet(profile="gpu")[0].startswith("needs the gpu profile")
    clear_device_cache()
    tx2 = detect_device(root=tx2_root(tmp_path / "tx2"), cuda_probe=no_cuda)
    assert tx2.unmet(profile="orin") == [
        f"needs the orin profile (a Jetson Orin board), this machine is tx2 ({TX2_SOURCE})"
    ]


def test_xavier_is_a_jetson_without_a_profile_of_its_own(tmp_path: Path) -> None:
    root = make_root(
        tmp_path, dt_model=XAVIER_MODEL, compatible=XAVIER_COMPATIBLE, tegra_release=XAVIER_L4T
    )
    info = detect_device(root=root, cuda_probe=cuda_of("Xavier", (7, 2)))
    # Not gpu although CUDA works: the gpu rules are a discrete GPU's.
    assert info.profile == "cpu"
    assert info.capabilities.jetson_model == XAVIER_MODEL
    assert info.capabilities.jetson_soc == "nvidia,tegra194"
    assert info.profile_source == (
        "detected: Jetson Xavier (/proc/device-tree/compatible: nvidia,tegra194; "
        f"model: {XAVIER_MODEL}): no profile of its own, using cpu rules"
    )
    assert info.unmet(profile="tx2")[0].startswith(
        "needs the tx2 profile (a Jetson TX2 or Orin board), this machine is cpu (detected: "
        "Jetson Xavier"
    )


@pytest.mark.parametrize(
    "compatible", [None, b"nvidia,p9999-0000\x00nvidia,tegra999\x00"], ids=["no-tree", "new-soc"]
)
def test_the_word_jetson_alone_is_not_a_tx2(tmp_path: Path, compatible: bytes | None) -> None:
    # A GPU the table knows must not override a device tree that names an unknown SoC either.
    probe = no_cuda if compatible is None else cuda_of("NVIDIA Tegra X2", (6, 2))
    root = make_root(tmp_path, dt_model="NVIDIA Jetson Future Developer Kit", compatible=compatible)
    info = detect_device(root=root, cuda_probe=probe)
    assert info.profile == "cpu"
    assert info.capabilities.jetson_model == "NVIDIA Jetson Future Developer Kit"
    assert info.capabilities.jetson_soc is None
    assert info.profile_source == (
        "detected: Jetson with an unknown SoC (/proc/device-tree/model: NVIDIA Jetson Future "
        "Developer Kit): no profile of its own, using cpu rules"
    )


def test_a_device_tree_naming_tegra186_alone_is_a_tx2(tmp_path: Path) -> None:
    # Older L4T names the carrier board ("quill") in the model: the SoC still decides.
    root = make_root(tmp_path, dt_model="quill", compatible=TX2_COMPATIBLE)
    info = detect_device(root=root, cuda_probe=no_cuda)
    assert (info.profile, info.capabilities.jetson_model) == ("tx2", "quill")
    assert info.profile_source == (
        "detected: Jetson TX2 (/proc/device-tree/compatible: nvidia,tegra186; model: quill)"
    )


def test_other_device_tree_is_not_a_jetson(tmp_path: Path) -> None:
    root = make_root(tmp_path, dt_model="Raspberry Pi 4 Model B Rev 1.4")
    info = detect_device(root=root, cuda_probe=no_cuda)
    assert info.profile == "cpu"
    assert info.capabilities.jetson_model is None
    assert info.profile_source == "detected: no Jetson, no CUDA"


def test_cuda_gpu_is_gpu_profile(tmp_path: Path) -> None:
    info = detect_device(root=zen4_root(tmp_path), cuda_probe=cuda_of("NVIDIA TITAN Xp", (6, 1)))
    assert info.profile == "gpu"
    assert "NVIDIA TITAN Xp" in info.profile_source
    assert info.capabilities.cuda_capability == (6, 1)
    assert info.fingerprint["cuda_device"] == "NVIDIA TITAN Xp"
    assert info.fingerprint["cuda_capability"] == "6.1"
    assert (info.capabilities.gpu_fp16, info.capabilities.gpu_int8) == (False, True)


def test_zen4_cpu_flags(tmp_path: Path) -> None:
    cap = detect_device(root=zen4_root(tmp_path), cuda_probe=no_cuda).capabilities
    assert cap.cpu_model == "AMD Ryzen 9 7950X 16-Core Processor"
    assert cap.cpu_arch == "x86"
    assert (cap.cpu_int8_dot, cap.cpu_bf16, cap.cpu_fp16) == (True, True, False)


def test_sapphire_rapids_has_fp16(tmp_path: Path) -> None:
    root = make_root(tmp_path, cpuinfo=x86_block(0, "Intel(R) Xeon(R) Platinum 8480+", SPR_FLAGS))
    cap = detect_device(root=root, cuda_probe=no_cuda).capabilities
    assert (cap.cpu_fp16, cap.cpu_bf16, cap.cpu_int8_dot) == (True, True, True)


def test_arm_fp16_and_dot_product(tmp_path: Path) -> None:
    cpuinfo = "\n".join(arm_block(n, N1_FEATURES, "0x41", "0xd0c") for n in (0, 1))
    cap = detect_device(root=make_root(tmp_path, cpuinfo=cpuinfo), cuda_probe=no_cuda).capabilities
    assert cap.cpu_model == "Neoverse-N1 x2"
    assert (cap.cpu_fp16, cap.cpu_int8_dot, cap.cpu_bf16) == (True, True, False)


def test_a_flag_counts_only_when_every_core_has_it(tmp_path: Path) -> None:
    cpuinfo = x86_block(0, "X", ZEN4_FLAGS) + "\n" + x86_block(1, "X", "sse sse2 avx2")
    cap = detect_device(root=make_root(tmp_path, cpuinfo=cpuinfo), cuda_probe=no_cuda).capabilities
    assert not cap.cpu_int8_dot


@pytest.mark.parametrize(("cpu_max", "capped"), [("100000 100000", True), ("max 100000", False)])
def test_cgroup_quota_caps_cores(tmp_path: Path, cpu_max: str, capped: bool) -> None:
    info = detect_device(root=make_root(tmp_path, cpu_max=cpu_max), cuda_probe=no_cuda)
    assert info.capabilities.cores == (1 if capped else len(os.sched_getaffinity(0)))


def test_probe_is_cached_but_profile_choice_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def probe() -> device.CudaState:
        calls.append(1)
        return (False, None, None)

    root = zen4_root(tmp_path)
    assert detect_device(root=root, cuda_probe=probe).profile == "cpu"
    monkeypatch.setenv(PROFILE, "gpu")
    assert detect_device(root=root, cuda_probe=probe).profile == "gpu"
    assert len(calls) == 1
    clear_device_cache()
    detect_device(root=root, cuda_probe=probe)
    assert len(calls) == 2


# --------------------------------------------------------------------------- overrides


def test_env_var_overrides_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE, "TX2")
    info = detect_device(root=zen4_root(tmp_path), cuda_probe=no_cuda)
    assert (info.profile, info.profile_source) == ("tx2", "EDGECHECK_PROFILE")
    assert info.detected_profile == "cpu"
    assert "detection alone would give: cpu" in describe_device(info)


def test_bad_env_var_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE, "jetson")
    with pytest.raises(ConfigError, match=r"'jetson'.*tx2, orin, gpu, cpu"):
        detect_device(root=zen4_root(tmp_path), cuda_probe=no_cuda)


def test_explicit_profile_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE, "tx2")
    info = detect_device("cpu", root=tx2_root(tmp_path), cuda_probe=no_cuda)
    assert (info.profile, info.profile_source) == ("cpu", "--edgecheck-profile")
    # The CLI names its own flag; an env var that is not consulted cannot fail the run.
    monkeypatch.setenv(PROFILE, "bogus")
    info = detect_device(
        "GPU", root=tx2_root(tmp_path / "b"), cuda_probe=no_cuda, profile_flag="--profile"
    )
    assert (info.profile, info.profile_source) == ("gpu", "--profile")


def test_bad_explicit_profile_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--edgecheck-profile='xavier'.*tx2, orin, gpu, cpu"):
        detect_device("xavier", root=zen4_root(tmp_path), cuda_probe=no_cuda)
    assert detect_device("ORIN", root=tmp_path / "root", cuda_probe=no_cuda).profile == "orin"


# --------------------------------------------------------------------------- unmet needs


@pytest.fixture
def cpu_box(tmp_path: Path) -> DeviceInfo:
    """A Zen4-like machine without CUDA, TensorRT or Polygraphy, whatever this host has."""
    info = detect_device(root=zen4_root(tmp_path), cuda_probe=no_cuda)
    cap = dataclasses.replace(info.capabilities, tensorrt=False, polygraphy=False)
    return dataclasses.replace(info, capabilities=cap)


def test_unmet_cores(cpu_box: DeviceInfo) -> None:
    have = cpu_box.capabilities.cores
    assert cpu_box.unmet(cores=have + 2) == [f"needs {have + 2} cores, this machine has {have}"]
    assert cpu_box.unmet(cores=have) == []


def test_unmet_profile(cpu_box: DeviceInfo) -> None:
    assert cpu_box.unmet(profile="tx2") == [
        "needs the tx2 profile (a Jetson TX2 or Orin board), this machine is cpu "
        "(detected: no Jetson, no CUDA)"
    ]
    assert cpu_box.unmet(profile="cpu") == []
    with pytest.raises(ConfigError, match="'nano'"):
        cpu_box.unmet(profile="nano")


def test_cpu_profile_is_met_on_a_jetson(tmp_path: Path) -> None:
    info = detect_device(root=tx2_root(tmp_path), cuda_probe=no_cuda)
    assert info.unmet(profile="cpu") == []
    assert info.unmet(profile="gpu")[0].startswith("needs the gpu profile (a CUDA GPU)")
    assert "JetPack build with CUDA" in info.unmet(cuda=True)[0]


def test_unmet_tensorrt(cpu_box: DeviceInfo) -> None:
    reasons = cpu_box.unmet(tensorrt=True)
    assert reasons[0].startswith("needs TensorRT, which is not installed")
    assert any("Polygraphy" in r for r in reasons)
    assert any("needs a CUDA GPU for TensorRT" in r for r in reasons)
    assert cpu_box.unmet(cuda=True, tensorrt=True).count("needs a CUDA GPU, none found") == 1
    ready = dataclasses.replace(
        cpu_box.capabilities,
        tensorrt=True,
        polygraphy=True,
        cuda=True,
        cuda_device="NVIDIA A100",
        cuda_capability=(8, 0),
    )
    assert dataclasses.replace(cpu_box, capabilities=ready).unmet(tensorrt=True, cuda=True) == []


def test_unmet_precisions(cpu_box: DeviceInfo, tmp_path: Path) -> None:
    assert cpu_box.unmet(int8_dot=True) == []
    assert cpu_box.unmet(native_fp16=True) == [
        "needs native FP16 arithmetic, this CPU (AMD Ryzen 9 7950X 16-Core Processor) has none "
        "(no avx512_fp16) and there is no CUDA GPU"
    ]
    titan = detect_device(
        root=tx2_root(tmp_path / "titan"),
        cuda_probe=cuda_of("NVIDIA TITAN Xp", (6, 1)),
        profile="gpu",
    )
    (reason,) = titan.unmet(native_fp16=True)
    assert "no asimdhp/fphp" in reason
    assert "NVIDIA TITAN Xp, compute capability 6.1" in reason
    assert titan.unmet(int8_dot=True) == []


def test_nothing_asked_nothing_unmet(cpu_box: DeviceInfo) -> None:
    assert cpu_box.unmet() == []


# --------------------------------------------------------------------------- GPU rules


@pytest.mark.parametrize(
    ("capability", "fp16", "int8", "bf16"),
    [
        ((5, 0), False, False, False),
        ((5, 3), True, False, False),  # Tegra X1 / Nano
        ((6, 0), True, False, False),  # P100
        ((6, 1), False, True, False),  # consumer Pascal, the paper's Titan XP: FP16 at 1/64 rate
        ((6, 2), True, False, False),  # Tegra X2: FP16 yes, no dp4a
        ((7, 0), True, True, False),
        ((7, 2), True, True, False),  # Xavier
        ((8, 0), True, True, True),
        ((9, 0), True, True, True),
        (None, False, False, False),
    ],
)
def test_gpu_precision_rules(
    capability: tuple[int, int] | None, fp16: bool, int8: bool, bf16: bool
) -> None:
    assert gpu_has_fast_fp16(capability) is fp16
    assert gpu_has_fast_int8(capability) is int8
    assert gpu_has_bf16(capability) is bf16


def test_gpu_flags_need_cuda(cpu_box: DeviceInfo) -> None:
    # A capability left over without a usable GPU must not claim GPU precisions.
    cap = dataclasses.replace(cpu_box.capabilities, cuda=False, cuda_capability=(8, 0))
    assert not (cap.gpu_fp16 or cap.gpu_int8 or cap.gpu_bf16)


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_id_stable_and_sensitive(tmp_path: Path) -> None:
    root = zen4_root(tmp_path)
    first = detect_device(root=root, cuda_probe=no_cuda)
    clear_device_cache()
    again = detect_device(root=root, cuda_probe=no_cuda)
    assert first.fingerprint_id == again.fingerprint_id
    assert len(first.fingerprint_id) == 12
    int(first.fingerprint_id, 16)
    cores = int(first.fingerprint["cores"])
    other = dataclasses.replace(first, fingerprint={**first.fingerprint, "cores": str(cores + 1)})
    assert other.fingerprint_id != first.fingerprint_id
    # A kernel update alone does not orphan the baselines.
    patched = dataclasses.replace(first, fingerprint={**first.fingerprint, "os": "Linux-9.9"})
    assert patched.fingerprint_id == first.fingerprint_id


def test_fingerprint_contents(tmp_path: Path) -> None:
    info = detect_device(root=zen4_root(tmp_path), cuda_probe=no_cuda)
    fp = info.fingerprint
    for key in ("cpu_model", "cores", "machine", "os", "python", "torch", "onnxruntime"):
        assert fp[key]
    assert {"tensorrt", "polygraphy", "cuda_device", "jetson_model", "l4t"} <= fp.keys()
    assert all(isinstance(v, str) for v in fp.values())
    assert fp["torch"] == metadata.version("torch")
    assert (fp["cuda_device"], fp["jetson_model"], fp["l4t"]) == ("none", "none", "none")
    # No Jetson: no power state, and none of it in the identity.
    assert [fp[k] for k in ("power_mode", "cpu_max_khz", "cpus_online", "jetson_clocks")] == [
        "none"
    ] * 4
    assert "power_mode" not in info.identity
    # Mutating one result's fingerprint must not leak into the cached probe.
    fp["cores"] = "999"
    assert detect_device(root=tmp_path / "root", cuda_probe=no_cuda).fingerprint["cores"] != "999"


def test_as_dict_is_json_and_describe_lists_everything(tmp_path: Path) -> None:
    info = detect_device(root=tx2_root(tmp_path), cuda_probe=cuda_of("NVIDIA Tegra X2", (6, 2)))
    data = json.loads(json.dumps(info.as_dict()))
    assert data["profile"] == "tx2"
    assert data["fingerprint_id"] == info.fingerprint_id
    assert data["capabilities"]["native"]["gpu"]["fp16"] is True
    text = describe_device(info)
    assert text.splitlines()[0] == f"profile: tx2 ({TX2_SOURCE})"
    for key, value in info.fingerprint.items():
        assert f"  {key}: {value}" in text
    assert "  cuda: yes (NVIDIA Tegra X2, compute capability 6.2)" in text
    assert text.endswith(f"fingerprint id: {info.fingerprint_id}")
    assert hash(info) == hash(dataclasses.replace(info))  # usable as a dict key


# --------------------------------------------------------------------------- the real machine


def test_real_machine() -> None:
    heavy = ("tensorrt", "polygraphy", "cv2")
    loaded_before = {m for m in heavy if m in sys.modules}
    info = detect_device()
    assert {m for m in heavy if m in sys.modules} == loaded_before  # detection imported none

    import torch

    model_file = Path("/proc/device-tree/model")
    model = model_file.read_text(errors="replace").lower() if model_file.exists() else ""
    tree = Path("/proc/device-tree/compatible")
    socs = tree.read_bytes().decode(errors="replace").split("\x00") if tree.exists() else []
    jetson = Path("/etc/nv_tegra_release").exists() or "jetson" in model or "nvidia" in model
    jetson = jetson or any(s.startswith("nvidia,tegra") for s in socs)
    if not jetson:
        assert info.profile == ("gpu" if torch.cuda.is_available() else "cpu")
    elif socs:
        by_soc = {"nvidia,tegra186": "tx2", "nvidia,tegra234": "orin"}
        assert info.profile == next((by_soc[s] for s in socs if s in by_soc), "cpu")
    else:  # no device tree: the GPU or the L4T release may still name the SoC
        assert info.profile in ("tx2", "orin", "cpu")
    assert info.profile in PROFILES
    # Cores: the affinity mask, capped by a cgroup v2 CPU quota, read here independently.
    expected_cores = len(os.sched_getaffinity(0))
    cpu_max = Path("/sys/fs/cgroup/cpu.max")
    limit, _, period = (cpu_max.read_text().strip() if cpu_max.exists() else "max").partition(" ")
    if limit.isdigit() and period.isdigit() and int(period) > 0:
        expected_cores = min(expected_cores, max(1, int(limit) // int(period)))
    assert info.capabilities.cores == expected_cores
    # Cross-check the INT8 dot-product flag against /proc/cpuinfo read independently (true on
    # the AMD Zen development machine, which has avx512_vnni).
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    words = set(cpuinfo.split())
    assert info.capabilities.cpu_int8_dot == bool(
        words & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"}
    )
    assert detect_device() is not info and detect_device().capabilities is info.capabilities


def test_importing_device_is_cheap() -> None:
    code = (
        "import sys, edgecheck.device; "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'tensorrt', 'polygraphy', 'cv2') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_capabilities_is_frozen(cpu_box: DeviceInfo) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        cpu_box.capabilities.cores = 64  # type: ignore[misc]
    assert isinstance(cpu_box.capabilities, Capabilities)
