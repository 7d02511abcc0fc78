"""Data-parallel training across processes (``torchrun``), on CPU or GPU.

``torchrun --nproc_per_node=N script.py`` starts N copies of a script and
sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``. The Trainer calls
:func:`init_from_env`; with ``WORLD_SIZE > 1`` it joins the process group
(NCCL on CUDA, gloo on CPU) and wraps the task in
``DistributedDataParallel``, which averages gradients across processes.
"""
from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .checks import check_choice, check_int


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        world_size = check_int(self.world_size, "world_size", min=1)
        check_int(self.rank, "rank", min=0, max=world_size - 1, note=f" (world_size={world_size})")
        check_int(self.local_rank, "local_rank", min=0)

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


#: Seconds to wait for all processes to join (environment variable ``AIGC_DIST_TIMEOUT`` overrides it).
JOIN_TIMEOUT_S = 120.0
#: Timeout of the collective operations once the group is formed (PyTorch's default).
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=30)


def _env_int(name: str, default: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise RuntimeError(f"environment variable WORLD_SIZE={os.environ.get('WORLD_SIZE')} asks for "
                               f"distributed training, but {name} is not set: expected torchrun to set WORLD_SIZE, "
                               f"RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. If you did not start this script "
                               f"with torchrun, unset WORLD_SIZE")
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def _join_timeout() -> float:
    raw = os.environ.get("AIGC_DIST_TIMEOUT")
    if raw is None or raw.strip() == "":
        return JOIN_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise ValueError(f"environment variable AIGC_DIST_TIMEOUT must be a positive number of seconds, got {raw!r}")
    return value


def init_from_env(device_type: str = "cpu") -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    With ``WORLD_SIZE > 1`` this needs ``RANK``, ``MASTER_ADDR`` and
    ``MASTER_PORT`` too (``torchrun`` sets them all). The processes must all
    join within ``AIGC_DIST_TIMEOUT`` seconds (default 120); otherwise a
    ``RuntimeError`` explains which variables caused the attempt, instead of a
    silent wait. A stray ``WORLD_SIZE`` left in a shell therefore fails fast.
    """
    check_choice(device_type, "device_type", ("cpu", "cuda", "mps", "xpu"))
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size < 1:
        raise ValueError(f"environment variable WORLD_SIZE must be >= 1, got {world_size}")
    if world_size == 1:
        return DistInfo()
    rank = _env_int("RANK")
    if not 0 <= rank < world_size:
        raise ValueError(f"environment variable RANK must be in 0..{world_size - 1} (WORLD_SIZE={world_size}), "
                         f"got {rank}")
    local_rank = _env_int("LOCAL_RANK", rank)
    if not dist.is_initialized():
        addr = os.environ.get("MASTER_ADDR")
        port = _env_int("MASTER_PORT")
        if not 1 <= port <= 65535:
            raise ValueError(f"environment variable MASTER_PORT must be 1..65535, got {port}")
        if not addr:
            _env_int("MASTER_ADDR")           # raises the "not set" error
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        timeout = _join_timeout()
        # torchrun's agent may already serve the store on MASTER_PORT; then every rank is a client.
        is_master = rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
        try:
            store = dist.TCPStore(addr, port, world_size, is_master,
                                  timeout=datetime.timedelta(seconds=timeout), wait_for_workers=True)
            # Every process must reach the store within the join timeout (also when torchrun's agent serves it).
            store.add("aigc_lib/joined", 1)
            deadline = time.monotonic() + timeout
            while int(store.add("aigc_lib/joined", 0)) < world_size:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{int(store.add('aigc_lib/joined', 0))} of {world_size} joined")
                time.sleep(0.05)
        except (RuntimeError, TimeoutError, OSError) as e:
            raise RuntimeError(
                f"could not form a process group of WORLD_SIZE={world_size} processes (this one RANK={rank}) at "
                f"MASTER_ADDR={addr}, MASTER_PORT={port} within {timeout:g} s "
                f"({type(e).__name__}). These environment variables ask for distributed training, which "
                f"torchrun sets up. If you did not start this script with torchrun, unset WORLD_SIZE, RANK, "
                f"LOCAL_RANK, MASTER_ADDR and MASTER_PORT; to wait longer, set AIGC_DIST_TIMEOUT (seconds)."
            ) from None
        store.set_timeout(COLLECTIVE_TIMEOUT)
        dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world_size,
                                timeout=COLLECTIVE_TIMEOUT)
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size)


def all_reduce_mean(values: dict[str, float], info: DistInfo, device: torch.device) -> dict[str, float]:
    """Average a dict of numbers over all processes (identity without DDP)."""
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise TypeError(f"values must be a dict name -> number, got {type(values).__name__}")
    bad = [k for k, v in values.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad:
        raise TypeError(f"values must be numbers, but {bad[0]!r} is {values[bad[0]]!r}")
    if not isinstance(info, DistInfo):
        raise TypeError(f"info must be a DistInfo, got {type(info).__name__}")
    if not info.is_distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= info.world_size
    return dict(zip(keys, t.tolist()))


def cleanup() -> None:
    """Leave the process group (call at the end of a ``torchrun`` script)."""
    if dist.is_initialized():
        dist.destroy_process_group()
