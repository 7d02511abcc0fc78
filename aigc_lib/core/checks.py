"""Argument checks shared by the whole library.

Each helper raises an error whose message names the argument, says what was
expected and shows what came, e.g. ``max_steps must be an integer >= 0, got
2.5 (float)``. They run in plain Python on Python numbers, so they cost no
device synchronisation; the tensor helpers look only at shapes and dtypes
unless their name says otherwise (:func:`check_finite_tensor` reads values).
"""
from __future__ import annotations

import math
import numbers
import operator
from typing import Any, Iterable

import torch


def _shown(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _num(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


def _bounds(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False) -> str:
    lo_s, hi_s = (None if lo is None else _num(lo)), (None if hi is None else _num(hi))
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo_s}, {hi_s}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo_s}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi_s}"
    return ""


def check_int(value: Any, name: str, min: int | None = None, max: int | None = None,
              allow_none: bool = False, note: str = "") -> int | None:
    """Return ``value`` as an ``int``; reject bools, floats (even 2.0), strings and out-of-range values."""
    if value is None and allow_none:
        return None
    expected = "an integer" + _bounds(min, max) + (" or None" if allow_none else "") + note
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        # one-element integer tensors and NumPy integers pass through operator.index
        try:
            if isinstance(value, bool) or isinstance(value, float) or (
                    isinstance(value, torch.Tensor) and (value.numel() != 1 or value.dtype == torch.bool)):
                raise TypeError
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"{name} must be {expected}, got {_shown(value)}") from None
    value = int(value)
    if (min is not None and value < min) or (max is not None and value > max):
        in_range = _bounds(min, max).strip() + (" or None" if allow_none else "") + note
        raise ValueError(f"{name} must be {in_range}, got {value}")
    return value


def check_float(value: Any, name: str, min: float | None = None, max: float | None = None,
                min_open: bool = False, max_open: bool = False, allow_none: bool = False,
                allow_inf: bool = False, note: str = "") -> float | None:
    """Return ``value`` as a ``float``; reject bools, strings, NaN, infinities and out-of-range values."""
    if value is None and allow_none:
        return None
    expected = ("a finite number" if not allow_inf else "a number") + _bounds(min, max, min_open, max_open) \
        + (" or None" if allow_none else "") + note
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, torch.Tensor)) or (
            isinstance(value, torch.Tensor) and (value.numel() != 1 or value.dtype == torch.bool
                                                 or value.is_complex())):
        raise TypeError(f"{name} must be {expected}, got {_shown(value)}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be {expected}, got {value}")
    if (min is not None and (value < min or (min_open and value == min))) or (
            max is not None and (value > max or (max_open and value == max))):
        in_range = _bounds(min, max, min_open, max_open).strip() + (" or None" if allow_none else "") + note
        raise ValueError(f"{name} must be {in_range}, got {value:g}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Accept only ``True`` and ``False`` (not 0/1, not strings such as ``"False"``)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {_shown(value)}")
    return value


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """Accept one of ``choices`` (compared with ``==``; bools never match 0/1)."""
    choices = tuple(choices)
    ok = any(value == c and type(value) is type(c) for c in choices) if not isinstance(value, torch.Tensor) else False
    if not ok:
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {shown}, got {_shown(value)}")
    return value


def check_str(value: Any, name: str, non_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_shown(value)}")
    if non_empty and not value:
        raise ValueError(f"{name} must be a non-empty string, got ''")
    return value


def check_tensor(x: Any, name: str, ndim: int | tuple[int, ...] | None = None, kind: str | None = None,
                 shape_hint: str = "") -> torch.Tensor:
    """Check that ``x`` is a tensor with ``ndim`` dimensions and a dtype of ``kind``.

    ``kind``: ``"float"`` (floating point), ``"int"`` (integer, not bool) or ``"bool"``.
    Looks only at metadata: no device synchronisation.
    """
    hint = f" {shape_hint}" if shape_hint else ""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor{hint}, got {_shown(x)}")
    if ndim is not None:
        dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in dims:
            want = " or ".join(str(d) for d in dims)
            raise ValueError(f"{name} must have {want} dimension(s){hint}, got shape {tuple(x.shape)}")
    if kind == "float" and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor{hint}, got dtype {x.dtype}")
    if kind == "int" and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor{hint} (e.g. torch.long), got dtype {x.dtype}")
    if kind == "bool" and x.dtype != torch.bool:
        raise TypeError(f"{name} must be a bool tensor{hint}, got dtype {x.dtype}")
    return x


