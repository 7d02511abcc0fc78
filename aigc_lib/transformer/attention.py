"""Attention: the scaled dot-product, masks, multi-head attention and a KV cache.

Shapes used below: ``B`` batch, ``H`` heads, ``T_q`` queries, ``T_k`` keys
(and values), ``d_k`` the width of a query/key, ``d_v`` the width of a value,
``C = d_model`` the width of the model.

Masks are boolean and **True means "may attend"** (the opposite of
``torch.nn.MultiheadAttention``'s ``attn_mask``, where True means "blocked").

A query whose row of the mask is all False (a *fully masked row*) has nothing
to attend to. Softmax over an empty set is undefined, and a naive
implementation returns NaN. Here such a row gets **all-zero weights and an
all-zero output** (and zero gradients), on both the readable path and the fast
path.

References: Bahdanau et al. (2015) for attention, Vaswani et al. (2017) for
the scaled dot-product and multi-head attention, Su et al. (2021) for rotary
position embeddings.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_bool, check_finite_tensor, check_float, check_int, check_tensor
from .linear import Linear
from .positional import RotaryEmbedding

# ---------------------------------------------------------------------------- masks


def causal_mask(t_q: int, t_k: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """The causal ("no peeking ahead") mask, ``(T_q, T_k)`` boolean, True = may attend.

    Queries are the **last** ``T_q`` of the ``T_k`` positions: query ``i`` sits
    at position ``T_k - T_q + i`` and may attend to keys ``0 .. T_k - T_q + i``.
    With ``T_q == T_k`` this is the usual lower-triangular matrix; with a KV
    cache (``T_k > T_q``) the new queries see every cached key.
    (``F.scaled_dot_product_attention(is_causal=True)`` aligns the triangle
    top-left instead, which only agrees when ``T_q == T_k``.)
    """
    t_q = check_int(t_q, "t_q", min=1)
    t_k = t_q if t_k is None else check_int(t_k, "t_k", min=1)
    if t_k < t_q:
        raise ValueError(f"causal_mask needs 0 <= T_q <= T_k, got T_q={t_q}, T_k={t_k}")
    q_pos = torch.arange(t_k - t_q, t_k, device=device)[:, None]
    k_pos = torch.arange(t_k, device=device)[None, :]
    return k_pos <= q_pos


def padding_mask(x: torch.Tensor, max_len: int | None = None, pad_id: int | None = None) -> torch.Tensor:
    """A key-padding mask ``(B, 1, T_k)``, True at real tokens, broadcastable to ``(B, T_q, T_k)``.

    ``x`` may be one of:

    * lengths ``(B,)`` (integers) with ``max_len = T_k``;
    * token ids ``(B, T_k)`` (integers) with ``pad_id``: positions equal to ``pad_id`` are padding;
    * a boolean ``(B, T_k)`` tensor that is **True at padding** (as ``key_padding_mask`` in PyTorch).

    For multi-head attention (``(B, H, T_q, T_k)``) pass it to
    :class:`MultiHeadAttention`, which inserts the head dimension, or use
    ``mask[:, None]``.
    """
    check_tensor(x, "x", shape_hint="(lengths (B,), token ids (B, T_k) or a bool padding tensor (B, T_k))")
    max_len = check_int(max_len, "max_len", min=0, allow_none=True)
    pad_id = check_int(pad_id, "pad_id", allow_none=True)
    if x.dtype == torch.bool:
        if x.ndim != 2:
            raise ValueError(f"a boolean padding tensor must be (B, T_k), got shape {tuple(x.shape)}")
        return (~x)[:, None, :]
    if x.is_floating_point():
        raise TypeError(f"padding_mask expects integer lengths/token ids or a bool tensor, got {x.dtype}")
    if x.ndim == 1:
        if max_len is None:
            raise ValueError("padding_mask from lengths (B,) needs max_len")
        if (x < 0).any() or (x > max_len).any():
            raise ValueError(f"lengths must be in [0, max_len={max_len}], got {x.tolist()}")
        return (torch.arange(max_len, device=x.device)[None, :] < x[:, None])[:, None, :]
    if x.ndim == 2:
        if pad_id is None:
            raise ValueError("padding_mask from token ids (B, T_k) needs pad_id")
        return (x != pad_id)[:, None, :]
    raise ValueError(f"padding_mask expects (B,) lengths or (B, T_k) tokens, got shape {tuple(x.shape)}")


def _check_mask(mask: torch.Tensor, scores_shape: torch.Size) -> None:
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = may attend), got dtype {mask.dtype}")
    try:
        broadcast = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        broadcast = None
    if broadcast != scores_shape:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the attention scores "
            f"(..., T_q, T_k) = {tuple(scores_shape)}"
        )


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(t, name, kind="float", shape_hint="(..., T, d)")
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or not q.ndim == k.ndim == v.ndim:
        raise ValueError(f"q, k, v need the same number (>= 2) of dims (..., T, d), got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        raise ValueError(f"q, k, v must share their leading (batch, head) dims, got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values must have the same length T_k: k has {k.shape[-2]}, v has {v.shape[-2]}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys must have the same width d_k: q has {q.shape[-1]}, k has {k.shape[-1]}")


# ------------------------------------------------------------------ the attention


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T / sqrt(d_k)) v``, written out step by step.

    Args:
        q: queries ``(..., T_q, d_k)``.
        k: keys ``(..., T_k, d_k)``.
        v: values ``(..., T_k, d_v)``.
        mask: boolean, broadcastable to ``(..., T_q, T_k)``; True = may attend.
        dropout_p: dropout on the weights (applied whenever > 0, as in
            ``F.scaled_dot_product_attention``; pass 0 at evaluation).
        scale: factor on the scores; default ``1 / sqrt(d_k)``.

    Returns:
        ``(out, weights)``: ``out`` is ``(..., T_q, d_v)``, ``weights`` is
        ``(..., T_q, T_k)``, each row summing to 1, or to 0 for a fully masked row
        (whose output is then zero).
    """
    _check_qkv(q, k, v)
    dropout_p = check_float(dropout_p, "dropout_p", min=0.0, max=1.0)
    # scale 0 is allowed: every key gets the same weight (the temperature goes to infinity; chapter 2, exercise 1)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else check_float(scale, "scale", min=0.0)
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_finite_tensor(t, name)
    scores = (q @ k.transpose(-2, -1)) * scale                           # (..., T_q, T_k)
    if mask is not None:
        _check_mask(mask, scores.shape)
        has_key = mask.any(dim=-1, keepdim=True)                          # (..., T_q, 1)
        scores = scores.masked_fill(~mask, float("-inf"))
        scores = scores.masked_fill(~has_key, 0.0)                        # no -inf-only rows: no NaN
    # torch.softmax subtracts the row maximum first, so exp() never overflows.
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~has_key, 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights


