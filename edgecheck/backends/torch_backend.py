"""The PyTorch runner: eager mode on the CPU, or on CUDA where present.

fp32 anywhere; fp16 on CUDA only. int8 is not offered here: ``torch.ao.quantization`` is
deprecated and onnxruntime's QDQ path is the simpler, faster INT8 route on CPU (field notes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgecheck.backends.base import BackendError, Runner, RunnerConfig


def cuda_available() -> bool:
    """True when torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def check_torch_config(config: RunnerConfig) -> None:
    """Refuse configurations the torch runner cannot run honestly, saying why and what works."""
    if config.precision == "int8":
        raise BackendError(
            f"{config.describe()}: the torch backend does not run int8 (torch.ao.quantization "
            f"is deprecated); use backend='onnxruntime' with a QDQ-quantized ONNX file, or "
            f"backend='tensorrt' on a GPU."
        )
    if config.precision == "fp16" and config.device != "cuda":
        raise BackendError(
            f"{config.describe()}: torch fp16 needs a CUDA device. On the CPU PyTorch has no "
            f"fast half-precision convolutions, so a timing would measure emulation rather "
            f"than the paper's FP16 (the TX2 GPU's native half precision). Use "
            f"precision='fp32' on the CPU, or run on a machine with CUDA."
        )
    if config.device == "cuda" and not cuda_available():
        raise BackendError(
            f"{config.describe()}: torch sees no CUDA device here; use device='cpu'."
        )


class TorchRunner(Runner):
    """Runs a torch module under ``torch.inference_mode``.

    Args:
        model_loader: builds the ``nn.Module`` (called once, in `activate`).
        config: backend ``"torch"``; ``threads`` is applied with ``torch.set_num_threads``,
            which is process-wide (restored on `deactivate`): time configurations with
            different thread counts in separate processes (`edgecheck.bench.cores`).
        input_shape: one example's shape without the batch axis.
    """

    def __init__(
        self,
        model_loader: Callable[[], Any],
        config: RunnerConfig,
        input_shape: tuple[int, ...],
    ) -> None:
        check_torch_config(config)
        super().__init__(config, input_shape)
        self._loader = model_loader
        self._model: Any = None
        self._device: Any = None
        self._dtype: Any = None
        self._threads_before: int | None = None

    def _activate_impl(self) -> None:
        import torch

        if self.config.device == "cpu":
            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(self.config.threads)
        self._device = torch.device(self.config.device)
        self._dtype = torch.float16 if self.config.precision == "fp16" else torch.float32
        model = self._loader()
        model.eval()
        self._model = model.to(device=self._device, dtype=self._dtype)

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch)
            if self._device.type != "cpu" or self._dtype != torch.float32:
                x = x.to(device=self._device, dtype=self._dtype, non_blocking=False)
            y = self._model(x)
            # .cpu() waits for CUDA to finish, so a timed call covers the whole inference.
            return y.float().cpu().numpy()

    def _deactivate_impl(self) -> None:
        self._model = None
        if self._threads_before is not None:
            import torch

            # Give the process its thread count back: set_num_threads is process-wide.
            torch.set_num_threads(self._threads_before)
            self._threads_before = None
