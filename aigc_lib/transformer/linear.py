"""``nn.Linear`` whose products of a few rows use every CPU thread.

Generating text with a KV cache feeds **one token** (one row per sequence)
through every layer at each step. A linear layer then multiplies a ``(1, in)``
row by an ``(out, in)`` weight matrix: two floating-point operations per weight,
read once. The step is limited by how fast the weights stream from memory, not
by arithmetic. On the course's CPU, PyTorch's float32 matrix product (Intel MKL)
runs such a one-row product on **one core**, however many threads are allowed:
it reads the weights at about 16 GB/s, while two cores together read memory at
33-72 GB/s. Products of 2 to 16 rows read the weights even more slowly
(9-12 GB/s).

:class:`Linear` is ``nn.Linear`` (same parameters, same ``state_dict``, same
initialisation, ``isinstance(layer, nn.Linear)`` holds) with one change. When
the input has at most :data:`MAX_SPLIT_ROWS` rows, has the weight's dtype and
lives on the CPU, the weight holds at least :data:`MIN_SPLIT_BYTES`, and more
than one thread is allowed, then the weight's output rows are cut into one
block per thread, and :func:`torch.baddbmm` multiplies the input by all blocks
at once, one block per thread. Every output is the same dot product as before; only the
order of the additions inside it may differ, so the result equals
``F.linear``'s up to float rounding (tested). Inference engines such as
llama.cpp split the rows of a matrix-vector product across threads in the
same way.

Measured on the course machine (2 cores, GPT-2-124M shape, greedy, 200 new
tokens after a 1-token prompt; ``benchmarks/README.md``, one sweep): 31 tok/s
with plain ``F.linear`` layers, 48 tok/s with this layer. In every other case
(GPUs, more rows as in training, small weights, ``torch.compile``,
``torch.jit`` tracing) it calls ``nn.Linear``'s own forward. Not supported:
``torch.jit.script`` (deprecated by PyTorch) and
``torch.ao.quantization.quantize_dynamic``, which only replaces layers whose
type is exactly ``nn.Linear``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_int, check_tensor

#: Inputs with at most this many rows (``x.numel() / in_features``) are split
#: across threads. Measured on the course CPU over the GPT-2-124M block
#: matrices (``python -m benchmarks.gpt_cpu --sections sweep``, rows table in
#: ``benchmarks/README.md``): the split reads the weights 1.7-2.1x as fast for
#: 1-4 rows, 1.1x at 64 rows, and at most 1.07x from 96 rows on.
MAX_SPLIT_ROWS = 64

#: Weights smaller than this (in bytes) are not split: the split adds about
#: 15 microseconds per call, more than it saves when the weights are small (and
#: may sit in the CPU's cache). On the course CPU a one-row product broke even
#: at about 1.7 MiB with the weights in the cache and between 0.2 and 0.75 MiB
#: without.
MIN_SPLIT_BYTES = 2 * 2**20


def row_split_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                     parts: int) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` computed as ``parts`` blocks of output rows in one batched product.

    Args:
        x: ``(..., in)`` input.
        weight: ``(out, in)``.
        bias: ``(out,)`` or ``None``.
        parts: number of blocks (one per thread); ``1 <= parts <= out``.

    Returns:
        ``(..., out)``, equal to ``F.linear(x, weight, bias)`` up to float rounding.
    """
    check_tensor(x, "x")
    check_tensor(weight, "weight", ndim=2, shape_hint="(out, in)")
    parts = check_int(parts, "parts")
    out_f, in_f = weight.shape
    if not 1 <= parts <= out_f:
        raise ValueError(f"parts must be between 1 and out_features={out_f}, got {parts}")
    if x.shape[-1] != in_f:
        raise ValueError(f"x must have in_features={in_f} in its last dimension, got shape {tuple(x.shape)}")
    if bias is not None:
        check_tensor(bias, "bias", ndim=1, shape_hint=f"({out_f},)")
        if bias.shape[0] != out_f:
            raise ValueError(f"bias must have shape ({out_f},) (out_features), got {tuple(bias.shape)}")
    rows = x.reshape(-1, in_f)                                    # (M, in)
    m = rows.shape[0]
    main = out_f - out_f % parts                                  # rows of W that split evenly
    w = weight[:main].view(parts, main // parts, in_f)            # (P, out/P, in): a view, no copy
    xs = rows.unsqueeze(0).expand(parts, m, in_f)                 # (P, M, in): a view
    if bias is None:
        y = torch.bmm(xs, w.transpose(1, 2))                      # (P, M, out/P)
    else:
        b = bias[:main].view(parts, 1, main // parts)
        y = torch.baddbmm(b, xs, w.transpose(1, 2))
    y = y.transpose(0, 1).reshape(m, main)                        # (M, main): block p holds rows p*out/P...
    if main < out_f:                                              # the few rows left over
        rest = F.linear(rows, weight[main:], None if bias is None else bias[main:])
        y = torch.cat([y, rest], dim=-1)
    return y.view(*x.shape[:-1], out_f)


class Linear(nn.Linear):
    """``nn.Linear`` that splits products of a few rows across CPU threads (see the module docstring).

    Shapes as ``nn.Linear``: ``(..., in_features) -> (..., out_features)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Under torch.compile or jit tracing, let the compiler choose the kernel: the thread count and the
        # input's size would otherwise be fixed in the compiled graph.
        if torch.compiler.is_compiling() or torch.jit.is_tracing() or x.device.type != "cpu":
            return super().forward(x)
        parts = min(torch.get_num_threads(), self.out_features)
        if (parts > 1 and x.dtype == self.weight.dtype and x.shape[-1] == self.in_features
                and 0 < x.numel() <= MAX_SPLIT_ROWS * self.in_features
                and self.weight.numel() * self.weight.element_size() >= MIN_SPLIT_BYTES):
            return row_split_linear(x, self.weight, self.bias, parts)
        return super().forward(x)