def check_finite_tensor(x: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or an infinity (one device sync)."""
    if x.numel() and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        what = "NaN" if bool(torch.isnan(x).any()) else "an infinite value"
        raise ValueError(f"{name} must hold finite numbers, got {what}")


def check_non_empty(x: Any, name: str) -> None:
    n = x.numel() if isinstance(x, torch.Tensor) and x.ndim == 0 else len(x)
    if n == 0:
        raise ValueError(f"{name} must not be empty, got {_shown(x) if not isinstance(x, torch.Tensor) else 'an empty tensor'}")


#: Values of an on/off environment variable, compared case-insensitively after stripping white space.
FLAG_TRUE = ("1", "true", "yes", "on")
FLAG_FALSE = ("", "0", "false", "no", "off")


def env_flag(var: str, value: str | None) -> bool:
    """Read an on/off environment variable; anything outside :data:`FLAG_TRUE`/:data:`FLAG_FALSE` is an error."""
    if value is None:
        return False
    v = value.strip().lower()
    if v in FLAG_TRUE:
        return True
    if v in FLAG_FALSE:
        return False
    raise ValueError(f"environment variable {var} must be one of {', '.join(FLAG_TRUE)} (on) or "
                     f"unset, empty, {', '.join(FLAG_FALSE[1:])} (off), case-insensitive; got {value!r}")


def check_float_tensor(x: Any, name: str, ndim: int | tuple[int, ...] | None = None, finite: bool = False,
                       shape_hint: str = "") -> torch.Tensor:
    """:func:`check_tensor` with ``kind="float"``; with ``finite=True`` also :func:`check_finite_tensor` (one sync)."""
    check_tensor(x, name, ndim=ndim, kind="float", shape_hint=shape_hint)
    if finite:
        check_finite_tensor(x, name)
    return x


def check_shape(x: torch.Tensor, name: str, shape: Iterable[int], what: str = "shape") -> torch.Tensor:
    """Raise ``ValueError`` unless ``x.shape == shape`` (metadata only)."""
    shape = tuple(shape)
    if tuple(x.shape) != shape:
        raise ValueError(f"{name} must have {what} {shape}, got shape {tuple(x.shape)}")
    return x


def check_callable(value: Any, name: str, expected: str = "a function") -> Any:
    """Accept a callable (not a string or a class of tensor); ``expected`` says what it should be."""
    if not callable(value) or isinstance(value, (str, bytes, type)):
        raise TypeError(f"{name} must be {expected}, got {_shown(value)}")
    return value


def check_instance(value: Any, name: str, cls: type | tuple[type, ...], expected: str | None = None) -> Any:
    """Accept an instance of ``cls``; the message says ``expected`` (default: the class name)."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise TypeError(f"{name} must be {expected or 'a ' + names}, got {_shown(value)}")
    return value


def check_generator(value: Any, name: str = "generator") -> torch.Generator | None:
    """Accept a ``torch.Generator`` or ``None``."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None (e.g. torch.Generator().manual_seed(0)), "
                        f"got {_shown(value)}")
    return value


def check_sha256(value: Any, name: str = "sha256") -> str:
    """Accept a SHA-256 hex digest (64 hex digits). A checksum is never optional: ``None`` and ``""`` are errors."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a SHA-256 hex digest (64 hex digits); a checksum is never optional. "
                        f"For a file you made yourself pass aigc_lib.data.file_hash(path); got {_shown(value)}")
    if len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise ValueError(f"{name} must be a SHA-256 hex digest (64 hex digits), got {value!r} "
                         f"({len(value)} characters)")
    return value.lower()


def check_device(value: Any, name: str = "device") -> torch.device:
    """Accept a ``torch.device`` or a device string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``."""
    if isinstance(value, torch.device):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a device such as 'cpu', 'cuda', 'cuda:0' or 'mps' (or a torch.device), "
                        f"got {_shown(value)}")
    try:
        return torch.device(value)
    except (RuntimeError, ValueError):
        raise ValueError(f"{name} must be a device such as 'cpu', 'cuda', 'cuda:0' or 'mps', got {value!r}") from None
