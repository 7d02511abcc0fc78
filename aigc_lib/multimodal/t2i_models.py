"""The chapter-13 generators: their configurations, training recipes and shipped weights.

* :func:`text_to_image_config`, :func:`train_text_to_image`, :func:`load_text_to_image`: the
  latent flow-matching model with cross-attention (Stable Diffusion in miniature);
* :func:`token_prior_config`, :func:`train_token_prior`, :func:`load_token_prior`: the GPT over
  caption and VQ-VAE tokens (DALL-E in miniature).

The shipped weights (``aigc_lib/data/files/multimodal/``) were made by
``python scripts/train_text_to_image.py`` (seeded; the command and the time it took are in
:data:`T2I_RECORD` and :data:`PRIOR_RECORD`) and are checked against their sha256 when loaded.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..core.checks import check_int
from ..data import TensorBatches
from ..data.download import verify
from ..core.trainer import Trainer
from .latent_autoencoder import AutoencoderTask
from .text_to_image import TextToImage, TextToImageConfig, TextToImageTask
from .token_prior import TokenPrior, TokenPriorConfig, TokenPriorTask

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "data" / "files" / "multimodal"
T2I_PATH = WEIGHTS_DIR / "text_to_image.pt"
PRIOR_PATH = WEIGHTS_DIR / "token_prior.pt"
#: sha256 of the shipped weights; the loaders refuse any other file.
T2I_SHA256 = "a8021cdd63ddab816dfde7468631bc4998f16d5ceda2d1ede88a52e73dc55f17"
PRIOR_SHA256 = ""
#: how the shipped weights were trained (printed in chapter 13's table).
T2I_RECORD: dict = {'ae_steps': 400, 'steps': 2000, 'batch_size': 64, 'examples_seen': 153600, 'train_seconds': 1061.5, 'threads': 1, 'device': 'cpu', 'torch': '2.13.0+cpu', 'date': '2026-12-08', 'command': 'OMP_NUM_THREADS=1 python scripts/train_text_to_image.py --only t2i --out-dir /tmp/mm13_out --n-check 300'}
PRIOR_RECORD: dict = {}
#: the guidance scale used for the diffusion route's samples (fixed before any evaluation).
GUIDANCE_SCALE = 3.0
#: Euler steps of the diffusion route's sampler.
SAMPLE_STEPS = 20


def text_to_image_config(vocab_size: int, max_caption_len: int = 16, pad_id: int = 0) -> TextToImageConfig:
    """32x32 canvas -> 4x8x8 latent; U-Net 32/64 channels at 8x8/4x4, text attention at 4x4; text encoder 64 wide."""
    return TextToImageConfig(image_size=32, ae_hidden=16, latent_channels=4, vocab_size=vocab_size,
                             max_caption_len=max_caption_len, pad_id=pad_id, text_dim=64, text_layers=2,
                             text_heads=4, base_channels=32, channel_mults=(1, 2), num_res_blocks=1,
                             attention_levels=(1,), num_heads=4, groups=8)


def _trainer(steps: int, warmup: int, ema: float | None, **kw) -> Trainer:
    return Trainer(max_steps=steps, lr_schedule="cosine", warmup_steps=warmup, ema_decay=ema,
                   log_every=50, **kw)


def train_text_to_image(images: torch.Tensor, tokens: torch.Tensor, config: TextToImageConfig,
                        ae_steps: int, steps: int, batch_size: int = 64, seed: int = 0, ema_decay: float = 0.998,
                        caption_dropout: float = 0.1, **trainer_kw) -> tuple[TextToImage, dict]:
    """Train the autoencoder (``ae_steps``), fit the latent scale, then the text encoder + U-Net (``steps``).

    Args:
        images: ``(N, 1, 32, 32)`` in [0, 1]; tokens: ``(N, T)`` caption ids.
        trainer_kw: more :class:`~aigc_lib.trainer.Trainer` settings (``progress``, ``live_plot``, ``device``).

    Returns:
        the model (EMA weights of stage 2, on the CPU, eval mode) and a record: steps, batch size, seconds.
    """
    ae_steps, steps = check_int(ae_steps, "ae_steps", min=1), check_int(steps, "steps", min=1)
    torch.manual_seed(seed)
    model = TextToImage(config)
    t0 = time.perf_counter()
    ae_trainer = _trainer(ae_steps, min(50, ae_steps // 10), None, **trainer_kw)
    ae_trainer.fit(AutoencoderTask(model.autoencoder, lr=2e-3), TensorBatches(images, batch_size=batch_size, seed=seed))
    model.cpu()
    model.fit_latent_scale(images)
    z = model.encode(images)
    task = TextToImageTask(model, lr=2e-3, caption_dropout=caption_dropout)
    trainer = _trainer(steps, min(100, steps // 10), ema_decay, **trainer_kw)
    trainer.fit(task, TensorBatches(z, tokens, batch_size=batch_size, seed=seed + 1))
    if trainer.ema is not None:
        trainer.ema.copy_to(task)
    model.cpu().eval()
    record = {"ae_steps": ae_trainer.step, "steps": trainer.step, "batch_size": batch_size,
              "examples_seen": (ae_trainer.step + trainer.step) * batch_size,
              "train_seconds": round(time.perf_counter() - t0, 1), "threads": torch.get_num_threads()}
    return model, record


def token_prior_config(text_vocab_size: int, codebook_size: int, image_tokens: int,
                       caption_len: int = 16) -> TokenPriorConfig:
    """A 3-layer, 96-wide GPT (4 heads) over 16 caption tokens + the image tokens."""
    return TokenPriorConfig(text_vocab_size=text_vocab_size, caption_len=caption_len, codebook_size=codebook_size,
                            image_tokens=image_tokens, n_layer=3, n_head=4, n_embd=96, dropout=0.0)


def train_token_prior(tokens: torch.Tensor, codes: torch.Tensor, config: TokenPriorConfig, steps: int,
                      batch_size: int = 64, seed: int = 0, lr: float = 2e-3, **trainer_kw) -> tuple[TokenPrior, dict]:
    """Train a :class:`~aigc_lib.multimodal.token_prior.TokenPrior` on captions ``(N, L)`` and codes ``(N, h, w)``."""
    steps = check_int(steps, "steps", min=1)
    torch.manual_seed(seed)
    prior = TokenPrior(config)
    t0 = time.perf_counter()
    trainer = _trainer(steps, min(100, steps // 10), None, **trainer_kw)
    trainer.fit(TokenPriorTask(prior, lr=lr), TensorBatches(tokens, codes.flatten(1), batch_size=batch_size, seed=seed))
    prior.cpu().eval()
    record = {"steps": trainer.step, "batch_size": batch_size, "examples_seen": trainer.step * batch_size,
              "train_seconds": round(time.perf_counter() - t0, 1), "threads": torch.get_num_threads()}
    return prior, record


def _load(path: Path, sha256: str, what: str) -> dict:
    if not sha256:
        raise FileNotFoundError(f"no {what} weights are shipped yet (run scripts/train_text_to_image.py)")
    verify(path, sha256, "sha256")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_text_to_image(vocab_size: int, path: str | Path | None = None, sha256: str | None = None) -> TextToImage:
    """The shipped diffusion-route model (or ``path``, checked against ``sha256``) in evaluation mode."""
    state = _load(Path(path) if path else T2I_PATH, sha256 or T2I_SHA256, "text-to-image")
    model = TextToImage(text_to_image_config(vocab_size))
    model.load_state_dict(state)
    return model.eval()


def load_token_prior(text_vocab_size: int, codebook_size: int, image_tokens: int, path: str | Path | None = None,
                     sha256: str | None = None) -> TokenPrior:
    """The shipped token prior (or ``path``, checked against ``sha256``) in evaluation mode.

    Raises ``ValueError`` if the weights hold another codebook size or image-token count.
    """
    state = _load(Path(path) if path else PRIOR_PATH, sha256 or PRIOR_SHA256, "token prior")
    prior = TokenPrior(token_prior_config(text_vocab_size, codebook_size, image_tokens))
    want = prior.gpt.token_embedding.weight.shape[0]
    got = state["gpt.token_embedding.weight"].shape[0]
    if got != want:
        raise ValueError(f"these token-prior weights hold {got - text_vocab_size} image codes, but codebook_size="
                         f"{codebook_size} was asked (vocabulary {got} vs {want})")
    prior.load_state_dict(state)
    return prior.eval()