def fast_scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
) -> torch.Tensor:
    """The same as :func:`scaled_dot_product_attention` (output only) with PyTorch's fused kernel.

    ``F.scaled_dot_product_attention`` picks a flash / memory-efficient kernel on
    GPUs. ``is_causal`` means the causal mask of :func:`causal_mask` (bottom-right
    aligned). Fully masked rows give zeros, as on the readable path.
    """
    _check_qkv(q, k, v)
    dropout_p = check_float(dropout_p, "dropout_p", min=0.0, max=1.0)
    check_bool(is_causal, "is_causal")
    t_q, t_k = q.shape[-2], k.shape[-2]
    scores_shape = torch.Size((*torch.broadcast_shapes(q.shape[:-2], k.shape[:-2]), t_q, t_k))
    if mask is not None:
        _check_mask(mask, scores_shape)   # before combining it with the causal mask
        if mask.ndim < 2:                 # the fused kernel needs (..., T_q, T_k)
            mask = mask.expand(t_q, t_k)
    if is_causal and t_q != t_k:
        causal = causal_mask(t_q, t_k, device=q.device)
        mask = causal if mask is None else mask & causal
        is_causal = False
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=is_causal)
    if is_causal:
        mask = mask & causal_mask(t_q, t_k, device=q.device)
    has_key = mask.any(dim=-1, keepdim=True)
    safe_mask = mask | ~has_key                      # let empty rows attend everywhere, then zero them
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=safe_mask, dropout_p=dropout_p)
    return out.masked_fill(~has_key, 0.0)


# --------------------------------------------------------------------- KV cache


