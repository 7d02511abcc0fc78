"""Load OpenAI's GPT-2 weights (Radford et al., 2019) into :class:`aigc_lib.lm.gpt.GPT`.

Hugging Face's ``GPT2LMHeadModel`` stores the same numbers under other names,
and its linear layers are ``Conv1D`` modules whose weight is the *transpose*
of ``nn.Linear``'s ``(out, in)`` layout:

=====================================  =============================================
Hugging Face ``GPT2LMHeadModel``        ``aigc_lib.lm.gpt.GPT``
=====================================  =============================================
``transformer.wte.weight``              ``token_embedding.weight`` (tied to ``lm_head.weight``)
``transformer.wpe.weight``              ``position_embedding.embedding.weight``
``transformer.h.i.ln_1``                ``blocks.i.norm1``
``transformer.h.i.attn.c_attn``         ``blocks.i.self_attn.qkv`` (weight transposed)
``transformer.h.i.attn.c_proj``         ``blocks.i.self_attn.out_proj`` (weight transposed)
``transformer.h.i.ln_2``                ``blocks.i.norm2``
``transformer.h.i.mlp.c_fc``            ``blocks.i.ff.linear1`` (weight transposed)
``transformer.h.i.mlp.c_proj``          ``blocks.i.ff.linear2`` (weight transposed)
``transformer.ln_f``                    ``final_norm``
=====================================  =============================================

GPT-2 uses the tanh approximation of GELU (``activation="gelu_tanh"``).
Loaded models have dropout 0: they are meant for generation and fine-tuning
decisions are left to the caller.
"""
from __future__ import annotations

import socket
from typing import Any, Mapping

import torch
from torch import nn

from .gpt import GPT, GPTConfig
from ..core.checks import check_float, check_str

__all__ = ["config_from_hf", "convert_hf_gpt2_state_dict", "gpt_from_hf", "from_pretrained", "hub_reachable"]

_HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}

# (our name, Hugging Face name, transposed?) for block i; "{i}" is filled in.
_BLOCK_MAP = [
    ("blocks.{i}.norm1.weight", "transformer.h.{i}.ln_1.weight", False),
    ("blocks.{i}.norm1.bias", "transformer.h.{i}.ln_1.bias", False),
    ("blocks.{i}.self_attn.qkv.weight", "transformer.h.{i}.attn.c_attn.weight", True),
    ("blocks.{i}.self_attn.qkv.bias", "transformer.h.{i}.attn.c_attn.bias", False),
    ("blocks.{i}.self_attn.out_proj.weight", "transformer.h.{i}.attn.c_proj.weight", True),
    ("blocks.{i}.self_attn.out_proj.bias", "transformer.h.{i}.attn.c_proj.bias", False),
    ("blocks.{i}.norm2.weight", "transformer.h.{i}.ln_2.weight", False),
    ("blocks.{i}.norm2.bias", "transformer.h.{i}.ln_2.bias", False),
    ("blocks.{i}.ff.linear1.weight", "transformer.h.{i}.mlp.c_fc.weight", True),
    ("blocks.{i}.ff.linear1.bias", "transformer.h.{i}.mlp.c_fc.bias", False),
    ("blocks.{i}.ff.linear2.weight", "transformer.h.{i}.mlp.c_proj.weight", True),
    ("blocks.{i}.ff.linear2.bias", "transformer.h.{i}.mlp.c_proj.bias", False),
]
_TOP_MAP = [
    ("token_embedding.weight", "transformer.wte.weight", False),
    ("position_embedding.embedding.weight", "transformer.wpe.weight", False),
    ("final_norm.weight", "transformer.ln_f.weight", False),
    ("final_norm.bias", "transformer.ln_f.bias", False),
]


def config_from_hf(hf_config: Any) -> GPTConfig:
    """A :class:`GPTConfig` with the shape of a Hugging Face ``GPT2Config`` (dropout 0)."""
    act = getattr(hf_config, "activation_function", "gelu_new")
    if act not in _HF_ACTIVATIONS:
        raise ValueError(f"unsupported GPT-2 activation {act!r}; expected one of {sorted(_HF_ACTIVATIONS)}")
    return GPTConfig(
        vocab_size=hf_config.vocab_size, block_size=hf_config.n_positions, n_layer=hf_config.n_layer,
        n_head=hf_config.n_head, n_embd=hf_config.n_embd, dropout=0.0, bias=True,
        activation=_HF_ACTIVATIONS[act], tie_weights=True, layer_norm_eps=hf_config.layer_norm_epsilon,
    )


