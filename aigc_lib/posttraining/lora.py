"""LoRA: low-rank adaptation of linear layers (Hu et al., 2022), from scratch.

Fine-tuning changes a weight ``W (out, in)`` to ``W + ΔW``. LoRA keeps ``W``
frozen and learns ``ΔW`` as a product of two thin matrices::

    ΔW = (alpha / r) · B A,     A: (r, in),  B: (out, r),  r << min(in, out)

so a layer computes ``y = x Wᵀ + b + (alpha / r) · (x Aᵀ) Bᵀ``. ``A`` starts
random (Kaiming-uniform, as in ``peft``; or Gaussian), ``B`` starts at zero, so
at the start ``ΔW = 0`` and the model is exactly the pretrained one.
After training, :meth:`LoRALinear.merge` adds ``ΔW`` into ``W`` (no extra
cost at inference) and :meth:`LoRALinear.unmerge` restores the original ``W``
bit for bit (it keeps a copy).

Mapping to ``peft`` (0.22): ``LoraConfig(r=r, lora_alpha=alpha,
target_modules=[...], lora_dropout=0.0)``; its ``lora_A.default.weight`` is our
``lora_A`` and ``lora_B.default.weight`` our ``lora_B``; its scaling is also
``lora_alpha / r`` (``use_rslora=False``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..core.checks import check_choice, check_float, check_int, check_tensor

__all__ = ["LoRAConfig", "LoRALinear", "apply_lora", "merge_lora", "unmerge_lora", "lora_layers",
           "count_parameters", "merged_state_dict"]


@dataclass
class LoRAConfig:
    """Which linear layers get adapters, and their shape.

    Attributes:
        r: rank of ``ΔW``.
        alpha: ``ΔW`` is scaled by ``alpha / r``.
        target_modules: names (last part of the module path) of the ``nn.Linear``
            layers to adapt; in the course's GPT: ``"qkv"``, ``"out_proj"``,
            ``"linear1"``, ``"linear2"``.
        init: ``"kaiming"`` (``A`` Kaiming-uniform with ``a = sqrt(5)``, like
            ``nn.Linear`` and ``peft``) or ``"gaussian"`` (``A ~ N(0, 1/r)``).
    """

    r: int = 4
    alpha: float = 8.0
    target_modules: tuple[str, ...] = ("qkv", "out_proj")
    init: str = "kaiming"

    def __post_init__(self) -> None:
        self.r = check_int(self.r, "r", min=1)
        self.alpha = check_float(self.alpha, "alpha", min=0.0, min_open=True)
        if isinstance(self.target_modules, str) or not isinstance(self.target_modules, (tuple, list)) \
                or not self.target_modules:
            raise ValueError(f"target_modules must be a non-empty tuple of layer names such as ('qkv', 'out_proj'), "
                             f"got {self.target_modules!r}")
        self.target_modules = tuple(self.target_modules)
        check_choice(self.init, "init", ("kaiming", "gaussian"))

    @property
    def scaling(self) -> float:
        return self.alpha / self.r


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``(…, in) -> (…, out)``.

    Args:
        base: the layer to adapt (its parameters are frozen here).
        r, alpha, init: see :class:`LoRAConfig`.
    """

    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 8.0, init: str = "kaiming") -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRA adapts nn.Linear layers, got {type(base).__name__}")
        if isinstance(base, LoRALinear):
            raise TypeError("this layer already has a LoRA adapter")
        self.r = check_int(r, "r", min=1)
        if self.r > min(base.in_features, base.out_features):
            raise ValueError(f"r={self.r} is larger than the layer's smaller side "
                             f"min({base.in_features}, {base.out_features}); a low-rank update needs r below it")
        self.alpha = check_float(alpha, "alpha", min=0.0, min_open=True)
        self.scaling = self.alpha / self.r
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(self.r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.r, dtype=w.dtype, device=w.device))
        if check_choice(init, "init", ("kaiming", "gaussian")) == "kaiming":
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        else:
            nn.init.normal_(self.lora_A, std=1.0 / self.r)
        self.merged = False
        self._original_weight: torch.Tensor | None = None

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    def delta_weight(self) -> torch.Tensor:
        """``ΔW = (alpha / r) B A``, shape ``(out, in)``."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged:
            return y
        return y + (x @ self.lora_A.t()) @ self.lora_B.t() * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Add ``ΔW`` into the base weight (then the adapter path is skipped)."""
        if self.merged:
            raise RuntimeError("the adapter is already merged; unmerge() first")
        self._original_weight = self.base.weight.detach().clone()
        self.base.weight += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore the base weight exactly as it was before :meth:`merge`."""
        if not self.merged:
            raise RuntimeError("the adapter is not merged; nothing to unmerge")
        self.base.weight.copy_(self._original_weight)
        self._original_weight = None
        self.merged = False

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, r={self.r}, alpha={self.alpha:g}"


def apply_lora(model: nn.Module, config: LoRAConfig | None = None) -> list[str]:
    """Freeze every parameter of ``model`` and wrap the target linears in :class:`LoRALinear` (in place).

    Returns:
        the names of the wrapped layers, e.g. ``["blocks.0.self_attn.qkv", ...]``.
    """
    config = LoRAConfig() if config is None else config
    if not isinstance(config, LoRAConfig):
        raise TypeError(f"config must be a LoRAConfig, got {type(config).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if lora_layers(model):
        raise ValueError("the model already has LoRA adapters")
    targets = [(name, module) for name, module in model.named_modules()
               if name.split(".")[-1] in config.target_modules and isinstance(module, nn.Linear)]
    if not targets:
        linears = sorted({n.split(".")[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"no nn.Linear layer is named like {config.target_modules}; the model's linear layers "
                         f"are named {linears}")
    for p in model.parameters():
        p.requires_grad_(False)
    for name, module in targets:
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        setattr(parent, name.split(".")[-1], LoRALinear(module, config.r, config.alpha, config.init))
    return [name for name, _ in targets]


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """The :class:`LoRALinear` layers of ``model`` by name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora(model: nn.Module) -> None:
    """Merge every adapter of ``model`` into its base weight."""
    layers = lora_layers(model)
    if not layers:
        raise ValueError("the model has no LoRA adapter to merge")
    for layer in layers.values():
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    """Undo :func:`merge_lora` exactly."""
    layers = lora_layers(model)
    if not layers:
        raise ValueError("the model has no LoRA adapter to unmerge")
    for layer in layers.values():
        layer.unmerge()


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (shared tensors counted once), as ``peft`` reports them."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of the plain model with every adapter merged in (loadable without LoRA)."""
    layers = lora_layers(model)
    out = {}
    for key, value in model.state_dict().items():
        parts = key.split(".")
        if "lora_A" in parts or "lora_B" in parts:
            continue
        prefix = ".".join(p for p in parts[:-2])
        if len(parts) >= 2 and parts[-2] == "base" and prefix in layers:
            layer = layers[prefix]
            if parts[-1] == "weight" and not layer.merged:
                value = value + layer.delta_weight().detach()
            key = prefix + "." + parts[-1]
        out[key] = value.detach().clone()
    return out
