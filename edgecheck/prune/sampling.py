"""Sampling feature-map points for He et al.'s per-layer regression.

For a layer B whose output channels are pruned and a consumer conv C (weights n x c x kh x kw),
He et al. sample random output positions of C and regress, at those points:

* Y, C's output in the ORIGINAL model minus C's bias (N x n): what C should still produce;
* X, C's kh x kw x c input patch in the CURRENT, partly pruned model (N x c*kh*kw), zero
  padding, stride and dilation respected, after whatever ReLU / pooling / batch norm sits
  between B and C (the patch is taken from C's actual input, so all of that is included).

Taking X from the current model lets each layer correct the error the already-pruned earlier
layers introduced; taking Y from the original keeps the target fixed, so errors do not compound.

The images are a parameter: `synthetic_images` makes deterministic smooth random fields for
models without a data set; real images plug in as an ``(N, C, H, W)`` tensor. Sampling is
seeded per consumer (seed and layer name), so results are reproducible and do not change when
other layers are added to a plan.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import nn

from edgecheck.errors import ModelError


def synthetic_images(
    count: int, shape: tuple[int, ...], *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Deterministic smooth random images, ``(count, *shape)``, each channel zero mean, unit std.

    A sum of bilinearly upsampled noise grids at several scales (coarse ones weighted more,
    like natural images' falling spectrum), so neighbouring pixels are correlated and conv
    features respond to edges and blobs rather than to white noise.

    Args:
        count: number of images.
        shape: one image's shape ``(C, H, W)``.
        seed: the same seed gives the same images; the caller's RNG is not touched.
        dtype: floating dtype of the result.
    """
    if count < 1 or len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"synthetic_images needs count >= 1 and a (C, H, W) shape; got {count}, {shape}"
        )
    channels, height, width = shape
    gen = torch.Generator().manual_seed(seed)
    out = torch.zeros((count, channels, height, width), dtype=torch.float32)
    grid = 2
    while grid <= max(height, width):
        noise = torch.randn((count, channels, grid, grid), generator=gen)
        up = F.interpolate(noise, size=(height, width), mode="bilinear", align_corners=False)
        out += up / grid**0.5
        grid *= 2
    out += 0.05 * torch.randn(out.shape, generator=gen)
    flat = out.flatten(2)
    out = (
        (flat - flat.mean(-1, keepdim=True)) / flat.std(-1, keepdim=True).clamp_min(1e-6)
    ).view_as(out)
    return out.to(dtype)


def _padding(conv: nn.Conv2d) -> tuple[int, int, int, int]:
    # (left, right, top, bottom) as F.pad wants it; torch keeps it for "same" padding too.
    pads = tuple(int(p) for p in conv._reversed_padding_repeated_twice)
    return (pads[0], pads[1], pads[2], pads[3])


def conv_output_size(conv: nn.Conv2d, height: int, width: int) -> tuple[int, int]:
    """Spatial output size of `conv` for an input of ``height x width``."""
    left, right, top, bottom = _padding(conv)
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    dh, dw = conv.dilation
    return (
        (height + top + bottom - dh * (kh - 1) - 1) // sh + 1,
        (width + left + right - dw * (kw - 1) - 1) // sw + 1,
    )


