"""Channel pruning by He, Zhang & Sun (ICCV 2017), the method behind the paper's Table VI.

Per layer, front to back: sample feature-map points (`sampling`), pick the channels to keep by
LASSO over their contributions to the next layer's output (`lasso`), refit the next layer by
least squares (`reconstruct`), and remove the channels physically (`surgery`), giving a smaller
dense model that runs in torch and exports to ONNX. `prune_model` does all of it from a plan
(`plan`: kept channels per layer, Table VI's built in); an L1-magnitude criterion is the
simple baseline, and `compare_methods` measures what reconstruction buys.

Why hand-written: no maintained library implements He et al.'s LASSO selection with
least-squares reconstruction for PyTorch models. The authors' code (Caffe, Python 2) and
Tencent's PocketFlow (TensorFlow 1) are unmaintained; torch.nn.utils.prune and Torch-Pruning
offer norm or gradient criteria and structural surgery but no data-driven refit; Qualcomm's
AIMET has a channel-pruning mode after He et al., but it selects channels by weight magnitude
inside its own compression pipeline. scikit-learn supplies the LASSO solver.

The names below load on first use (PEP 562): `edgecheck prune --help` and every other command
line start must not pay for torch, which `core` imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecheck._lazy import lazy_exports

if TYPE_CHECKING:
    from edgecheck.prune.core import (
        ALL_VARIANTS,
        DEFAULT_VARIANTS,
        LayerReport,
        MethodError,
        PruneResult,
        compare_methods,
        output_error,
        prune_model,
    )
    from edgecheck.prune.graph import PrunableLayer, find_prunable_layers
    from edgecheck.prune.lasso import Selection, select_l1, select_lasso
    from edgecheck.prune.plan import PrunePlan, parse_plan, resolve_prune_plan
    from edgecheck.prune.reconstruct import Reconstruction, least_squares
    from edgecheck.prune.sampling import ConsumerSamples, extract_patches, synthetic_images
    from edgecheck.prune.surgery import (
        add_zero_channels,
        align_channels,
        mask_channels,
        remove_channels,
    )

_EXPORTS = {
    "ALL_VARIANTS": "core",
    "ConsumerSamples": "sampling",
    "DEFAULT_VARIANTS": "core",
    "LayerReport": "core",
    "MethodError": "core",
    "PrunableLayer": "graph",
    "PrunePlan": "plan",
    "PruneResult": "core",
    "Reconstruction": "reconstruct",
    "Selection": "lasso",
    "add_zero_channels": "surgery",
    "align_channels": "surgery",
    "compare_methods": "core",
    "extract_patches": "sampling",
    "find_prunable_layers": "graph",
    "least_squares": "reconstruct",
    "mask_channels": "surgery",
    "output_error": "core",
    "parse_plan": "plan",
    "prune_model": "core",
    "remove_channels": "surgery",
    "resolve_prune_plan": "plan",
    "select_l1": "lasso",
    "select_lasso": "lasso",
    "synthetic_images": "sampling",
}

__all__ = [
    "ALL_VARIANTS",
    "DEFAULT_VARIANTS",
    "ConsumerSamples",
    "LayerReport",
    "MethodError",
    "PrunableLayer",
    "PrunePlan",
    "PruneResult",
    "Reconstruction",
    "Selection",
    "add_zero_channels",
    "align_channels",
    "compare_methods",
    "extract_patches",
    "find_prunable_layers",
    "least_squares",
    "mask_channels",
    "output_error",
    "parse_plan",
    "prune_model",
    "remove_channels",
    "resolve_prune_plan",
    "select_l1",
    "select_lasso",
    "synthetic_images",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
