"""Plots with one consistent look: loss curves, image grids, heatmaps.

Figures are small PNGs (``figure.dpi`` 80) so that notebooks stay light.
"""
from __future__ import annotations

import time
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import torch

from .history import History
from .checks import check_choice, check_float, check_int, check_tensor

STYLE = {
    "figure.figsize": (6.0, 3.4),
    "figure.dpi": 80,
    "savefig.dpi": 80,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def use_course_style() -> None:
    """Apply the course's matplotlib style (and PNG output in notebooks)."""
    matplotlib.rcParams.update(STYLE)
    try:
        from IPython import get_ipython
        shell = get_ipython()
        if shell is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats
            set_matplotlib_formats("png")
    except ImportError:
        pass


_READABLE_PREFIXES = {"train/": "training ", "val/": "validation "}


def readable_name(name: str) -> str:
    """A metric key as a legend label: ``"val/token_acc"`` -> ``"validation token acc"``."""
    for prefix, words in _READABLE_PREFIXES.items():
        if name.startswith(prefix):
            return words + name[len(prefix):].replace("_", " ")
    return name.replace("_", " ").replace("/", " ")


def plot_history(history: History, names: Sequence[str] | None = None, ax: plt.Axes | None = None,
                 logy: bool | str = "auto", title: str | None = None) -> plt.Axes:
    """Plot logged metrics against the training step.

    Args:
        names: metric names; by default every metric whose name contains "loss".
            The legend shows them in words (see :func:`readable_name`).
        logy: logarithmic y axis; ``"auto"`` uses one when all values are positive
            and span more than a factor of 10.
    """
    if not isinstance(history, History):
        raise TypeError(f"history must be a History (what Trainer.fit returns), got {type(history).__name__}")
    check_choice(logy, "logy", (True, False, "auto"))
    if isinstance(names, str):
        raise TypeError(f"names must be a list of metric names, got the string {names!r}; wrap it: [{names!r}]")
    if ax is None:
        _, ax = plt.subplots()
    names = list(names) if names is not None else [n for n in history.names() if "loss" in n]
    for name in names:
        steps, values = history.steps(name), history.values(name)
        style = "o-" if name.startswith("val/") else "-"
        ax.plot(steps, values, style, ms=3, label=readable_name(name))
    ax.set_xlabel("step")
    ax.set_ylabel(readable_name(names[0]) if len(names) == 1
                  else ("loss" if all("loss" in n for n in names) else "value"))
    if logy == "auto":
        values = [v for n in names for v in history.values(n)]
        logy = bool(values) and min(values) > 0 and max(values) > 10 * min(values)
    if logy:
        ax.set_yscale("log")
    if names:
        ax.legend()
    if title:
        ax.set_title(title)
    return ax


class LiveLossPlot:
    """A loss plot in a notebook that is redrawn in place during training.

    It draws into one display area (``display(..., display_id=True)``) and
    updates it at most once every ``every_s`` seconds. The last update stays
    in the saved notebook, so the static site shows one clean final figure.
    """

    def __init__(self, history: History, every_s: float = 2.0) -> None:
        from IPython.display import display

        every_s = check_float(every_s, "every_s", min=0.0)
        self.history, self.every_s = history, every_s
        self.fig, self.ax = plt.subplots()
        plt.close(self.fig)  # we show it ourselves; keep the inline backend from showing it twice
        self._last = 0.0
        self._handle = display(self.fig, display_id=True)

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        self.ax.clear()
        plot_history(self.history, ax=self.ax)
        self.fig.tight_layout()
        self._handle.update(self.fig)

    def close(self) -> None:
        self.update(force=True)


def show_images(images: torch.Tensor, nrow: int = 8, title: str | None = None,
                labels: Sequence[object] | None = None, ax: plt.Axes | None = None,
                cmap: str = "gray") -> plt.Axes:
    """Show a grid of images.

    Args:
        images: ``(N, C, H, W)`` or ``(N, H, W)``, values in [0, 1] (clipped).
        nrow: images per row.
        labels: optional text drawn above each image.
    """
    check_tensor(images, "images", shape_hint="(N, C, H, W) or (N, H, W)")
    nrow = check_int(nrow, "nrow", min=1)
    if images.ndim == 3:
        images = images.unsqueeze(1)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1 or 3, H, W) or (N, H, W), got {tuple(images.shape)}")
    images = images.detach().float().cpu()
    if images.shape[0] == 0:
        raise ValueError("images must hold at least one image, got an empty tensor")
    if bool(torch.isnan(images).any()):
        raise ValueError("images must not contain NaN (it would be drawn as an empty square)")
    images = images.clamp(0, 1)
    n, c, h, w = images.shape
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    pad = 2
    grid = torch.ones(c, rows * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, ncol)
        grid[:, pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = images[i]
    if ax is None:
        scale = 0.55 if labels is None else 0.75
        _, ax = plt.subplots(figsize=(max(2.0, ncol * w / 28 * scale), max(1.2, rows * h / 28 * scale)))
    ax.imshow((grid[0] if c == 1 else grid.permute(1, 2, 0)).numpy(), cmap=cmap if c == 1 else None, vmin=0, vmax=1)
    ax.axis("off")
    if labels is not None:
        for i, text in enumerate(labels[:n]):
            r, k = divmod(i, ncol)
            ax.text(pad + k * (w + pad) + w / 2, pad + r * (h + pad) - 1, str(text), ha="center", va="bottom",
                    fontsize=7)
    if title:
        ax.set_title(title)
    return ax


def heatmap(matrix: torch.Tensor, xlabels: Sequence[str] | None = None, ylabels: Sequence[str] | None = None,
            ax: plt.Axes | None = None, title: str | None = None, annotate: bool = False,
            cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None) -> plt.Axes:
    """Draw a 2-D matrix (e.g. attention weights ``(T_query, T_key)``) with a colour bar."""
    try:
        m = torch.as_tensor(matrix).detach().float().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"matrix must be a 2-D tensor or array of numbers, got {type(matrix).__name__}") from None
    if m.ndim != 2:
        raise ValueError(f"heatmap expects a 2-D matrix, got shape {tuple(m.shape)}")
    for name, labels, size in (("xlabels", xlabels, m.shape[1]), ("ylabels", ylabels, m.shape[0])):
        if labels is not None and len(labels) != size:
            raise ValueError(f"{name} must have one label per {'column' if name == 'xlabels' else 'row'} "
                             f"({size}), got {len(labels)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.35 * m.shape[1] + 1.5), max(2.5, 0.35 * m.shape[0] + 1)))
    im = ax.imshow(m.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.grid(False)
    if xlabels is not None:
        ax.set_xticks(range(len(xlabels)), xlabels, rotation=90)
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), ylabels)
    if annotate:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                value = float(m[i, j])
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=9,
                        color="white" if value < float(m.max() + m.min()) / 2 else "black")
    if title:
        ax.set_title(title)
    return ax
