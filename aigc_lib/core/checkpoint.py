"""Atomic checkpoints and random-number-generator states.

A checkpoint is written to a temporary file in the same folder, flushed to
disk, and only then renamed over the old one (``os.replace`` is atomic on
POSIX and Windows). A run killed half-way through a write therefore leaves
the previous checkpoint intact. Checkpoints hold only tensors and plain
Python values, so they load with ``torch.load(..., weights_only=True)``,
which cannot execute code hidden in a file.

Each checkpoint stores the SHA-256 of all its bytes (under ``"sha256"``,
computed while that entry holds a placeholder); :func:`load_checkpoint`
recomputes it, so an empty, truncated, garbage or
bit-flipped file raises :class:`CheckpointError` instead of resuming a
damaged run. Temporary files of a killed write are deleted at the next save
or load. :func:`acquire_lock` keeps two runs out of one checkpoint folder.
"""
from __future__ import annotations

import hashlib
import io
import os
import random
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch


#: Key under which :func:`save_checkpoint` stores the SHA-256 of the file.
CHECKSUM_KEY = "sha256"


class CheckpointError(RuntimeError):
    """A checkpoint file is damaged, not a checkpoint, or its folder cannot be used; the message names the file."""


#: Written in place of the checksum while the file's SHA-256 is computed (64 characters, like the digest).
_PLACEHOLDER = "sha256-placeholder:".ljust(64, "#")


def _file_digest(data: bytes, stored: str) -> str:
    """SHA-256 of a checkpoint's bytes with its stored digest put back to the placeholder."""
    return hashlib.sha256(data.replace(stored.encode(), _PLACEHOLDER.encode(), 1)).hexdigest()


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temp_files(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files left next to ``path`` by a write that was killed; return them."""
    path = Path(path)
    removed = []
    if path.parent.is_dir():
        for tmp in path.parent.glob(_temp_prefix(path) + "*.tmp"):
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:
                pass
    return removed


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically, with a SHA-256 checksum, and return the path.

    Temporary files of earlier writes that were killed are removed first.
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise TypeError(f"path must be a non-empty str or os.PathLike, got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path {path} is a folder; expected a file name such as {path / 'last.pt'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    payload = {k: v for k, v in state.items() if k != CHECKSUM_KEY}
    check_loadable(payload)
    payload[CHECKSUM_KEY] = _PLACEHOLDER
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    if data.count(_PLACEHOLDER.encode()) != 1:
        raise RuntimeError("internal error: the checksum placeholder is not unique in the checkpoint bytes")
    # The checksum covers every byte of the file: it is computed with the placeholder, then written over it.
    data = data.replace(_PLACEHOLDER.encode(), hashlib.sha256(data).hexdigest().encode())
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except OSError as e:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)
        before = (f"the previous checkpoint {path} is intact" if path.is_file()
                  else f"no earlier checkpoint exists at {path}")
        raise CheckpointError(f"could not write checkpoint {path} ({e.strerror or e}, {len(data) / 1e3:.0f} KB "
                              f"needed); {before}. Free space (or fix the folder) and write it again") from e
    except BaseException:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return path


#: Types that ``torch.load(..., weights_only=True)`` reads back (exact types: a NumPy scalar is not a float).
_LOADABLE = (type(None), bool, int, float, complex, str, bytes, torch.Size, torch.dtype, torch.device)


def check_loadable(state: Any, name: str = "") -> None:
    """Raise ``TypeError`` naming the first entry of ``state`` that ``weights_only=True`` could not read back.

    Allowed: dicts, lists, tuples and sets of tensors, ``None``, bools, ints,
    floats, complex numbers, strings, bytes, ``torch.Size``, dtypes and devices.
    A checkpoint with anything else (a NumPy scalar, a function, an object)
    would be written fine and could never be loaded.
    """
    if type(state) in _LOADABLE or isinstance(state, torch.Tensor):
        return
    if isinstance(state, dict):
        for k, v in state.items():
            if type(k) not in (str, int):
                raise TypeError(f"checkpoint entry {name or 'state'} has a key {k!r} of type {type(k).__name__}; "
                                f"keys must be str or int")
            check_loadable(v, f"{name}.{k}" if name else str(k))
        return
    if type(state) in (list, tuple, set, frozenset):
        for i, v in enumerate(state):
            check_loadable(v, f"{name}[{i}]")
        return
    kind = f"{type(state).__module__}.{type(state).__qualname__}"
    raise TypeError(f"checkpoint entry {name!r} is a {kind}, which torch.load(weights_only=True) cannot read back: "
                    f"store plain Python values (int(...), float(...), str, list, dict) or tensors there")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` and verify its checksum.

    Loads with ``weights_only=True``. Stale temporary files of a killed write
    next to ``path`` are removed.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        CheckpointError: the file is empty, truncated, damaged, not a checkpoint,
            or has no (or a wrong) checksum. The message names the file and what to do.
    """
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise TypeError(f"path must be a non-empty str or os.PathLike, got {path!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    remove_stale_temp_files(path)
    advice = (f"Delete {path} (or choose another checkpoint_dir) to start the run again, "
              f"or pass resume=False to the Trainer to overwrite it.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (a write was interrupted?). {advice}")
    data = path.read_bytes()
    try:
        with warnings.catch_warnings():       # a damaged file may make torch warn before it fails
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means the file is not a usable checkpoint
        # torch's own message may suggest weights_only=False, which would run code from the file: not shown.
        detail = _unsupported_global(str(e))
        if detail:
            raise CheckpointError(f"checkpoint {path} cannot be read with weights_only=True: it holds {detail}, "
                                  f"which is not a tensor or plain Python value (a task's or loader's state_dict "
                                  f"put it there). {advice}") from None
        raise CheckpointError(f"checkpoint {path} is damaged or not a checkpoint written by aigc_lib "
                              f"(torch.load raised {type(e).__name__}). {advice}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a checkpoint dict. {advice}")
    stored = state.get(CHECKSUM_KEY)
    if stored is None:
        raise CheckpointError(f"checkpoint {path} has no checksum: it was written by an older aigc_lib or "
                              f"by other code, so it cannot be verified. {advice}")
    if (not isinstance(stored, str) or len(stored) != 64 or data.count(stored.encode()) != 1
            or _file_digest(data, stored) != stored):
        raise CheckpointError(f"checkpoint {path} is damaged: its checksum does not match its contents. {advice}")
    return state


def get_rng_state() -> dict[str, Any]:
    """Capture the states of Python's, NumPy's and PyTorch's random generators."""
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": np_kind,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states captured by :func:`get_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _unsupported_global(message: str) -> str | None:
    """The class that torch's weights-only unpickler refused (from its message), or ``None``."""
    import re
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message)
    return f"an object of {m.group(1)}" if m else None
