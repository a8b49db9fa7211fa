"""Fake machines for tests: the /proc and /etc texts of five real kinds of device.

``fake_machine(tmp_path, "epyc-avx2")`` writes one machine's files under ``tmp_path/<name>``
and returns that root, to pass as ``root=`` to `edgecheck.device.detect_device` (which reads
every file through it). The texts follow what these machines print (trimmed to two
processors on x86), so the ISA-dependent decisions (fingerprint fields, INT8 dot-product
support, quantization settings, which rules apply) can be tested on machines the test does
not run on:

* ``epyc-avx2``: an AMD EPYC VM of the first generation (Zen, family 23 model 1): AVX2 and
  FMA, no AVX-512, no VNNI. The hypervisor masks the name to "AMD EPYC".
* ``epyc-avx512-vnni``: an AMD EPYC VM of the fourth generation (Zen 4, family 25 model 17,
  the development machine): AVX-512 with VNNI and BF16, also named just "AMD EPYC".
* ``xeon-amx``: an Intel Xeon Sapphire Rapids (family 6 model 143): AVX-512 VNNI/BF16/FP16,
  AVX-VNNI and AMX (tile, int8, bf16).
* ``jetson-tx2``: a Jetson TX2 developer kit on L4T R32.7.1: 2 NVIDIA Denver 2 cores (0x4e
  0x003) and 4 Cortex-A57 (0x41 0xd07), ARMv8.0 without dot product or FP16 arithmetic;
  the device tree names the carrier board ("quill"), its compatible strings the SoC (tegra186).
* ``jetson-orin``: a Jetson AGX Orin developer kit (32 GB module, p3701-0000) on L4T R36.4.0
  (JetPack 6.1): 8 Cortex-A78AE (0x41 0xd42 r0p1) with dot product and FP16 arithmetic,
  SoC tegra234.

The Jetsons also carry their power state: the cpufreq files of sysfs and an ``nvpmodel`` file
whose text is what ``nvpmodel -q`` prints; pass ``command_runner=fake_runner`` to
`detect_device`, which then reads that text instead of running the file. The TX2 is in MAXN
(mode 0: all six cores online at 2.0 GHz) with the governor free (jetson_clocks not run);
``TX2_MAXQ`` holds the files that differ in MAXQ (mode 1: Denver cores off, A57s at 1.27 GHz).
The Orin is in MAXN with jetson_clocks applied (min clock = max clock on every core).

Usage (the tests live in tests/unit, which pytest puts on sys.path)::

    from fake_machines import fake_machine, fake_runner
    info = detect_device(root=fake_machine(tmp_path, "xeon-amx"), cuda_probe=no_cuda)
    tx2 = detect_device(root=fake_machine(tmp_path, "jetson-tx2", TX2_MAXQ),
                        cuda_probe=no_cuda, command_runner=fake_runner)
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MACHINES", "MACHINE_NAMES", "TX2_MAXQ", "fake_machine", "fake_runner"]

_X86_COMMON = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr "
    "sse sse2 ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl cpuid tsc_known_freq "
    "pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand "
    "hypervisor lahf_lm abm 3dnowprefetch fsgsbase bmi1 avx2 smep bmi2 erms rdseed adx smap "
    "clflushopt sha_ni xsaveopt xsavec xgetbv1 xsaves arat"
)
_ZEN_EXTRA = "mmxext fxsr_opt cmp_legacy cr8_legacy sse4a misalignsse topoext clzero xsaveerptr"
_AVX512 = (
    "avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512vbmi avx512_vbmi2 gfni vaes "
    "vpclmulqdq avx512_bitalg avx512_vpopcntdq"
)

EPYC_AVX2_FLAGS = f"{_X86_COMMON} {_ZEN_EXTRA}"
EPYC_AVX512_VNNI_FLAGS = f"{_X86_COMMON} {_ZEN_EXTRA} {_AVX512} avx512_bf16 avx512_vnni"
XEON_AMX_FLAGS = (
    f"{_X86_COMMON} {_AVX512} avx_vnni avx512_bf16 avx512_vnni avx512_fp16 amx_bf16 amx_tile "
    "amx_int8 movdiri movdir64b serialize tsxldtrk"
)
XEON_NAME = "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"
TX2_FEATURES = "fp asimd evtstrm aes pmull sha1 sha2 crc32"
ORIN_FEATURES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop "
    "asimddp uscat ilrcpc flagm paca pacg"
)
ORIN_L4T_RELEASE = (
    "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, "
    "DATE: Fri Sep 13 04:36:44 UTC 2024\n# KERNEL_VARIANT: oot\n"
    "TARGET_USERSPACE_LIB_DIR=nvidia\nTARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n"
)
L4T_RELEASE = (
    "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t186ref, EABI: aarch64, "
    "DATE: Sat Feb 19 17:05:08 UTC 2022\n# KERNEL_VARIANT: oot\n"
    "TARGET_USERSPACE_LIB_DIR=nvidia\nTARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/tegra\n"
)


def _x86(n: int, vendor: str, family: int, model: int, stepping: int, name: str, flags: str,
         mhz: str) -> str:  # fmt: skip
    return (
        f"processor\t: {n}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
        f"model name\t: {name}\nstepping\t: {stepping}\nmicrocode\t: 0xffffffff\n"
        f"cpu MHz\t\t: {mhz}\ncache size\t: 512 KB\nphysical id\t: 0\nsiblings\t: 2\n"
        f"core id\t\t: {n}\ncpu cores\t: 2\napicid\t\t: {n}\nfpu\t\t: yes\n"
        f"fpu_exception\t: yes\ncpuid level\t: 13\nwp\t\t: yes\nflags\t\t: {flags}\n"
        f"bogomips\t: 4890.80\nclflush size\t: 64\ncache_alignment\t: 64\n"
        f"address sizes\t: 48 bits physical, 48 bits virtual\npower management:\n"
    )


def _tx2_core(
    n: int, implementer: str, variant: str, part: str, revision: int, features: str = TX2_FEATURES
) -> str:
    return (
        f"processor\t: {n}\nmodel name\t: ARMv8 Processor rev {revision} (v8l)\n"
        f"BogoMIPS\t: 62.50\nFeatures\t: {features}\nCPU implementer\t: {implementer}\n"
        f"CPU architecture: 8\nCPU variant\t: {variant}\nCPU part\t: {part}\n"
        f"CPU revision\t: {revision}\n"
    )


def _meminfo(total_kb: int) -> str:
    return (
        f"MemTotal:       {total_kb} kB\nMemFree:         1234567 kB\n"
        f"MemAvailable:    2345678 kB\nBuffers:          123456 kB\n"
    )


_TX2_CORES = [
    _tx2_core(0, "0x41", "0x1", "0xd07", 3),
    _tx2_core(1, "0x4e", "0x0", "0x003", 0),
    _tx2_core(2, "0x4e", "0x0", "0x003", 0),
    *(_tx2_core(n, "0x41", "0x1", "0xd07", 3) for n in (3, 4, 5)),
]


def _cpufreq(
    online: str, cpus: range, max_khz: int, min_khz: int, nvpmodel: str
) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        "sys/devices/system/cpu/online": online + "\n",
        "usr/sbin/nvpmodel": nvpmodel,
    }
    for n in cpus:
        files[f"sys/devices/system/cpu/cpu{n}/cpufreq/scaling_max_freq"] = f"{max_khz}\n"
        files[f"sys/devices/system/cpu/cpu{n}/cpufreq/scaling_min_freq"] = f"{min_khz}\n"
    return files


# What `nvpmodel -q` prints (L4T R32 warns about the fan first).
TX2_MAXN = "NVPM WARN: fan mode is not set!\nNV Power Mode: MAXN\n0\n"
# MAXQ: cpus 1-2 (Denver) offline; their cpufreq files stay, with MAXN's cap, as on a board.
TX2_MAXQ: dict[str, str | bytes] = {
    "usr/sbin/nvpmodel": "NV Power Mode: MAXQ\n1\n",
    "sys/devices/system/cpu/online": "0,3-5\n",
    **{
        f"sys/devices/system/cpu/cpu{n}/cpufreq/scaling_max_freq": "1267200\n" for n in (0, 3, 4, 5)
    },
}

# name -> {path under the root: content}; bytes are written as they are (device-tree strings
# end in NUL bytes, as on a real board).
MACHINES: dict[str, dict[str, str | bytes]] = {
    "epyc-avx2": {
        "proc/cpuinfo": "\n".join(
            _x86(n, "AuthenticAMD", 23, 1, 2, "AMD EPYC", EPYC_AVX2_FLAGS, "2199.998")
            for n in (0, 1)
        ),
        "proc/meminfo": _meminfo(24683568),
    },
    "epyc-avx512-vnni": {
        "proc/cpuinfo": "\n".join(
            _x86(n, "AuthenticAMD", 25, 17, 1, "AMD EPYC", EPYC_AVX512_VNNI_FLAGS, "2445.404")
            for n in (0, 1)
        ),
        "proc/meminfo": _meminfo(24683568),
    },
    "xeon-amx": {
        "proc/cpuinfo": "\n".join(
            _x86(n, "GenuineIntel", 6, 143, 8, XEON_NAME, XEON_AMX_FLAGS, "2699.998")
            for n in (0, 1)
        ),
        "proc/meminfo": _meminfo(16369588),
    },
    "jetson-tx2": {
        "proc/cpuinfo": "\n".join(_TX2_CORES),
        "proc/meminfo": _meminfo(8039920),
        "proc/device-tree/model": b"quill\x00",
        "proc/device-tree/compatible": b"nvidia,p2771-0000+p3310-1000\x00nvidia,tegra186\x00",
        "etc/nv_tegra_release": L4T_RELEASE,
        **_cpufreq("0-5", range(6), 2035200, 345600, TX2_MAXN),
    },
    "jetson-orin": {
        "proc/cpuinfo": "\n".join(
            _tx2_core(n, "0x41", "0x0", "0xd42", 1, ORIN_FEATURES) for n in range(8)
        ),
        "proc/meminfo": _meminfo(30536396),
        "proc/device-tree/model": b"NVIDIA Jetson AGX Orin Developer Kit\x00",
        "proc/device-tree/compatible": b"nvidia,p3737-0000+p3701-0000\x00nvidia,tegra234\x00",
        "etc/nv_tegra_release": ORIN_L4T_RELEASE,
        **_cpufreq("0-7", range(8), 2201600, 2201600, "NV Power Mode: MAXN\n0\n"),
    },
}
MACHINE_NAMES = tuple(MACHINES)


def fake_runner(argv: list[str]) -> str | None:
    """A command runner for `detect_device`: a fake binary's output is its file's text."""
    try:
        return Path(argv[0]).read_text()
    except OSError:
        return None


def fake_machine(
    tmp_path: Path, name: str, overrides: dict[str, str | bytes] | None = None
) -> Path:
    """Write machine `name`'s files under ``tmp_path/name`` and return that root; `overrides`
    replace or add files (e.g. `TX2_MAXQ`).

    Raises:
        KeyError: an unknown name; the message lists the known ones.
    """
    if name not in MACHINES:
        raise KeyError(f"no fake machine {name!r}; known: {', '.join(MACHINE_NAMES)}")
    root = tmp_path / name
    for relative, content in {**MACHINES[name], **(overrides or {})}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root
