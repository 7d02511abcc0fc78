"""The shipped CLIP and VQ-VAE of chapters 12-13 (trained by ``scripts/train_multimodal.py``).

Both were trained on the training split of captioned MNIST (:func:`~aigc_lib.multimodal.captions.make_captioned_mnist`,
seed 0, two images per digit) with the course Trainer on one CPU thread; the steps, batch size and seconds
are in :data:`CLIP_TRAINING_RECORD` and :data:`VQVAE_TRAINING_RECORD`. The files are checked against their
sha256 every time they are loaded: a checksum is never optional.

Both runs (2026-12-08, ``python scripts/train_multimodal.py --model clip|vqvae --write-weights``) shared a 2-core
machine with many other jobs (load about 8), so their seconds are several times what one quiet core needs.
Printed at the end of the runs, on the 1,838 test images: CLIP zero-shot accuracy with the held-out phrasings
digit 0.760, size 0.998, thickness 0.998, position 0.999; VQ-VAE codebook usage 1.000, reconstruction MSE 0.0019
per pixel.
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
CLIP_SHA256 = "9e3568a0e0cb8ef535fa20f5932e16fb7ecc0697610ac69dd21a47932ec7664a"
VQVAE_SHA256 = "da6d36084af28e83cb419b323a24c38da3baa5c90cd47f462375ab178c2f59d9"
CLIP_TRAINING_RECORD: dict = {'steps': 1300, 'batch_size': 128, 'device': 'cpu', 'threads': 1, 'train_seconds': 1045.7,
                              'examples_seen': 166400}
VQVAE_TRAINING_RECORD: dict = {'steps': 2500, 'batch_size': 64, 'device': 'cpu', 'threads': 1, 'train_seconds': 1103.8,
                               'examples_seen': 160000}


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
