"""Endless, resumable streams of mini-batches.

Both streams below keep a small *state* (how far they have got). The
Trainer saves it in checkpoints, so a resumed run sees exactly the batches
the uninterrupted run would have seen.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch

from ..core.checks import check_bool, check_int


def _check_shard(batch_size: int, world_size: int) -> None:
    world_size = check_int(world_size, "world_size", min=1)
    if batch_size % world_size != 0:
        raise ValueError(f"batch_size {batch_size} must be divisible by the number of processes {world_size}")


def _check_state(state: object, keys: tuple[str, ...], who: str) -> None:
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise KeyError(f"{who} state must be a dict with {list(keys)} (from {who}.state_dict()), got "
                       f"{str(state)[:80]}")


class TensorBatches:
    """Shuffled mini-batches drawn from tensors that share their first dimension.

    Args:
        *tensors: e.g. images ``(N, C, H, W)`` and labels ``(N,)``.
        batch_size: examples per batch (over all processes under ``torchrun``).
        shuffle: draw a new permutation each epoch (seeded by ``seed + epoch``).
        seed: seed of the permutations.
        repeat: ``True`` (training): iterate forever, continuing from the saved
            position. ``False`` (evaluation): one pass from the start each
            time it is iterated; the last, smaller batch is kept.

    Yields:
        One tensor per input tensor (a tuple), or the tensor itself if only one was given.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = True,
                 seed: int = 0, repeat: bool = True) -> None:
        if not tensors:
            raise ValueError("TensorBatches needs at least one tensor")
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"tensors must be tensors sharing their first dimension, got {type(t).__name__} "
                                f"as tensor {i}")
            if t.ndim == 0:
                raise ValueError(f"tensors must have a first (example) dimension, got a 0-d tensor as tensor {i}")
        n = tensors[0].shape[0]
        for i, t in enumerate(tensors):
            if t.shape[0] != n:
                raise ValueError(f"all tensors must have the same first dimension: tensor 0 has {n}, "
                                 f"tensor {i} has {t.shape[0]}")
        batch_size = check_int(batch_size, "batch_size", min=1)
        seed = check_int(seed, "seed", min=0)
        check_bool(shuffle, "shuffle")
        check_bool(repeat, "repeat")
        if n == 0:
            raise ValueError("tensors must hold at least one example, got 0")
        if repeat and batch_size > n:
            raise ValueError(f"batch_size {batch_size} is larger than the data set ({n} examples)")
        self.tensors, self.n, self.batch_size = tensors, n, batch_size
        self.shuffle, self.seed, self.repeat = shuffle, seed, repeat
        self.epoch, self.index = 0, 0
        self.rank, self.world_size = 0, 1

    @property
    def endless(self) -> bool:
        """True when iterating never ends (``repeat=True``)."""
        return self.repeat

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.n // self.batch_size if self.repeat else -(-self.n // self.batch_size)

    def shard(self, rank: int, world_size: int) -> None:
        """Give this process every ``world_size``-th example of each batch (used by the Trainer under DDP)."""
        _check_shard(self.batch_size, world_size)
        self.rank, self.world_size = check_int(rank, "rank", min=0, max=world_size - 1), world_size

    def _order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))

    def _take(self, idx: torch.Tensor) -> Any:
        idx = idx[self.rank::self.world_size]
        out = tuple(t[idx] for t in self.tensors)
        return out[0] if len(out) == 1 else out

    def __iter__(self) -> Iterator[Any]:
        if not self.repeat:
            order = self._order(0)
            for i in range(len(self)):
                yield self._take(order[i * self.batch_size:(i + 1) * self.batch_size])
            return
        while True:
            order = self._order(self.epoch)
            while self.index < len(self):
                i = self.index
                self.index += 1
                yield self._take(order[i * self.batch_size:(i + 1) * self.batch_size])
            self.epoch, self.index = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        _check_state(state, ("epoch", "index"), type(self).__name__)
        self.epoch = check_int(state["epoch"], "state['epoch']", min=0)
        self.index = check_int(state["index"], "state['index']", min=0)


class RandomWindows:
    """Random windows of a long token sequence, for language modelling.

    Each batch takes ``batch_size`` random start positions ``s`` and returns
    ``x = tokens[s : s+block_size]`` and ``y = tokens[s+1 : s+block_size+1]``
    (the next token at every position), both of shape ``(B, T)``.
    Batch ``k`` depends only on ``(seed, k)``, so the stream is resumable.

    Args:
        tokens: 1-D integer tensor.
        block_size: ``T``, the length of each window.
        batch_size: ``B``, windows per batch (over all processes under ``torchrun``).
        seed: seed of the start positions.
        num_batches: ``None`` for an endless stream (training); a number for a
            fixed set of batches that is the same every time it is iterated
            (evaluation).
    """

    def __init__(self, tokens: torch.Tensor, block_size: int, batch_size: int, seed: int = 0,
                 num_batches: int | None = None) -> None:
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"tokens must be a 1-D integer tensor, got {type(tokens).__name__}; "
                            f"wrap token ids with torch.tensor(ids)")
        if tokens.ndim != 1:
            raise ValueError(f"tokens must be 1-D, got shape {tuple(tokens.shape)}")
        if tokens.is_floating_point():
            raise TypeError(f"tokens must be integer token ids, got dtype {tokens.dtype}")
        block_size = check_int(block_size, "block_size", min=1)
        batch_size = check_int(batch_size, "batch_size", min=1)
        seed = check_int(seed, "seed", min=0)
        num_batches = check_int(num_batches, "num_batches", min=1, allow_none=True,
                                note=" (None: an endless stream)")
        if tokens.is_complex() or tokens.dtype == torch.bool:
            raise TypeError(f"tokens must be integer token ids, got dtype {tokens.dtype}")
        if len(tokens) < block_size + 1:
            raise ValueError(f"need more than block_size={block_size} tokens, got {len(tokens)}")
        self.tokens = tokens.long()
        self.block_size, self.batch_size, self.seed = block_size, batch_size, seed
        self.num_batches = num_batches
        self.counter = 0
        self.rank, self.world_size = 0, 1

    @property
    def endless(self) -> bool:
        """True when iterating never ends (``num_batches=None``)."""
        return self.num_batches is None

    def shard(self, rank: int, world_size: int) -> None:
        """Give this process its share of every batch (used by the Trainer under DDP)."""
        _check_shard(self.batch_size, world_size)
        self.rank, self.world_size = check_int(rank, "rank", min=0, max=world_size - 1), world_size

    def batch(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch number ``k``: ``(x, y)``, each ``(B, T)``."""
        k = check_int(k, "k", min=0)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
        starts = torch.randint(len(self.tokens) - self.block_size, (self.batch_size,), generator=g)
        starts = starts[self.rank::self.world_size]
        offsets = torch.arange(self.block_size + 1)
        windows = self.tokens[starts[:, None] + offsets]
        return windows[:, :-1], windows[:, 1:]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.num_batches is not None:
            for k in range(self.num_batches):
                yield self.batch(k)
            return
        while True:
            k = self.counter
            self.counter += 1
            yield self.batch(k)

    def state_dict(self) -> dict[str, int]:
        return {"counter": self.counter}

    def load_state_dict(self, state: dict[str, int]) -> None:
        _check_state(state, ("counter",), type(self).__name__)
        self.counter = check_int(state["counter"], "state['counter']", min=0)