class KVCache:
    """Keys and values of the tokens seen so far, for one attention layer.

    Incremental decoding feeds one new token at a time; its query attends to
    the cached keys/values of every earlier token instead of recomputing them.
    Use one ``KVCache()`` per layer; :class:`MultiHeadAttention` fills it.

    Args:
        capacity: ``None`` (default): each :meth:`append` concatenates the new
            keys/values to the old ones. Simple, but every step copies the whole
            cache. An integer: room for ``capacity`` positions is allocated at the
            first append and new keys/values are written in place (a
            *preallocated* or *static* cache, as in fast inference code); adding
            more than ``capacity`` positions raises ``ValueError``.

    Attributes:
        k, v: the filled part, ``(B, H, T_cached, d_head)``, or ``None`` while empty.
    """

    def __init__(self, capacity: int | None = None) -> None:
        capacity = check_int(capacity, "capacity", min=1, allow_none=True, note=" (positions)")
        self.capacity = capacity
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._len = 0

    def __repr__(self) -> str:
        return f"KVCache(length={self._len}, capacity={self.capacity})"

    def __len__(self) -> int:
        return self._len

    @property
    def k(self) -> torch.Tensor | None:
        return None if self._k is None else self._k[:, :, :self._len]

    @property
    def v(self) -> torch.Tensor | None:
        return None if self._v is None else self._v[:, :, :self._len]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new ``(B, H, T_new, d_head)`` keys and values; return all of them."""
        check_tensor(k, "k", shape_hint="(B, H, T_new, d_head)")
        check_tensor(v, "v", shape_hint="(B, H, T_new, d_head)")
        if k.ndim != 4 or k.shape != v.shape:
            raise ValueError(f"keys and values must both be (B, H, T_new, d_head), got {tuple(k.shape)} "
                             f"and {tuple(v.shape)}")
        t_new = k.shape[-2]
        if self._k is not None and k.shape[:2] != self._k.shape[:2]:
            raise ValueError(f"new keys have (B, H) = {tuple(k.shape[:2])}, the cache holds "
                             f"{tuple(self._k.shape[:2])}")
        if self.capacity is None:
            if self._k is None:
                self._k, self._v = k, v
            else:
                self._k, self._v = torch.cat([self._k, k], dim=-2), torch.cat([self._v, v], dim=-2)
        else:
            if self._len + t_new > self.capacity:
                raise ValueError(f"the cache has room for capacity={self.capacity} positions; it holds "
                                 f"{self._len} and {t_new} new ones do not fit")
            if self._k is None:
                shape = (*k.shape[:2], self.capacity, k.shape[-1])
                self._k, self._v = k.new_empty(shape), v.new_empty(shape)
            self._k[:, :, self._len:self._len + t_new] = k
            self._v[:, :, self._len:self._len + t_new] = v
        self._len += t_new
        return self.k, self.v

    def crop(self, length: int) -> None:
        """Keep only the first ``length`` positions (drop the rest, e.g. rejected draft tokens)."""
        length = check_int(length, "length")
        if not 0 <= length <= self._len:
            raise ValueError(f"can crop to 0..{self._len} positions, got {length}")
        if self.capacity is None and self._k is not None:
            self._k, self._v = self._k[:, :, :length], self._v[:, :, :length]
        self._len = length

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` (e.g. the surviving beams of a beam search)."""
        check_tensor(index, "index", ndim=1, kind="int", shape_hint="(surviving rows,)")
        if self._k is not None:
            if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self._k.shape[0]):
                raise IndexError(f"index must hold batch rows in 0..{self._k.shape[0] - 1}, got {index.tolist()}")
            self._k, self._v = self._k[index], self._v[index]


