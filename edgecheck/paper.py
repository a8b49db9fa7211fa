"""The paper's tables, as printed: the numbers the claims (`edgecheck.claims`) hold the
measurements to, and the evaluation's tables and figures set beside them.

Qi & Liu, "Enabling Deep Learning on IoT Edge": Tables III and IV (multi-core speedups of the
FQA CNN and of VGG16 on the TX2's ARM cores), Table V (the FQA video pipeline's frames/s with
FP16 and FP32), Table VI (VGG16's conv GMACs by Eq. 1 before and after pruning) and Table VII
(the pruned VGG16's speedup). Values are as printed, typos included; where a printed value is
wrong, the claim that uses it says so (`TABLE6_TYPO_LAYERS`). Numbers the paper gives in its
text or in a figure only (IV-D-2's 1.005 %, Fig. 4's 3.48x) stay with their claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

# The core counts of the paper's parallel tables (III, IV) and of Table VII.
PAPER_CORES = (1, 2, 4)

# Table III (FQA CNN on the TX2's ARM cores): (batch, cores) -> (seconds for the fixed
# workload, faces/s, speedup over 1 core), as printed. The speedups are the claim's values.
TABLE3_PAPER: Mapping[tuple[int, int], tuple[Any, ...]] = MappingProxyType({
    (1, 1): (51.073, 52.4, None), (1, 2): (36.580, 73.1, 1.396), (1, 4): (33.326, 80.2, 1.533),
    (2, 1): (51.316, 52.1, None), (2, 2): (34.215, 78.1, 1.500), (2, 4): (23.432, 114.1, 2.190),
    (4, 1): (51.931, 51.5, None), (4, 2): (30.373, 88.0, 1.710), (4, 4): (20.957, 127.5, 2.478),
})  # fmt: skip
# The paper's fixed FQA workload: its 2,673 images (51.073 s x 52.4 faces/s = 2,676).
TABLE3_WORKLOAD = 2673
# Table IV (VGG16): (batch, cores) -> (seconds per batch, speedup over 1 core), as printed.
TABLE4_PAPER: Mapping[tuple[int, int], tuple[Any, ...]] = MappingProxyType({
    (1, 1): (6.10, None), (1, 2): (3.52, 1.73), (1, 4): (2.48, 2.46),
    (2, 1): (12.09, None), (2, 2): (6.525, 1.85), (2, 4): (4.711, 2.57),
    (4, 1): (24.22, None), (4, 2): (13.274, 1.82), (4, 4): (8.918, 2.72),
})  # fmt: skip

# Table V (the FQA video pipeline on the TX2): frames/s by resolution, with the FQA CNN in
# FP16 and in FP32, as printed.
TABLE5_FP16_FPS: Mapping[str, float] = MappingProxyType(
    {"1080p": 34.25, "720p": 34.64, "480p": 37.23}
)
TABLE5_FP32_FPS: Mapping[str, float] = MappingProxyType(
    {"1080p": 16.17, "720p": 16.42, "480p": 27.3}
)

# Table VI, GMACs "Before"/"After" columns, as printed (three decimals; Conv4_3 "Before" reads
# 1.855 where Eq. 1 gives 1.850: a typo that makes the printed total 15.38 instead of 15.35).
TABLE6_GMACS_BEFORE: Mapping[str, float] = MappingProxyType({
    "conv1_1": 0.087, "conv1_2": 1.85, "conv2_1": 0.925, "conv2_2": 1.85, "conv3_1": 0.925,
    "conv3_2": 1.85, "conv3_3": 1.85, "conv4_1": 0.925, "conv4_2": 1.85, "conv4_3": 1.855,
    "conv5_1": 0.462, "conv5_2": 0.462, "conv5_3": 0.462,
})  # fmt: skip
TABLE6_GMACS_AFTER: Mapping[str, float] = MappingProxyType({
    "conv1_1": 0.033, "conv1_2": 0.238, "conv2_1": 0.102, "conv2_2": 0.236, "conv3_1": 0.155,
    "conv3_2": 0.271, "conv3_3": 0.279, "conv4_1": 0.144, "conv4_2": 0.358, "conv4_3": 0.444,
    "conv5_1": 0.206, "conv5_2": 0.462, "conv5_3": 0.462,
})  # fmt: skip
# Table VI's totals and ratio, as printed.
TABLE6_TOTAL_BEFORE = 15.38
TABLE6_TOTAL_AFTER = 3.39
TABLE6_RATIO = 4.54
# Half a unit in the last printed place, plus float slack: how far a correct Eq. 1 value may be
# from the printed one.
TABLE6_ROUNDING = 0.0005 + 1e-9
TABLE6_TYPO_LAYERS = frozenset({"conv4_3"})

# Table VII (VGG16 at batch 1, unpruned vs pruned): cores -> (seconds unpruned, seconds
# pruned, speedup), as printed; the 1-core unpruned time is Table IV's batch-1 time.
TABLE7_PAPER: Mapping[int, tuple[float, float, float]] = MappingProxyType({
    1: (6.10, 1.43, 4.27), 2: (3.52, 0.83, 4.24), 4: (2.48, 0.58, 4.28),
})  # fmt: skip