def extract_patches(x: torch.Tensor, conv: nn.Conv2d, positions: torch.Tensor) -> torch.Tensor:
    """`conv`'s input patches at flat output positions: ``(B * S, C * kh * kw)``.

    Equal to ``F.unfold(x, kernel, dilation, padding, stride)[b, :, positions[b]]`` (ordered
    channel, kernel row, kernel column, like ``conv.weight.view(n, -1)``), but gathers only the
    sampled patches: unfolding a whole 64 x 224 x 224 map would copy it nine times.

    Args:
        x: the conv's input ``(B, C, H, W)``.
        conv: the conv whose patches are taken (kernel, stride, padding, dilation).
        positions: ``(B, S)`` flat indices into the conv's ``H_out x W_out`` output.
    """
    batch = x.shape[0]
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    dh, dw = conv.dilation
    _, out_w = conv_output_size(conv, x.shape[2], x.shape[3])
    pad = _padding(conv)
    padded = F.pad(x, pad) if any(pad) else x
    positions = positions.to(x.device)
    rows = (positions // out_w)[..., None] * sh + torch.arange(kh, device=x.device) * dh
    cols = (positions % out_w)[..., None] * sw + torch.arange(kw, device=x.device) * dw
    b = torch.arange(batch, device=x.device)[:, None, None, None]
    # Advanced indices around a slice: the result is (B, S, kh, kw, C).
    patches = padded[b, :, rows[..., :, None], cols[..., None, :]]
    return patches.permute(0, 1, 4, 2, 3).reshape(batch * positions.shape[1], -1)


def sample_positions(
    name: str, num_images: int, outputs: int, per_image: int | None, seed: int
) -> torch.Tensor:
    """``(num_images, S)`` distinct random output positions per image for consumer `name`.

    ``per_image=None`` (or at least `outputs`) takes every position. The stream is seeded by
    `seed` and the layer name, so it does not depend on which other layers are pruned.
    """
    if per_image is None or per_image >= outputs:
        return torch.arange(outputs).expand(num_images, outputs).clone()
    # The CPU generator (mt19937) keeps only 32 bits of its seed: hash seed and name together.
    gen = torch.Generator().manual_seed(zlib.crc32(f"{seed}:{name}".encode()))
    return torch.stack(
        [torch.randperm(outputs, generator=gen)[:per_image] for _ in range(num_images)]
    )


@dataclass
class ConsumerSamples:
    """The regression data of one consumer conv C at the sampled points.

    Attributes:
        name: C's module path.
        inputs: X, ``(N, c * kh * kw)`` float32: C's input patches in the current model.
        targets: Y, ``(N, n)`` float32: C's output in the original model, bias removed.
        weight: C's weight ``(n, c, kh, kw)`` when the samples were taken.
    """

    name: str
    inputs: torch.Tensor
    targets: torch.Tensor
    weight: torch.Tensor

    @property
    def in_channels(self) -> int:
        """c: C's input channels (the pruned layer's current width)."""
        return int(self.weight.shape[1])

    @property
    def kernel_area(self) -> int:
        """kh * kw: columns of X per input channel."""
        return int(self.weight.shape[2] * self.weight.shape[3])

    @cached_property
    def xtx(self) -> torch.Tensor:
        """X^T X in float64, ``(c k, c k)``: shared by the LASSO and the least squares."""
        return _chunked_gram(self.inputs, self.inputs)

    @cached_property
    def xty(self) -> torch.Tensor:
        """X^T Y in float64, ``(c k, n)``."""
        return _chunked_gram(self.inputs, self.targets)

    @cached_property
    def x_sum(self) -> torch.Tensor:
        """Column sums of X in float64 (for the least squares' intercept)."""
        return self.inputs.double().sum(0)

    @cached_property
    def y_sum(self) -> torch.Tensor:
        """Column sums of Y in float64."""
        return self.targets.double().sum(0)

    def columns(self, channels: torch.Tensor) -> torch.Tensor:
        """Indices of X's columns that belong to input `channels` (each has kh*kw columns)."""
        area = self.kernel_area
        return (channels[:, None] * area + torch.arange(area)).reshape(-1)


def _chunked_gram(a: torch.Tensor, b: torch.Tensor, rows: int = 8192) -> torch.Tensor:
    # Float64 accumulation: X^T X feeds normal equations, which square the condition number.
    out = torch.zeros((a.shape[1], b.shape[1]), dtype=torch.float64)
    for start in range(0, a.shape[0], rows):
        out += a[start : start + rows].double().T @ b[start : start + rows].double()
    return out


class _Stop(Exception):
    """Raised from a hook once every needed layer has run: the rest of forward() is wasted."""


def _batches(images: torch.Tensor, batch_size: int) -> Iterable[tuple[int, torch.Tensor]]:
    for start in range(0, images.shape[0], batch_size):
        yield start, images[start : start + batch_size]


def _run(
    model: nn.Module,
    images: torch.Tensor,
    names: Iterable[str],
    hook_factory: Callable[[str, nn.Conv2d], Callable[..., None]],
    *,
    pre: bool,
    batch_size: int,
    on_batch: Callable[[int, int], None],
) -> None:
    """Run `model` over `images`, calling a hook on each named conv, stopping when all ran."""
    wanted = list(names)
    handles = []
    fired: set[str] = set()
    start_of_batch = [0, 0]

    def wrap(name: str, conv: nn.Conv2d) -> Callable[..., None]:
        inner = hook_factory(name, conv)

        def hook(module: nn.Module, args: tuple[torch.Tensor, ...], *rest: object) -> None:
            inner(start_of_batch[0], start_of_batch[1], args[0], *rest)
            fired.add(name)
            if len(fired) == len(wanted):
                raise _Stop

        return hook

    try:
        for name in wanted:
            conv = model.get_submodule(name)
            if not isinstance(conv, nn.Conv2d):
                raise ModelError(f"layer {name} is a {type(conv).__name__}, not an nn.Conv2d")
            register = conv.register_forward_pre_hook if pre else conv.register_forward_hook
            handles.append(register(wrap(name, conv)))
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.inference_mode():
            for start, chunk in _batches(images, batch_size):
                start_of_batch[:] = [start, chunk.shape[0]]
                fired.clear()
                with contextlib.suppress(_Stop):
                    model(chunk.to(device))
                missing = set(wanted) - fired
                if missing:
                    raise ModelError(
                        f"layer(s) {', '.join(sorted(missing))} did not run in forward(); "
                        f"channel pruning needs every consumer conv to run on every input."
                    )
                on_batch(start + chunk.shape[0], images.shape[0])
    finally:
        for handle in handles:
            handle.remove()


def collect_targets(
    original: nn.Module,
    consumers: Iterable[str],
    images: torch.Tensor,
    *,
    samples_per_image: int | None,
    seed: int,
    batch_size: int = 8,
    on_batch: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Y for every consumer in one pass over the ORIGINAL model.

    Returns:
        ``(positions, targets)``: consumer -> ``(num_images, S)`` sampled output positions, and
        consumer -> ``(num_images * S, n)`` outputs at those positions, bias removed.
    """
    positions: dict[str, torch.Tensor] = {}
    parts: dict[str, list[torch.Tensor]] = {}

    def factory(name: str, conv: nn.Conv2d) -> Callable[..., None]:
        def hook(start: int, count: int, _x: torch.Tensor, out: torch.Tensor) -> None:
            flat = out.flatten(2)  # (B, n, L)
            if name not in positions:
                positions[name] = sample_positions(
                    name, images.shape[0], flat.shape[2], samples_per_image, seed
                )
            pos = positions[name][start : start + count].to(flat.device)
            picked = flat.gather(2, pos[:, None, :].expand(-1, flat.shape[1], -1))
            y = picked.permute(0, 2, 1).reshape(-1, flat.shape[1])
            if conv.bias is not None:
                y = y - conv.bias
            parts.setdefault(name, []).append(y.float().cpu())

        return hook

    _run(original, images, consumers, factory, pre=False, batch_size=batch_size, on_batch=on_batch)
    return positions, {name: torch.cat(chunks) for name, chunks in parts.items()}


def collect_samples(
    current: nn.Module,
    targets: Mapping[str, torch.Tensor],
    positions: Mapping[str, torch.Tensor],
    consumers: Iterable[str],
    images: torch.Tensor,
    *,
    batch_size: int = 8,
    on_batch: Callable[[int, int], None] = lambda done, total: None,
) -> list[ConsumerSamples]:
    """X for each consumer from the CURRENT model, paired with its Y from `collect_targets`."""
    names = list(consumers)
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in names}

    def factory(name: str, conv: nn.Conv2d) -> Callable[..., None]:
        def hook(start: int, count: int, x: torch.Tensor) -> None:
            pos = positions[name][start : start + count]
            parts[name].append(extract_patches(x, conv, pos).float().cpu())

        return hook

    _run(current, images, names, factory, pre=True, batch_size=batch_size, on_batch=on_batch)
    result = []
    for name in names:
        conv = current.get_submodule(name)
        assert isinstance(conv, nn.Conv2d)
        result.append(
            ConsumerSamples(
                name=name,
                inputs=torch.cat(parts[name]),
                targets=targets[name],
                weight=conv.weight.detach().float().cpu().clone(),
            )
        )
    return result