# ------------------------------------------------------------ multi-head attention


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al., 2017).

    Self-attention (``cross=False``) projects the input to queries, keys and
    values with **one fused** ``Linear(C, 3C)`` (``qkv``, laid out as
    ``[W_q; W_k; W_v]`` like ``nn.MultiheadAttention.in_proj_weight``).
    Cross-attention (``cross=True``) projects the queries from ``x`` with
    ``q_proj`` and keys/values from ``context`` with one fused ``kv_proj``
    ``Linear(C, 2C)``. Each of the ``H`` heads attends in its own ``C/H``-wide
    subspace; the heads are concatenated and mixed by ``out_proj``.

    Args:
        d_model: ``C``.
        n_heads: ``H``; must divide ``d_model``.
        dropout: dropout on the attention weights (training only).
        bias: biases in the projections.
        cross: cross-attention (queries from ``x``, keys/values from ``context``).
        rope: rotary position embeddings (Su et al., 2021) on queries and keys
            (self-attention only).
        max_len: length of the rotary table when ``rope=True``.
        fast: use ``F.scaled_dot_product_attention`` (flash attention on GPUs)
            when the weights are not needed; equal to the readable path.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True, cross: bool = False,
                 rope: bool = False, max_len: int = 2048, fast: bool = True) -> None:
        super().__init__()
        d_model = check_int(d_model, "d_model", min=1)
        n_heads = check_int(n_heads, "n_heads", min=1)
        for flag, value in (("bias", bias), ("cross", cross), ("rope", rope), ("fast", fast)):
            check_bool(value, flag)
        dropout = check_float(dropout, "dropout", min=0.0, max=1.0, max_open=True)
        max_len = check_int(max_len, "max_len", min=1)
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if cross and rope:
            raise ValueError("rotary embeddings are for self-attention; use rope=False with cross=True")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.dropout, self.cross, self.fast = dropout, cross, fast
        if cross:
            self.q_proj = Linear(d_model, d_model, bias=bias)
            self.kv_proj = Linear(d_model, 2 * d_model, bias=bias)
        else:
            self.qkv = Linear(d_model, 3 * d_model, bias=bias)
        self.out_proj = Linear(d_model, d_model, bias=bias)
        self.rotary = RotaryEmbedding(self.d_head, max_len=max_len) if rope else None

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C) -> (B, H, T, C/H)``."""
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.d_head).transpose(1, 2)

    @staticmethod
    def merge_heads(x: torch.Tensor) -> torch.Tensor:
        """``(B, H, T, d_head) -> (B, T, H * d_head)``."""
        b, h, t, d = x.shape
        return x.transpose(1, 2).reshape(b, t, h * d)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``x`` to itself (self) or to ``context`` (cross).

        Args:
            x: ``(B, T_q, C)``.
            context: ``(B, T_k, C)``, required for cross-attention, not allowed for self-attention.
            mask: boolean, True = may attend: ``(T_q, T_k)``, ``(B, 1 or T_q, T_k)``
                (a head dimension is inserted) or ``(B, H, T_q, T_k)``.
            is_causal: add the causal mask (self-attention). With a cache, the
                new queries sit after the cached positions.
            need_weights: also return the per-head weights ``(B, H, T_q, T_k)``
                (uses the readable path).
            cache: a :class:`KVCache` for incremental decoding (self-attention):
                this call's keys/values are appended and attention runs over all
                of them; rotary positions continue after the cached length.

        Returns:
            ``(out (B, T_q, C), weights or None)``.
        """
        check_tensor(x, "x", kind="float", shape_hint=f"(B, T, {self.d_model})")
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must be (B, T, {self.d_model}), got {tuple(x.shape)}")
        if self.cross:
            if context is None:
                raise ValueError("cross-attention needs context (B, T_k, C)")
            check_tensor(context, "context", kind="float", shape_hint=f"({x.shape[0]}, T_k, {self.d_model})")
            if cache is not None:
                raise ValueError("KVCache is for self-attention; cross-attention keys come from context")
            if context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[-1] != self.d_model:
                raise ValueError(f"context must be ({x.shape[0]}, T_k, {self.d_model}), got {tuple(context.shape)}")
            q = self.split_heads(self.q_proj(x))
            k, v = (self.split_heads(t) for t in self.kv_proj(context).chunk(2, dim=-1))
        else:
            if context is not None:
                raise ValueError("self-attention takes no context; build MultiHeadAttention(cross=True)")
            q, k, v = (self.split_heads(t) for t in self.qkv(x).chunk(3, dim=-1))
        past = len(cache) if cache is not None else 0
        if self.rotary is not None:
            q, k = self.rotary(q, offset=past), self.rotary(k, offset=past)
        if cache is not None:
            k, v = cache.append(k, v)
        if mask is not None:
            check_tensor(mask, "mask", kind="bool", shape_hint="(True = may attend)")
            if mask.ndim == 2 and x.shape[0] > 1 and mask.shape[0] == x.shape[0] == q.shape[-2]:
                # A PyTorch key_padding_mask (B, T_k), True = padding, has the same shape as a (T_q, T_k)
                # attention mask when B == T_q: it would be read the other way round, silently.
                raise ValueError(
                    f"mask of shape {tuple(mask.shape)} is ambiguous because the batch size equals the number of "
                    f"queries ({x.shape[0]}): a 2-D mask is read as (T_q, T_k) with True = may attend, but it could "
                    f"also be a (B, T_k) key-padding mask. Expected mask[None] (an attention mask shared by every "
                    f"example, (1, T_q, T_k)), or padding_mask(key_padding_mask) for a PyTorch-style padding "
                    f"mask (True = padding), which gives (B, 1, T_k)")
            if mask.ndim not in (2, 3, 4):
                raise ValueError(f"mask must be (T_q, T_k), (B, 1 or T_q, T_k) or (B, H, T_q, T_k), "
                                 f"got shape {tuple(mask.shape)}")
            if mask.ndim == 3:
                mask = mask[:, None]
            _check_mask(mask, torch.Size((*q.shape[:-1], k.shape[-2])))   # before it meets the causal mask
        p = self.dropout if self.training else 0.0
        if need_weights or not self.fast:
            if is_causal:
                causal = causal_mask(q.shape[-2], k.shape[-2], device=x.device)
                mask = causal if mask is None else mask & causal
            out, weights = scaled_dot_product_attention(q, k, v, mask=mask, dropout_p=p)
        else:
            out = fast_scaled_dot_product_attention(q, k, v, mask=mask, dropout_p=p, is_causal=is_causal)
            weights = None
        return self.out_proj(self.merge_heads(out)), (weights if need_weights else None)
