"""Multiply-accumulate (MAC) counting by the paper's Eq. 1, for torch modules and ONNX files.

Eq. 1 of Qi & Liu counts one convolution as ``H_f x W_f x N_in x N_out x H_k x W_k`` MACs.
This module applies it in general:

* the spatial size is the convolution's *output* size, so stride, padding and dilation are
  accounted for (for the paper's same-padded stride-1 convolutions it equals the input size);
* ``N_in`` is ``in_channels / groups`` (each output channel sees one group of inputs);
* Conv1d/2d/3d multiply over all of their spatial dimensions;
* a transposed convolution scatters every *input* position through the whole kernel, so its
  count is ``input spatial size x C_in x C_out / groups x kernel``;
* a linear layer is ``in_features x out_features`` per row, times every leading dimension of
  its input except the batch.

Bias additions, activations, pooling and normalisation are not counted: Eq. 1 does not count
them. With that convention ``2 x MACs`` equals what ``torch.utils.flop_counter.FlopCounterMode``
reports for models made only of these layers (it counts two FLOPs per MAC and ignores bias).

All counts are per example (batch 1), whatever batch the counting pass ran at.

The package, one module per part:

* `report`: what both counters return (`LayerMACs`, `MACReport`) and the rules they share
  (unique layer names, per-example counts);
* `torch_counter`: `count_macs`, a torch forward pass with hooks on the counted modules;
* `onnx_counter`: `count_onnx_macs`, from an ONNX graph's inferred shapes (onnx imported
  when called);
* `table`: Table VI style output (`format_macs_table`) and its rows as data (`macs_rows`).

Everything public is importable from here (``from edgecheck.macs import count_macs``).
"""

from edgecheck.macs.onnx_counter import count_onnx_macs
from edgecheck.macs.report import CONV, CONV_TRANSPOSE, LINEAR, MATMUL, LayerMACs, MACReport
from edgecheck.macs.table import format_macs_table, macs_rows
from edgecheck.macs.torch_counter import count_macs

__all__ = [
    "CONV",
    "CONV_TRANSPOSE",
    "LINEAR",
    "MATMUL",
    "LayerMACs",
    "MACReport",
    "count_macs",
    "count_onnx_macs",
    "format_macs_table",
    "macs_rows",
]