def convert_hf_gpt2_state_dict(hf_state: Mapping[str, torch.Tensor], config: GPTConfig) -> dict[str, torch.Tensor]:
    """Rename and transpose a ``GPT2LMHeadModel`` state dict into a :class:`GPT` state dict.

    Every tensor is copied, so later changes to the Hugging Face model do not
    reach the converted one (and a comparison of the two can fail).

    Raises:
        KeyError: a weight is missing.
        ValueError: a weight has the wrong shape for ``config`` (the message names
            the weight, the shape found and the shape expected).
    """
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
    if not isinstance(hf_state, Mapping):
        raise TypeError(f"hf_state must be a state dict (name -> tensor), got {type(hf_state).__name__}")
    with torch.device("meta"):  # shapes only, no memory
        expected = {k: v.shape for k, v in GPT(config).state_dict().items()}
    pairs = list(_TOP_MAP)
    for i in range(config.n_layer):
        pairs += [(ours.format(i=i), theirs.format(i=i), t) for ours, theirs, t in _BLOCK_MAP]
    out: dict[str, torch.Tensor] = {}
    for ours, theirs, transpose in pairs:
        if theirs not in hf_state:
            raise KeyError(f"the GPT-2 state dict has no {theirs!r} (needed for {ours!r}); "
                           f"is it a GPT2LMHeadModel with {config.n_layer} layers?")
        w = hf_state[theirs]
        w = w.t() if transpose else w
        if w.shape != expected[ours]:
            shown = tuple(expected[ours][::-1]) if transpose else tuple(expected[ours])
            raise ValueError(f"{theirs!r} has shape {tuple(hf_state[theirs].shape)}, expected {shown} "
                             f"for {config}")
        out[ours] = w.clone(memory_format=torch.contiguous_format)   # a copy: never shares memory with hf_state
    out["lm_head.weight"] = out["token_embedding.weight"]
    return out


def gpt_from_hf(hf_model: nn.Module) -> GPT:
    """Our :class:`GPT` with the weights of a Hugging Face ``GPT2LMHeadModel`` (in eval mode)."""
    config = config_from_hf(hf_model.config)
    with torch.device("meta"):
        model = GPT(config)
    state = convert_hf_gpt2_state_dict(hf_model.state_dict(), config)
    model.load_state_dict(state, assign=True)
    model.lm_head.weight = model.token_embedding.weight   # re-tie after assign
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"these tensors were not loaded from the GPT-2 weights: {left}")
    return model.eval()


def hub_reachable(host: str = "huggingface.co", timeout_s: float = 3.0) -> bool:
    """True if a TCP connection to ``host:443`` opens within ``timeout_s`` seconds."""
    timeout_s = check_float(timeout_s, "timeout_s", min=0.0, min_open=True)
    check_str(host, "host")
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def from_pretrained(name: str = "gpt2", timeout_s: float = 3.0, **hf_kwargs: Any) -> GPT:
    """Download GPT-2 (``"gpt2"``, ``"gpt2-medium"``, ...) from the Hugging Face hub and convert it.

    Needs the ``transformers`` package and either internet access or a copy in
    the local Hugging Face cache (or ``name`` = a local folder). A cached copy is
    used first; otherwise the hub is probed for ``timeout_s`` seconds, so that
    an offline machine gets a clear error at once instead of after minutes of
    retries. ``hf_kwargs`` go to ``GPT2LMHeadModel.from_pretrained``.

    Raises:
        ConnectionError: the weights could not be fetched (no network, no cached copy).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a model name such as 'gpt2' or a local folder, got {name!r}")
    timeout_s = check_float(timeout_s, "timeout_s", min=0.0, min_open=True)
    try:
        from transformers import GPT2LMHeadModel
    except ImportError as e:  # pragma: no cover - transformers is in requirements.txt
        raise ImportError("from_pretrained needs the 'transformers' package: pip install transformers") from e
    def unavailable(reason: str, cause: Exception | None = None) -> ConnectionError:
        err = ConnectionError(
            f"could not load {name!r} from the Hugging Face hub or the local cache: {reason}. "
            f"This needs internet access once (the weights are then cached), or a local folder "
            f"passed as name. Offline, build a model with aigc_lib.lm.gpt.GPT instead.")
        err.__cause__ = cause
        return err

    try:  # a cached copy or a local folder: no network needed
        return gpt_from_hf(GPT2LMHeadModel.from_pretrained(name, **{**hf_kwargs, "local_files_only": True}))
    except OSError as e:
        if hf_kwargs.get("local_files_only"):
            raise unavailable("no local copy (local_files_only=True)", e) from e
    if not hub_reachable(timeout_s=timeout_s):
        raise unavailable(f"huggingface.co cannot be reached within {timeout_s} s")
    try:
        hf_model = GPT2LMHeadModel.from_pretrained(name, **hf_kwargs)
    except OSError as e:
        raise unavailable(type(e).__name__, e) from e
    return gpt_from_hf(hf_model)
