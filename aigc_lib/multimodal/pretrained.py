"""The shipped CLIP and VQ-VAE of chapters 12-13 (trained by ``scripts/train_multimodal.py``).

Both were trained on the training split of captioned MNIST (:func:`~aigc_lib.multimodal.captions.make_captioned_mnist`,
seed 0, two images per digit) with the course Trainer on one CPU thread; the steps, batch size and seconds
are in :data:`CLIP_TRAINING_RECORD` and :data:`VQVAE_TRAINING_RECORD`. The files are checked against their
sha256 every time they are loaded: a checksum is never optional.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from ..core.checks import check_str
from ..data.download import verify
from .clip import CLIP, CLIPConfig
from .vqvae import VQVAE, VQVAEConfig, load_vqvae_file

FILES = Path(__file__).resolve().parent.parent / "data" / "files"
CLIP_PATH = FILES / "multimodal_clip.pt"
VQVAE_PATH = FILES / "multimodal_vqvae.pt"
CLIP_SHA256 = "not-yet-trained"
VQVAE_SHA256 = "not-yet-trained"
CLIP_TRAINING_RECORD: dict = {}
VQVAE_TRAINING_RECORD: dict = {}


def clip_config() -> CLIPConfig:
    """The shipped CLIP's sizes: 64-d shared space, CNN channels (16, 32, 64, 64), a 2-layer 64-wide text Transformer."""
    return CLIPConfig()


def vqvae_config() -> VQVAEConfig:
    """The shipped VQ-VAE's settings: 128 codes of 16 numbers, an 8x8 token grid, EMA codebook with restarts."""
    return VQVAEConfig()


def save_clip(model: CLIP, path: str | Path) -> None:
    torch.save({"config": asdict(model.config), "state_dict": model.state_dict()}, path)


def load_clip_file(path: str | Path, sha256: str) -> CLIP:
    """A CLIP written by :func:`save_clip`, in evaluation mode, after checking its sha256."""
    check_str(sha256, "sha256")
    verify(Path(path), sha256, "sha256")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    config = saved["config"]
    config["channels"] = tuple(config["channels"])
    model = CLIP(CLIPConfig(**config))
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def load_clip(device: torch.device | str = "cpu") -> CLIP:
    """The shipped CLIP (evaluation mode)."""
    return load_clip_file(CLIP_PATH, CLIP_SHA256).to(device)


def load_vqvae(device: torch.device | str = "cpu", codebook_size: int | None = None) -> VQVAE:
    """The shipped VQ-VAE (evaluation mode). ``codebook_size``, if given, must be the shipped one (128)."""
    check_str(VQVAE_SHA256, "sha256")
    return load_vqvae_file(VQVAE_PATH, VQVAE_SHA256, codebook_size).to(device)
