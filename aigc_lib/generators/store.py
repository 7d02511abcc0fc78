"""Save, record, load (sha256-checked) and sample the course's trained generators.

:func:`save_course_generator` writes ``<name>.pt`` and ``<name>.json``;
:func:`merge_manifest` merges the records into ``manifest.json`` under a file
lock; :func:`load_course_generator` refuses a missing file or one whose sha256
differs from the manifest; :func:`sample` returns ``(n, 1, 28, 28)`` images in
[0, 1] for every name.
"""
from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.checks import check_bool, check_device, check_float, check_generator, check_int, check_tensor
from ..data.download import ChecksumError, file_hash
from ..diffusion.ddim import ddim_sample
from ..diffusion.ddpm import ddpm_sample
from ..diffusion.flow_matching import flow_sample
from ..diffusion.guidance import classifier_free_guidance
from ..diffusion.images import to_image_range
from ..diffusion.pretrained import WEIGHTS_PATH as DDPM_WEIGHTS_PATH, mnist_schedule
from .specs import (DEFAULT_GUIDANCE, GeneratorSpec, IMAGE_SHAPE, MANIFEST, NUM_CLASSES, REGISTRY, TRAIN_COMMAND,
                    WEIGHTS_DIR, get_spec)


# ---------------------------------------------------------------- saving and loading
def _records(directory: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(directory.glob("*.json")):
        if path.name == MANIFEST:
            continue
        with open(path) as f:
            rec = json.load(f)
        out[rec.get("name", path.stem)] = rec
    return out


def merge_manifest(directory: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Rebuild ``manifest.json`` from the ``<name>.json`` records in ``directory`` (under a file lock)."""
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    lock_path = directory / ".manifest.lock"
    with open(lock_path, "w") as lock:
        try:
            import fcntl
            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:   # not on POSIX: no lock
            pass
        records = _records(directory)
        manifest = {"generators": records,
                    "note": "written by scripts/train_course_generators.py; one record per <name>.pt"}
        tmp = directory / f".{MANIFEST}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, directory / MANIFEST)
    return records


def save_course_generator(name: str, model: nn.Module, info: dict[str, Any],
                          directory: str | os.PathLike | None = None, merge: bool = True) -> dict[str, Any]:
    """Write ``<name>.pt`` (fp32 state dict) and ``<name>.json`` (its record with the sha256); merge the manifest."""
    get_spec(name)
    _check_model(name, model)
    if not isinstance(info, dict):
        raise TypeError(f"info must be a dict of facts about the training (steps, seconds, ...), got "
                        f"{type(info).__name__}")
    check_bool(merge, "merge")
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    path = directory / f"{name}.pt"
    tmp = directory / f".{name}.pt.{os.getpid()}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
    record = {**info, "name": name, "file": path.name, "sha256": file_hash(path), "bytes": path.stat().st_size,
              "torch": torch.__version__, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "config": _config_dict(model)}
    with open(directory / f"{name}.json", "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write("\n")
    if merge:
        merge_manifest(directory)
    return record


def _config_dict(model: nn.Module) -> dict[str, Any] | None:
    cfg = getattr(model, "config", None)
    return json.loads(json.dumps(asdict(cfg), default=str)) if cfg is not None and is_dataclass(cfg) else None


def read_manifest(directory: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The records of ``manifest.json`` (name -> record); a missing manifest is an error naming the command."""
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {directory}: train the course's generators with "
                                f"`{TRAIN_COMMAND}` (or run it with --merge to rebuild the manifest)")
    fix = f"rebuild it with `{TRAIN_COMMAND} --merge`, or restore it from the repository"
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"manifest {path} is not valid JSON ({e}): {fix}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("generators"), dict):
        what = "has no 'generators' entry" if isinstance(manifest, dict) else f"holds a {type(manifest).__name__}"
        raise ValueError(f"manifest {path} {what}, expected {{'generators': {{name: record}}}}: {fix}")
    for name, rec in manifest["generators"].items():
        missing = [k for k in ("file", "sha256") if not isinstance(rec, dict) or not isinstance(rec.get(k), str)]
        if missing:
            raise ValueError(f"manifest {path}: the record of {name!r} has no {' or '.join(missing)} "
                             f"(a string): {fix}")
    return manifest["generators"]


def course_generator_record(name: str, directory: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The manifest record of ``name`` (steps, batch size, ``train_seconds``, device, FID, ...).

    ``None`` for ``ddpm``/``ddim50``, whose training is described in ``scripts/train_diffusion_mnist.py``.
    """
    if not get_spec(name).stages:
        return None
    records = read_manifest(directory)
    if name not in records:
        raise FileNotFoundError(f"{MANIFEST} has no record of {name!r}: train it with `{TRAIN_COMMAND} --only {name}`")
    return records[name]


def load_course_generator(name: str, directory: str | os.PathLike | None = None,
                          device: str | torch.device = "cpu") -> nn.Module:
    """Load the trained module of ``name`` in eval mode, after checking its sha256 against the manifest.

    ``ddpm`` and ``ddim50`` load chapter 8's shipped U-Net
    (:func:`~aigc_lib.diffusion.pretrained.load_mnist_diffusion`, with its own checksum).

    Raises:
        FileNotFoundError: no manifest, no record of ``name``, or no weights file (the message names the command).
        aigc_lib.data.ChecksumError: the file differs from the one recorded.
    """
    spec = get_spec(name)
    if not spec.stages:
        from ..diffusion.pretrained import load_mnist_diffusion
        if directory is None:
            return load_mnist_diffusion(device=device)
        return load_mnist_diffusion(Path(directory) / DDPM_WEIGHTS_PATH.name, device=device)
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    records = read_manifest(directory)
    command = f"`{TRAIN_COMMAND} --only {name}`"
    if name not in records:
        raise FileNotFoundError(f"{MANIFEST} in {directory} has no record of {name!r} (it has "
                                f"{', '.join(sorted(records)) or 'none'}): train it with {command}")
    rec = records[name]
    path = directory / rec["file"]
    if not path.is_file():
        raise FileNotFoundError(f"the weights of {name!r} ({path}) are missing: train them with {command}")
    got = file_hash(path)
    if got != rec["sha256"]:
        raise ChecksumError(f"sha256 of {path.name} is {got}, but {MANIFEST} records {rec['sha256']}: the file "
                            f"was changed or belongs to another run; train it again with {command}")
    model = spec.build()
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:  # noqa: BLE001 - not the state dict of this generator
        raise ValueError(f"{path} (recorded for {name!r} in {directory / MANIFEST}) does not hold the weights of "
                         f"a {type(model).__name__} built by build_generator({name!r}): {type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200]}. Train it again with {command}") from None
    return model.to(device).eval()


def _check_model(name: str, model: object) -> None:
    """``model`` must be of the class that ``build_generator(name)`` builds, with the same weight shapes."""
    expected = get_spec(name).build()
    if not isinstance(model, type(expected)):
        raise TypeError(f"model must be a {type(expected).__name__} for the course generator {name!r} (as "
                        f"build_generator({name!r}) builds it), got {type(model).__name__}")
    mine, theirs = expected.state_dict(), model.state_dict()
    wrong = sorted(set(mine) ^ set(theirs)) or [k for k in mine if mine[k].shape != theirs[k].shape]
    if wrong:
        raise ValueError(f"model does not have the configuration of the course generator {name!r} "
                         f"(build_generator({name!r})): its weights differ at {wrong[0]!r}")


# ---------------------------------------------------------------- sampling
def _check_labels(spec: GeneratorSpec, n: int, labels: torch.Tensor | None) -> torch.Tensor | None:
    if labels is None:
        return torch.arange(n) % NUM_CLASSES if spec.labels == "required" else None
    if spec.labels == "none":
        raise ValueError(f"{spec.name!r} is unconditional: it takes no labels (conditional models: "
                         f"{', '.join(n for n, s in REGISTRY.items() if s.conditional)})")
    check_tensor(labels, "labels", ndim=1, kind="int", shape_hint=f"({n},) digits in 0..9")
    if labels.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},), one digit per image, got {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= NUM_CLASSES):
        raise ValueError(f"labels must be digits in 0..{NUM_CLASSES - 1}, got values in "
                         f"{int(labels.min())}..{int(labels.max())}")
    return labels.long()


@torch.no_grad()
def sample(name: str, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None,
           device: str | torch.device = "cpu", model: nn.Module | None = None, guidance_scale: float | None = None,
           num_steps: int | None = None) -> torch.Tensor:
    """``n`` images ``(n, 1, 28, 28)`` in [0, 1] from the course generator ``name``.

    Args:
        n: number of images.
        labels: ``(n,)`` digits for a conditional model (see the module notes for the defaults).
        generator: a CPU ``torch.Generator`` for all the noise (the same seed gives the same
            samples on any device, up to floating-point differences).
        device: where the model runs (the images come back on the CPU).
        model: the trained module (default: :func:`load_course_generator`); a fresh
            :func:`build_generator` module works too (noise-like samples).
        guidance_scale: classifier-free guidance for diffusion models when labels are given
            (default :data:`DEFAULT_GUIDANCE`; 1: the plain conditional model).
        num_steps: override the sampler's steps (DDIM/Euler/latent DDIM; for ``ddpm``, ancestral
            DDPM always runs all 1,000 steps, so it is an error).
    """
    spec = get_spec(name)
    n = check_int(n, "n", min=1)
    y = _check_labels(spec, n, labels)
    if guidance_scale is not None:
        if spec.labels != "guidance":
            raise ValueError(f"guidance_scale applies to the diffusion models only, not to {name!r}")
        guidance_scale = check_float(guidance_scale, "guidance_scale", min=0.0)
    scale = DEFAULT_GUIDANCE if guidance_scale is None else guidance_scale
    num_steps = check_int(num_steps, "num_steps", min=1, allow_none=True)
    if num_steps is not None and (name == "ddpm" or spec.labels != "guidance"):
        raise ValueError(f"num_steps applies to ddim50, flow and latent only, not to {name!r}")
    check_generator(generator)
    device = check_device(device)
    if model is None:
        model = load_course_generator(name, device=device)
    else:
        _check_model(name, model)
    model = model.to(device).eval()
    y_dev = None if y is None else y.to(device)
    shape = (n, *IMAGE_SHAPE)
    if name in ("mlp_gan", "dcgan", "wgan_gp", "cond_gan"):
        z = torch.randn(n, model.latent_dim, generator=generator).to(device)
        out = (model(z, y_dev) + 1) / 2
    elif name in ("vae", "cond_vae"):
        z = torch.randn(n, model.latent_dim, generator=generator).to(device)
        out = torch.sigmoid(model.decode(z, y_dev))
    elif name == "latent":
        out = model.sample(n, labels=y, guidance_scale=scale if y is not None else 1.0, num_steps=num_steps or 50,
                           generator=generator)
    else:
        if y is None:
            fn = lambda x, t: model(x, t)                                    # noqa: E731  (null label)
        elif scale == 1.0:
            fn = lambda x, t: model(x, t, y_dev)                             # noqa: E731
        else:
            fn = classifier_free_guidance(model, y_dev, scale)
        if name == "ddpm":
            x = ddpm_sample(fn, mnist_schedule(), shape, generator=generator, device=device, clip_x0=1.0)
        elif name == "ddim50":
            x = ddim_sample(fn, mnist_schedule(), shape, num_steps=num_steps or 50, generator=generator,
                            device=device, clip_x0=1.0)
        else:
            x = flow_sample(fn, shape, num_steps=num_steps or 50, generator=generator, device=device)
        out = to_image_range(x)
    return out.clamp(0, 1).float().cpu()
