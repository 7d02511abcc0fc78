"""Train the course's class-conditional MNIST DDPM and write its shipped weights.

    OMP_NUM_THREADS=1 python scripts/train_diffusion_mnist.py --out-dir checkpoints/mnist_ddpm

Trains :func:`aigc_lib.diffusion.pretrained.make_mnist_ddpm_task` with the course
Trainer (AdamW, cosine learning-rate schedule, EMA of the weights, batch 64) on
the 4,000 training digits, seeded, writing a checkpoint to ``--out-dir/last.pt``
every ``--chunk`` steps. Run the same command again to resume an interrupted run
exactly. Every ``--eval-every`` steps it prints the classifier FID of
``--n-eval`` DDIM-50 samples (EMA weights, null label) against chapter 6's
reference set, the 1,000 test digits. At the end it writes the EMA weights to
``aigc_lib/data/files/mnist_ddpm_unet.pt`` (``--write-weights``) and prints their
sha256, to be put into ``aigc_lib/diffusion/pretrained.py``.

The shipped weights: ``OMP_NUM_THREADS=1 python scripts/train_diffusion_mnist.py --steps 5000
--chunk 250 --eval-every 1500 --out-dir checkpoints/mnist_ddpm --write-weights``: 5,000 steps
in 2,620 s (44 min) on one thread of the shared 2-core course machine (load 4-8, so
0.17-1.2 s per step); at the fastest rate seen (0.17 s per step) it would take 14 min. (Its printed FIDs used only the first
500 test digits, all 0-4, as reference and are not meaningful; fixed since.)
"""
import argparse
import time

import torch

from aigc_lib import Trainer, seed_everything
from aigc_lib.data import TensorBatches, file_hash, load_mnist
from aigc_lib.diffusion import ddim_sample, to_image_range, to_model_range
from aigc_lib.diffusion.pretrained import WEIGHTS_PATH, make_mnist_ddpm_task
from aigc_lib.mnist_classifier import classifier_fid, load_mnist_classifier
from aigc_lib.schedule import warmup_cosine


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk", type=int, default=250, help="steps between checkpoints and log lines")
    p.add_argument("--eval-every", type=int, default=2000)
    p.add_argument("--n-eval", type=int, default=500)
    p.add_argument("--out-dir", default="checkpoints/mnist_ddpm")
    p.add_argument("--write-weights", action="store_true")
    p.add_argument("--export-only", action="store_true",
                   help="write the EMA weights of the checkpoint in --out-dir without training further")
    args = p.parse_args()

    torch.set_num_threads(1)
    seed_everything(args.seed)
    train, test = load_mnist("train"), load_mnist("test")
    task = make_mnist_ddpm_task(lr=args.lr)
    data = TensorBatches(to_model_range(train.images), train.labels, batch_size=args.batch, seed=args.seed)
    # The schedule is a function of the step so that it spans all --steps although fit() runs chunk by chunk.
    trainer = Trainer(max_steps=args.chunk, lr_schedule=warmup_cosine(200, args.steps, 0.1), ema_decay=args.ema, clip_grad_norm=1.0,
                      checkpoint_dir=args.out_dir, checkpoint_every=args.chunk, progress=False, live_plot=False,
                      log_every=50)
    classifier = load_mnist_classifier()
    reference = test.images[:1000]   # chapter 6's reference set: all 1,000 test digits (sorted by digit!)
    print(f"U-Net parameters: {sum(p.numel() for p in task.model.parameters()):,}", flush=True)
    t_start = time.perf_counter()
    while not args.export_only:
        trainer.config.max_steps = min(args.steps, (trainer.step // args.chunk + 1) * args.chunk)
        t0 = time.perf_counter()
        trainer.fit(task, data)
        trainer.config.resume = False   # resume once, at the start; later chunks continue in memory
        dt = time.perf_counter() - t0
        print(f"step {trainer.step}: loss {trainer.history.last('train/loss'):.4f}, {dt:.0f} s for this chunk, "
              f"{time.perf_counter() - t_start:.0f} s in this process", flush=True)
        if trainer.step % args.eval_every == 0 or trainer.step >= args.steps:
            t1 = time.perf_counter()
            with trainer.ema.average_parameters(task):
                task.model.eval()
                x = ddim_sample(task.model, task.schedule, (args.n_eval, 1, 28, 28), num_steps=50,
                                generator=torch.Generator().manual_seed(123), clip_x0=1.0)
                task.model.train()
            fid = classifier_fid(classifier, to_image_range(x), reference)
            print(f"  step {trainer.step}: DDIM-50 classifier FID (EMA, unconditional, {args.n_eval} samples) "
                  f"{fid:.1f} ({time.perf_counter() - t1:.0f} s)", flush=True)
        if trainer.step >= args.steps:
            break
    if args.export_only:
        trainer.config.max_steps = 0
        trainer.fit(task, data)          # loads the checkpoint, trains nothing
        print(f"loaded the checkpoint at step {trainer.step}", flush=True)
    if args.write_weights or args.export_only:
        with trainer.ema.average_parameters(task):
            state = {k: v.detach().clone().contiguous() for k, v in task.model.state_dict().items()}
        torch.save(state, WEIGHTS_PATH)
        print(f"wrote {WEIGHTS_PATH}, sha256 {file_hash(WEIGHTS_PATH)}", flush=True)


if __name__ == "__main__":
    main()
