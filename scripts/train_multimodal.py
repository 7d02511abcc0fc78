"""Train the shipped CLIP and VQ-VAE of chapters 12-13 and write their weights.

    OMP_NUM_THREADS=1 python scripts/train_multimodal.py --model clip  --write-weights
    OMP_NUM_THREADS=1 python scripts/train_multimodal.py --model vqvae --write-weights

Both train on the training split of captioned MNIST (``make_captioned_mnist("train")``: seed 0,
two images per digit, 7,456 images) with the course Trainer (cosine learning rate, seeded), writing a
checkpoint to ``--out-dir/<model>/last.pt`` every 100 steps: run the same command again to resume an
interrupted run exactly. The budget (steps, batch, examples seen, device, threads) is printed first,
the held-out numbers last: CLIP zero-shot accuracy per attribute with the held-out phrasings, and the
VQ-VAE's codebook usage and reconstruction error on the test split. ``--write-weights`` writes
``aigc_lib/data/files/multimodal_<model>.pt`` and prints its sha256 and the training record, to be put
into ``aigc_lib/multimodal/pretrained.py``.
"""
import argparse
import time

import torch

from aigc_lib import Trainer, seed_everything
from aigc_lib.data import TensorBatches, file_hash
from aigc_lib.multimodal.captions import make_captioned_mnist
from aigc_lib.multimodal.clip import CLIP, CLIPTask
from aigc_lib.multimodal.clip_eval import ATTRIBUTE_INDEX, class_prompts, zero_shot_classifier, zero_shot_predict
from aigc_lib.multimodal.pretrained import CLIP_PATH, VQVAE_PATH, clip_config, save_clip, vqvae_config
from aigc_lib.multimodal.vqvae import VQVAE, VQVAETask, codebook_usage, reconstruct, save_vqvae

DEFAULTS = {"clip": {"steps": 1300, "batch": 128, "lr": 2e-3}, "vqvae": {"steps": 2500, "batch": 64, "lr": 2e-3}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("clip", "vqvae"), required=True)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default="checkpoints/multimodal")
    p.add_argument("--write-weights", action="store_true")
    p.add_argument("--update-pretrained", action="store_true",
                   help="with --write-weights: put the new sha256 and training record into aigc_lib/multimodal/pretrained.py")
    args = p.parse_args()
    d = DEFAULTS[args.model]
    steps, batch, lr = args.steps or d["steps"], args.batch or d["batch"], args.lr or d["lr"]

    train = make_captioned_mnist("train")
    test = make_captioned_mnist("test")
    seed_everything(args.seed)
    if args.model == "clip":
        model = CLIP(clip_config())
        task = CLIPTask(model, lr=lr)
        data = TensorBatches(train.images, train.attributes(), batch_size=batch, seed=args.seed)
    else:
        model = VQVAE(vqvae_config())
        task = VQVAETask(model, lr=lr)
        data = TensorBatches(train.images, batch_size=batch, seed=args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"budget: {args.model}, {n_params:,} parameters, {steps} steps of batch {batch} = {steps * batch:,} "
          f"examples seen ({steps * batch / len(train):.1f} epochs of {len(train):,}), lr {lr:g}, seed {args.seed}, "
          f"device cpu, {torch.get_num_threads()} thread(s)", flush=True)
    trainer = Trainer(max_steps=steps, lr_schedule="cosine", warmup_steps=50, log_every=50, progress=False,
                      live_plot=False, checkpoint_dir=f"{args.out_dir}/{args.model}", checkpoint_every=100,
                      device="cpu")
    t0 = time.perf_counter()
    history = trainer.fit(task, data)
    seconds = time.perf_counter() - t0
    print(f"trained in {seconds:.0f} s (this process; a resumed run counts only its own part)", flush=True)
    print("last logged training metrics: " + ", ".join(f"{k} {history.last(k):.4g}" for k in history.names()))
    model.eval()
    if args.model == "clip":
        for attribute, j in ATTRIBUTE_INDEX.items():
            pred = zero_shot_predict(model, test.images, zero_shot_classifier(model, class_prompts(attribute)))
            acc = float((pred == test.attributes()[:, j]).float().mean())
            print(f"zero-shot {attribute} accuracy (held-out phrasings, {len(test):,} test images): {acc:.3f}")
    else:
        rec = reconstruct(model, test.images)
        print(f"VQ codebook usage on {len(test):,} test images: {codebook_usage(model, test.images):.3f}; "
              f"reconstruction MSE per pixel {float(((rec - test.images) ** 2).mean()):.4f}")
    if args.write_weights:
        path = CLIP_PATH if args.model == "clip" else VQVAE_PATH
        if args.model == "clip":
            save_clip(model, path)
        else:
            save_vqvae(model, path)
        record = {"steps": steps, "batch_size": batch, "device": "cpu", "threads": torch.get_num_threads(),
                  "train_seconds": round(seconds, 1), "examples_seen": steps * batch}
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB), sha256 {file_hash(path, 'sha256')}")
        print(f"TRAINING_RECORD = {record}")
        if args.update_pretrained:
            update_pretrained(args.model, file_hash(path, "sha256"), record)


def update_pretrained(model: str, sha256: str, record: dict) -> None:
    """Rewrite the sha256 and training-record lines of ``model`` in aigc_lib/multimodal/pretrained.py."""
    import re
    from pathlib import Path

    import aigc_lib.multimodal.pretrained as pretrained

    path = Path(pretrained.__file__)
    text = path.read_text()
    name = model.upper()
    text, n1 = re.subn(rf'^{name}_SHA256 = ".*"$', f'{name}_SHA256 = "{sha256}"', text, flags=re.M)
    text, n2 = re.subn(rf"^{name}_TRAINING_RECORD: dict = .*$", f"{name}_TRAINING_RECORD: dict = {record!r}", text,
                       flags=re.M)
    if n1 != 1 or n2 != 1:
        raise RuntimeError(f"could not find the {name} lines in {path}")
    path.write_text(text)
    print(f"updated {path.name}: {name}_SHA256 and {name}_TRAINING_RECORD")


if __name__ == "__main__":
    main()
