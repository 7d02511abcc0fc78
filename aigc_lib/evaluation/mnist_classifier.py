"""A small MNIST classifier, used to *evaluate* generators of digits.

It gives two measurements:

* **classifier FID**: the Fréchet distance between Gaussians fitted to the
  classifier's 64-dimensional features of real and of generated digits
  (:func:`classifier_fid`). It has the same formula as the FID of Heusel et
  al. (2017), but the features come from this small network trained on MNIST,
  not from the Inception network trained on ImageNet. The numbers are
  therefore only comparable with each other, inside this course: never with
  FIDs published in papers.
* **label check**: the fraction of generated digits that the classifier reads
  as the digit that was asked for (:func:`label_accuracy`).

Weights. The trained weights ship with the library as
``aigc_lib/data/files/mnist_classifier.pt`` (about 0.4 MB) and are checked
against :data:`WEIGHTS_SHA256` every time they are loaded, so every reader and
CI measure with exactly the same network, also in smoke mode. They were made
with ``python scripts/train_mnist_classifier.py``, which calls
:func:`train_mnist_classifier` (the course :class:`~aigc_lib.core.trainer.Trainer`
on the offline 4,000-digit training split) and prints the new checksum.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..core.checks import check_device, check_float, check_int, check_sha256, check_tensor
from ..data.download import verify


WEIGHTS_PATH = Path(__file__).resolve().parent.parent / "data" / "files" / "mnist_classifier.pt"
#: sha256 of the shipped weights; :func:`load_mnist_classifier` refuses any other file.
WEIGHTS_SHA256 = "f30dcca67d43382801bab602ad799de87b57ed9b745b7c987d813f5b96bbe922"


@dataclass
class MNISTClassifierConfig:
    """A three-block CNN: ``(B, 1, 28, 28) -> (B, feature_dim) -> (B, 10)``.

    Attributes:
        channels: output channels of the three conv blocks (3x3 conv, ReLU, 2x2 max-pool;
            28 -> 14 -> 7 -> 3 pixels).
        feature_dim: width of the feature layer used for the Fréchet distance.
        n_classes: number of digits.
        dropout: dropout before the last layer during training.
    """

    channels: tuple[int, int, int] = (32, 64, 64)
    feature_dim: int = 64
    n_classes: int = 10
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if not isinstance(self.channels, (tuple, list)) or len(self.channels) != 3:
            raise TypeError(f"channels must be three ints (one per conv block), got {self.channels!r}")
        self.channels = tuple(check_int(c, f"channels[{i}]", min=1) for i, c in enumerate(self.channels))
        self.feature_dim = check_int(self.feature_dim, "feature_dim", min=1)
        self.n_classes = check_int(self.n_classes, "n_classes", min=2)
        self.dropout = check_float(self.dropout, "dropout", min=0.0, max=1.0, max_open=True)


class MNISTClassifier(nn.Module):
    """Images ``(B, 1, 28, 28)`` with values in [0, 1] -> logits ``(B, 10)``."""

    def __init__(self, config: MNISTClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MNISTClassifierConfig()
        c1, c2, c3 = config.channels
        blocks: list[nn.Module] = []
        for c_in, c_out in ((1, c1), (c1, c2), (c2, c3)):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        self.conv = nn.Sequential(*blocks)
        self.fc = nn.Linear(c3 * 3 * 3, config.feature_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.feature_dim, config.n_classes)

    @staticmethod
    def check_images(x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(B, 1, 28, 28)`` with values in [0, 1], ``TypeError`` unless float."""
        check_tensor(x, "images", shape_hint="(B, 1, 28, 28) with values in [0, 1]")
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"the MNIST classifier expects images of shape (B, 1, 28, 28), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"the MNIST classifier expects floating-point images in [0, 1], got {x.dtype}; "
                            f"convert uint8 images with x.float() / 255")
        if x.numel() and not (-1e-3 <= float(x.min()) and float(x.max()) <= 1 + 1e-3):   # also catches NaN
            raise ValueError(f"the MNIST classifier expects values in [0, 1], got [{float(x.min()):.2f}, "
                             f"{float(x.max()):.2f}]; convert GAN outputs in [-1, 1] with (x + 1) / 2")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 28, 28)`` -> ``(B, feature_dim)``: the ReLU features before the last layer."""
        self.check_images(x)
        return F.relu(self.fc(self.conv(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.features(x)))


def train_mnist_classifier(images: torch.Tensor, labels: torch.Tensor, max_steps: int = 1500,
                           batch_size: int = 64, lr: float = 2e-3, seed: int = 0, **trainer_kwargs):
    """Train an :class:`MNISTClassifier` with the course Trainer (AdamW, cosine schedule).

    Args:
        images: ``(N, 1, 28, 28)`` in [0, 1]; labels ``(N,)``.

    Returns:
        ``(model, history)``.
    """
    from ..data import TensorBatches
    from ..core.device import seed_everything
    from ..core.task import SupervisedTask
    from ..core.trainer import Trainer

    seed_everything(seed)
    model = MNISTClassifier()
    task = SupervisedTask(model, F.cross_entropy, lambda p: torch.optim.AdamW(p, lr=lr, weight_decay=1e-4))
    trainer = Trainer(max_steps=max_steps, lr_schedule="cosine", warmup_steps=50, **trainer_kwargs)
    history = trainer.fit(task, TensorBatches(images, labels, batch_size=batch_size, seed=seed))
    model.eval()
    return model, history


def load_mnist_classifier(path: str | Path | None = None, sha256: str | None = WEIGHTS_SHA256,
                          device: torch.device | str = "cpu") -> MNISTClassifier:
    """Load the shipped classifier (or ``path``) in evaluation mode after checking its sha256.

    The checksum is never optional (``None`` or ``""`` is an error); for weights
    you trained yourself pass ``sha256=aigc_lib.data.file_hash(path)``.

    Raises:
        aigc_lib.data.ChecksumError: the file is not the expected one.
    """
    if path is not None and (not isinstance(path, (str, os.PathLike)) or str(path) == ""):
        raise TypeError(f"path must be a weights file (str or Path) or None (the shipped weights), got {path!r}")
    path = Path(path) if path is not None else WEIGHTS_PATH
    sha256 = check_sha256(sha256)
    device = check_device(device)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}" + (" (it is a folder)" if path.is_dir() else ""))
    verify(path, sha256, "sha256")
    model = MNISTClassifier()
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:  # noqa: BLE001 - not a state dict of this classifier
        raise ValueError(f"{path} is not the weights of the course's MNISTClassifier: "
                         f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    return model.to(device).eval()


@torch.no_grad()
def predict(model: MNISTClassifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted digits ``(N,)`` for images ``(N, 1, 28, 28)`` in [0, 1]."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be the MNIST classifier (an nn.Module), got {type(model).__name__}")
    check_tensor(images, "images", shape_hint="(N, 1, 28, 28) with values in [0, 1]")
    batch_size = check_int(batch_size, "batch_size", min=1)
    if len(images) == 0:
        raise ValueError("predict needs at least one image, got an empty tensor")
    device = next(model.parameters()).device
    return torch.cat([model(images[i:i + batch_size].to(device)).argmax(1).cpu()
                      for i in range(0, len(images), batch_size)])


def label_accuracy(model: MNISTClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` that the classifier reads as ``labels`` ``(N,)``."""
    check_tensor(images, "images", shape_hint="(N, 1, 28, 28) with values in [0, 1]")
    check_tensor(labels, "labels", shape_hint="(N,) digits 0-9")
    if labels.ndim != 1 or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer digits of shape (N,), got {labels.dtype} of shape "
                         f"{tuple(labels.shape)}; for one-hot labels use labels.argmax(1)")
    if len(images) != len(labels):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    n_classes = model.config.n_classes
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0].item()
        raise ValueError(f"labels must be digits in 0..{n_classes - 1}, got {bad}: it could never match a prediction")
    return float((predict(model, images) == labels.cpu()).float().mean())
